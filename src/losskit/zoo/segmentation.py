"""Segmentation losses: Dice, Jaccard, Tversky, focal-Tversky, generalized Dice, MCC, Lovász and the combos.

Conventions (``docs/conventions.md``): logits by default (``from_logits=True``); ``mode`` "binary" (one
foreground channel, sigmoid; input (N, *) or (N, 1, *) with a target of the input's shape or (N, *)),
"multiclass" (softmax over dim 1; target class indices (N, *) long, or class probabilities (N, C, *)) or
"multilabel" (per-channel sigmoid; target (N, C, *)); any number of spatial dims. ``ignore_index`` voxels count
nowhere and are masked before any gather/scatter; ``weight`` (C,) is a buffer, one entry per input channel
(the background entry is dropped with ``include_background=False``); ``batch=True`` pools the sums over the
batch. The region family's "none" shape is (N, C), or (C,) with ``batch=True`` (C = 1 in binary mode).
The numerics live in :mod:`losskit.functional.region`, ``.lovasz`` and ``.mcc``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import LossInputError
from ..functional._checks import check_choice, check_float, check_labels, check_reduction, label_checks_enabled, shape_str
from ..functional.focal import sigmoid_focal_loss, softmax_focal_loss
from ..functional.lovasz import lovasz_loss
from ..functional.mcc import mcc_loss
from ..functional.region import MODES, dice_loss, focal_tversky_loss, generalized_dice_loss, jaccard_loss, tversky_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._examples import num_classes_of

__all__ = [
    "DiceLoss", "JaccardLoss", "TverskyLoss", "FocalTverskyLoss", "GeneralizedDiceLoss", "MCCLoss", "LovaszLoss",
    "DiceCELoss", "DiceFocalLoss", "CombinedSegmentationLoss", "CombinedDiceBCE", "MaskLoss", "check_segmentation_input",
]


def check_segmentation_input(
    loss: str, mode: str, input: Tensor, target: Tensor, *, num_classes: int | None, ignore_index: int | None,
    weight: Tensor | None = None,
) -> Tensor:
    """Validate a (logits, target) pair for ``mode``; return the target in the layout the functional core takes
    (binary (N, *) targets of an (N, 1, *) input get their channel; an (N, 1, *) label map loses it)."""
    check_float(loss, "input", input, "(N, C, *spatial)")
    if not isinstance(target, Tensor):
        raise LossInputError(f"{loss}: expected target to be a torch.Tensor, got {type(target).__name__}")
    if input.dim() < 2:
        raise LossInputError(f"{loss}: expected input of shape (N, C, *spatial) or (N, *), got {shape_str(input)}")
    if mode == "binary":
        if target.shape != input.shape:
            if input.shape[1] == 1 and tuple(target.shape) == (input.shape[0], *input.shape[2:]):
                target = target.unsqueeze(1)
            else:
                raise LossInputError(
                    f"{loss}: incompatible shapes: binary mode expects a target of the input's shape {shape_str(input)}"
                    f" or, for an (N, 1, *) input, (N, *); got {shape_str(target)}"
                )
        _check_dense_values(loss, target, ignore_index)
        return target
    c = input.shape[1]
    if num_classes is not None and c != num_classes:
        raise LossInputError(f"{loss}: configured for num_classes={num_classes}, got input with {c} classes {shape_str(input)}")
    if weight is not None and weight.numel() != c:
        raise LossInputError(f"{loss}: class weight has {weight.numel()} entries for {c} classes")
    if mode == "multilabel" or target.is_floating_point():
        if target.shape != input.shape:
            raise LossInputError(
                f"{loss}: incompatible shapes: {mode} mode with a float target expects the input's shape "
                f"{shape_str(input)}, got {shape_str(target)}"
                + ("; class indices must be integers" if mode == "multiclass" else "")
            )
        _check_dense_values(loss, target, ignore_index if mode == "multilabel" else None)
        return target
    if c < 2:
        raise LossInputError(f"{loss}: multiclass mode needs C >= 2 channels, got {shape_str(input)}; use mode='binary'")
    if target.dim() == input.dim() and target.shape[1] == 1:
        target = target.squeeze(1)
    expected = (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        raise LossInputError(
            f"{loss}: incompatible shapes: expected class indices of shape ({', '.join(map(str, expected))}) for "
            f"input {shape_str(input)}, got {shape_str(target)}"
        )
    check_labels(loss, target, c, ignore_index)
    return target


def _check_dense_values(loss: str, target: Tensor, ignore_index: int | None) -> None:
    if target.dtype == torch.bool or not label_checks_enabled() or target.numel() == 0:
        return
    bad = (target < 0) | (target > 1)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bool(bad.any()):
        raise LossInputError(f"{loss}: expected target values in [0, 1] (ignore_index={ignore_index} allowed)")


def _seg_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    mode = getattr(loss, "mode", "multiclass")
    c = 1 if mode == "binary" else num_classes_of(loss)
    x = torch.randn(2, c, 6, 5, generator=g)
    if mode == "multiclass":
        y = torch.randint(0, c, (2, 6, 5), generator=g)
        ignore = getattr(loss, "ignore_index", None)
        if ignore is not None:
            y[0, 0, :2] = ignore
        return x, y
    return x, torch.randint(0, 2, x.shape, generator=g).float()


_SEG_INPUTS = InputSpec(
    tensors=(
        TensorSpec("input", "(N, C, *spatial)", "float", "logits (probabilities with from_logits=False)"),
        TensorSpec("target", "(N, *spatial) or (N, C, *spatial)", "long | float",
                   "class indices (multiclass) or a target of the input's shape (binary/multilabel/soft)"),
    ),
    example=_seg_example,
)
_TASKS = ["segmentation"]


class _SegBase(nn.Module):
    """Holds and checks the options shared by the segmentation losses."""

    loss_name = "segmentation"

    def _setup(
        self, mode: str, from_logits: bool, weight: Tensor | None, ignore_index: int | None, batch: bool,
        include_background: bool, num_classes: int | None, reduction: str, reductions: tuple[str, ...] = ("mean", "sum", "none"),
    ) -> None:
        name = self.loss_name
        self.mode = check_choice(name, "mode", mode, MODES)
        self.from_logits = bool(from_logits)
        self.ignore_index = ignore_index
        self.batch = bool(batch)
        self.include_background = bool(include_background)
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"{name}: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = num_classes
        self.reduction = check_reduction(name, reduction, reductions)
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=torch.float32)
            if weight.dim() != 1 or bool((weight < 0).any()):
                raise ValueError(f"{name}: weight must be a 1-D tensor of non-negative per-class values")
        self.register_buffer("weight", weight)

    def _target(self, input: Tensor, target: Tensor) -> Tensor:
        return check_segmentation_input(
            self.loss_name, self.mode, input, target, num_classes=self.num_classes, ignore_index=self.ignore_index,
            weight=self.weight,
        )

    def _common(self) -> dict[str, Any]:
        return dict(mode=self.mode, from_logits=self.from_logits, ignore_index=self.ignore_index, batch=self.batch,
                    include_background=self.include_background)


def _smoothing(name: str, smooth: float, smooth_nr: float | None, smooth_dr: float | None) -> tuple[float, float]:
    nr = smooth if smooth_nr is None else smooth_nr
    dr = smooth if smooth_dr is None else smooth_dr
    if nr < 0 or dr < 0:
        raise ValueError(f"{name}: smoothing terms must be >= 0, got smooth_nr={nr}, smooth_dr={dr}")
    return float(nr), float(dr)


@register_loss("dice", aliases=["DiceLoss", "dice_loss"], tasks=_TASKS, tags=["region", "dice"], inputs=_SEG_INPUTS)
class DiceLoss(_SegBase):
    """Soft Dice loss (Milletari et al., V-Net 2016): ``1 - (2 I + s_nr) / (P + T + s_dr)`` per (sample, class).

    ``I = (|p| + |t| - |p - t|) / 2`` (soft-label correct, = ``sum p t`` for hard labels), ``P = sum p``,
    ``T = sum t`` over the valid voxels; ``smooth`` sets both smoothing terms (``smooth_nr``/``smooth_dr``
    override). Empty classes: a class empty in both prediction and target scores a perfect 0 (also with
    ``smooth=0``); an empty target with a non-empty prediction costs ``P / (P + s)``.

    Inputs: see the module doc (default ``mode="multiclass"`` with class indices). "none": (N, C) or (C,) with
    ``batch=True``. "mean" averages those entries after the class ``weight`` multiplies them.

    Parity: ``dice(batch=b, weight=w)`` ≡ MONAI ``DiceLoss(softmax=True, to_onehot_y=True, batch=b, weight=w)``
    (sigmoid=True for "multilabel"; MONAI ``soft_label=True`` for soft targets); ``dice(smooth_nr=0,
    smooth_dr=eps)`` ≡ kornia ``dice_loss(average="macro", eps=eps)`` when every class is present in every
    sample. Seed 000's ``DiceLoss(smooth=1.0)`` on binary masks is ``dice(mode="binary", smooth=1.0)``.
    """

    loss_name = "dice"

    def __init__(
        self, mode: str = "multiclass", from_logits: bool = True, smooth: float = 1e-5, smooth_nr: float | None = None,
        smooth_dr: float | None = None, weight: Tensor | None = None, ignore_index: int | None = None, batch: bool = False,
        include_background: bool = True, num_classes: int | None = None, reduction: str = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, weight, ignore_index, batch, include_background, num_classes, reduction)
        self.smooth_nr, self.smooth_dr = _smoothing(self.loss_name, smooth, smooth_nr, smooth_dr)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        return dice_loss(input, target, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight,
                         reduction=self.reduction, **self._common())


@register_loss("jaccard", aliases=["JaccardLoss", "iou"], tasks=_TASKS, tags=["region"], inputs=_SEG_INPUTS)
class JaccardLoss(DiceLoss):
    """Soft Jaccard / IoU loss: ``1 - (I + s_nr) / (P + T - I + s_dr)`` per (sample, class); options, layouts,
    empty-class policy and "none" shape as ``dice``.

    Parity: ``jaccard(smooth_nr=a/2, smooth_dr=b/2)`` ≡ MONAI ``DiceLoss(jaccard=True, smooth_nr=a,
    smooth_dr=b, softmax=True, to_onehot_y=True)``. Reference: Rahman & Wang 2016 (optimizing IoU).
    """

    loss_name = "jaccard"

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        return jaccard_loss(input, target, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight,
                            reduction=self.reduction, **self._common())


@register_loss("tversky", aliases=["TverskyLoss"], tasks=_TASKS, tags=["region", "imbalanced"], inputs=_SEG_INPUTS)
class TverskyLoss(DiceLoss):
    """Tversky loss (Salehi et al. 2017): ``1 - (I + s_nr) / (I + alpha FP + beta FN + s_dr)`` per (sample,
    class) with ``FP = P - I``, ``FN = T - I``: ``alpha`` weighs false positives, ``beta`` false negatives
    (alpha = beta = 0.5 is Dice). Options, layouts, "none" shape as ``dice``.

    Parity: ≡ MONAI ``TverskyLoss(softmax=True, to_onehot_y=True, alpha, beta, batch)``; with ``smooth_nr=0,
    smooth_dr=eps`` ≡ kornia ``tversky_loss(alpha, beta, eps)`` when every class is present in every sample.
    """

    loss_name = "tversky"

    def __init__(
        self, alpha: float = 0.5, beta: float = 0.5, mode: str = "multiclass", from_logits: bool = True,
        smooth: float = 1e-5, smooth_nr: float | None = None, smooth_dr: float | None = None,
        weight: Tensor | None = None, ignore_index: int | None = None, batch: bool = False,
        include_background: bool = True, num_classes: int | None = None, reduction: str = "mean",
    ) -> None:
        super().__init__(mode, from_logits, smooth, smooth_nr, smooth_dr, weight, ignore_index, batch,
                         include_background, num_classes, reduction)
        if alpha < 0 or beta < 0:
            raise ValueError(f"{self.loss_name}: alpha and beta must be >= 0, got {alpha}, {beta}")
        self.alpha, self.beta = float(alpha), float(beta)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        return tversky_loss(input, target, alpha=self.alpha, beta=self.beta, smooth_nr=self.smooth_nr,
                            smooth_dr=self.smooth_dr, weight=self.weight, reduction=self.reduction, **self._common())


@register_loss("focal_tversky", aliases=["FocalTverskyLoss"], tasks=_TASKS, tags=["region", "imbalanced"], inputs=_SEG_INPUTS)
class FocalTverskyLoss(TverskyLoss):
    """Focal-Tversky loss (Abraham & Khan, ISBI 2019): ``(1 - TI)^gamma`` per (sample, class), ``TI`` the
    Tversky index of ``tversky`` (``alpha`` on FP, ``beta`` on FN; defaults 0.3 / 0.7 as the paper's
    alpha = 0.7 on FN). The exponent applies per class as in the paper, not to the batch mean (smp); the paper's
    ``gamma = 4/3`` is our exponent ``1/gamma = 0.75``. The base is clamped at 0 so gamma < 1 keeps finite
    gradients. "none" shape as ``dice``. ``gamma=1`` ≡ ``tversky`` (≡ MONAI ``TverskyLoss``).
    """

    loss_name = "focal_tversky"

    def __init__(
        self, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75, mode: str = "multiclass",
        from_logits: bool = True, smooth: float = 1e-5, smooth_nr: float | None = None, smooth_dr: float | None = None,
        weight: Tensor | None = None, ignore_index: int | None = None, batch: bool = False,
        include_background: bool = True, num_classes: int | None = None, reduction: str = "mean",
    ) -> None:
        super().__init__(alpha, beta, mode, from_logits, smooth, smooth_nr, smooth_dr, weight, ignore_index, batch,
                         include_background, num_classes, reduction)
        if gamma <= 0:
            raise ValueError(f"{self.loss_name}: gamma must be > 0, got {gamma}")
        self.gamma = float(gamma)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        return focal_tversky_loss(input, target, alpha=self.alpha, beta=self.beta, gamma=self.gamma,
                                  smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight,
                                  reduction=self.reduction, **self._common())


@register_loss("generalized_dice", aliases=["GeneralizedDiceLoss", "gdl"], tasks=_TASKS, tags=["region", "imbalanced"], inputs=_SEG_INPUTS)
class GeneralizedDiceLoss(_SegBase):
    """Generalized Dice (Sudre et al., DLMIA 2017): ``1 - (2 sum_c w_c I_c + s_nr) / (sum_c w_c (P_c + T_c) +
    s_dr)`` per sample (``batch=True``: once for the batch), ``w_c = 1/T_c^2`` ("square"), ``1/T_c``
    ("simple") or 1 ("uniform"). An empty class takes the largest finite weight of its sample, never inf; all
    classes empty gives ``1 - s_nr/s_dr`` (0 by default). "none" shape: (N,) or (1,) with ``batch=True``.

    Parity: ≡ MONAI ``GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type, batch)`` (hard labels);
    ``w_type="uniform", smooth_nr=0, smooth_dr=eps`` ≡ kornia ``dice_loss(average="micro", eps)``.
    """

    loss_name = "generalized_dice"

    def __init__(
        self, w_type: str = "square", mode: str = "multiclass", from_logits: bool = True, smooth: float = 1e-5,
        smooth_nr: float | None = None, smooth_dr: float | None = None, ignore_index: int | None = None,
        batch: bool = False, include_background: bool = True, num_classes: int | None = None, reduction: str = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, None, ignore_index, batch, include_background, num_classes, reduction)
        self.w_type = check_choice(self.loss_name, "w_type", w_type, ("square", "simple", "uniform"))
        self.smooth_nr, self.smooth_dr = _smoothing(self.loss_name, smooth, smooth_nr, smooth_dr)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        return generalized_dice_loss(input, target, w_type=self.w_type, smooth_nr=self.smooth_nr,
                                     smooth_dr=self.smooth_dr, reduction=self.reduction, **self._common())


@register_loss("mcc", aliases=["MCCLoss"], tasks=_TASKS, tags=["region", "imbalanced"], inputs=_SEG_INPUTS)
class MCCLoss(_SegBase):
    """Soft Matthews correlation loss (Abhishek & Hamarneh, ISBI 2021): ``1 - MCC`` per (sample, class),
    ``MCC = (TP TN - FP FN + s_nr) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN) + s_dr)`` from the soft confusion matrix
    (TN counts the valid voxels only). An entry with FP = FN = 0 scores 0. Default ``mode="binary"``.
    "none" shape as ``dice``.

    Parity: ≡ MONAI ``MCCLoss(sigmoid=True, batch=b)`` (binary/multilabel) and ``MCCLoss(softmax=True,
    to_onehot_y=True)`` (multiclass), same ``smooth_nr=0, smooth_dr=1e-5`` defaults.
    """

    loss_name = "mcc"

    def __init__(
        self, mode: str = "binary", from_logits: bool = True, smooth_nr: float = 0.0, smooth_dr: float = 1e-5,
        weight: Tensor | None = None, ignore_index: int | None = None, batch: bool = False,
        include_background: bool = True, num_classes: int | None = None, reduction: str = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, weight, ignore_index, batch, include_background, num_classes, reduction)
        self.smooth_nr, self.smooth_dr = _smoothing(self.loss_name, 0.0, smooth_nr, smooth_dr)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        return mcc_loss(input, target, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight,
                        reduction=self.reduction, **self._common())


@register_loss("lovasz", aliases=["LovaszLoss", "lovasz_softmax", "lovasz_hinge"], tasks=_TASKS, tags=["region", "iou"], inputs=_SEG_INPUTS)
class LovaszLoss(_SegBase):
    """Lovász loss (Berman et al., CVPR 2018): the Lovász extension of the Jaccard loss. Binary: the Lovász
    hinge of logits, errors ``max(0, 1 - x (2t - 1))``; multiclass: Lovász-softmax, errors ``|[y = c] - p_c|``;
    multilabel: per-class sigmoid errors ``|t_c - p_c|`` (a mean of per-class problems, not smp's single
    flattened one). Vectorised: one batched sort of the (N*C, S) error matrix, no loop over classes or images.

    ``batch=False`` solves one problem per (image, class) (kornia's per-image), ``batch=True`` per class over the
    whole batch (Berman's ``per_image=False``). ``classes="present"`` averages over entries with a non-empty
    target (multiclass/multilabel), ``"all"`` over every entry. "none": (N, C) or (C,), skipped entries 0.

    Parity: ``lovasz(mode="binary")`` ≡ kornia ``lovasz_hinge_loss``; ``lovasz(classes="all", weight=w)`` ≡
    kornia ``lovasz_softmax_loss(weight=w)``.
    """

    loss_name = "lovasz"

    def __init__(
        self, mode: str = "multiclass", from_logits: bool = True, classes: str = "present", weight: Tensor | None = None,
        ignore_index: int | None = None, batch: bool = False, num_classes: int | None = None, reduction: str = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, weight, ignore_index, batch, True, num_classes, reduction)
        self.classes = check_choice(self.loss_name, "classes", classes, ("present", "all"))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._target(input, target)
        return lovasz_loss(input, target, mode=self.mode, from_logits=self.from_logits, ignore_index=self.ignore_index,
                           batch=self.batch, classes=self.classes, weight=self.weight, reduction=self.reduction)


# ----------------------------------------------------------------------------------------------- combos


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
