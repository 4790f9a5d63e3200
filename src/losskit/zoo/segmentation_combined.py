"""Segmentation losses that combine terms: Dice + CE, Dice + focal, AutoTimm's combined loss, seed 000's
Dice + BCE, and AutoTimm's per-instance mask loss.

Same conventions as :mod:`losskit.zoo.segmentation` (``docs/conventions.md``). The combos offer ``reduction``
"mean" | "sum" only: their two terms have different natural "none" shapes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import LossInputError
from ..functional._checks import check_float, check_reduction, shape_str
from ..functional.focal import sigmoid_focal_loss, softmax_focal_loss
from ..functional.region import dice_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from .segmentation import _SEG_INPUTS, _TASKS, DiceLoss, _SegBase, _smoothing

__all__ = ["DiceCELoss", "DiceFocalLoss", "CombinedSegmentationLoss", "CombinedDiceBCE", "MaskLoss", "cross_entropy_term"]



def _valid_sum(values: Tensor, weights: Tensor | None) -> tuple[Tensor, Tensor]:
    """``(sum values, sum weights)`` in float32 (float64 stays): the pieces of a mean over valid entries."""
    dt = torch.float64 if values.dtype == torch.float64 else torch.float32
    total = values.sum(dtype=dt)
    count = torch.tensor(float(values.numel()), dtype=dt, device=values.device) if weights is None else weights.sum(dtype=dt)
    return total, count


def cross_entropy_term(
    input: Tensor, target: Tensor, *, mode: str, from_logits: bool = True, weight: Tensor | None = None,
    ignore_index: int | None = None, label_smoothing: float = 0.0, pos_weight: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(sum, count)`` of the pixelwise cross-entropy (softmax CE for multiclass, sigmoid BCE otherwise), so
    callers can take a mean over valid pixels that is 0, not NaN, when every pixel is ignored. The count is
    PyTorch's: the summed class weights of the valid targets."""
    x = input if input.dtype in (torch.float32, torch.float64) else input.float()
    if mode == "multiclass" and not target.is_floating_point():
        valid = None if ignore_index is None else target != ignore_index
        y = target.long() if valid is None else torch.where(valid, target, torch.zeros_like(target)).long()
        w = None if weight is None else weight.to(x.dtype)
        if from_logits:
            ce = F.cross_entropy(x, y, weight=w, reduction="none", label_smoothing=label_smoothing)
        else:
            ce = F.nll_loss(x.clamp_min(torch.finfo(x.dtype).tiny).log(), y, weight=w, reduction="none")
        wy = None if w is None else w[y]
        if valid is not None:
            ce = ce * valid
            wy = valid.to(x.dtype) if wy is None else wy * valid
        return _valid_sum(ce, wy)
    if mode == "multiclass":
        logp = torch.log_softmax(x, 1) if from_logits else x.clamp_min(torch.finfo(x.dtype).tiny).log()
        per = -(target.to(x.dtype) * logp)
        if weight is not None:
            per = per * weight.to(x.dtype).view(1, -1, *([1] * (x.dim() - 2)))
        total, _ = _valid_sum(per, None)
        return total, torch.tensor(float(per.numel() // per.shape[1]), dtype=total.dtype, device=x.device)
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
    return _valid_sum(per, valid_f)


def _term(pair: tuple[Tensor, Tensor], reduction: str) -> Tensor:
    total, count = pair
    return total if reduction == "sum" else total / count.clamp_min(torch.finfo(total.dtype).tiny)


@register_loss("dice_ce", aliases=["DiceCELoss"], tasks=_TASKS, tags=["region", "combined"], inputs=_SEG_INPUTS)
class DiceCELoss(DiceLoss):
    """Dice + cross-entropy (nnU-Net's recipe): ``lambda_dice * dice + lambda_ce * CE``.

    The Dice term is ``dice`` with the same options; CE is softmax cross-entropy for "multiclass" (class
    ``weight``, ``ignore_index``, ``label_smoothing``; soft targets allowed) and sigmoid BCE for "binary" /
    "multilabel" (``weight`` per channel, ignored elements masked). "mean" = ``lambda_dice * dice mean +
    lambda_ce * CE mean over valid pixels`` (0 when all are ignored); "sum" adds the sums. No "none": the two
    terms have different natural shapes.

    Parity: ``dice_ce(weight=w)`` ≡ MONAI ``DiceCELoss(softmax=True, to_onehot_y=True, weight=w)``;
    ``mode="binary"`` ≡ MONAI ``DiceCELoss(sigmoid=True)`` (MONAI uses ``weight`` as BCE ``pos_weight``; ours
    takes ``pos_weight`` separately).
    """

    loss_name = "dice_ce"

    def __init__(
        self, mode: str = "multiclass", from_logits: bool = True, lambda_dice: float = 1.0, lambda_ce: float = 1.0,
        smooth: float = 1e-5, smooth_nr: float | None = None, smooth_dr: float | None = None,
        weight: Tensor | None = None, ignore_index: int | None = None, batch: bool = False,
        include_background: bool = True, label_smoothing: float = 0.0, pos_weight: Tensor | None = None,
        num_classes: int | None = None, reduction: str = "mean",
    ) -> None:
        nn.Module.__init__(self)
        self._setup(mode, from_logits, weight, ignore_index, batch, include_background, num_classes, reduction, ("mean", "sum"))
        self.smooth_nr, self.smooth_dr = _smoothing(self.loss_name, smooth, smooth_nr, smooth_dr)
        if lambda_dice < 0 or lambda_ce < 0:
            raise ValueError(f"{self.loss_name}: lambda_dice and lambda_ce must be >= 0, got {lambda_dice}, {lambda_ce}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{self.loss_name}: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.lambda_dice, self.lambda_ce, self.label_smoothing = float(lambda_dice), float(lambda_ce), float(label_smoothing)
        self.register_buffer("pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        dice = dice_loss(input, target, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight,
                         reduction=self.reduction, **self._common())
        ce = cross_entropy_term(input, target, mode=self.mode, from_logits=self.from_logits, weight=self.weight,
                                ignore_index=self.ignore_index, label_smoothing=self.label_smoothing, pos_weight=self.pos_weight)
        return self.lambda_dice * dice + self.lambda_ce * _term(ce, self.reduction)


@register_loss("dice_focal", aliases=["DiceFocalLoss"], tasks=_TASKS, tags=["region", "combined", "imbalanced"], inputs=_SEG_INPUTS)
class DiceFocalLoss(DiceLoss):
    """Dice + focal: ``lambda_dice * dice + lambda_focal * focal`` (Zhu et al. 2019, AnatomyNet).

    Focal is ``softmax_focal_loss`` for "multiclass" (``gamma``, ``alpha`` scalar or (C,), class ``weight``,
    ``ignore_index``; mean over valid pixels) and ``sigmoid_focal_loss`` (torchvision semantics, ``alpha``
    default None here) for "binary"/"multilabel" (mean over valid elements). Logits only. Reductions as
    ``dice_ce``: "mean" | "sum".

    Parity: ``mode="multilabel"`` ≡ MONAI ``DiceFocalLoss(sigmoid=True, gamma=g)``. MONAI's DiceFocalLoss
    always uses a sigmoid focal term; the multiclass form here is MONAI ``DiceLoss(softmax=True,
    to_onehot_y=True) + FocalLoss(use_softmax=True, to_onehot_y=True, gamma=g)`` with ``lambda_focal = 1 / C``
    (MONAI's focal mean also divides by the C channels).
    """

    loss_name = "dice_focal"

    def __init__(
        self, mode: str = "multiclass", lambda_dice: float = 1.0, lambda_focal: float = 1.0, gamma: float = 2.0,
        alpha: float | None = None, smooth: float = 1e-5, smooth_nr: float | None = None,
        smooth_dr: float | None = None, weight: Tensor | None = None, ignore_index: int | None = None,
        batch: bool = False, include_background: bool = True, num_classes: int | None = None, reduction: str = "mean",
    ) -> None:
        nn.Module.__init__(self)
        self._setup(mode, True, weight, ignore_index, batch, include_background, num_classes, reduction, ("mean", "sum"))
        self.smooth_nr, self.smooth_dr = _smoothing(self.loss_name, smooth, smooth_nr, smooth_dr)
        if lambda_dice < 0 or lambda_focal < 0 or gamma < 0:
            raise ValueError(f"{self.loss_name}: lambda_dice, lambda_focal and gamma must be >= 0")
        self.lambda_dice, self.lambda_focal, self.gamma, self.alpha = float(lambda_dice), float(lambda_focal), float(gamma), alpha

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        dice = dice_loss(input, target, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight,
                         reduction=self.reduction, **self._common())
        if self.mode == "multiclass":
            if target.is_floating_point():
                raise LossInputError(f"{self.loss_name}: multiclass focal needs class indices, got a float target {shape_str(target)}")
            focal = softmax_focal_loss(input, target, gamma=self.gamma, alpha=self.alpha, weight=self.weight,
                                       ignore_index=self.ignore_index, reduction=self.reduction)
        else:
            t = target.to(input.dtype)
            w = None
            if self.weight is not None and self.mode == "multilabel":
                w = self.weight.view(1, -1, *([1] * (input.dim() - 2)))
            count = None
            if self.ignore_index is not None:
                keep = t != self.ignore_index
                t = torch.where(keep, t, torch.zeros_like(t))
                count = keep.to(torch.float32)
                w = count if w is None else w * count
            total = sigmoid_focal_loss(input, t, alpha=self.alpha, gamma=self.gamma, weight=w, reduction="sum")
            n = torch.tensor(float(input.numel()), device=input.device) if count is None else count.sum()
            focal = total if self.reduction == "sum" else total / n.to(total.dtype).clamp_min(1.0)
        return self.lambda_dice * dice + self.lambda_focal * focal


@register_loss("combined_segmentation", aliases=["CombinedSegmentationLoss"], tasks=_TASKS, tags=["combined"], inputs=_SEG_INPUTS)
class CombinedSegmentationLoss(_SegBase):
    """AutoTimm's semantic-segmentation loss: ``ce_weight * CE + dice_weight * dice`` over ``num_classes``
    classes, ``ignore_index=255`` by default, ``class_weights`` (C,) weighting the CE term only. ``num_classes``
    (AutoTimm's first argument) is checked against the input when given.

    CE is the mean over valid pixels (weighted as ``torch.nn.CrossEntropyLoss``; 0 when all are ignored); dice
    is the multiclass ``dice`` (per sample, ``smooth`` on both terms, default 1.0) with the same
    ``ignore_index``. Inputs: logits (N, C, *), class indices (N, *). Scalar output ("mean").
    Parity: ≡ ``ce_weight * cross_entropy(weight=class_weights, ignore_index) + dice_weight *
    dice(smooth=smooth, ignore_index)``.
    """

    loss_name = "combined_segmentation"

    def __init__(
        self, num_classes: int | None = None, ce_weight: float = 1.0, dice_weight: float = 1.0, ignore_index: int | None = 255,
        class_weights: Tensor | None = None, smooth: float = 1.0,
    ) -> None:
        super().__init__()
        self._setup("multiclass", True, class_weights, ignore_index, False, True, num_classes, "mean")
        if ce_weight < 0 or dice_weight < 0:
            raise ValueError(f"{self.loss_name}: ce_weight and dice_weight must be >= 0, got {ce_weight}, {dice_weight}")
        self.ce_weight, self.dice_weight, self.smooth = float(ce_weight), float(dice_weight), float(smooth)

    @property
    def class_weights(self) -> Tensor | None:
        return self.weight

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        ce = cross_entropy_term(input, target, mode="multiclass", weight=self.weight, ignore_index=self.ignore_index)
        dice = dice_loss(input, target, smooth_nr=self.smooth, smooth_dr=self.smooth, **self._common())
        return self.ce_weight * _term(ce, "mean") + self.dice_weight * dice


@register_loss("combined_dice_bce", aliases=["CombinedDiceBCE"], tasks=_TASKS, tags=["combined"], inputs=_SEG_INPUTS)
class CombinedDiceBCE(_SegBase):
    """Seed 000's ``dice_weight * dice + bce_weight * BCE`` for binary (default) or multilabel masks, both terms
    from the same logits (the seed fed logits to its Dice; here Dice sees sigmoid probabilities).

    Weights: any non-negative pair, not both 0 (the seed's "must sum to 1" rule broke on float rounding such as
    0.7 + 0.2 + ...; scale is the user's choice). Dice: ``dice(mode, smooth=1.0)``; BCE: mean over valid
    elements with ``pos_weight``. Scalar output ("mean" | "sum").
    """

    loss_name = "combined_dice_bce"

    def __init__(
        self, dice_weight: float = 0.5, bce_weight: float = 0.5, smooth: float = 1.0, mode: str = "binary",
        pos_weight: Tensor | None = None, ignore_index: int | None = None, batch: bool = False, reduction: str = "mean",
    ) -> None:
        super().__init__()
        if mode == "multiclass":
            raise ValueError(f"{self.loss_name}: mode must be 'binary' or 'multilabel' (use 'dice_ce' for multiclass)")
        self._setup(mode, True, None, ignore_index, batch, True, None, reduction, ("mean", "sum"))
        if dice_weight < 0 or bce_weight < 0 or dice_weight + bce_weight == 0:
            raise ValueError(f"{self.loss_name}: weights must be >= 0 and not both 0, got {dice_weight}, {bce_weight}")
        self.dice_weight, self.bce_weight, self.smooth = float(dice_weight), float(bce_weight), float(smooth)
        self.register_buffer("pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        dice = dice_loss(input, target, smooth_nr=self.smooth, smooth_dr=self.smooth, reduction=self.reduction, **self._common())
        bce = cross_entropy_term(input, target, mode=self.mode, ignore_index=self.ignore_index, pos_weight=self.pos_weight)
        return self.dice_weight * dice + self.bce_weight * _term(bce, self.reduction)


def _mask_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    return torch.randn(3, 7, 6, generator=g), torch.randint(0, 2, (3, 7, 6), generator=g).float()


@register_loss(
    "mask",
    aliases=["MaskLoss"],
    tasks=_TASKS,
    tags=["instance"],
    inputs=InputSpec(
        tensors=(TensorSpec("input", "(N, H, W) or (N, *)", "float", "per-instance mask logits"),
                 TensorSpec("target", "(N, H, W) same as input", "float", "per-instance binary masks")),
        example=_mask_example,
    ),
)
class MaskLoss(nn.Module):
    """AutoTimm's per-instance mask loss: sigmoid BCE ``-(pw t log s(x) + (1 - t) log(1 - s(x)))`` over the
    masks of N instances (N, H, W) (any trailing shape).

    ``pos_weight`` (scalar or broadcastable tensor) weighs foreground pixels. "mean" averages over every pixel of
    every instance and is 0 (with a zero gradient that still reaches the input) for an empty instance set
    (N = 0), where ``torch``'s mean would be NaN; "sum"; "none" keeps the input's shape. Accumulates in float32.
    Parity: ≡ ``torch.nn.BCEWithLogitsLoss(pos_weight=pw, reduction=r)`` for N > 0.
    """

    def __init__(self, pos_weight: float | Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction("mask", reduction)
        self.register_buffer("pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        check_float("mask", "input", input, "(N, H, W)")
        if not isinstance(target, Tensor) or target.shape != input.shape:
            got = shape_str(target) if isinstance(target, Tensor) else type(target).__name__
            raise LossInputError(f"mask: expected target masks of the input's shape {shape_str(input)}, got {got}")
        per = F.binary_cross_entropy_with_logits(input, target.to(input.dtype), pos_weight=self.pos_weight, reduction="none")
        if self.reduction == "none":
            return per
        total, count = _valid_sum(per, None)
        return total if self.reduction == "sum" else total / count.clamp_min(1.0)
