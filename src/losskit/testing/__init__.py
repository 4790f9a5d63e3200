"""Testing tools for loss authors: the conformance suite and example inputs."""

from .budget import MAX_EXAMPLE_ELEMENTS, ExampleError, ExampleTooLarge
from .conformance import ConformanceReport, check_loss
from .examples import example_for

__all__ = ["check_loss", "ConformanceReport", "example_for", "ExampleError", "ExampleTooLarge", "MAX_EXAMPLE_ELEMENTS"]
