"""``call_loss``: pass a loss only the named inputs its ``forward`` accepts.

Seed 002's training loop calls ``loss(warped, fixed, ddf, gt_dvf)`` and falls back to ``loss(warped, fixed)``
when that raises ``TypeError``, which also swallows every genuine ``TypeError`` raised inside the loss.
``call_loss`` decides from the signature instead, once per loss type.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from ..errors import LossInputError
from ..signatures import forward_signature

__all__ = ["call_loss", "loss_label"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def loss_label(loss: Any) -> str:
    """The registered name of a built loss if known, else its class name."""
    config = getattr(loss, "_losskit_config", None)
    if isinstance(config, dict):
        return str(config.get("name") or config.get("_target_") or type(loss).__name__)
    return str(getattr(loss, "loss_name", None) or type(loss).__name__)


def call_loss(loss: nn.Module | Any, *args: Any, **named: Any) -> Any:
    """Call ``loss`` with ``args`` and those ``named`` inputs its ``forward`` accepts.

    Positional inputs go through as they are. A named input is passed only if ``forward`` has a parameter of
    that name (or ``**kwargs``); the others are dropped. A required input that is still missing raises
    :class:`LossInputError` naming the loss and what it takes.
    """
    sig = forward_signature(loss) if isinstance(loss, nn.Module) else inspect.signature(loss)
    params = list(sig.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        passed = dict(named)
    else:
        accepted = {p.name for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
        passed = {k: v for k, v in named.items() if k in accepted}
    positional = [p for p in params if p.kind in _POSITIONAL]
    takes_varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    if len(args) > len(positional) and not takes_varargs:
        raise LossInputError(
            f"loss {loss_label(loss)!r} takes {len(positional)} positional input(s) "
            f"({', '.join(p.name for p in positional)}), got {len(args)}"
        )
    covered = {p.name for p in positional[: len(args)]}
    clash = sorted(covered & set(passed))
    for name in clash:  # given positionally already: the positional value wins, as in seed 002's contract
        passed.pop(name)
    missing = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in covered
        and p.name not in passed
    ]
    if missing:
        raise LossInputError(
            f"loss {loss_label(loss)!r} requires input(s) {', '.join(repr(m) for m in missing)}: it is called as "
            f"forward{sig}; got {len(args)} positional and named {sorted(named) or 'none'}"
        )
    return loss(*args, **passed)
