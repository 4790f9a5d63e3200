"""``FunctionLoss``: a registered loss *function* (seed 003 style) built into an ``nn.Module``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..signatures import function_input_signature

__all__ = ["FunctionLoss"]


class FunctionLoss(nn.Module):
    """Calls ``fn(*inputs, **params)`` with the params bound at build time.

    Built by ``build_loss`` for functions registered like seed 003's ``vae_loss(model_output, targets,
    beta=1.0, **kwargs)``; each build binds its own params, so train and val can differ. Named inputs given at
    call time are passed on to the function as well.

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
        self.__losskit_signature__: inspect.Signature = function_input_signature(fn)

    def forward(self, *inputs: Any, **named: Any) -> torch.Tensor:
        out = self.fn(*inputs, **{**self.params, **named})
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"loss function {self.loss_name!r} returned {type(out).__name__}, expected a tensor "
                f"(returning .item() or a float breaks autograd)"
            )
        return out

    def extra_repr(self) -> str:
        return f"{self.loss_name}, " + ", ".join(f"{k}={v!r}" for k, v in self.params.items())
