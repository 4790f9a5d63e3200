"""kornia's robust losses (cauchy, geman_mcclure, welsch), the wing loss for landmarks, and total variation."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..functional import robust as FRB
from ..functional._checks import check_choice, check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._examples import pair

__all__ = ["CauchyLoss", "GemanMcClureLoss", "WelschLoss", "WingLoss", "TotalVariationLoss"]

Reduction = Literal["mean", "sum", "none"]
PixelReduction = Literal["sum", "mean"]

_PAIR = InputSpec(
    tensors=(
        TensorSpec("input", "(*)", "float", "predictions"),
        TensorSpec("target", "(*) same as input", "float", "targets"),
    ),
    example=pair((4, 8)),
)


class _RobustPair(nn.Module):
    loss_name: str  # set on each registered subclass by register_loss, never typed by hand

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)


@register_loss("cauchy", aliases=["CauchyLoss", "lorentzian"], tasks=["regression"], tags=["robust"], inputs=_PAIR)
class CauchyLoss(_RobustPair):
    """Cauchy (Lorentzian) loss ``log(0.5 (input - target)^2 + 1)`` (:func:`losskit.functional.cauchy_loss`;
    Barron's loss at alpha 0). Parity: kornia ``CauchyLoss(reduction=r)`` (kornia's default "none").

    Args:
        reduction: "mean" (default) over all elements, "sum", or "none" (the input's shape).
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FRB.cauchy_loss(input, target, reduction=self.reduction)


@register_loss(
    "geman_mcclure",
    aliases=["GemanMcClureLoss", "GemanMcclureLoss"],
    tasks=["regression"],
    tags=["robust"],
    inputs=_PAIR,
)
class GemanMcClureLoss(_RobustPair):
    """Geman-McClure loss ``2 d^2 / (d^2 + 4)``, ``d = input - target``
    (:func:`losskit.functional.geman_mcclure_loss`; Barron's loss at alpha -2). Parity: kornia
    ``GemanMcclureLoss(reduction=r)``.

    Args:
        reduction: "mean" (default) over all elements, "sum", or "none" (the input's shape).
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FRB.geman_mcclure_loss(input, target, reduction=self.reduction)


@register_loss("welsch", aliases=["WelschLoss", "leclerc"], tasks=["regression"], tags=["robust"], inputs=_PAIR)
class WelschLoss(_RobustPair):
    """Welsch (Leclerc) loss ``1 - exp(-(input - target)^2 / 2)`` (:func:`losskit.functional.welsch_loss`;
    Barron's loss at alpha -inf). Parity: kornia ``WelschLoss(reduction=r)``.

    Args:
        reduction: "mean" (default) over all elements, "sum", or "none" (the input's shape).
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FRB.welsch_loss(input, target, reduction=self.reduction)


def _landmarks(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Predicted and true coordinates of 5 landmarks (N=4, 5, 2), residuals on both sides of ``w``."""
    y = torch.rand(4, 5, 2, generator=g) * 64
    return y + torch.randn(4, 5, 2, generator=g) * 12, y


@register_loss(
    "wing",
    aliases=["WingLoss"],
    tasks=["regression"],
    tags=["robust", "landmarks"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(*), e.g. (N, L, 2)", "float", "predicted landmark coordinates"),
            TensorSpec("target", "(*) same as input", "float", "true landmark coordinates"),
        ),
        example=_landmarks,
    ),
)
class WingLoss(nn.Module):
    """Wing loss for landmark regression (Feng et al., CVPR 2018): ``w ln(1 + |d| / epsilon)`` for
    ``|d| < w``, else ``|d| - C`` with ``C = w - w ln(1 + w / epsilon)`` (:func:`losskit.functional.wing_loss`).
    No kornia/MONAI counterpart.

    Args:
        w: half-width of the logarithmic part (finite, > 0; default 10, in the coordinates' units).
        epsilon: curvature of the logarithmic part (finite, > 0; default 2).
        reduction: "mean" (default) over all coordinates, "sum", or "none" (the input's shape).
    """

    def __init__(self, w: float = 10.0, epsilon: float = 2.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        FRB.check_wing_options(w, epsilon)
        self.w, self.epsilon = float(w), float(epsilon)
        self.reduction: Reduction = check_reduction("wing", reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FRB.wing_loss(input, target, w=self.w, epsilon=self.epsilon, reduction=self.reduction)


def _images(loss: nn.Module, g: torch.Generator) -> tuple[Tensor]:
    return (torch.rand(2, 3, 16, 16, generator=g),)


@register_loss(
    "total_variation",
    aliases=["TotalVariationLoss", "TotalVariation", "tv"],
    tasks=["regression"],
    tags=["regularization", "image", "kornia"],
    inputs=InputSpec(
        tensors=(TensorSpec("input", "(*, H, W), e.g. (B, C, H, W)", "float", "images"),),
        example=_images,
    ),
)
class TotalVariationLoss(nn.Module):
    """Anisotropic total variation of images, a smoothness regulariser of one image
    (:func:`losskit.functional.total_variation_loss`): per image (per sample and channel) the sum of the
    absolute vertical and horizontal differences, then reduced over the images.

    Parity: ``TotalVariationLoss(pixel_reduction=p, reduction="none")(x)`` ≡ kornia
    ``total_variation(x, reduction=p)`` (kornia's ``TotalVariation`` module: ``p="sum"``, no reduction).

    Args:
        pixel_reduction: "sum" (default, kornia's) or "mean" (each of the two terms averaged over its own
            number of differences, resolution independent) over the pixels of each image.
        reduction: "mean" (default) over the images, "sum", or "none" (the per-image values, (*,)).
    """

    def __init__(self, pixel_reduction: PixelReduction = "sum", reduction: Reduction = "mean") -> None:
        super().__init__()
        self.pixel_reduction: PixelReduction = check_choice(
            "total_variation", "pixel_reduction", pixel_reduction, ("sum", "mean")
        )
        self.reduction: Reduction = check_reduction("total_variation", reduction)

    def forward(self, input: Tensor) -> Tensor:
        return FRB.total_variation_loss(input, pixel_reduction=self.pixel_reduction, reduction=self.reduction)
