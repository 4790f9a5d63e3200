"""The gradient's error under mixed precision: what ``check_loss`` reports as ``grad_error``.

A fast kernel that is silently wrong in half precision is the most common complaint about fused losses (Liger
#1338, #968; Megatron-LM #2206). :func:`autocast_grad_error` measures it directly: the gradient of the loss with
respect to its floating inputs under ``torch.autocast(dtype=bfloat16 | float16)`` (float32 inputs and
parameters, as in mixed-precision training) against the gradient of a float64 copy of the loss on float64 copies of
the same inputs, as one relative error ``||g - g64|| / ||g64||`` over all of them (0 when both are 0, inf when
only the float64 gradient is 0 or the low-precision one is not finite).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..inputs import Example

__all__ = ["autocast_grad_error", "gradients", "map_tensors"]


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """``obj`` with ``fn`` applied to every tensor in it (through dicts, lists and tuples)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(v, fn) for v in obj)
    return obj


def _cast(obj: Any, dtype: torch.dtype, leaves: list[torch.Tensor] | None) -> Any:
    """``obj`` with its floating tensors as ``dtype`` copies; those of the first argument go to ``leaves`` and
    require grad (``leaves`` None: no tensor requires grad)."""

    def cast(t: torch.Tensor) -> torch.Tensor:
        if not t.is_floating_point():
            return t.detach().clone()
        out = t.detach().to(dtype).clone()
        if leaves is not None:
            out.requires_grad_(True)
            leaves.append(out)
        return out

    return map_tensors(obj, cast)


def gradients(
    loss: nn.Module | Callable[..., torch.Tensor],
    example: Example,
    dtype: torch.dtype,
    autocast: torch.dtype | None = None,
) -> list[torch.Tensor]:
    """The gradients of ``loss(*example).sum()`` with respect to the floating tensors of the first argument, the
    inputs (and a module's parameters and buffers) cast to ``dtype``, optionally under ``autocast``. A module is
    deep-copied first, so a stateful loss (a running statistic) is not advanced. A loss whose output does not
    require grad gives an empty list."""
    if isinstance(loss, nn.Module):
        loss = copy.deepcopy(loss).to(dtype)
    leaves: list[torch.Tensor] = []
    args = tuple(_cast(a, dtype, leaves if i == 0 else None) for i, a in enumerate(example.args))
    kwargs = {k: _cast(v, dtype, None) for k, v in example.kwargs.items()}
    device = leaves[0].device.type if leaves else "cpu"
    with torch.autocast(device, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
        out = loss(*args, **kwargs)
    if not leaves or not isinstance(out, torch.Tensor) or not out.requires_grad:
        return []
    grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves, strict=True)]


def autocast_grad_error(
    loss: nn.Module | Callable[..., torch.Tensor], example: Example, autocast: torch.dtype
) -> float | None:
    """``||g - g64|| / ||g64||`` of the input gradients under ``autocast`` (float32 inputs) against float64; None
    when the loss gives no gradient. NaN or inf anywhere in ``g`` gives ``inf``."""
    exact = gradients(loss, example, torch.float64)
    if not exact:
        return None
    low = gradients(loss, example, torch.float32, autocast=autocast)
    diff = sum(float((g.double() - e).square().sum()) for g, e in zip(low, exact, strict=True))
    norm = sum(float(e.square().sum()) for e in exact)
    if not all(bool(torch.isfinite(g).all()) for g in low):
        return float("inf")
    if norm == 0.0:  # a zero gradient: only rounding-free zeros match it
        return 0.0 if diff < 1e-20 else float("inf")
    return float((diff / norm) ** 0.5)
