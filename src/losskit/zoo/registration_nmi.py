"""Normalised mutual information (negated) for multimodal image registration, kornia's ``NMILossFromRef``.

Kept apart from :mod:`losskit.zoo.image_registration` (MONAI's similarity losses); it shares the chunked joint
histogram of :mod:`losskit.functional.mutual_information`. Computed in float32 with autocast off (float64
stays float64); an empty batch gives 0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional._checks import check_reduction
from ..functional.nmi import NMIKernelType, Reduction, check_nmi_options, nmi_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["NMILoss"]


def _nmi_images(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    fixed = torch.rand(2, 1, 8, 8, 8, generator=g)
    return 0.7 * fixed + 0.3 * torch.rand(2, 1, 8, 8, 8, generator=g), fixed


@register_loss(
    "nmi",
    aliases=["NMILoss", "NMILossFromRef", "normalized_mutual_information"],
    tasks=["registration"],
    tags=["similarity", "multimodal", "kornia"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(B, *)", "float", "warped (moving) image; any intensity range"),
            TensorSpec("target", "(B, *) same as input", "float", "fixed image"),
        ),
        example=_nmi_images,
    ),
)
class NMILoss(nn.Module):
    """Normalised mutual information ``-(H(A) + H(B)) / H(A, B)`` of each sample's joint Parzen histogram
    (Studholme et al., Pattern Recognition 1999), in [-2, -1] (:func:`losskit.functional.nmi_loss`, which has
    the formula and the parity mapping).

    Each sample (every voxel of every channel) is min-max mapped onto the bin centres, so no intensity range is
    assumed; a constant sample against a varying one gives -1.

    Parity: kornia ``NMILossFromRef(target.flatten(1), kernel_function=MIKernel.<kernel_type>, num_bins,
    window_radius)(input.flatten(1))`` ≡ ``NMILoss(kernel_type, num_bins, window_radius, reduction="none")(input,
    target)`` (float64, rtol 1e-10). kornia binds the reference at construction; here both images are forward
    arguments. kornia's masks are not supported.

    Memory: the histogram is accumulated over chunks of voxels with the chunked backward of
    ``mutual_information``, so the peak is one (B, chunk, bins) weight tensor, not kornia's two (B, bins, N).

    Args:
        kernel_type: the Parzen kernel, kornia's ``MIKernel``: "xu" (default, Xu et al. 2008, a 2nd-order
            polynomial), "rectangular" (1 on the support; piecewise constant, so no gradient: evaluation only)
            or "truncated_gaussian" (the normal density of std ``window_radius``, cut at one std).
        num_bins: histogram bins per image (an integer >= 2, default 64).
        window_radius: the kernel's support radius in bin widths (> 0, default 1.0).
        reduction: "mean" (default) over samples, "sum", or "none" ((B,)).
        chunk_size: voxels per chunk of the histogram accumulation (a positive integer; None, default: 2^19
            weights per chunk). Smaller saves memory, larger is faster.

    Example:
        >>> fixed = torch.rand(2, 1, 8, 8, 8)
        >>> value = NMILoss(num_bins=16)(0.7 * fixed + 0.3 * torch.rand(2, 1, 8, 8, 8), fixed)
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        kernel_type: NMIKernelType = "xu",
        num_bins: int = 64,
        window_radius: float = 1.0,
        reduction: Reduction = "mean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        check_nmi_options(self.loss_name, kernel_type, num_bins, window_radius, chunk_size)
        self.kernel_type: NMIKernelType = kernel_type
        self.num_bins = num_bins
        self.window_radius = float(window_radius)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)
        self.chunk_size = chunk_size

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return nmi_loss(
            input,
            target,
            kernel_type=self.kernel_type,
            num_bins=self.num_bins,
            window_radius=self.window_radius,
            reduction=self.reduction,
            chunk_size=self.chunk_size,
        )
