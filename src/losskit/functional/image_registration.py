"""Seed 002's combined registration losses: LNCC with DVF supervision, soft Dice with DVF smoothness.

The functional forms of ``lncc_dvf`` and ``dice_smooth`` (:mod:`losskit.zoo.image_registration`). Like their
modules they follow the per-term protocol: ``return_terms=True`` returns ``(total, {term: detached value})``.
Computed in float32 with autocast off (:func:`~losskit.functional._precision.float32_loss`).
"""

from __future__ import annotations

from torch import Tensor

from ..compose.terms import with_terms
from ..errors import LossInputError
from ._checks import check_float, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import reduce
from .deformation import gradient_smoothness
from .lncc import KernelType, LNCCWindow, check_image_pair, lncc_loss
from .region import soft_dice_loss

__all__ = ["lncc_dvf_loss", "dice_smooth_loss", "check_dvf_pair"]

TermsResult = Tensor | tuple[Tensor, dict[str, Tensor]]


def check_dvf_pair(name: str, pred_dvf: Tensor | None, gt_dvf: Tensor | None) -> None:
    if gt_dvf is None:
        return
    if pred_dvf is None:
        raise LossInputError(f"{name}: gt_dvf was given without pred_dvf; pass the predicted DVF as pred_dvf")
    check_float(name, "pred_dvf", pred_dvf, "(B, S, *spatial)")
    check_float(name, "gt_dvf", gt_dvf, "(B, S, *spatial)")
    check_same_shape(name, pred_dvf, gt_dvf, names=("pred_dvf", "gt_dvf"))


@float32_loss
def lncc_dvf_loss(
    warped: Tensor,
    fixed: Tensor,
    pred_dvf: Tensor | None = None,
    gt_dvf: Tensor | None = None,
    *,
    dvf_weight: float = 1.0,
    spatial_dims: int | None = None,
    kernel_size: int = 3,
    kernel_type: KernelType = "rectangular",
    smooth_nr: float = 0.0,
    smooth_dr: float = 1e-5,
    squared: bool = True,
    window: LNCCWindow | None = None,
    return_terms: bool = False,
) -> TermsResult:
    """``lncc(warped, fixed) + dvf_weight * mean((pred_dvf - gt_dvf)^2)``; the DVF term is 0 without
    ``gt_dvf``. Terms: ``{"lncc", "dvf"}``. An empty batch gives 0."""
    check_image_pair("lncc_dvf", warped, fixed, spatial_dims)
    check_dvf_pair("lncc_dvf", pred_dvf, gt_dvf)
    sim = lncc_loss(
        warped,
        fixed,
        kernel_size=kernel_size,
        kernel_type=kernel_type,
        squared=squared,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        window=window,
    )
    if gt_dvf is not None and pred_dvf is not None:
        sq = (pred_dvf.to(sim.dtype) - gt_dvf.to(sim.dtype)).square()
        dvf = reduce(sq, "mean")  # an empty batch gives 0, not torch's NaN mean
    else:
        dvf = sim.new_zeros(())
    return with_terms(sim + dvf_weight * dvf, {"lncc": sim, "dvf": dvf}, return_terms)


@float32_loss
def dice_smooth_loss(
    warped: Tensor,
    fixed: Tensor,
    pred_dvf: Tensor | None = None,
    gt_dvf: Tensor | None = None,
    *,
    dice_weight: float = 1.0,
    smooth_weight: float = 0.01,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    return_terms: bool = False,
) -> TermsResult:
    """``dice_weight * soft_dice(warped, fixed) + smooth_weight * smooth(pred_dvf)``; the smoothness term is
    0 without ``pred_dvf`` or with ``smooth_weight = 0``; ``gt_dvf`` is ignored. Terms: ``{"dice", "smooth"}``."""
    check_float("dice_smooth", "warped", warped)
    check_same_shape("dice_smooth", warped, fixed, names=("warped", "fixed"))
    dice = soft_dice_loss(warped, fixed, epsilon=smooth_dr, smooth_nr=smooth_nr)
    if smooth_weight > 0 and pred_dvf is not None:
        check_float("dice_smooth", "pred_dvf", pred_dvf, "(B, S, *spatial)")
        if pred_dvf.dim() < 3:
            raise LossInputError(f"dice_smooth: expected pred_dvf (B, S, *spatial), got {shape_str(pred_dvf)}")
        smooth = gradient_smoothness(pred_dvf).to(dice.dtype)
    else:
        smooth = dice.new_zeros(())
    total = dice_weight * dice + smooth_weight * smooth
    return with_terms(total, {"dice": dice, "smooth": smooth}, return_terms)
