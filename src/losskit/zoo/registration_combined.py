"""Seed 002's combined registration losses: LNCC with DVF supervision (``lncc_dvf``) and soft Dice with DVF
smoothness (``dice_smooth``).

Both take ``forward(warped, fixed, pred_dvf=None, gt_dvf=None, *, return_terms=False)`` and work through
``losskit.call_loss(loss, warped, fixed, pred_dvf=ddf, gt_dvf=gt)`` like the image-only losses of
:mod:`losskit.zoo.image_registration`; ``return_terms=True`` returns ``(total, {term: detached value})``.
Their functional forms are :func:`losskit.functional.lncc_dvf_loss` and :func:`losskit.functional.dice_smooth_loss`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional._checks import check_choice
from ..functional._numerics import check_smoothing
from ..functional.image_registration import dice_smooth_loss, lncc_dvf_loss
from ..functional.lncc import KERNEL_TYPES, KernelType, make_window
from ..inputs import Example, InputSpec, TensorSpec
from ..registration import register_loss
from .image_registration import _TASKS, _check_kernel_size, _check_spatial_dims, _images

__all__ = ["LNCCWithDVFSupervision", "DiceSmoothLoss"]


def _seed002(loss: nn.Module, g: torch.Generator) -> Example:
    warped, fixed = _images(loss, g)
    pred = 0.5 * torch.randn(2, 3, 8, 8, 8, generator=g)
    return Example((warped, fixed), {"pred_dvf": pred, "gt_dvf": pred + 0.1 * torch.randn(2, 3, 8, 8, 8, generator=g)})


_SEED002 = (
    TensorSpec("warped", "(B, C, *spatial)", "float", "warped moving image"),
    TensorSpec("fixed", "(B, C, *spatial) same as warped", "float", "fixed image"),
    TensorSpec("pred_dvf", "(B, S, *spatial)", "float", "predicted displacement field", optional=True),
    TensorSpec(
        "gt_dvf", "(B, S, *spatial) same as pred_dvf", "float", "ground-truth displacement field", optional=True
    ),
)


@register_loss(
    "lncc_dvf",
    aliases=["LNCCWithDVFSupervision", "LNCCDVFLoss"],
    tasks=_TASKS,
    tags=["similarity", "supervised", "seed002"],
    inputs=InputSpec(tensors=_SEED002, example=_seed002),
)
class LNCCWithDVFSupervision(nn.Module):
    """Seed 002's LNCC with DVF supervision: ``lncc(warped, fixed) + dvf_weight * mse(pred_dvf, gt_dvf)``.

    The LNCC term is :class:`~losskit.zoo.image_registration.LNCCLoss` (mean-reduced; same options); the DVF term
    is the mean squared error of the displacement fields when ``gt_dvf`` is given, else a 0 tensor on the inputs'
    device (and ``pred_dvf`` alone is ignored). ``forward(..., return_terms=True)`` returns ``(total, {"lncc":
    ..., "dvf": ...})`` with detached terms for logging.

    Inputs: ``warped``, ``fixed`` (B, C, *spatial); ``pred_dvf``, ``gt_dvf`` (B, S, *spatial) of the same
    shape (``gt_dvf`` without ``pred_dvf`` is a ``LossInputError``). Returns a scalar (float32/float64).

    Args:
        dvf_weight: the weight of the DVF mean squared error (>= 0, default 1.0; the DVF is in voxels).
        spatial_dims: the number of spatial dims, 1, 2 or 3 (None, default: inferred from the input; given: the
            input is checked against it).
        kernel_size: the window width in voxels along every spatial axis (a positive odd integer, default 3; the
            window is centred on each voxel).
        kernel_type: the window weights: "rectangular" (default, a box: all voxels equal), "triangular" (linearly
            decaying from the centre) or "gaussian" (``exp(-x^2 / (2 sigma^2))``, ``sigma = kernel_size / 3``).
        smooth_nr: added to the numerator (the windowed covariance, squared or not; >= 0, default 0.0).
        smooth_dr: the floor on each windowed variance (> 0, default 1e-5, in squared intensity units), so a flat
            window gives ``smooth_nr / smooth_dr`` instead of 0/0.
        squared: True (default, MONAI): the loss uses ``ncc^2``, in [-1, 0], blind to the sign of the correlation;
            False: the signed ``ncc``, in [-1, 1], +1 for anti-correlated images.
        amp_safe: raise ``smooth_nr`` and ``smooth_dr`` to the fp16-safe floors of ``validate_smoothing_params``
            (1e-4 and 1e-2; default False: used as given).

    Example:
        >>> loss = LNCCWithDVFSupervision(dvf_weight=0.5, spatial_dims=2)
        >>> ddf = torch.randn(2, 2, 8, 8)
        >>> value = loss(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), pred_dvf=ddf, gt_dvf=ddf + 0.1)
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        dvf_weight: float = 1.0,
        spatial_dims: int | None = None,
        kernel_size: int = 3,
        kernel_type: KernelType = "rectangular",
        smooth_nr: float = 0.0,
        smooth_dr: float = 1e-5,
        squared: bool = True,
        amp_safe: bool = False,
    ) -> None:
        super().__init__()
        if not dvf_weight >= 0:
            raise ValueError(f"{self.loss_name}: dvf_weight must be >= 0, got {dvf_weight!r}")
        self.dvf_weight = float(dvf_weight)
        self.spatial_dims = _check_spatial_dims(self.loss_name, spatial_dims)
        self.kernel_size = _check_kernel_size(self.loss_name, kernel_size)
        self.kernel_type = check_choice(self.loss_name, "kernel_type", kernel_type, KERNEL_TYPES)
        self.smooth_nr, self.smooth_dr = check_smoothing(
            "lncc_dvf", smooth_nr, smooth_dr, positive_dr=True, amp_safe=amp_safe
        )
        self.squared = bool(squared)
        self.amp_safe = bool(amp_safe)
        self._window = make_window(self.kernel_type, self.kernel_size)

    def forward(
        self,
        warped: Tensor,
        fixed: Tensor,
        pred_dvf: Tensor | None = None,
        gt_dvf: Tensor | None = None,
        *,
        return_terms: bool = False,
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        return lncc_dvf_loss(
            warped,
            fixed,
            pred_dvf,
            gt_dvf,
            dvf_weight=self.dvf_weight,
            spatial_dims=self.spatial_dims,
            squared=self.squared,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            window=self._window,
            return_terms=return_terms,
        )


def _dice_example(loss: nn.Module, g: torch.Generator) -> Example:
    fixed = (torch.rand(2, 1, 8, 8, 8, generator=g) > 0.5).float()
    warped = (0.6 * fixed + 0.4 * torch.rand(2, 1, 8, 8, 8, generator=g)).clamp(0, 1)
    return Example((warped, fixed), {"pred_dvf": 0.5 * torch.randn(2, 3, 8, 8, 8, generator=g)})


@register_loss(
    "dice_smooth",
    aliases=["DiceSmoothLoss"],
    tasks=_TASKS,
    tags=["segmentation", "regularization", "seed002"],
    inputs=InputSpec(tensors=_SEED002, example=_dice_example),
)
class DiceSmoothLoss(nn.Module):
    """Seed 002's Dice + smoothness loss:
    ``dice_weight * (1 - (2 sum(w f) + eps) / (sum w + sum f + eps)) + smooth_weight * smooth(pred_dvf)``.

    The soft Dice pools the whole batch (seed 002's semantics), on warped/fixed values in [0, 1] (soft
    masks or probabilities). ``smooth(u) = sum_axes mean(diff(u, axis)^2)`` (forward differences over every
    spatial axis); it is added only when ``smooth_weight > 0`` and ``pred_dvf`` is given. ``gt_dvf`` is
    accepted and ignored. Empty warped and fixed give Dice loss 0 (``eps / eps``).
    ``forward(..., return_terms=True)`` returns ``(total, {"dice": ..., "smooth": ...})`` (detached terms).

    Inputs: ``warped``, ``fixed`` (B, C, *spatial) of the same shape; ``pred_dvf`` (B, S, *spatial).
    Returns a scalar.

    Args:
        dice_weight: the weight of the soft-Dice term (>= 0, default 1.0).
        smooth_weight: the weight of the DVF smoothness term (>= 0, default 0.01; 0 turns it off).
        epsilon: eps, added to the Dice numerator and denominator (> 0, default 1e-5).
        amp_safe: raise the Dice's numerator and denominator ``epsilon`` to the fp16-safe floors of
            ``validate_smoothing_params`` (1e-4 and 1e-2; default False: ``epsilon`` as given).

    Example:
        >>> fixed = (torch.rand(2, 1, 8, 8) > 0.5).float()
        >>> value = DiceSmoothLoss()(fixed.clamp(0.1, 0.9), fixed, pred_dvf=0.1 * torch.randn(2, 2, 8, 8))
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        dice_weight: float = 1.0,
        smooth_weight: float = 0.01,
        epsilon: float = 1e-5,
        amp_safe: bool = False,
    ) -> None:
        super().__init__()
        for what, v in (("dice_weight", dice_weight), ("smooth_weight", smooth_weight)):
            if not v >= 0:
                raise ValueError(f"{self.loss_name}: {what} must be >= 0, got {v!r}")
        if not epsilon > 0:
            raise ValueError(f"{self.loss_name}: epsilon must be > 0, got {epsilon!r}")
        self.dice_weight = float(dice_weight)
        self.smooth_weight = float(smooth_weight)
        self.epsilon = float(epsilon)
        self.smooth_nr, self.smooth_dr = check_smoothing(
            "dice_smooth", epsilon, epsilon, positive_dr=True, amp_safe=amp_safe
        )
        self.amp_safe = bool(amp_safe)

    def forward(
        self,
        warped: Tensor,
        fixed: Tensor,
        pred_dvf: Tensor | None = None,
        gt_dvf: Tensor | None = None,
        *,
        return_terms: bool = False,
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        return dice_smooth_loss(
            warped,
            fixed,
            pred_dvf,
            gt_dvf,
            dice_weight=self.dice_weight,
            smooth_weight=self.smooth_weight,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            return_terms=return_terms,
        )
