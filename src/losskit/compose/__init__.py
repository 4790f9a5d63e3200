"""Composing and calling losses: :class:`CombinedLoss`, :func:`call_loss`, the per-term protocol."""

from .calling import call_loss
from .combined import CombinedLoss
from .function import FunctionLoss
from .terms import accepts_return_terms, with_terms

__all__ = ["call_loss", "CombinedLoss", "FunctionLoss", "accepts_return_terms", "with_terms"]
