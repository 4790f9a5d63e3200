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
from ..signatures import forward_signature

__all__ = ["call_loss", "loss_label", "CallPlan"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def loss_label(loss: Any) -> str:
    """The registered name of a built loss if known, else its class name."""
    config = getattr(loss, "_losskit_config", None)
    if isinstance(config, dict):
        return str(config.get("name") or config.get("_target_") or type(loss).__name__)
    return str(getattr(loss, "loss_name", None) or type(loss).__name__)


@dataclass(frozen=True)
class CallPlan:
    """What a loss's ``forward`` accepts, read from its signature once."""

    label: str
    signature: inspect.Signature
    positional: tuple[str, ...]
    accepted: frozenset[str] | None  # None: **kwargs, every named input goes through
    varargs: bool
    required: tuple[str, ...]

    @classmethod
    def of(cls, loss: Any) -> CallPlan:
        sig = forward_signature(loss) if isinstance(loss, nn.Module) else inspect.signature(loss)
        params = list(sig.parameters.values())
        var_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        return cls(
            label=loss_label(loss),
            signature=sig,
            positional=tuple(p.name for p in params if p.kind in _POSITIONAL),
            accepted=None if var_kwargs else frozenset(p.name for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY),
            varargs=any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params),
            required=tuple(p.name for p in params if p.default is inspect.Parameter.empty and p.kind not in _VARIADIC),
        )

    def call(self, loss: Any, args: tuple[Any, ...], named: dict[str, Any]) -> Any:
        if len(args) > len(self.positional) and not self.varargs:
            raise LossInputError(
                f"loss {self.label!r} takes {len(self.positional)} positional input(s) "
                f"({', '.join(self.positional)}), got {len(args)}"
            )
        covered = self.positional[: len(args)]
        # A named input already given positionally is dropped: the positional value wins (seed 002's contract).
        passed = {
            k: v for k, v in named.items() if (self.accepted is None or k in self.accepted) and k not in covered
        }
        missing = [n for n in self.required if n not in covered and n not in passed]
        if missing:
            raise LossInputError(
                f"loss {self.label!r} requires input(s) {', '.join(repr(m) for m in missing)}: it is called as "
                f"forward{self.signature}; got {len(args)} positional and named {sorted(named) or 'none'}"
            )
        return loss(*args, **passed)


def call_loss(loss: nn.Module | Any, *args: Any, **named: Any) -> Any:
    """Call ``loss`` with ``args`` and those ``named`` inputs its ``forward`` accepts.

    Positional inputs go through as they are. A named input is passed only if ``forward`` has a parameter of
    that name (or ``**kwargs``); the others are dropped. A required input that is still missing raises
    :class:`LossInputError` naming the loss and what it takes.
    """
    return CallPlan.of(loss).call(loss, args, named)
