"""The one per-term protocol: ``forward(..., return_terms=True)`` returns ``(total, {term: detached value})``.

Every loss made of terms (``combined``, ``dice_ce``, ``vae``, ``lncc_dvf``, ...) returns its total alone by
default and, with ``return_terms=True``, the total and a dict of its terms' values, detached, for logging.
:class:`~losskit.CombinedLoss` asks its own terms for theirs and reports them nested (``"seg.dice"``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["with_terms", "accepts_return_terms"]


def with_terms(
    total: torch.Tensor, terms: Mapping[str, torch.Tensor], return_terms: bool
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``total``, or ``(total, {name: value.detach()})`` when ``return_terms``."""
    if not return_terms:
        return total
    return total, {name: value.detach() for name, value in terms.items()}


def accepts_return_terms(loss: object) -> bool:
    """True when ``loss`` (a module or a callable) takes a ``return_terms`` keyword in its call."""
    fn = loss.forward if isinstance(loss, nn.Module) else loss
    try:
        params = inspect.signature(fn).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return "return_terms" in params
