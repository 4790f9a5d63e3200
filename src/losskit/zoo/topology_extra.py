"""More topology and boundary losses for thin structures: Skeleton Recall (Kirchhoff et al. 2024) and the
erosion-based Hausdorff loss (Karimi & Salcudean 2019).

Layouts and ``mode`` as the region family (:mod:`losskit.zoo.segmentation`), 2-D (N, C, H, W) and 3-D
(N, C, D, H, W) inputs. The numerics live in :mod:`losskit.functional.skeleton` and
:mod:`losskit.functional.hausdorff_er`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..functional._checks import check_choice, check_reduction
from ..functional.hausdorff_er import check_hausdorff_er_options, hausdorff_er_loss
from ..functional.segmentation_input import DEFAULT_MODE, MODES, Mode, Reduction
from ..functional.skeleton import check_skeleton_recall_options, skeleton_recall_loss
from ..registration import register_loss
from ._segmentation_base import SEG_INPUTS as _SEG_INPUTS
from ._segmentation_base import TASKS as _TASKS
from ._segmentation_base import seg_args

__all__ = ["SkeletonRecallLoss", "HausdorffERLoss"]


class _Base(nn.Module):
    loss_name: str  # set by register_loss

    def _setup(self, mode: str, from_logits: bool, num_classes: int | None, reduction: str) -> None:
        name = self.loss_name
        self.mode: Any = check_choice(name, "mode", mode, MODES)
        self.reduction: Any = check_reduction(name, reduction)
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(f"{name}: num_classes must be a positive int, got {num_classes!r}")
        self.from_logits = bool(from_logits)
        self.num_classes = num_classes


@register_loss(
    "skeleton_recall",
    aliases=["SkeletonRecallLoss", "SoftSkeletonRecallLoss"],
    tasks=_TASKS,
    tags=["topology", "region"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    smooth="added to the numerator and the denominator of each recall (default 1.0, the reference's), a finite "
    "number >= 0; an empty skeleton gives recall 1 (loss 0), also with 0.",
    tube_radius="dilations of the skeleton with the cross (default 2: the paper's 2-pixel tube), an int >= 0.",
    ignore_index="target value that counts nowhere: background for the skeleton and left out of every sum. "
    "None (default): nothing is ignored.",
    include_background="False (default, as the reference, which refuses the background): channel 0 is dropped "
    "when C > 1; True: it is kept (its skeleton is that of the background mask).",
    reduction='"mean" (default): the mean of the per-(sample, class) losses; "sum": their sum; "none": shape '
    "(N, C) (C - 1 without the background, 1 in binary mode).",
)
class SkeletonRecallLoss(_Base):
    """Skeleton Recall (Kirchhoff et al., ECCV 2024): ``1 - (sum p S + smooth) / (sum S + smooth)`` per
    (sample, class), ``S`` the target's skeleton (:func:`losskit.functional.skeletonize`, Guo-Hall thinning on
    the target's device; 3-D slice by slice) dilated ``tube_radius`` times and cut back to the class mask.
    ``forward(input, target, skeleton=None)``: a precomputed tubed skeleton in the target's layout replaces it.

    Inputs: as ``dice`` (default ``mode="multiclass"`` with class indices), 2-D or 3-D. "none": (N, C).
    Functional form: ``losskit.functional.skeleton_recall_loss``.

    Parity: ``skeleton_recall(smooth=1)`` with the reference's skeleton ≡ ``1 + SoftSkeletonRecallLoss(
    apply_nonlin=softmax, batch_dice=False, do_bg=False, smooth=1)`` of MIC-DKFZ/Skeleton-Recall.
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        smooth: float = 1.0,
        tube_radius: int = 2,
        ignore_index: int | None = None,
        include_background: bool = False,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, num_classes, reduction)
        check_skeleton_recall_options(self.loss_name, smooth, tube_radius)
        self.smooth = float(smooth)
        self.tube_radius = tube_radius
        self.ignore_index = ignore_index
        self.include_background = bool(include_background)

    def forward(self, input: Tensor, target: Tensor, skeleton: Tensor | None = None) -> Tensor:
        return skeleton_recall_loss(
            input,
            target,
            skeleton,
            mode=self.mode,
            from_logits=self.from_logits,
            smooth=self.smooth,
            tube_radius=self.tube_radius,
            ignore_index=self.ignore_index,
            include_background=self.include_background,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


@register_loss(
    "hausdorff_er",
    aliases=["HausdorffERLoss", "HausdorffERLoss3D"],
    tasks=_TASKS,
    tags=["topology", "boundary"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    alpha="exponent of the weight (i + 1)^alpha of erosion i = 0 .. k - 1 (default 2.0, kornia's), finite.",
    k="number of erosions (default 10, kornia's), an int >= 1.",
    include_background="True (default, as kornia): every channel counts; False: channel 0 is dropped when C > 1.",
    reduction='"mean" (default): the mean over every (sample, class, voxel) entry (kornia\'s mean); "sum": their '
    'sum; "none": the per-voxel map (N, C, *spatial).',
)
class HausdorffERLoss(_Base):
    """Erosion-based Hausdorff loss (Karimi & Salcudean, IEEE TMI 2019): the squared error ``(p - t)^2`` eroded
    ``k`` times with the averaging cross, soft-thresholded at 0.5 and min-max normalised per (sample, class),
    erosion ``i`` weighted by ``(i + 1)^alpha``; 2-D and 3-D (the cross of the 4 or 6 face neighbours), every
    class in one pass. Functional form: ``losskit.functional.hausdorff_er_loss``.

    Parity: ``hausdorff_er(from_logits=False, alpha=a, k=k)`` ≡ kornia ``HausdorffERLoss(alpha=a, k=k)`` (2-D)
    and ``HausdorffERLoss3D`` (3-D) on probabilities and (N, 1, *spatial) int64 labels (kornia's kernel is
    built in float32: 0.2 and 1/7 rounded, a relative difference ~1e-7 in float64; with an exact float64 kernel
    the two agree to rounding).
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        alpha: float = 2.0,
        k: int = 10,
        include_background: bool = True,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, num_classes, reduction)
        check_hausdorff_er_options(self.loss_name, alpha, k)
        self.alpha = float(alpha)
        self.k = k
        self.include_background = bool(include_background)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return hausdorff_er_loss(
            input,
            target,
            mode=self.mode,
            from_logits=self.from_logits,
            alpha=self.alpha,
            k=self.k,
            include_background=self.include_background,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )
