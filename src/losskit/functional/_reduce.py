"""Reductions that accumulate in float32 and divide by the count of valid elements."""

from __future__ import annotations

import torch

__all__ = ["reduce", "masked_mean", "acc_dtype"]


def acc_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 stays float64; everything else (fp16, bf16, fp32) accumulates in float32."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def reduce(loss: torch.Tensor, reduction: str, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Reduce an elementwise loss.

    Args:
        loss: the elementwise values.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (returned unchanged).
        valid: optional mask of elements that count (same shape); masked-out elements must already be 0 in
            ``loss``. The mean divides by the number of valid elements, and is 0 (not NaN) when there are none.
    """
    if reduction == "none":
        return loss
    total = loss.sum(dtype=acc_dtype(loss))
    if reduction == "sum":
        return total
    if valid is None:
        return total / max(loss.numel(), 1)
    count = valid.sum(dtype=total.dtype)
    return total / count.clamp_min(1)


def masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(values * weights) / sum(weights)``, 0 when the weights are all zero."""
    dtype = acc_dtype(values)
    total = (values * weights).sum(dtype=dtype)
    return total / weights.sum(dtype=dtype).clamp_min(torch.finfo(dtype).tiny)
