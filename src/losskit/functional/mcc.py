"""Soft Matthews correlation coefficient (MCC) loss, from the one-hot-free region statistics."""

from __future__ import annotations

import torch
from torch import Tensor

from ._precision import float32_loss
from ._reduce import reduce
from .region import Weight, region_terms
from .region_stats import class_row
from .segmentation_input import DEFAULT_MODE, Mode, Reduction, prepare_segmentation

__all__ = ["mcc_loss"]


@float32_loss
def mcc_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    smooth_nr: float = 0.0,
    smooth_dr: float = 1e-5,
    weight: Weight = None,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """``1 - MCC`` per (sample, class) with the soft confusion matrix ``tp = I``, ``fp = P - I``,
    ``fn = T - I``, ``tn = M - P - T + I`` (``M`` valid voxels):
    ``MCC = (tp tn - fp fn + nr) / sqrt((tp + fp)(tp + fn)(tn + fp)(tn + fn) + dr)``.

    A (sample, class) with ``fp = fn = 0`` scores a perfect 0 (MONAI's rule: the product in the denominator
    vanishes when ``tp = 0`` or ``tn = 0``). "none" shape: (N, C) or (C,) with ``batch``; C = 1 in binary mode.
    The default ``mode`` is the segmentation family's, ``"multiclass"``; binary masks need ``mode="binary"``.

    Example:
        >>> p, t = torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # tp 1, fp 1, tn 2
        >>> mcc_loss(p, t, mode="binary", from_logits=False)  # 1 - 2 / sqrt(2 * 1 * 3 * 2)
        tensor(0.4226)
    """
    target, w = prepare_segmentation(
        "mcc_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
    )
    s = region_terms(input, target, mode, from_logits, ignore_index, batch, include_background)
    tp = s.inter
    fp = s.pred - s.inter
    fn = s.true - s.inter
    tn = s.count - s.pred - s.true + s.inter
    num = tp * tn - fp * fn + smooth_nr
    prod = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + smooth_dr
    # sqrt has an infinite slope at 0: clamp so a degenerate entry (handled below) keeps a finite gradient.
    den = prod.clamp_min(torch.finfo(prod.dtype).tiny).sqrt()
    loss = 1.0 - num / den
    perfect = (fp == 0) & (fn == 0)  # False for NaN: NaN in gives NaN out
    loss = torch.where(perfect, torch.zeros_like(loss), loss)
    return reduce(loss, reduction, weight=class_row(w, loss))
