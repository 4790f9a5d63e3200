"""Segmentation region losses: Dice, Jaccard, Tversky, focal-Tversky, generalized Dice, MCC and Lovász.

The combinations of terms (Dice + CE, ...) are in :mod:`losskit.zoo.segmentation_combined`.

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

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor

from ..functional._checks import check_choice
from ..functional._numerics import check_smoothing
from ..functional.lovasz import lovasz_loss
from ..functional.mcc import mcc_loss
from ..functional.region import dice_loss, focal_tversky_loss, generalized_dice_loss, jaccard_loss, tversky_loss
from ..functional.segmentation_input import DEFAULT_MODE, Mode, Reduction, check_segmentation_input
from ..registration import register_loss
from ._segmentation_base import SEG_INPUTS as _SEG_INPUTS
from ._segmentation_base import TASKS as _TASKS
from ._segmentation_base import SegBase as _SegBase
from ._segmentation_base import seg_args

__all__ = [
    "DiceLoss",
    "JaccardLoss",
    "TverskyLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "MCCLoss",
    "LovaszLoss",
    "check_segmentation_input",
]


@register_loss("dice", aliases=["DiceLoss", "dice_loss"], tasks=_TASKS, tags=["region", "dice"], inputs=_SEG_INPUTS)
@seg_args()
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

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        smooth: float = 1e-5,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, weight, ignore_index, batch, include_background, num_classes, reduction)
        self.smooth_nr, self.smooth_dr = check_smoothing(self.loss_name, smooth_nr, smooth_dr, smooth=smooth)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return dice_loss(
            input, target, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight, **self._common()
        )


@register_loss("jaccard", aliases=["JaccardLoss", "iou"], tasks=_TASKS, tags=["region"], inputs=_SEG_INPUTS)
@seg_args()
class JaccardLoss(DiceLoss):
    """Soft Jaccard / IoU loss: ``1 - (I + s_nr) / (P + T - I + s_dr)`` per (sample, class); options, layouts,
    empty-class policy and "none" shape as ``dice``.

    Parity: ``jaccard(smooth_nr=a/2, smooth_dr=b/2)`` ≡ MONAI ``DiceLoss(jaccard=True, smooth_nr=a,
    smooth_dr=b, softmax=True, to_onehot_y=True)``. Reference: Rahman & Wang 2016 (optimizing IoU).
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return jaccard_loss(
            input, target, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight, **self._common()
        )


@register_loss("tversky", aliases=["TverskyLoss"], tasks=_TASKS, tags=["region", "imbalanced"], inputs=_SEG_INPUTS)
@seg_args(
    alpha="weight of the false positives ``FP = P - I`` in the denominator (default 0.5), >= 0.",
    beta="weight of the false negatives ``FN = T - I`` in the denominator (default 0.5), >= 0; "
    "alpha = beta = 0.5 gives Dice, alpha = beta = 1 Jaccard.",
)
class TverskyLoss(DiceLoss):
    """Tversky loss (Salehi et al. 2017): ``1 - (I + s_nr) / (I + alpha FP + beta FN + s_dr)`` per (sample,
    class) with ``FP = P - I``, ``FN = T - I``: ``alpha`` weighs false positives, ``beta`` false negatives
    (alpha = beta = 0.5 is Dice). Options, layouts, "none" shape as ``dice``.

    Parity: ≡ MONAI ``TverskyLoss(softmax=True, to_onehot_y=True, alpha, beta, batch)``; with ``smooth_nr=0,
    smooth_dr=eps`` ≡ kornia ``tversky_loss(alpha, beta, eps)`` when every class is present in every sample.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        smooth: float = 1e-5,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(
            mode,
            from_logits,
            smooth,
            smooth_nr,
            smooth_dr,
            weight,
            ignore_index,
            batch,
            include_background,
            num_classes,
            reduction,
        )
        if alpha < 0 or beta < 0:
            raise ValueError(f"{self.loss_name}: alpha and beta must be >= 0, got {alpha}, {beta}")
        self.alpha, self.beta = float(alpha), float(beta)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return tversky_loss(
            input,
            target,
            alpha=self.alpha,
            beta=self.beta,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            weight=self.weight,
            **self._common(),
        )


@register_loss(
    "focal_tversky", aliases=["FocalTverskyLoss"], tasks=_TASKS, tags=["region", "imbalanced"], inputs=_SEG_INPUTS
)
@seg_args(
    alpha="weight of the false positives in the Tversky index (default 0.3), >= 0.",
    beta="weight of the false negatives in the Tversky index (default 0.7), >= 0.",
    gamma="exponent applied to ``1 - TI`` per (sample, class) (default 0.75, the paper's 4/3 inverted), > 0; "
    "1 gives ``tversky``, < 1 raises the loss of the well-segmented classes less than that of the poor ones.",
)
class FocalTverskyLoss(TverskyLoss):
    """Focal-Tversky loss (Abraham & Khan, ISBI 2019): ``(1 - TI)^gamma`` per (sample, class), ``TI`` the
    Tversky index of ``tversky`` (``alpha`` on FP, ``beta`` on FN; defaults 0.3 / 0.7 as the paper's
    alpha = 0.7 on FN). The exponent applies per class as in the paper, not to the batch mean (smp); the paper's
    ``gamma = 4/3`` is our exponent ``1/gamma = 0.75``. The base is clamped at 0 so gamma < 1 keeps finite
    gradients. "none" shape as ``dice``. ``gamma=1`` ≡ ``tversky`` (≡ MONAI ``TverskyLoss``).
    """

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 0.75,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        smooth: float = 1e-5,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(
            alpha,
            beta,
            mode,
            from_logits,
            smooth,
            smooth_nr,
            smooth_dr,
            weight,
            ignore_index,
            batch,
            include_background,
            num_classes,
            reduction,
        )
        if gamma <= 0:
            raise ValueError(f"{self.loss_name}: gamma must be > 0, got {gamma}")
        self.gamma = float(gamma)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return focal_tversky_loss(
            input,
            target,
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            weight=self.weight,
            **self._common(),
        )


@register_loss(
    "generalized_dice",
    aliases=["GeneralizedDiceLoss", "gdl"],
    tasks=_TASKS,
    tags=["region", "imbalanced"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    w_type='class weight from the target volume ``T_c``: "square" (default) ``1 / T_c^2``, "simple" '
    '``1 / T_c``, "uniform" 1 (a plain micro-averaged Dice). An empty class takes the largest finite weight of '
    "its sample.",
    reduction='"mean" (default): the mean of the per-sample losses; "sum": their sum; "none": the per-sample '
    "losses, shape (N,), or (1,) with ``batch=True``.",
)
class GeneralizedDiceLoss(_SegBase):
    """Generalized Dice (Sudre et al., DLMIA 2017): ``1 - (2 sum_c w_c I_c + s_nr) / (sum_c w_c (P_c + T_c) +
    s_dr)`` per sample (``batch=True``: once for the batch), ``w_c = 1/T_c^2`` ("square"), ``1/T_c``
    ("simple") or 1 ("uniform"). An empty class takes the largest finite weight of its sample, never inf; all
    classes empty gives ``1 - s_nr/s_dr`` (0 by default). "none" shape: (N,) or (1,) with ``batch=True``.

    Parity: ≡ MONAI ``GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type, batch)`` (hard labels);
    ``w_type="uniform", smooth_nr=0, smooth_dr=eps`` ≡ kornia ``dice_loss(average="micro", eps)``.
    """

    def __init__(
        self,
        w_type: Literal["square", "simple", "uniform"] = "square",
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        smooth: float = 1e-5,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, None, ignore_index, batch, include_background, num_classes, reduction)
        self.w_type: Any = check_choice(self.loss_name, "w_type", w_type, ("square", "simple", "uniform"))
        self.smooth_nr, self.smooth_dr = check_smoothing(self.loss_name, smooth_nr, smooth_dr, smooth=smooth)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return generalized_dice_loss(
            input, target, w_type=self.w_type, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, **self._common()
        )


@register_loss("mcc", aliases=["MCCLoss"], tasks=_TASKS, tags=["region", "imbalanced"], inputs=_SEG_INPUTS)
@seg_args(
    smooth_nr="added to the MCC numerator (default 0.0), finite and >= 0.",
    smooth_dr="added under the square root of the denominator (default 1e-5), finite and >= 0.",
)
class MCCLoss(_SegBase):
    """Soft Matthews correlation loss (Abhishek & Hamarneh, ISBI 2021): ``1 - MCC`` per (sample, class),
    ``MCC = (TP TN - FP FN + s_nr) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN) + s_dr)`` from the soft confusion matrix
    (TN counts the valid voxels only). An entry with FP = FN = 0 scores 0. The region family's
    default ``mode="multiclass"`` (it was "binary" before; binary masks need ``mode="binary"``, and a one-channel
    input in multiclass mode is an error that says so). "none" shape as ``dice``.

    Parity: ≡ MONAI ``MCCLoss(sigmoid=True, batch=b)`` (binary/multilabel) and ``MCCLoss(softmax=True,
    to_onehot_y=True)`` (multiclass), same ``smooth_nr=0, smooth_dr=1e-5`` defaults.
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        smooth_nr: float = 0.0,
        smooth_dr: float = 1e-5,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, weight, ignore_index, batch, include_background, num_classes, reduction)
        self.smooth_nr, self.smooth_dr = check_smoothing(self.loss_name, smooth_nr, smooth_dr)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mcc_loss(
            input, target, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, weight=self.weight, **self._common()
        )


@register_loss(
    "lovasz",
    aliases=["LovaszLoss", "lovasz_softmax", "lovasz_hinge"],
    tasks=_TASKS,
    tags=["region", "iou"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    mode='"multiclass" (default): Lovász-softmax over softmax probabilities, target class indices (N, *spatial); '
    '"binary": the Lovász hinge of the logits, target {0, 1} of the input\'s shape or (N, *spatial); '
    '"multilabel": a Lovász-softmax problem per channel on sigmoid probabilities, target (N, C, *spatial).',
    from_logits="True (default): ``input`` holds logits; False: probabilities, used as is (in binary mode the "
    "errors are then ``|p - t|`` instead of the hinge).",
    classes='which (sample, class) entries the mean counts: "present" (default) only those whose target is not '
    'empty (Berman\'s default), "all" every entry. Binary mode always counts every entry.',
    batch="False (default): one Lovász problem per (image, class) (kornia's per-image); True: one per class over "
    "the whole batch (Berman's ``per_image=False``).",
    reduction='"mean" (default): the (weighted) mean over the entries ``classes`` counts; "sum": their sum; '
    '"none": shape (N, C), or (C,) with ``batch=True`` (C = 1 in binary mode), the entries not counted hold 0.',
)
class LovaszLoss(_SegBase):
    """Lovász loss (Berman et al., CVPR 2018): the Lovász extension of the Jaccard loss. Binary: the Lovász
    hinge of logits, errors ``max(0, 1 - x (2t - 1))``; multiclass: Lovász-softmax, errors ``|[y = c] - p_c|``;
    multilabel: per-class sigmoid errors ``|t_c - p_c|`` (a mean of per-class problems, not smp's single
    flattened one). Vectorised: one batched sort of the (N*C, S) error matrix, no loop over classes or images.
    Multiclass rows of >= 32768 voxels are instead radix-sorted one by one on a single intra-op thread (far
    faster on CPU than a multi-threaded sort with a barrier per pass): for the duration of that sort the
    process's ``torch.get_num_threads()`` is 1, then restored, even if the sort raises.

    ``batch=False`` solves one problem per (image, class) (kornia's per-image), ``batch=True`` per class over the
    whole batch (Berman's ``per_image=False``). ``classes="present"`` averages over entries with a non-empty
    target (multiclass/multilabel), ``"all"`` over every entry. "none": (N, C) or (C,), skipped entries 0.

    Parity: ``lovasz(mode="binary")`` ≡ kornia ``lovasz_hinge_loss``; ``lovasz(classes="all", weight=w)`` ≡
    kornia ``lovasz_softmax_loss(weight=w)``.
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        classes: Literal["present", "all"] = "present",
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, weight, ignore_index, batch, True, num_classes, reduction)
        self.classes: Any = check_choice(self.loss_name, "classes", classes, ("present", "all"))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return lovasz_loss(
            input,
            target,
            mode=self.mode,
            from_logits=self.from_logits,
            ignore_index=self.ignore_index,
            batch=self.batch,
            classes=self.classes,
            weight=self.weight,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )
