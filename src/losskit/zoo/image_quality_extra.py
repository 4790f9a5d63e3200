"""Image-restoration losses beside :mod:`losskit.zoo.image_quality`: MS-SSIM + L1 (Zhao et al. 2017, kornia's
``MS_SSIMLoss``), whose per-pixel map blends multi-scale SSIM and a Gaussian-weighted L1.

Registered under the tasks "regression" and "restoration", like the SSIM family; computed in float32 with
autocast off (float64 stays float64); an empty batch gives 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..functional._checks import check_reduction
from ..functional.ms_ssim_l1 import MS_SSIM_L1_SIGMAS, Reduction, check_ms_ssim_l1_options, ms_ssim_l1_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["MSSSIML1Loss"]

Result = Tensor | tuple[Tensor, dict[str, Tensor]]


def _images(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    target = torch.rand((2, 3, 16, 16), generator=g)
    return (0.7 * target + 0.3 * torch.rand((2, 3, 16, 16), generator=g)).clamp(0, 1), target


@register_loss(
    "ms_ssim_l1",
    aliases=["MSSSIML1Loss", "MS_SSIMLoss", "MS_SSIM_L1_LOSS"],
    tasks=["regression", "restoration"],
    tags=["image_quality", "similarity", "kornia"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(B, C, H, W)", "float", "predicted (restored) image"),
            TensorSpec("target", "(B, C, H, W) same as input", "float", "reference image"),
        ),
        example=_images,
    ),
)
class MSSSIML1Loss(nn.Module):
    """MS-SSIM + L1 loss ``c (alpha (1 - MS-SSIM) + (1 - alpha) G * |x - y| / L)`` per pixel (Zhao et al.,
    "Loss functions for image restoration with neural networks", IEEE TCI 2017;
    :func:`losskit.functional.ms_ssim_l1_loss`, which has the formula and the parity mapping). 2D images.

    Parity: kornia ``MS_SSIMLoss(sigmas, data_range, K=(k1, k2), alpha, compensation, reduction)`` ≡
    ``MSSSIML1Loss(sigmas, data_range, k1, k2, alpha, compensation, reduction)`` (float64, rtol 1e-10, "none"
    the (B, H, W) map as kornia); kornia's batch-of-one broadcasting is not supported. Terms
    (``return_terms=True``): ``"ms_ssim"`` (1 - MS-SSIM) and ``"l1"`` (the filtered L1 over ``data_range``),
    unweighted.

    Args:
        sigmas: the Gaussian std of each scale in pixels (> 0, default (0.5, 1, 2, 4, 8)); the last is the
            coarsest and sets the window (``2 int(2 sigmas[-1]) + 1`` taps), the luminance and the L1 filter.
        data_range: the dynamic range of the pixel values (> 0, default 1.0; 255 for 8-bit images).
        k1: the luminance stability constant, ``c1 = (k1 data_range)^2`` (>= 0, default 0.01; kornia ``K[0]``).
        k2: the contrast stability constant, ``c2 = (k2 data_range)^2`` (>= 0, default 0.03; kornia ``K[1]``).
        alpha: the weight of the MS-SSIM term in [0, 1] (default 0.025, kornia's; the paper uses 0.84).
        compensation: the overall scale of the loss (> 0, default 200.0, kornia's).
        reduction: "mean" (default) over the (B, H, W) map, "sum", or "none" (the (B, H, W) map).

    Example:
        >>> loss = MSSSIML1Loss(alpha=0.84, compensation=1.0)
        >>> value = loss(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        sigmas: Sequence[float] = MS_SSIM_L1_SIGMAS,
        data_range: float = 1.0,
        k1: float = 0.01,
        k2: float = 0.03,
        alpha: float = 0.025,
        compensation: float = 200.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.sigmas = check_ms_ssim_l1_options(self.loss_name, sigmas, data_range, k1, k2, alpha, compensation)
        self.data_range = float(data_range)
        self.k1, self.k2 = float(k1), float(k2)
        self.alpha = float(alpha)
        self.compensation = float(compensation)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        return ms_ssim_l1_loss(
            input,
            target,
            sigmas=self.sigmas,
            data_range=self.data_range,
            k1=self.k1,
            k2=self.k2,
            alpha=self.alpha,
            compensation=self.compensation,
            reduction=self.reduction,
            return_terms=return_terms,
        )
