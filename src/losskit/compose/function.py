"""``FunctionLoss``: a registered loss *function* (seed 003 style) built into an ``nn.Module``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..signatures import function_input_signature
from .terms import signature_accepts_return_terms

__all__ = ["FunctionLoss"]


class FunctionLoss(nn.Module):
    """Calls ``fn(*inputs, **params)`` with the params bound at build time.

    Built by ``build_loss`` for functions registered like seed 003's ``vae_loss(model_output, targets,
    beta=1.0, **kwargs)``; each build binds its own params, so train and val can differ. Named inputs given at
    call time are passed on to the function as well. A function that declares a ``return_terms`` parameter
    follows the per-term protocol (:mod:`losskit.compose.terms`): the flag is a call-time argument, never a
    bound param, and :class:`~losskit.CombinedLoss` reports its terms nested.

    Args:
        fn: the loss function; it must return a tensor.
        name: the registered name (for messages and ``to_config``).
        params: the bound parameters.
    """

    def __init__(self, fn: Callable[..., Any], name: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.fn = fn
        self.loss_name = name
        self.params = dict(params or {})
        # call_loss reads this to know which named inputs the function accepts
        signature = function_input_signature(fn)
        if signature_accepts_return_terms(inspect.signature(fn)):
            if "return_terms" in self.params:
                raise ConfigError(
                    f"loss {name!r}: return_terms is a call-time flag (forward(..., return_terms=True)), not a param"
                )
            flag = inspect.Parameter("return_terms", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=bool)
            params_ = list(signature.parameters.values())
            tail = [p for p in params_ if p.kind is inspect.Parameter.VAR_KEYWORD]
            signature = signature.replace(parameters=[p for p in params_ if p not in tail] + [flag] + tail)
        self.__losskit_signature__: inspect.Signature = signature

    def forward(self, *inputs: Any, **named: Any) -> Any:
        out = self.fn(*inputs, **{**self.params, **named})
        total = out[0] if named.get("return_terms") is True and isinstance(out, tuple) and len(out) == 2 else out
        if not isinstance(total, torch.Tensor):
            raise TypeError(
                f"loss function {self.loss_name!r} returned {type(out).__name__}, expected a tensor "
                f"(returning .item() or a float breaks autograd)"
            )
        return out

    def extra_repr(self) -> str:
        return f"{self.loss_name}, " + ", ".join(f"{k}={v!r}" for k, v in self.params.items())
