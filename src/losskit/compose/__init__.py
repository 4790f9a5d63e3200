"""Composing and calling losses."""

from .calling import call_loss
from .combined import CombinedLoss
from .function import FunctionLoss

__all__ = ["call_loss", "CombinedLoss", "FunctionLoss"]
