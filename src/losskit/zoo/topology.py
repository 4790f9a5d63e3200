"""Topology losses for thin structures (vessels, cracks, roads): soft clDice and Dice + clDice.

Layouts and ``mode`` as the region family (:mod:`losskit.zoo.segmentation`), 2-D (N, C, H, W) and 3-D
(N, C, D, H, W) inputs. The numerics live in :mod:`losskit.functional.topology`.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from ..functional._checks import check_choice, check_reduction
from ..functional._numerics import check_smoothing
from ..functional.segmentation_input import DEFAULT_MODE, MODES, Mode, Reduction
from ..functional.topology import check_topology_options, cldice_loss, dice_cldice_loss
from ..registration import register_loss
from ._segmentation_base import SEG_INPUTS as _SEG_INPUTS
from ._segmentation_base import TASKS as _TASKS
from ._segmentation_base import seg_args

__all__ = ["SoftclDiceLoss", "SoftDiceclDiceLoss"]

Result = Tensor | tuple[Tensor, dict[str, Tensor]]

_ARGS: dict[str, str] = {
    "iterations": "number of soft-erosion steps of the soft skeleton (default 3), an int >= 0; about the largest "
    "tube radius the skeleton reaches (MONAI's ``iter_``).",
    "smooth": "smoothing of both the numerator and the denominator of the topology precision and sensitivity "
    "(and of the Dice term), default 1.0 (the paper's code); used for ``smooth_nr``/``smooth_dr`` when None.",
    "eps": "added to the denominator of the harmonic mean of precision and sensitivity (default 1e-4), > 0 "
    "(MONAI's ``smooth``).",
    "ignore_index": "target value that counts nowhere: left out of every sum (the target skeleton is 0 there); "
    "a sample with no valid voxel gives 0 and is left out of the mean. None (default): nothing is ignored.",
    "include_background": "True (default): every channel counts; False: channel 0 (the background) is dropped "
    "before the skeletons (and from the Dice term).",
}


class _TopologyBase(nn.Module):
    loss_name: str  # set by register_loss

    def _setup(
        self,
        mode: str,
        from_logits: bool,
        iterations: int,
        smooth: float,
        smooth_nr: float | None,
        smooth_dr: float | None,
        eps: float,
        ignore_index: int | None,
        include_background: bool,
        num_classes: int | None,
        reduction: str,
        reductions: tuple[str, ...],
    ) -> None:
        name = self.loss_name
        self.mode: Any = check_choice(name, "mode", mode, MODES)
        self.reduction: Any = check_reduction(name, reduction, reductions)
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"{name}: num_classes must be a positive int, got {num_classes!r}")
        self.smooth_nr, self.smooth_dr = check_smoothing(name, smooth_nr, smooth_dr, smooth=smooth)
        check_topology_options(name, iterations, self.smooth_nr, self.smooth_dr, eps)
        self.from_logits = bool(from_logits)
        self.iterations = iterations
        self.eps = float(eps)
        self.ignore_index = ignore_index
        self.include_background = bool(include_background)
        self.num_classes = num_classes

    def _common(self) -> dict[str, Any]:
        return dict(
            mode=self.mode,
            from_logits=self.from_logits,
            iterations=self.iterations,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            eps=self.eps,
            ignore_index=self.ignore_index,
            include_background=self.include_background,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


@register_loss(
    "cldice", aliases=["SoftclDiceLoss", "soft_cldice"], tasks=_TASKS, tags=["topology", "region"], inputs=_SEG_INPUTS
)
@seg_args(
    **_ARGS,
    reduction='"mean" (default): the mean of the per-sample losses (over the samples with a valid voxel); "sum": '
    'their sum; "none": the per-sample losses, shape (N,).',
)
class SoftclDiceLoss(_TopologyBase):
    """Soft clDice (Shit et al., CVPR 2021): ``1 - 2 Tprec Tsens / (Tprec + Tsens + eps)`` per sample, with
    ``Tprec = (sum S(p) t + s_nr) / (sum S(p) + s_dr)`` and ``Tsens = (sum S(t) p + s_nr) / (sum S(t) + s_dr)``
    over every kept class and voxel, ``S`` the soft skeleton by iterated min/max pooling (``iterations``).

    Inputs: as ``dice`` (default ``mode="multiclass"`` with class indices), 2-D or 3-D. "none": (N,).
    Functional form: ``losskit.functional.cldice_loss``.

    Parity: ``cldice(iterations=k, smooth_nr=a, smooth_dr=b, eps=e)`` ≡ MONAI ``SoftclDiceLoss(iter_=k,
    smooth_nr=a, smooth_dr=b, smooth=e, softmax=True, to_onehot_y=True)`` with the target given as (N, 1, *)
    (``sigmoid=True`` and a float target for "binary"/"multilabel"; no activation with ``from_logits=False``).
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        iterations: int = 3,
        smooth: float = 1.0,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        eps: float = 1e-4,
        ignore_index: int | None = None,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(
            mode,
            from_logits,
            iterations,
            smooth,
            smooth_nr,
            smooth_dr,
            eps,
            ignore_index,
            include_background,
            num_classes,
            reduction,
            ("mean", "sum", "none"),
        )

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cldice_loss(input, target, **self._common())


@register_loss(
    "dice_cldice",
    aliases=["SoftDiceclDiceLoss"],
    tasks=_TASKS,
    tags=["topology", "region", "combined"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    **_ARGS,
    alpha="weight of the clDice term (default 0.5), in [0, 1]: total = (1 - alpha) dice + alpha cldice.",
    reduction='"mean" (default): (1 - alpha) * (mean of the Dice entries) + alpha * (mean of the per-sample '
    'clDice); "sum": the same with sums. No "none" (the terms have different natural shapes).',
)
class SoftDiceclDiceLoss(_TopologyBase):
    """Dice + clDice (Shit et al., CVPR 2021): ``(1 - alpha) * dice + alpha * cldice``, both with the same
    smoothing; the Dice term per (sample, class), clDice per sample. Terms (``return_terms=True``): ``"dice"``,
    ``"cldice"``. Functional form: ``losskit.functional.dice_cldice_loss``.

    Parity: ≡ MONAI ``SoftDiceclDiceLoss(iter_=k, alpha=alpha, smooth_nr=a, smooth_dr=b, smooth=eps,
    softmax=True, to_onehot_y=True)`` (``sigmoid=True`` for "binary"/"multilabel"), mapping as ``cldice``.
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        alpha: float = 0.5,
        iterations: int = 3,
        smooth: float = 1.0,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        eps: float = 1e-4,
        ignore_index: int | None = None,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: Literal["mean", "sum"] = "mean",
    ) -> None:
        super().__init__()
        self._setup(
            mode,
            from_logits,
            iterations,
            smooth,
            smooth_nr,
            smooth_dr,
            eps,
            ignore_index,
            include_background,
            num_classes,
            reduction,
            ("mean", "sum"),
        )
        if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"{self.loss_name}: alpha must be in [0, 1], got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        return dice_cldice_loss(input, target, alpha=self.alpha, return_terms=return_terms, **self._common())
