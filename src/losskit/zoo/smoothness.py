"""Image-aware inverse depth smoothness (kornia) and the spectral FFT-magnitude loss (MONAI ``JukeboxLoss``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..functional import smoothness as FSM
from ..functional import spectral as FSP
from ..functional._checks import check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["InverseDepthSmoothnessLoss", "SpectralLoss"]

Reduction = Literal["mean", "sum", "none"]
FFTNorm = Literal["ortho", "forward", "backward"]


def _depth_and_image(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    return torch.rand(2, 1, 8, 10, generator=g), torch.rand(2, 3, 8, 10, generator=g)


@register_loss(
    "inverse_depth_smoothness",
    aliases=["InverseDepthSmoothnessLoss"],
    tasks=["regression"],
    tags=["regularization", "depth", "image", "kornia"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("idepth", "(N, 1, H, W)", "float", "inverse depth"),
            TensorSpec("image", "(N, C, H, W), same N, H, W", "float", "the image (unit range), sets the weights"),
        ),
        example=_depth_and_image,
    ),
)
class InverseDepthSmoothnessLoss(nn.Module):
    """Image-aware smoothness of an inverse depth map (:func:`losskit.functional.inverse_depth_smoothness_loss`):
    per sample, the mean of ``|dx d| exp(-mean_c |dx I|)`` plus that along y, reduced over the samples.

    Parity: ``InverseDepthSmoothnessLoss()`` ("mean") ≡ kornia ``InverseDepthSmoothnessLoss()``.

    Args:
        reduction: "mean" (default, kornia's value) over the samples, "sum", or "none" (per-sample values, (N,)).
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction("inverse_depth_smoothness", reduction)

    def forward(self, idepth: Tensor, image: Tensor) -> Tensor:
        return FSM.inverse_depth_smoothness_loss(idepth, image, reduction=self.reduction)


def _signals(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    nd = getattr(loss, "spatial_dims", None)
    shape = (2, 3, *([8] * (nd if isinstance(nd, int) else 2)))
    return torch.rand(shape, generator=g), torch.rand(shape, generator=g)


@register_loss(
    "spectral",
    aliases=["SpectralLoss", "JukeboxLoss"],
    tasks=["generative", "regression"],
    tags=["image", "frequency", "monai"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C, *spatial), 1-3 spatial dims", "float", "predictions"),
            TensorSpec("target", "(N, C, *spatial) same as input", "float", "targets"),
        ),
        example=_signals,
    ),
)
class SpectralLoss(nn.Module):
    """Squared distance of FFT magnitudes over the channel and spatial dims (Jukebox, Dhariwal et al. 2020;
    :func:`losskit.functional.spectral_loss`).

    Parity: ``SpectralLoss(spatial_dims=d, fft_signal_size=s, fft_norm=f, reduction=r)`` ≡ MONAI
    ``JukeboxLoss(spatial_dims=d, fft_signal_size=s, fft_norm=f, reduction=r)``.

    Args:
        spatial_dims: 1, 2 or 3 spatial dims; None (default) infers it from the input (MONAI requires it).
        fft_signal_size: None (default: the input's sizes) or one FFT size per transformed dim, channels first
            (``spatial_dims + 1`` ints): shorter crops, longer zero-pads.
        fft_norm: "ortho" (default), "forward" or "backward": the FFT normalisation.
        reduction: "mean" (default) over all frequencies and samples, "sum", or "none" ((N, C', *spatial')).
    """

    def __init__(
        self,
        spatial_dims: int | None = None,
        fft_signal_size: Sequence[int] | None = None,
        fft_norm: FFTNorm = "ortho",
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.fft_signal_size = FSP.check_spectral_options(spatial_dims, fft_signal_size, fft_norm)
        self.spatial_dims = spatial_dims
        self.fft_norm: FFTNorm = fft_norm
        self.reduction: Reduction = check_reduction("spectral", reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FSP.spectral_loss(
            input,
            target,
            spatial_dims=self.spatial_dims,
            fft_signal_size=self.fft_signal_size,
            fft_norm=self.fft_norm,
            reduction=self.reduction,
        )
