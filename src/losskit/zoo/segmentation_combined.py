"""Segmentation losses that combine terms: Dice + CE, Dice + focal, AutoTimm's combined loss, seed 000's
Dice + BCE, and AutoTimm's per-instance mask loss.

Same conventions as :mod:`losskit.zoo.segmentation` (``docs/conventions.md``). The combos offer ``reduction``
"mean" | "sum" only: their two terms have different natural "none" shapes. Each module holds its options and
calls its functional form (:mod:`losskit.functional.segmentation_combined`), which checks the tensors.
``forward(..., return_terms=True)`` returns ``(total, {term: detached value})``, the zoo's per-term protocol.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..functional._checks import check_choice, check_reduction
from ..functional._numerics import check_smoothing
from ..functional.cross_entropy import mask_loss
from ..functional.segmentation_combined import (
    combined_dice_bce_loss,
    combined_segmentation_loss,
    cross_entropy_term,
    dice_ce_loss,
    dice_focal_loss,
)
from ..functional.segmentation_input import DEFAULT_MODE, Mode, PairReduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._segmentation_base import SEG_INPUTS as _SEG_INPUTS
from ._segmentation_base import TASKS as _TASKS
from ._segmentation_base import SegBase as _SegBase
from ._segmentation_base import seg_args

__all__ = [
    "DiceCELoss",
    "DiceFocalLoss",
    "CombinedSegmentationLoss",
    "CombinedDiceBCE",
    "MaskLoss",
    "cross_entropy_term",
]

Result = Tensor | tuple[Tensor, dict[str, Tensor]]


def _non_negative(name: str, **values: float) -> None:
    for key, value in values.items():
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name}: {key} must be finite and >= 0, got {value}")


def _buffer(value: float | Tensor | None) -> Tensor | None:
    return None if value is None else torch.as_tensor(value, dtype=torch.float32)


@register_loss("dice_ce", aliases=["DiceCELoss"], tasks=_TASKS, tags=["region", "combined"], inputs=_SEG_INPUTS)
@seg_args(
    lambda_dice="weight of the Dice term in the total (default 1.0), finite and >= 0.",
    lambda_ce="weight of the cross-entropy term in the total (default 1.0), finite and >= 0.",
    weight="(C,) per-class weight (tensor or sequence, finite and >= 0, a buffer), used by both terms: it "
    "multiplies each class's Dice loss, and it is the CE class weight in multiclass mode (the CE mean then "
    "divides by the summed weights of the valid pixels, as torch) or a per-channel BCE weight in multilabel "
    "mode (binary mode's BCE is unweighted). None (default): every class weighs 1.",
    label_smoothing="label smoothing of the multiclass CE with class-index targets, in [0, 1] (default 0.0: "
    "none); not used for soft targets or the binary/multilabel BCE.",
    pos_weight="weight of the positive (foreground) term of the binary/multilabel BCE, a number or a tensor "
    "broadcastable to the input (e.g. (C, 1, 1) per channel of 2-D masks), a buffer; not used in multiclass "
    "mode. None (default): 1.",
    reduction='"mean" (default): ``lambda_dice * (mean of the Dice entries) + lambda_ce * (CE mean over the valid '
    'pixels)``; "sum": the same with both terms summed. No "none" (the terms have different natural shapes).',
)
class DiceCELoss(_SegBase):
    """Dice + cross-entropy (nnU-Net's recipe): ``lambda_dice * dice + lambda_ce * CE``.

    The Dice term is ``dice`` with the same options; CE is softmax cross-entropy for "multiclass" (class
    ``weight``, ``ignore_index``, ``label_smoothing``; soft targets allowed) and sigmoid BCE for "binary" /
    "multilabel" (``weight`` per channel, ignored elements masked). "mean" = ``lambda_dice * dice mean +
    lambda_ce * CE mean over valid pixels`` (0 when all are ignored); "sum" adds the sums. No "none": the two
    terms have different natural shapes. Terms (``return_terms=True``): ``"dice"``, ``"ce"``. Functional form:
    ``losskit.functional.dice_ce_loss``.

    Parity: ``dice_ce(weight=w)`` ≡ MONAI ``DiceCELoss(softmax=True, to_onehot_y=True, weight=w)``;
    ``mode="binary"`` ≡ MONAI ``DiceCELoss(sigmoid=True)`` (MONAI uses ``weight`` as BCE ``pos_weight``; ours
    takes ``pos_weight`` separately).
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        smooth: float = 1e-5,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        include_background: bool = True,
        label_smoothing: float = 0.0,
        pos_weight: Tensor | None = None,
        num_classes: int | None = None,
        reduction: PairReduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(
            mode, from_logits, weight, ignore_index, batch, include_background, num_classes, reduction, ("mean", "sum")
        )
        self.smooth_nr, self.smooth_dr = check_smoothing(self.loss_name, smooth_nr, smooth_dr, smooth=smooth)
        _non_negative(self.loss_name, lambda_dice=lambda_dice, lambda_ce=lambda_ce)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{self.loss_name}: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.lambda_dice, self.lambda_ce, self.label_smoothing = (
            float(lambda_dice),
            float(lambda_ce),
            float(label_smoothing),
        )
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        return dice_ce_loss(
            input,
            target,
            lambda_dice=self.lambda_dice,
            lambda_ce=self.lambda_ce,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            weight=self.weight,
            label_smoothing=self.label_smoothing,
            pos_weight=self.pos_weight,
            return_terms=return_terms,
            **self._common(),
        )


@register_loss(
    "dice_focal", aliases=["DiceFocalLoss"], tasks=_TASKS, tags=["region", "combined", "imbalanced"], inputs=_SEG_INPUTS
)
@seg_args(
    mode='"multiclass" (default): softmax Dice and softmax focal, target class indices (N, *spatial) (soft '
    'targets are refused: the focal term needs indices); "binary": one foreground channel, sigmoid Dice and '
    'sigmoid focal, target of the input\'s shape or (N, *spatial); "multilabel": a sigmoid per channel, target '
    "(N, C, *spatial) in [0, 1]. The input is always logits.",
    lambda_dice="weight of the Dice term in the total (default 1.0), finite and >= 0.",
    lambda_focal="weight of the focal term in the total (default 1.0), finite and >= 0.",
    gamma="focusing exponent of the focal term, ``(1 - p_t)^gamma`` (default 2.0), finite and >= 0; 0 turns "
    "the focal term into (weighted) cross-entropy.",
    alpha="focal balance: in multiclass mode a scalar multiplying every focal term; in binary/multilabel mode "
    "``alpha`` on positives and ``1 - alpha`` on negatives (torchvision's, negative disables). None (default): "
    "no alpha weighting.",
    weight="(C,) per-class weight (tensor or sequence, finite and >= 0, a buffer): multiplies each class's Dice "
    "loss and, in multiclass/multilabel mode, each class's focal term. None (default): every class weighs 1.",
    reduction='"mean" (default): ``lambda_dice * (mean of the Dice entries) + lambda_focal * (focal mean over '
    'the valid pixels)``; "sum": the same with both terms summed. No "none" (the terms have different natural shapes).',
)
class DiceFocalLoss(_SegBase):
    """Dice + focal: ``lambda_dice * dice + lambda_focal * focal`` (Zhu et al. 2019, AnatomyNet).

    Focal is ``softmax_focal_loss`` for "multiclass" (``gamma``, ``alpha`` scalar or (C,), class ``weight``,
    ``ignore_index``; mean over valid pixels) and ``sigmoid_focal_loss`` (torchvision semantics, ``alpha``
    default None here) for "binary"/"multilabel" (mean over valid elements). Logits only. Reductions as
    ``dice_ce``: "mean" | "sum". Terms (``return_terms=True``): ``"dice"``, ``"focal"``. Functional form:
    ``losskit.functional.dice_focal_loss``.

    Parity: ``mode="multilabel"`` ≡ MONAI ``DiceFocalLoss(sigmoid=True, gamma=g)``. MONAI's DiceFocalLoss
    always uses a sigmoid focal term; the multiclass form here is MONAI ``DiceLoss(softmax=True,
    to_onehot_y=True) + FocalLoss(use_softmax=True, to_onehot_y=True, gamma=g)`` with ``lambda_focal = 1 / C``
    (MONAI's focal mean also divides by the C channels).
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
        gamma: float = 2.0,
        alpha: float | None = None,
        smooth: float = 1e-5,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: PairReduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(
            mode, True, weight, ignore_index, batch, include_background, num_classes, reduction, ("mean", "sum")
        )
        self.smooth_nr, self.smooth_dr = check_smoothing(self.loss_name, smooth_nr, smooth_dr, smooth=smooth)
        _non_negative(self.loss_name, lambda_dice=lambda_dice, lambda_focal=lambda_focal, gamma=gamma)
        self.lambda_dice, self.lambda_focal, self.gamma, self.alpha = (
            float(lambda_dice),
            float(lambda_focal),
            float(gamma),
            alpha,
        )

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        options = self._common()
        del options["from_logits"]  # logits only
        return dice_focal_loss(
            input,
            target,
            lambda_dice=self.lambda_dice,
            lambda_focal=self.lambda_focal,
            gamma=self.gamma,
            alpha=self.alpha,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            weight=self.weight,
            return_terms=return_terms,
            **options,
        )


@register_loss(
    "combined_segmentation", aliases=["CombinedSegmentationLoss"], tasks=_TASKS, tags=["combined"], inputs=_SEG_INPUTS
)
@seg_args(
    num_classes="expected number of classes C (AutoTimm's first argument), checked against the input's "
    "channels (a ``LossInputError`` on a mismatch); None (default): taken from the input.",
    ce_weight="weight of the cross-entropy term in the total (default 1.0), finite and >= 0.",
    dice_weight="weight of the Dice term in the total (default 1.0), finite and >= 0.",
    ignore_index="label that counts nowhere, in both terms (default 255, the usual 'void' label of "
    "segmentation masks); None: nothing is ignored.",
    class_weights="(C,) per-class weight of the CE term only (tensor or sequence, finite and >= 0, a buffer; "
    "the CE mean divides by the summed weights of the valid pixels, as torch). None (default): unweighted.",
    smooth="smoothing added to both the numerator and the denominator of the per-sample Dice (default 1.0), "
    "finite and >= 0.",
)
class CombinedSegmentationLoss(_SegBase):
    """AutoTimm's semantic-segmentation loss: ``ce_weight * CE + dice_weight * dice`` over ``num_classes``
    classes, ``ignore_index=255`` by default, ``class_weights`` (C,) weighting the CE term only. ``num_classes``
    (AutoTimm's first argument) is checked against the input when given.

    CE is the mean over valid pixels (weighted as ``torch.nn.CrossEntropyLoss``; 0 when all are ignored); dice
    is the multiclass ``dice`` (per sample, ``smooth`` on both terms, default 1.0) with the same
    ``ignore_index``. Inputs: logits (N, C, *), class indices (N, *). Scalar output ("mean"). Terms
    (``return_terms=True``): ``"ce"``, ``"dice"``. Functional form: ``combined_segmentation_loss``.
    Parity: ≡ ``ce_weight * cross_entropy(weight=class_weights, ignore_index) + dice_weight *
    dice(smooth=smooth, ignore_index)``.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        ignore_index: int | None = 255,
        class_weights: Tensor | Sequence[float] | None = None,
        smooth: float = 1.0,
    ) -> None:
        super().__init__()
        self._setup("multiclass", True, class_weights, ignore_index, False, True, num_classes, "mean")
        _non_negative(self.loss_name, ce_weight=ce_weight, dice_weight=dice_weight, smooth=smooth)
        self.ce_weight, self.dice_weight, self.smooth = float(ce_weight), float(dice_weight), float(smooth)

    @property
    def class_weights(self) -> Tensor | None:
        return self.weight

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        return combined_segmentation_loss(
            input,
            target,
            ce_weight=self.ce_weight,
            dice_weight=self.dice_weight,
            ignore_index=self.ignore_index,
            class_weights=self.weight,
            smooth=self.smooth,
            num_classes=self.num_classes,
            return_terms=return_terms,
        )


@register_loss("combined_dice_bce", aliases=["CombinedDiceBCE"], tasks=_TASKS, tags=["combined"], inputs=_SEG_INPUTS)
@seg_args(
    dice_weight="weight of the Dice term in the total (default 0.5), finite and >= 0.",
    bce_weight="weight of the BCE term in the total (default 0.5), finite and >= 0; not both weights 0 (they "
    "need not sum to 1).",
    smooth="smoothing added to both the numerator and the denominator of the Dice ratio (default 1.0), finite "
    "and >= 0.",
    mode='"binary" (default): one foreground channel, input (N, *spatial) or (N, 1, *spatial), target of the '
    'input\'s shape or (N, *spatial); "multilabel": a sigmoid per channel, target (N, C, *spatial) in [0, 1]. '
    '"multiclass" is refused (use ``dice_ce``). The input is always logits.',
    pos_weight="weight of the positive (foreground) term of the BCE, a number or a tensor broadcastable to the "
    "input, a buffer. None (default): 1.",
    ignore_index="target value whose elements count in neither term; None (default): nothing is ignored.",
    batch="False (default): one Dice ratio per (sample, channel); True: the Dice sums are pooled over the batch "
    "(the BCE is unaffected).",
    reduction='"mean" (default): ``dice_weight * (mean of the Dice entries) + bce_weight * (BCE mean over the valid '
    'pixels)``; "sum": the same with both terms summed. No "none" (the terms have different natural shapes).',
)
class CombinedDiceBCE(_SegBase):
    """Seed 000's ``dice_weight * dice + bce_weight * BCE`` for binary (default) or multilabel masks, both terms
    from the same logits (the seed fed logits to its Dice; here Dice sees sigmoid probabilities).

    The one segmentation loss whose default ``mode`` is not "multiclass": BCE is a binary/multilabel term, and
    "multiclass" is refused (use ``dice_ce``). Weights: any non-negative pair, not both 0 (the seed's "must sum
    to 1" rule broke on float rounding such as 0.7 + 0.2 + ...; scale is the user's choice). Dice:
    ``dice(mode, smooth=1.0)``; BCE: mean over valid elements with ``pos_weight``. Scalar output ("mean" |
    "sum"). Terms (``return_terms=True``): ``"dice"``, ``"bce"``. Functional form: ``combined_dice_bce_loss``.
    """

    def __init__(
        self,
        dice_weight: float = 0.5,
        bce_weight: float = 0.5,
        smooth: float = 1.0,
        mode: Literal["binary", "multilabel"] = "binary",
        pos_weight: Tensor | None = None,
        ignore_index: int | None = None,
        batch: bool = False,
        reduction: PairReduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, True, None, ignore_index, batch, True, None, reduction, ("mean", "sum"))
        check_choice(self.loss_name, "mode", mode, ("binary", "multilabel"))
        _non_negative(self.loss_name, dice_weight=dice_weight, bce_weight=bce_weight, smooth=smooth)
        if dice_weight + bce_weight == 0:
            raise ValueError(f"{self.loss_name}: weights must not both be 0, got {dice_weight}, {bce_weight}")
        self.dice_weight, self.bce_weight, self.smooth = float(dice_weight), float(bce_weight), float(smooth)
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        return combined_dice_bce_loss(
            input,
            target,
            dice_weight=self.dice_weight,
            bce_weight=self.bce_weight,
            smooth=self.smooth,
            mode=self.mode,
            pos_weight=self.pos_weight,
            ignore_index=self.ignore_index,
            batch=self.batch,
            reduction=self.reduction,
            return_terms=return_terms,
        )


def _mask_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    return torch.randn(3, 7, 6, generator=g), torch.randint(0, 2, (3, 7, 6), generator=g).float()


@register_loss(
    "mask",
    aliases=["MaskLoss"],
    tasks=_TASKS,
    tags=["instance"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, H, W) or (N, *)", "float", "per-instance mask logits"),
            TensorSpec("target", "(N, H, W) same as input", "float", "per-instance binary masks"),
        ),
        example=_mask_example,
    ),
)
class MaskLoss(nn.Module):
    """AutoTimm's per-instance mask loss: sigmoid BCE ``-(pw t log s(x) + (1 - t) log(1 - s(x)))`` over the
    masks of N instances (N, H, W) (any trailing shape). Accumulates in float32.
    Parity: ≡ ``torch.nn.BCEWithLogitsLoss(pos_weight=pw, reduction=r)`` for N > 0.

    Args:
        pos_weight: weight ``pw`` of the foreground pixels, a number or a tensor broadcastable to the input
            (kept as a float32 buffer). None (default): 1.
        reduction: "mean" (default): the mean over every pixel of every instance, 0 (with a zero gradient that
            still reaches the input) for an empty instance set (N = 0), where torch's mean would be NaN; "sum":
            the sum; "none": the per-pixel losses, the input's shape.

    Example:
        >>> import torch
        >>> loss = MaskLoss(pos_weight=2.0)
        >>> loss(torch.zeros(2, 4, 4), torch.ones(2, 4, 4)).round(decimals=4)
        tensor(1.3863)
    """

    loss_name: str  # set by register_loss

    pos_weight: Tensor | None

    def __init__(
        self, pos_weight: float | Tensor | None = None, reduction: Literal["mean", "sum", "none"] = "mean"
    ) -> None:
        super().__init__()
        self.reduction = check_reduction(self.loss_name, reduction)
        self.register_buffer(
            "pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        )

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mask_loss(input, target, pos_weight=self.pos_weight, reduction=self.reduction)
