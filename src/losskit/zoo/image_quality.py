"""Image-quality and restoration losses: SSIM, MS-SSIM and PSNR on (B, C, *spatial) images.

Registered under the task "regression" (a dense prediction of intensities) and the task "restoration" (the
family's own name, e.g. denoising, super-resolution); everything is computed in float32 with autocast off.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..functional._checks import check_reduction
from ..functional.image_quality import (
    Padding,
    Reduction,
    Window,
    check_ms_weights,
    check_ssim_options,
    ms_ssim_loss,
    psnr_loss,
    ssim_loss,
)
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["SSIMLoss", "MSSSIMLoss", "PSNRLoss"]

_TASKS = ["regression", "restoration"]


def _images(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    target = torch.rand((2, 3, 16, 16), generator=g)
    return (0.7 * target + 0.3 * torch.rand((2, 3, 16, 16), generator=g)).clamp(0, 1), target


_IMAGE_PAIR = (
    TensorSpec("input", "(B, C, *spatial), 2 or 3 spatial dims", "float", "predicted (restored) image"),
    TensorSpec("target", "(B, C, *spatial) same as input", "float", "reference image"),
)


@register_loss(
    "ssim",
    aliases=["SSIMLoss"],
    tasks=_TASKS,
    tags=["image_quality", "similarity", "monai", "kornia"],
    inputs=InputSpec(tensors=_IMAGE_PAIR, example=_images),
)
class SSIMLoss(nn.Module):
    """SSIM loss ``1 - mean SSIM`` per sample (Wang et al., IEEE TIP 2004), 2D or 3D from the input's dims
    (:func:`losskit.functional.ssim_loss`, which has the formula and the parity mapping).

    Parity: MONAI ``SSIMLoss`` under the same options (padding "valid"); kornia ``SSIMLoss(window_size,
    max_val, eps=0.0, padding)`` is half of this loss (kornia averages ``(1 - SSIM) / 2``).

    Args:
        window: the window's weights, "gaussian" (default) or "uniform" (a box).
        window_size: taps per spatial axis, a positive odd integer (default 11).
        sigma: the Gaussian's standard deviation in pixels (default 1.5; unused by "uniform").
        data_range: the dynamic range of the pixel values (> 0, default 1.0; 255 for 8-bit images).
        k1: the luminance stability constant, ``c1 = (k1 data_range)^2`` (>= 0, default 0.01).
        k2: the contrast stability constant, ``c2 = (k2 data_range)^2`` (>= 0, default 0.03).
        padding: "valid" (default: the SSIM map only where the window fits, MONAI) or "same" (reflect padding,
            kornia's default).
        reduction: "mean" (default) over the batch, "sum", or "none" (shape (B,)).

    Example:
        >>> loss = SSIMLoss(window_size=7)
        >>> value = loss(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        window: Window = "gaussian",
        window_size: int = 11,
        sigma: float = 1.5,
        data_range: float = 1.0,
        k1: float = 0.01,
        k2: float = 0.03,
        padding: Padding = "valid",
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        check_ssim_options(self.loss_name, window, window_size, sigma, data_range, k1, k2, padding)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)
        self.window: Window = window
        self.window_size = window_size
        self.sigma = float(sigma)
        self.data_range = float(data_range)
        self.k1 = float(k1)
        self.k2 = float(k2)
        self.padding: Padding = padding

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return ssim_loss(
            input,
            target,
            window=self.window,
            window_size=self.window_size,
            sigma=self.sigma,
            data_range=self.data_range,
            k1=self.k1,
            k2=self.k2,
            padding=self.padding,
            reduction=self.reduction,
        )


def _large_images(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    target = torch.rand((2, 1, 48, 48), generator=g)
    return (0.7 * target + 0.3 * torch.rand((2, 1, 48, 48), generator=g)).clamp(0, 1), target


@register_loss(
    "ms_ssim",
    aliases=["MSSSIMLoss", "MultiScaleSSIMLoss"],
    tasks=_TASKS,
    tags=["image_quality", "similarity", "monai"],
    inputs=InputSpec(tensors=_IMAGE_PAIR, example=_large_images),
)
class MSSSIMLoss(nn.Module):
    """Multi-scale SSIM loss ``1 - MS-SSIM`` per sample (Wang, Simoncelli, Bovik, Asilomar 2003), 2D or 3D
    from the input's dims (:func:`losskit.functional.ms_ssim_loss`, which has the formula and the parity).

    Parity: ``1 - MONAI MultiScaleSSIMMetric`` under the same options, where MONAI accepts the image size.

    Args:
        window: the window's weights, "gaussian" (default) or "uniform" (a box).
        window_size: taps per spatial axis, a positive odd integer (default 11; cut to the largest odd width
            that fits at a coarse scale smaller than it).
        sigma: the Gaussian's standard deviation in pixels (default 1.5; unused by "uniform").
        data_range: the dynamic range of the pixel values (> 0, default 1.0; 255 for 8-bit images).
        k1: the luminance stability constant, ``c1 = (k1 data_range)^2`` (>= 0, default 0.01).
        k2: the contrast stability constant, ``c2 = (k2 data_range)^2`` (>= 0, default 0.03).
        weights: one exponent per scale, finest first (None, default: the paper's 5,
            ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``; their number sets the number of scales).
        reduction: "mean" (default) over the batch, "sum", or "none" (shape (B,)).

    Example:
        >>> loss = MSSSIMLoss(window_size=7)
        >>> value = loss(torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64))
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        window: Window = "gaussian",
        window_size: int = 11,
        sigma: float = 1.5,
        data_range: float = 1.0,
        k1: float = 0.01,
        k2: float = 0.03,
        weights: Sequence[float] | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        check_ssim_options(self.loss_name, window, window_size, sigma, data_range, k1, k2, "valid")
        self.weights = check_ms_weights(self.loss_name, weights)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)
        self.window: Window = window
        self.window_size = window_size
        self.sigma = float(sigma)
        self.data_range = float(data_range)
        self.k1 = float(k1)
        self.k2 = float(k2)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return ms_ssim_loss(
            input,
            target,
            window=self.window,
            window_size=self.window_size,
            sigma=self.sigma,
            data_range=self.data_range,
            k1=self.k1,
            k2=self.k2,
            weights=self.weights,
            reduction=self.reduction,
        )


def _flat_images(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    target = torch.rand((4, 3, 8, 8), generator=g)
    return (target + 0.1 * torch.randn((4, 3, 8, 8), generator=g)).clamp(0, 1), target


@register_loss(
    "psnr",
    aliases=["PSNRLoss"],
    tasks=_TASKS,
    tags=["image_quality", "kornia"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(B, *)", "float", "predicted (restored) images"),
            TensorSpec("target", "(B, *) same as input", "float", "reference images"),
        ),
        example=_flat_images,
    ),
)
class PSNRLoss(nn.Module):
    """Negative PSNR ``-10 log10(max_val^2 / MSE)`` in dB per sample (:func:`losskit.functional.psnr_loss`).

    Parity: kornia ``PSNRLoss(max_val)`` pools the MSE over the batch; it equals this loss on the batch
    flattened to one sample (``x.reshape(1, -1)``), and this loss for a batch of one. Identical images give
    ``-inf``.

    Args:
        max_val: the maximum pixel value (> 0, default 1.0; 255 for 8-bit images).
        reduction: "mean" (default) of the per-sample values, "sum", or "none" (shape (B,)).

    Example:
        >>> loss = PSNRLoss(max_val=1.0)
        >>> value = loss(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    """

    loss_name: str  # set by register_loss

    def __init__(self, max_val: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        if not float(max_val) > 0:
            raise ValueError(f"{self.loss_name}: max_val must be > 0, got {max_val!r}")
        self.max_val = float(max_val)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return psnr_loss(input, target, max_val=self.max_val, reduction=self.reduction)
