"""Testing tools for loss authors: the conformance suite and example inputs."""

from .conformance import ConformanceReport, check_loss
from .examples import example_for

__all__ = ["check_loss", "ConformanceReport", "example_for"]
