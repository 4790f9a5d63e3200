"""``call_loss``: pass a loss only the named inputs its ``forward`` accepts.

Seed 002's training loop calls ``loss(warped, fixed, ddf, gt_dvf)`` and falls back to ``loss(warped, fixed)``
when that raises ``TypeError``, which also swallows every genuine ``TypeError`` raised inside the loss.
``call_loss`` decides from the signature instead: a :class:`CallPlan` is made once per loss and reused.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import LossInputError
from ..keys import CONFIG_ATTR
from ..signatures import forward_signature
from .terms import signature_accepts_return_terms

__all__ = ["call_loss", "loss_label", "CallPlan"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def loss_label(loss: Any) -> str:
    """The registered name of a built loss if known, else its class name."""
    config = getattr(loss, CONFIG_ATTR, None)
    if isinstance(config, dict):
        return str(config.get("name") or config.get("_target_") or type(loss).__name__)
    return str(getattr(loss, "loss_name", None) or type(loss).__name__)


@dataclass(frozen=True)
class CallPlan:
    """What a loss's ``forward`` accepts, read from its signature once.

    ``accepted`` is the set of names a named input may have (``None``: ``**kwargs``, every named input goes
    through); ``return_terms`` whether ``forward`` takes the per-term flag by name (a bare ``**kwargs`` does
    not count: the flag would be swallowed).
    """

    label: str
    signature: inspect.Signature
    positional: tuple[str, ...]
    accepted: frozenset[str] | None
    varargs: bool
    required: tuple[str, ...]
    return_terms: bool

    @classmethod
    def of(cls, loss: Any) -> CallPlan:
        sig = forward_signature(loss) if isinstance(loss, nn.Module) else inspect.signature(loss)
        params = list(sig.parameters.values())
        var_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        named = frozenset(p.name for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY)
        return cls(
            label=loss_label(loss),
            signature=sig,
            positional=tuple(p.name for p in params if p.kind in _POSITIONAL),
            accepted=None if var_kwargs else named - {"return_terms"},
            varargs=any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params),
            required=tuple(p.name for p in params if p.default is inspect.Parameter.empty and p.kind not in _VARIADIC),
            return_terms=signature_accepts_return_terms(sig),
        )

    def accepts(self, name: str) -> bool:
        """Whether a named input ``name`` reaches this loss."""
        return self.accepted is None or name in self.accepted

    def call(self, loss: Any, args: tuple[Any, ...], named: dict[str, Any], *, return_terms: bool = False) -> Any:
        """Call ``loss`` with ``args``, the accepted ``named`` inputs and, if asked, ``return_terms=True``.

        Raises:
            LossInputError: too many positional inputs, a required input missing, or ``return_terms=True``
                for a loss whose ``forward`` has no ``return_terms`` parameter.
        """
        if return_terms and not self.return_terms:
            raise LossInputError(
                f"loss {self.label!r} does not report per-term values: it is called as forward{self.signature}, "
                f"without a 'return_terms' parameter; call it without return_terms=True"
            )
        if len(args) > len(self.positional) and not self.varargs:
            raise LossInputError(
                f"loss {self.label!r} takes {len(self.positional)} positional input(s) "
                f"({', '.join(self.positional)}), got {len(args)}"
            )
        covered = self.positional[: len(args)]
        # A named input already given positionally is dropped: the positional value wins (seed 002's contract).
        # 'return_terms' is the caller's flag, never an input: it is passed below, explicitly, or not at all.
        passed = {k: v for k, v in named.items() if self.accepts(k) and k not in covered and k != "return_terms"}
        missing = [n for n in self.required if n not in covered and n not in passed]
        if missing:
            raise LossInputError(
                f"loss {self.label!r} requires input(s) {', '.join(repr(m) for m in missing)}: it is called as "
                f"forward{self.signature}; got {len(args)} positional and named {sorted(named) or 'none'}"
            )
        if return_terms:
            passed["return_terms"] = True
        return loss(*args, **passed)


def call_loss(loss: nn.Module | Any, *args: Any, return_terms: bool = False, **named: Any) -> Any:
    """Call ``loss`` with ``args`` and those ``named`` inputs its ``forward`` accepts.

    Positional inputs go through as they are. A named input is passed only if ``forward`` has a parameter of
    that name (or ``**kwargs``); the others are dropped, so one training loop can feed every loss of a zoo
    (seed 002's ``(warped, fixed, ddf, gt_dvf)`` or ``(warped, fixed)``). For a
    :class:`~losskit.CombinedLoss` a named input is accepted when one of its terms accepts it. What ``forward``
    accepts is read from its signature, never by catching ``TypeError``.

    ``return_terms=True`` is passed on to a loss whose ``forward`` takes ``return_terms`` and then returns
    ``(total, {term: detached value})``; for any other loss it is a :class:`LossInputError` (never dropped: the
    caller waits for a tuple). ``return_terms=False`` asks for the default and is never passed.

    Args:
        loss: a module or a callable.
        *args: the positional inputs.
        return_terms: ask for ``(total, terms)``.
        **named: named inputs, passed where accepted.

    Raises:
        LossInputError: a required input missing, too many positional inputs, or ``return_terms=True`` for a
            loss without per-term values. The message names the loss and how it is called.

    Example:
        >>> import torch, losskit
        >>> from torch import nn
        >>> class Image(nn.Module):
        ...     def forward(self, warped, fixed):
        ...         return (warped - fixed).abs().mean()
        >>> x, y = torch.ones(2, 3), torch.zeros(2, 3)
        >>> losskit.call_loss(Image(), x, y, gt_dvf=torch.zeros(2)).item()  # gt_dvf is not taken: dropped
        1.0
        >>> losskit.call_loss(Image(), x, y, return_terms=True)
        Traceback (most recent call last):
        ...
        losskit.errors.LossInputError: loss 'Image' does not report per-term values: ...
    """
    return CallPlan.of(loss).call(loss, args, named, return_terms=bool(return_terms))
