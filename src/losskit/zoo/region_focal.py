"""Generalized Dice + focal (MONAI's ``GeneralizedDiceFocalLoss``) as a module.

Same conventions as :mod:`losskit.zoo.segmentation` (``docs/conventions.md``); the module holds its options and
calls :func:`losskit.functional.generalized_dice_focal_loss`, which checks the tensors. ``reduction`` is "mean" |
"sum" (the terms have different natural "none" shapes); ``forward(..., return_terms=True)`` returns
``(total, {term: detached value})``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor

from ..functional._checks import check_choice
from ..functional._numerics import check_smoothing
from ..functional.region_focal import generalized_dice_focal_loss
from ..functional.segmentation_input import DEFAULT_MODE, Mode, PairReduction
from ..registration import register_loss
from ._segmentation_base import SEG_INPUTS as _SEG_INPUTS
from ._segmentation_base import TASKS as _TASKS
from ._segmentation_base import SegBase as _SegBase
from ._segmentation_base import seg_args

__all__ = ["GeneralizedDiceFocalLoss"]

Result = Tensor | tuple[Tensor, dict[str, Tensor]]


@register_loss(
    "generalized_dice_focal",
    aliases=["GeneralizedDiceFocalLoss"],
    tasks=_TASKS,
    tags=["region", "combined", "imbalanced"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    mode='"multiclass" (default): softmax generalized Dice, sigmoid focal per channel against the one-hot target '
    '(MONAI\'s), target class indices (N, *spatial) or probabilities (N, C, *spatial); "binary": one foreground '
    'channel; "multilabel": a sigmoid per channel, target (N, C, *spatial) in [0, 1]. The input is always logits.',
    lambda_gdl="weight of the generalized Dice term in the total (default 1.0), finite and >= 0.",
    lambda_focal="weight of the focal term in the total (default 1.0), finite and >= 0.",
    gamma="focusing exponent of the focal term, ``(1 - p_t)^gamma`` (default 2.0), finite and >= 0.",
    w_type='generalized Dice class weight from the target volume ``T_c``: "square" (default) ``1 / T_c^2``, '
    '"simple" ``1 / T_c``, "uniform" 1. An empty class takes the largest finite weight of its sample.',
    weight="(C,) per-class weight of the focal term only (tensor or sequence, finite and >= 0, a buffer; MONAI's "
    "``weight``); the Dice term is weighted by ``w_type``. None (default): every class weighs 1.",
    reduction='"mean" (default): ``lambda_gdl * (mean of the per-sample GDL) + lambda_focal * (focal mean over '
    'the valid elements)``; "sum": the same with both terms summed. No "none" (the terms have different shapes).',
)
class GeneralizedDiceFocalLoss(_SegBase):
    """Generalized Dice + focal: ``lambda_gdl * GDL + lambda_focal * focal`` (Sudre et al. 2017; Lin et al.
    2017), MONAI's ``GeneralizedDiceFocalLoss``.

    GDL is ``generalized_dice`` (``w_type``, ``batch``); the focal term is MONAI's: a sigmoid focal per channel
    (no alpha) against the one-hot target in multiclass mode, class ``weight`` per channel; ``include_background
    =False`` drops channel 0 from both. Terms (``return_terms=True``): ``"generalized_dice"``, ``"focal"``.
    Functional form: ``losskit.functional.generalized_dice_focal_loss``.

    Parity ("mean"): ≡ MONAI ``GeneralizedDiceFocalLoss(softmax=True, to_onehot_y=True)`` in "multiclass" mode
    (hard labels), ``sigmoid=True`` in "multilabel" mode. MONAI's "sum" first averages the focal term over the
    spatial dimensions; here "sum" sums every element, as ``dice_focal``.
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        lambda_gdl: float = 1.0,
        lambda_focal: float = 1.0,
        gamma: float = 2.0,
        w_type: Literal["square", "simple", "uniform"] = "square",
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
        self.w_type: Any = check_choice(self.loss_name, "w_type", w_type, ("square", "simple", "uniform"))
        self.smooth_nr, self.smooth_dr = check_smoothing(self.loss_name, smooth_nr, smooth_dr, smooth=smooth)
        for key, value in (("lambda_gdl", lambda_gdl), ("lambda_focal", lambda_focal), ("gamma", gamma)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{self.loss_name}: {key} must be finite and >= 0, got {value}")
        self.lambda_gdl, self.lambda_focal, self.gamma = float(lambda_gdl), float(lambda_focal), float(gamma)

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        options = self._common()
        del options["from_logits"]  # logits only
        return generalized_dice_focal_loss(
            input,
            target,
            lambda_gdl=self.lambda_gdl,
            lambda_focal=self.lambda_focal,
            gamma=self.gamma,
            w_type=self.w_type,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            weight=self.weight,
            return_terms=return_terms,
            **options,
        )
