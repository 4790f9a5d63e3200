"""Segmentation losses made of two terms: Dice + cross-entropy, Dice + focal, AutoTimm's combined loss and
seed 000's Dice + BCE, as functional forms.

Each validates its inputs once (:mod:`losskit.functional.segmentation_input`), then computes both terms from
the same tensors. ``reduction`` is "mean" | "sum" only: the two terms have different natural "none" shapes.
With ``return_terms=True`` each returns ``(total, {term: detached value})`` (:func:`with_terms`), the one
per-term protocol of the zoo; the values are the unweighted terms.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..compose.terms import with_terms
from ..errors import LossInputError
from ._checks import shape_str
from ._precision import float32_loss
from ._reduce import reduce
from .focal import kept_sigmoid_focal, softmax_focal_loss
from .region import dice_from_stats, region_terms
from .region_stats import class_row, pool_stats, region_stats_with_nll
from .segmentation_input import DEFAULT_MODE, Mode, PairReduction, prepare_segmentation

__all__ = [
    "cross_entropy_term",
    "dice_ce_loss",
    "dice_focal_loss",
    "combined_segmentation_loss",
    "combined_dice_bce_loss",
]

Weight = Tensor | Sequence[float] | None
Result = Tensor | tuple[Tensor, dict[str, Tensor]]
_PAIR = ("mean", "sum")


def cross_entropy_term(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    from_logits: bool = True,
    weight: Tensor | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    pos_weight: Tensor | None = None,
    reduction: PairReduction = "mean",
) -> Tensor:
    """The pixelwise cross-entropy (softmax CE for multiclass, sigmoid BCE otherwise), summed or averaged over
    the valid pixels (0, not NaN, when every pixel is ignored). The mean's count is PyTorch's: the summed class
    weights of the valid targets; one per pixel for soft multiclass targets. Inputs already validated."""
    x = input if input.dtype in (torch.float32, torch.float64) else input.float()
    if mode == "multiclass" and not target.is_floating_point():
        y = target.long()  # any integer dtype, widened before comparing to ignore_index
        valid = None if ignore_index is None else y != ignore_index
        y = y if valid is None else torch.where(valid, y, torch.zeros_like(y))
        w = None if weight is None else weight.to(x.dtype)
        if from_logits:
            ce = F.cross_entropy(x, y, weight=w, reduction="none", label_smoothing=label_smoothing)
        else:
            ce = F.nll_loss(x.clamp_min(torch.finfo(x.dtype).tiny).log(), y, weight=w, reduction="none")
        wy = None if w is None else w[y]
        if valid is not None:
            ce = ce * valid
            wy = valid.to(x.dtype) if wy is None else wy * valid
        return reduce(ce, reduction, wy)
    if mode == "multiclass":
        logp = torch.log_softmax(x, 1) if from_logits else x.clamp_min(torch.finfo(x.dtype).tiny).log()
        per = -(target.to(x.dtype) * logp)
        if weight is not None:
            per = per * weight.to(x.dtype).view(1, -1, *([1] * (x.dim() - 2)))
        pixels = torch.tensor(float(per.numel() // max(per.shape[1], 1)), dtype=x.dtype, device=x.device)
        return reduce(per, reduction, avg_factor=pixels)
    t = target.to(x.dtype)
    valid_f = None
    if ignore_index is not None:
        keep = t != ignore_index
        t = torch.where(keep, t, torch.zeros_like(t))
        valid_f = keep.to(x.dtype)
    if from_logits:
        per = F.binary_cross_entropy_with_logits(x, t, pos_weight=pos_weight, reduction="none")
    else:
        per = F.binary_cross_entropy(x, t, reduction="none")
    if weight is not None and mode == "multilabel":
        per = per * weight.to(x.dtype).view(1, -1, *([1] * (x.dim() - 2)))
    if valid_f is not None:
        per = per * valid_f
    return reduce(per, reduction, valid_f)


def _dice(
    input: Tensor,
    target: Tensor,
    mode: str,
    from_logits: bool,
    nr: float,
    dr: float,
    weight: Tensor | None,
    ignore_index: int | None,
    batch: bool,
    include_background: bool,
    reduction: str,
) -> Tensor:
    s = region_terms(input, target, mode, from_logits, ignore_index, batch, include_background)
    loss = dice_from_stats(s, nr, dr)
    return reduce(loss, reduction, weight=class_row(weight, loss))


@float32_loss
def dice_ce_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    weight: Weight = None,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    label_smoothing: float = 0.0,
    pos_weight: Tensor | None = None,
    num_classes: int | None = None,
    reduction: PairReduction = "mean",
    return_terms: bool = False,
) -> Result:
    """``lambda_dice * dice + lambda_ce * CE`` (nnU-Net's recipe). Dice is :func:`dice_loss` with the same
    options; CE is softmax cross-entropy for "multiclass" (class ``weight``, ``ignore_index``,
    ``label_smoothing``; soft targets allowed) and sigmoid BCE for "binary"/"multilabel" (``weight`` per
    channel, ``pos_weight``, ignored elements masked). "mean" = ``lambda_dice * dice mean + lambda_ce * CE mean
    over valid pixels`` (0 when all are ignored); "sum" adds the sums. Terms: ``"dice"``, ``"ce"``.

    Example:
        >>> x, y = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
        >>> total, terms = dice_ce_loss(x, y, lambda_ce=0.5, return_terms=True)
        >>> sorted(terms), torch.allclose(total, terms["dice"] + 0.5 * terms["ce"])
        (['ce', 'dice'], True)
    """
    target, w = prepare_segmentation(
        "dice_ce_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
        reductions=_PAIR,
    )
    if mode == "multiclass" and from_logits and not target.is_floating_point() and w is None and not label_smoothing:
        # the common case: both terms from one softmax and one backward pass (region_stats_with_nll)
        stats, nll = region_stats_with_nll(input, target, ignore_index=ignore_index)
        dice = reduce(dice_from_stats(pool_stats(stats, batch, include_background), smooth_nr, smooth_dr), reduction)
        total_nll = nll.sum()
        ce = total_nll if reduction == "sum" else total_nll / stats.count.sum().clamp_min(1)
        return with_terms(lambda_dice * dice + lambda_ce * ce, {"dice": dice, "ce": ce}, return_terms)
    dice = _dice(
        input, target, mode, from_logits, smooth_nr, smooth_dr, w, ignore_index, batch, include_background, reduction
    )
    pw = pos_weight.to(input.device) if pos_weight is not None else None
    ce = cross_entropy_term(
        input,
        target,
        mode=mode,
        from_logits=from_logits,
        weight=w,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        pos_weight=pw,
        reduction=reduction,
    )
    return with_terms(lambda_dice * dice + lambda_ce * ce, {"dice": dice, "ce": ce}, return_terms)


@float32_loss
def dice_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
    gamma: float = 2.0,
    alpha: float | None = None,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    weight: Weight = None,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: PairReduction = "mean",
    return_terms: bool = False,
) -> Result:
    """``lambda_dice * dice + lambda_focal * focal`` from logits. Focal is :func:`softmax_focal_loss` for
    "multiclass" (class indices only; mean over valid pixels) and :func:`sigmoid_focal_loss` for "binary" /
    "multilabel" (mean over valid elements; ``weight`` per channel in multilabel mode). Terms: ``"dice"``,
    ``"focal"``.

    Example:
        >>> x, y = torch.randn(2, 1, 8, 8), torch.randint(0, 2, (2, 1, 8, 8)).float()
        >>> total, terms = dice_focal_loss(x, y, mode="binary", lambda_focal=2.0, return_terms=True)
        >>> sorted(terms), torch.allclose(total, terms["dice"] + 2.0 * terms["focal"])
        (['dice', 'focal'], True)
    """
    name = "dice_focal_loss"
    target, w = prepare_segmentation(
        name,
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
        reductions=_PAIR,
    )
    if mode == "multiclass" and target.is_floating_point():
        raise LossInputError(f"{name}: multiclass focal needs class indices, got a float target {shape_str(target)}")
    dice = _dice(input, target, mode, True, smooth_nr, smooth_dr, w, ignore_index, batch, include_background, reduction)
    if input.numel() == 0:
        focal = input.sum() * 0.0  # empty batch: 0, still connected to the input's graph
    elif mode == "multiclass":
        focal = softmax_focal_loss(
            input, target.long(), gamma=gamma, alpha=alpha, weight=w, ignore_index=ignore_index, reduction=reduction
        )
    else:
        t = target.to(input.dtype)
        wt = None if w is None or mode != "multilabel" else w.view(1, -1, *([1] * (input.dim() - 2)))
        keep = None
        if ignore_index is not None:
            keep = t != ignore_index
            t = torch.where(keep, t, torch.zeros_like(t))
        focal = kept_sigmoid_focal(input, t, gamma=gamma, alpha=alpha, weight=wt, keep=keep, reduction=reduction)
    return with_terms(lambda_dice * dice + lambda_focal * focal, {"dice": dice, "focal": focal}, return_terms)


@float32_loss
def combined_segmentation_loss(
    input: Tensor,
    target: Tensor,
    *,
    ce_weight: float = 1.0,
    dice_weight: float = 1.0,
    ignore_index: int | None = 255,
    class_weights: Weight = None,
    smooth: float = 1.0,
    num_classes: int | None = None,
    return_terms: bool = False,
) -> Result:
    """AutoTimm's ``ce_weight * CE + dice_weight * dice`` over class indices (multiclass), ``ignore_index=255``;
    ``class_weights`` weigh the CE term only; dice per sample with ``smooth`` on both terms. The mean.
    Terms: ``"ce"``, ``"dice"``.

    Example:
        >>> x, y = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
        >>> y[:, :2] = 255  # unlabelled rows: ignored by both terms
        >>> total, terms = combined_segmentation_loss(x, y, return_terms=True)
        >>> total.shape, torch.allclose(total, terms["ce"] + terms["dice"])
        (torch.Size([]), True)
    """
    target, w = prepare_segmentation(
        "combined_segmentation_loss",
        input,
        target,
        mode="multiclass",
        reduction="mean",
        weight=class_weights,
        ignore_index=ignore_index,
        num_classes=num_classes,
    )
    ce = cross_entropy_term(input, target, mode="multiclass", weight=w, ignore_index=ignore_index)
    dice = _dice(input, target, "multiclass", True, smooth, smooth, None, ignore_index, False, True, "mean")
    return with_terms(ce_weight * ce + dice_weight * dice, {"ce": ce, "dice": dice}, return_terms)


@float32_loss
def combined_dice_bce_loss(
    input: Tensor,
    target: Tensor,
    *,
    dice_weight: float = 0.5,
    bce_weight: float = 0.5,
    smooth: float = 1.0,
    mode: Mode = "binary",
    pos_weight: Tensor | None = None,
    ignore_index: int | None = None,
    batch: bool = False,
    reduction: PairReduction = "mean",
    return_terms: bool = False,
) -> Result:
    """Seed 000's ``dice_weight * dice + bce_weight * BCE`` for "binary" or "multilabel" masks ("multiclass" is
    refused: use :func:`dice_ce_loss`), both terms from the same logits. Terms: ``"dice"``, ``"bce"``.

    Example:
        >>> x, y = torch.randn(2, 1, 8, 8), torch.randint(0, 2, (2, 1, 8, 8)).float()
        >>> total, terms = combined_dice_bce_loss(x, y, return_terms=True)
        >>> sorted(terms), torch.allclose(total, 0.5 * terms["dice"] + 0.5 * terms["bce"])
        (['bce', 'dice'], True)
    """
    name = "combined_dice_bce_loss"
    if mode == "multiclass":
        raise ValueError(f"{name}: mode must be 'binary' or 'multilabel' (use 'dice_ce' for multiclass)")
    target, _ = prepare_segmentation(
        name, input, target, mode=mode, reduction=reduction, ignore_index=ignore_index, reductions=_PAIR
    )
    dice = _dice(input, target, mode, True, smooth, smooth, None, ignore_index, batch, True, reduction)
    pw = pos_weight.to(input.device) if pos_weight is not None else None
    bce = cross_entropy_term(input, target, mode=mode, ignore_index=ignore_index, pos_weight=pw, reduction=reduction)
    return with_terms(dice_weight * dice + bce_weight * bce, {"dice": dice, "bce": bce}, return_terms)
