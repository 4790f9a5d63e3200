"""The one reduction of the zoo: accumulate in float32 and divide by what counts, 0 (not NaN) over nothing.

Every functional form reduces through :func:`reduce`; what differs between losses is a parameter, not a copy:
an elementwise ``weight`` (mmdet, torchvision boxes, a class weight broadcast over the last dimension), what a
mean divides by (all elements; the ``valid`` ones, or the sum of float weights; an ``avg_factor``), and
whether "none" keeps the elementwise values or per-sample / per-class rows (the caller decides the shape it
passes in).
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["Reduction", "reduce", "masked_mean", "acc_dtype"]

Reduction = Literal["mean", "sum", "none"]

_AVG_EPS = 1e-12  # mmdet's clamp of avg_factor (a positive count that may be fractional)


def acc_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 stays float64; everything else (fp16, bf16, fp32) accumulates in float32."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def reduce(
    loss: torch.Tensor,
    reduction: str,
    valid: torch.Tensor | None = None,
    *,
    weight: torch.Tensor | None = None,
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduce a loss: ``"none"`` returns it (weighted), ``"sum"`` adds, ``"mean"`` divides the sum by a count.

    Args:
        loss: the values to reduce (elementwise, per sample or per (sample, class): "none" returns this shape).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        valid: what a mean counts. A bool mask: the number of True elements (masked-out elements must already
            be 0 in ``loss``); float weights: their sum (a weighted mean ``sum(w l) / sum(w)`` when ``loss`` is
            weighted by the same values). Either way the mean over nothing is 0, not NaN. Without it a mean
            divides by ``loss.numel()``.
        weight: multiplies ``loss`` first (broadcast; cast to the loss dtype), also for "none".
        avg_factor: the mean's divisor instead of a count (mmdet's; e.g. the number of positives), clamped to
            >= 1e-12.
    """
    if weight is not None:
        loss = loss * weight.to(loss.dtype)
    if reduction == "none":
        return loss
    total = loss.sum(dtype=acc_dtype(loss))
    if reduction == "sum":
        return total
    if avg_factor is not None:
        if isinstance(avg_factor, torch.Tensor):
            return total / avg_factor.to(total.dtype).clamp_min(_AVG_EPS)
        return total / max(float(avg_factor), _AVG_EPS)
    if valid is None:
        return total / max(loss.numel(), 1)
    count = valid.sum(dtype=total.dtype)
    # a count of elements is 0 or >= 1; a sum of float weights may be any positive value
    return total / count.clamp_min(torch.finfo(total.dtype).tiny if valid.is_floating_point() else 1)


def masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(values * weights) / sum(weights)``, 0 when the weights are all zero: :func:`reduce`'s weighted mean."""
    return reduce(values, "mean", weights, weight=weights)
