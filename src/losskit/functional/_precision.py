"""The one precision rule of the zoo: statistics, reductions and the returned loss are float32.

Under fp16/bf16 autocast a loss's sums and products (a ``bmm`` of class statistics, a ``sum`` over a 64³
volume) would run in half precision and overflow or lose three digits. :func:`float32_loss` wraps a
functional form so that it runs with autocast switched off for the input's device and with every half
precision tensor argument upcast to float32; float64 stays float64. The loss therefore comes back in float32
under AMP, as ``torch.autocast`` itself does for its "float32 ops" (``cross_entropy``, ``mse_loss``, ...).

The cost is one float32 copy of half precision inputs, the same as the reference libraries pay (MONAI and
kornia upcast inside their losses); no copy is made for float32 inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

import torch

__all__ = ["float32_loss", "autocast_off", "upcast", "is_half"]

F = TypeVar("F", bound=Callable[..., Any])
_HALF = (torch.float16, torch.bfloat16)


def is_half(t: torch.Tensor) -> bool:
    return t.dtype in _HALF


def upcast(value: Any) -> Any:
    """A half precision tensor as float32 (tensors in a mapping, list or tuple too); anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in _HALF else value
    if isinstance(value, Mapping):
        return {k: upcast(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
        return type(value)(upcast(v) for v in value)
    return value


def _tensors(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Iterator[torch.Tensor]:
    """The tensor arguments, one container level deep (a dict of model outputs, a list of FPN levels)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, Mapping):
            yield from (v for v in value.values() if isinstance(v, torch.Tensor))
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, torch.Tensor))


def _first_tensor(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> torch.Tensor | None:
    return next(_tensors(args, kwargs), None)


def _needs_float32(args: tuple[Any, ...], kwargs: Mapping[str, Any], device_type: str) -> bool:
    return torch.is_autocast_enabled(device_type) or any(t.dtype in _HALF for t in _tensors(args, kwargs))


def autocast_off(like: torch.Tensor) -> torch.autocast:
    """The context-manager form of the rule, for code that :func:`float32_loss` does not wrap: a custom autograd
    ``backward`` runs under the caller's autocast state, so its float32 statistics switch it off here."""
    return torch.autocast(like.device.type, enabled=False)


def float32_loss(fn: F) -> F:
    """Run ``fn`` with autocast off and half precision tensor arguments upcast to float32 (see module doc)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        first = _first_tensor(args, kwargs)
        if first is None:
            return fn(*args, **kwargs)
        if not _needs_float32(args, kwargs, first.device.type):
            return fn(*args, **kwargs)
        with autocast_off(first):
            return fn(*(upcast(a) for a in args), **{k: upcast(v) for k, v in kwargs.items()})

    return cast(F, wrapper)
