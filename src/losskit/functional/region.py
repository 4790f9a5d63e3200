"""Region (overlap) losses: Dice, Jaccard, Tversky, focal-Tversky, generalized Dice, from per-class statistics.

Each loss is a function of the per-(sample, class) statistics ``(I, P, T)`` computed by the kernel in
:mod:`losskit.functional.region_stats` (see there for the algorithms, their memory and their speed), with
``fp = P - I`` and ``fn = T - I``.

Every function here checks its own arguments (:mod:`losskit.functional.segmentation_input`) and follows the
zoo's edge-case policy (``docs/conventions.md``): NaN in the input gives NaN; an empty batch or an all-ignored
target gives 0 with a zero gradient; under fp16/bf16 autocast the statistics and the loss are float32.

Layouts: ``mode="multiclass"`` (the default): logits (N, C, *) and class indices (N, *) of any integer dtype
or class probabilities (N, C, *); ``"multilabel"``: logits and float targets (N, C, *); ``"binary"``: logits
and targets of the same shape (N, *) (or (N, 1, *) with an (N, *) target), one foreground channel.

:func:`soft_dice_loss` is the class-free Dice over every element at once (the Dice term of image
registration's ``dice_smooth``), here beside the per-class one so a reader looking for a Dice finds both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ._checks import check_choice, check_float, check_same_shape
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .region_stats import RegionStats, class_row, pool_stats, region_stats, safe_ratio
from .segmentation_input import DEFAULT_MODE, MODES, Mode, Reduction, prepare_segmentation

__all__ = [
    "RegionStats",
    "region_stats",
    "safe_ratio",
    "pool_stats",
    "region_terms",
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "soft_dice_loss",
    "MODES",
    "DEFAULT_MODE",
]

Weight = Tensor | Sequence[float] | None


def region_terms(
    input: Tensor,
    target: Tensor,
    mode: str,
    from_logits: bool,
    ignore_index: int | None,
    batch: bool,
    include_background: bool,
) -> RegionStats:
    """The pooled statistics of already validated inputs (the shared first step of every region loss)."""
    s = region_stats(input, target, mode=mode, from_logits=from_logits, ignore_index=ignore_index)
    return pool_stats(s, batch, include_background)


def dice_from_stats(s: RegionStats, smooth_nr: float, smooth_dr: float) -> Tensor:
    return 1.0 - safe_ratio(2.0 * s.inter + smooth_nr, s.pred + s.true + smooth_dr)


@float32_loss
def dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    weight: Weight = None,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Soft Dice loss ``1 - (2 I + smooth_nr) / (P + T + smooth_dr)`` per (sample, class); see the module doc.
    "none" shape: (N, C) (``batch=False``) or (C,) (``batch=True``), C = 1 in binary mode.

    Example:
        >>> p, t = torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> dice_loss(p, t, mode="binary", from_logits=False)  # 1 - 2 * 1 / (2 + 1)
        tensor(0.3333)
        >>> dice_loss(torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8)), reduction="none").shape
        torch.Size([2, 3])
    """
    target, w = prepare_segmentation(
        "dice_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
    )
    s = region_terms(input, target, mode, from_logits, ignore_index, batch, include_background)
    loss = dice_from_stats(s, smooth_nr, smooth_dr)
    return reduce(loss, reduction, weight=class_row(w, loss))


@float32_loss
def jaccard_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    weight: Weight = None,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Soft Jaccard (IoU) loss ``1 - (I + smooth_nr) / (P + T - I + smooth_dr)``. Same shapes as ``dice_loss``.

    Example:
        >>> p, t = torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> jaccard_loss(p, t, mode="binary", from_logits=False)  # 1 - 1 / (2 + 1 - 1)
        tensor(0.5000)
    """
    target, w = prepare_segmentation(
        "jaccard_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
    )
    s = region_terms(input, target, mode, from_logits, ignore_index, batch, include_background)
    loss = 1.0 - safe_ratio(s.inter + smooth_nr, s.pred + s.true - s.inter + smooth_dr)
    return reduce(loss, reduction, weight=class_row(w, loss))


def tversky_index(s: RegionStats, alpha: float, beta: float, smooth_nr: float, smooth_dr: float) -> Tensor:
    """``(I + nr) / (I + alpha fp + beta fn + dr)``: ``alpha`` weighs false positives, ``beta`` false negatives."""
    fp = s.pred - s.inter
    fn = s.true - s.inter
    return safe_ratio(s.inter + smooth_nr, s.inter + alpha * fp + beta * fn + smooth_dr)


@float32_loss
def tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    weight: Weight = None,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Tversky loss ``1 - TI``. Same shapes as ``dice_loss`` (alpha = beta = 0.5 is Dice).

    Example:
        >>> p, t = torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # I = 1, fp = 1
        >>> tversky_loss(p, t, alpha=0.7, beta=0.3, mode="binary", from_logits=False)  # 1 - 1 / (1 + 0.7)
        tensor(0.4118)
    """
    target, w = prepare_segmentation(
        "tversky_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
    )
    s = region_terms(input, target, mode, from_logits, ignore_index, batch, include_background)
    loss = 1.0 - tversky_index(s, alpha, beta, smooth_nr, smooth_dr)
    return reduce(loss, reduction, weight=class_row(w, loss))


@float32_loss
def focal_tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    weight: Weight = None,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Focal-Tversky loss ``(1 - TI)^gamma`` per (sample, class), the exponent applied per class as in the
    paper (not to the batch mean). Same shapes as ``dice_loss``.

    Example:
        >>> p, t = torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # I = 1, fp = 1
        >>> focal_tversky_loss(p, t, mode="binary", from_logits=False)  # (1 - 1 / (1 + 0.3)) ** 0.75
        tensor(0.3330)
    """
    target, w = prepare_segmentation(
        "focal_tversky_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
    )
    s = region_terms(input, target, mode, from_logits, ignore_index, batch, include_background)
    base = 1.0 - tversky_index(s, alpha, beta, smooth_nr, smooth_dr)
    if gamma != 1.0:
        # x^gamma has an infinite slope at 0 for gamma < 1: a perfect class gets exactly 0 and a zero gradient.
        # The test is `base <= tiny` (False for NaN), so a NaN base stays NaN.
        tiny = torch.finfo(base.dtype).tiny
        base = torch.where(base <= tiny, torch.zeros_like(base), base.clamp_min(tiny).pow(gamma))
    return reduce(base, reduction, weight=class_row(w, base))


@float32_loss
def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    w_type: Literal["square", "simple", "uniform"] = "square",
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Generalized Dice (Sudre et al. 2017): ``1 - (2 sum_c w_c I_c + nr) / (sum_c w_c (P_c + T_c) + dr)`` with
    ``w_c = 1 / T_c^2`` ("square"), ``1 / T_c`` ("simple") or 1 ("uniform"). A class with ``T_c = 0`` gets the
    largest finite weight of its sample (of the batch with ``batch=True``), never inf (MONAI's rule); when every
    class is empty all weights are 0 and the loss is ``1 - nr / dr``. "none" shape: (N,) or (1,) with ``batch``.

    Example:
        >>> y, p = torch.tensor([[0, 1, 1, 1]]), torch.tensor([[[0.0, 0, 0, 0], [1, 1, 1, 1]]])  # misses class 0
        >>> generalized_dice_loss(p, y, from_logits=False)  # the rare class weighs 9x: 1 - (2/3) / (16/9)
        tensor(0.6250)
        >>> generalized_dice_loss(p, y, w_type="uniform", from_logits=False)  # 1 - 6 / 8
        tensor(0.2500)
    """
    check_choice("generalized_dice_loss", "w_type", w_type, ("square", "simple", "uniform"))
    target, _ = prepare_segmentation(
        "generalized_dice_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        ignore_index=ignore_index,
        num_classes=num_classes,
    )
    s = region_terms(input, target, mode, from_logits, ignore_index, batch, include_background)
    inter, pred, true = (t if t.dim() == 2 else t.unsqueeze(0) for t in (s.inter, s.pred, s.true))
    if w_type == "uniform":
        w = torch.ones_like(true)
    else:
        empty = true <= 0
        safe = torch.where(empty, torch.ones_like(true), true)
        w = torch.where(empty, torch.zeros_like(true), 1.0 / (safe * safe if w_type == "square" else safe))
        w = torch.where(empty, w.amax(dim=1, keepdim=True), w)
    num = 2.0 * (w * inter).sum(1) + smooth_nr
    den = (w * (pred + true)).sum(1) + smooth_dr
    return reduce(1.0 - safe_ratio(num, den), reduction)


@float32_loss
def soft_dice_loss(input: Tensor, target: Tensor, *, epsilon: float = 1e-5, smooth_nr: float | None = None) -> Tensor:
    """Soft Dice over every element at once, no classes and no one-hot: ``1 - (2 sum(p t) + nr) / (sum p + sum t
    + eps)``, ``nr = epsilon`` unless ``smooth_nr`` is given. The Dice term of seed 002's ``dice_smooth``
    (:func:`~losskit.functional.image_registration.dice_smooth_loss`, a warped moving segmentation against the
    fixed one); :func:`dice_loss` is the per-class Dice of the segmentation zoo. Values are not checked to lie
    in [0, 1] (interpolated segmentations may overshoot).

    An empty input gives 0 (the empty-batch policy; with ``nr != eps`` the ratio alone would not be 0).
    """
    check_float("soft_dice", "input", input)
    check_same_shape("soft_dice", input, target)
    nr = epsilon if smooth_nr is None else smooth_nr
    dtype = acc_dtype(input)
    p, t = input.to(dtype), target.to(dtype)
    inter = (p * t).sum(dtype=dtype)
    union = p.sum(dtype=dtype) + t.sum(dtype=dtype)
    if p.numel() == 0:  # metadata only: no sync
        return union * 0.0
    return 1.0 - (2.0 * inter + nr) / (union + epsilon)
