"""The one per-term protocol: ``forward(..., return_terms=True)`` returns ``(total, {term: detached value})``.

Every loss made of terms (``combined``, ``dice_ce``, ``vae``, ``lncc_dvf``, ...) returns its total alone by
default and, with ``return_terms=True``, the total and a dict of its terms' values, detached, for logging.
:class:`~losskit.CombinedLoss` asks its own terms for theirs and reports them nested (``"seg.dice"``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from losskit.compose.terms import with_terms, accepts_return_terms
    >>> class L1L2(nn.Module):
    ...     def forward(self, input, target, return_terms: bool = False):
    ...         l1, l2 = (input - target).abs().mean(), (input - target).pow(2).mean()
    ...         return with_terms(l1 + l2, {"l1": l1, "l2": l2}, return_terms)
    >>> total, terms = L1L2()(torch.ones(3), torch.zeros(3), return_terms=True)
    >>> total.item(), sorted(terms), accepts_return_terms(L1L2()), accepts_return_terms(nn.MSELoss())
    (2.0, ['l1', 'l2'], True, False)
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..signatures import forward_signature

__all__ = ["with_terms", "accepts_return_terms", "signature_accepts_return_terms"]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def with_terms(
    total: torch.Tensor, terms: Mapping[str, torch.Tensor], return_terms: bool
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``total``, or ``(total, {name: value.detach()})`` when ``return_terms``.

    Args:
        total: the loss, kept attached to the graph.
        terms: the values that make it up, by name (detached here, so logging them keeps no graph alive).
        return_terms: the caller's ``forward(..., return_terms=...)`` flag.
    """
    if not return_terms:
        return total
    return total, {name: value.detach() for name, value in terms.items()}


def signature_accepts_return_terms(sig: inspect.Signature) -> bool:
    """True when ``sig`` names a ``return_terms`` parameter that can be passed by keyword.

    A bare ``**kwargs`` does not count: a loss that swallows unknown keywords would ignore the flag and return a
    tensor where the caller waits for ``(total, terms)``.
    """
    param = sig.parameters.get("return_terms")
    return param is not None and param.kind in _NAMED


def accepts_return_terms(loss: Any) -> bool:
    """True when ``loss`` (a module or a callable) takes a ``return_terms`` keyword in its call.

    For a module the call signature is :func:`~losskit.signatures.forward_signature` (``forward`` without
    ``self``, or the signature the module declares, as a built loss function does). Read it once per loss and
    keep the answer (:class:`~losskit.compose.calling.CallPlan` does): it costs a signature inspection.
    """
    try:
        sig = forward_signature(loss) if isinstance(loss, nn.Module) else inspect.signature(loss)
    except (TypeError, ValueError):
        return False
    return signature_accepts_return_terms(sig)
