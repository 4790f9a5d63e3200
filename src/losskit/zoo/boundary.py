"""Distance-transform losses: Hausdorff DT, log Hausdorff DT (Karimi & Salcudean 2019) and boundary (Kervadec
et al. 2019).

Layouts and ``mode`` as the region family (:mod:`losskit.zoo.segmentation`), 2-D (N, C, H, W) and 3-D
(N, C, D, H, W) inputs. The numerics live in :mod:`losskit.functional.boundary`; the distance maps come from
:func:`losskit.functional.distance_transform` (exact, batched, on the input's device).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..functional._checks import check_choice, check_reduction
from ..functional.boundary import boundary_loss, check_alpha, hausdorff_dt_loss, log_hausdorff_dt_loss
from ..functional.distance import check_sampling
from ..functional.segmentation_input import DEFAULT_MODE, MODES, Mode, Reduction
from ..registration import register_loss
from ._segmentation_base import SEG_INPUTS as _SEG_INPUTS
from ._segmentation_base import TASKS as _TASKS
from ._segmentation_base import seg_args

__all__ = ["HausdorffDTLoss", "LogHausdorffDTLoss", "BoundaryLoss"]

_ARGS: dict[str, str] = {
    "batch": "False (default): one value per (sample, class); True: the per-(sample, class) values are averaged "
    "over the batch too, one per class (MONAI's ``batch=True``).",
    "sampling": "voxel spacing for the distance maps: one number for every spatial dim or one per dim (finite, "
    "> 0); None (default): 1 (scipy's ``sampling``).",
    "reduction": '"mean" (default): the mean of the per-(sample, class) values; "sum": their sum; "none": the '
    "values, shape (N, C), or (C,) with ``batch=True`` (C = 1 in binary mode; MONAI's (N, C, 1, 1) squeezed).",
}
_ALPHA = "exponent of the distances, a finite number > 0 (default 2.0, the paper's)."


class _DistanceBase(nn.Module):
    loss_name: str  # set by register_loss

    def _setup(
        self,
        mode: str,
        from_logits: bool,
        include_background: bool,
        num_classes: int | None,
        batch: bool,
        sampling: float | Sequence[float] | None,
        reduction: str,
    ) -> None:
        name = self.loss_name
        self.mode: Any = check_choice(name, "mode", mode, MODES)
        self.reduction: Any = check_reduction(name, reduction)
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(f"{name}: num_classes must be a positive int, got {num_classes!r}")
        check_sampling(name, sampling, None)
        self.from_logits = bool(from_logits)
        self.include_background = bool(include_background)
        self.num_classes = num_classes
        self.batch = bool(batch)
        self.sampling = list(sampling) if isinstance(sampling, (list, tuple)) else sampling

    def _common(self) -> dict[str, Any]:
        return dict(
            mode=self.mode,
            from_logits=self.from_logits,
            include_background=self.include_background,
            num_classes=self.num_classes,
            batch=self.batch,
            sampling=self.sampling,
            reduction=self.reduction,
        )


@register_loss(
    "hausdorff_dt",
    aliases=["HausdorffDTLoss"],
    tasks=_TASKS,
    tags=["boundary", "distance"],
    inputs=_SEG_INPUTS,
)
@seg_args(**_ARGS, alpha=_ALPHA)
class HausdorffDTLoss(_DistanceBase):
    """Hausdorff distance-transform loss (Karimi & Salcudean, IEEE TMI 2019): per (sample, class)
    ``mean_x (p - t)^2 (d_p^alpha + d_t^alpha)``, ``d_p`` / ``d_t`` the distance of each voxel to the other class
    of the masks ``p > 0.5`` / ``t > 0.5`` (0 on a mask with one class). Inputs: as ``dice`` (default
    ``mode="multiclass"`` with class indices), 2-D or 3-D. Functional form: ``losskit.functional.hausdorff_dt_loss``.

    Parity: ``hausdorff_dt(alpha=a, include_background=b, batch=k)`` ≡ MONAI ``HausdorffDTLoss(alpha=a,
    include_background=b, batch=k, softmax=True, to_onehot_y=True)`` with the target given as (N, 1, *)
    (``sigmoid=True`` and a float target for "binary"/"multilabel"; no activation with ``from_logits=False``).
    MONAI's default ``include_background`` is False, losskit's True.
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        alpha: float = 2.0,
        include_background: bool = True,
        num_classes: int | None = None,
        batch: bool = False,
        sampling: float | Sequence[float] | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, include_background, num_classes, batch, sampling, reduction)
        self.alpha = check_alpha(self.loss_name, alpha)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return hausdorff_dt_loss(input, target, alpha=self.alpha, **self._common())


@register_loss(
    "log_hausdorff_dt",
    aliases=["LogHausdorffDTLoss"],
    tasks=_TASKS,
    tags=["boundary", "distance"],
    inputs=_SEG_INPUTS,
)
@seg_args(**_ARGS, alpha=_ALPHA)
class LogHausdorffDTLoss(HausdorffDTLoss):
    """``log(1 + hausdorff_dt)`` of the reduced Hausdorff DT loss (elementwise for "none"), MONAI's
    ``LogHausdorffDTLoss``; options (the constructor of ``hausdorff_dt``) and parity mapping as ``hausdorff_dt``.
    Functional form: ``losskit.functional.log_hausdorff_dt_loss``.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return log_hausdorff_dt_loss(input, target, alpha=self.alpha, **self._common())


@register_loss(
    "boundary",
    aliases=["BoundaryLoss", "surface"],
    tasks=_TASKS,
    tags=["boundary", "distance"],
    inputs=_SEG_INPUTS,
)
@seg_args(**_ARGS)
class BoundaryLoss(_DistanceBase):
    """Boundary (surface) loss (Kervadec et al., MIDL 2019): per (sample, class) ``mean_x p phi``, ``phi`` the
    target's signed distance map (distance to the object outside, ``1 - distance`` inside, 0 on a mask with
    one class). Usually added to a region loss. Inputs: as ``dice``, 2-D or 3-D. Functional form:
    ``losskit.functional.boundary_loss``.

    Parity: ``boundary(include_background=b, batch=k)`` ≡ MONAI ``BoundaryLoss(include_background=b, batch=k,
    softmax=True, to_onehot_y=True)`` with the target given as (N, 1, *) (``sigmoid=True`` and a float target
    for "binary"/"multilabel"; no activation with ``from_logits=False``).
    """

    def __init__(
        self,
        mode: Mode = DEFAULT_MODE,
        from_logits: bool = True,
        include_background: bool = True,
        num_classes: int | None = None,
        batch: bool = False,
        sampling: float | Sequence[float] | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self._setup(mode, from_logits, include_background, num_classes, batch, sampling, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return boundary_loss(input, target, **self._common())
