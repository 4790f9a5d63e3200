"""Regularisers of a dense displacement field (DDF) for image registration: bending energy, diffusion and
Jacobian folding.

A DDF is (B, S, *spatial) with S = number of spatial dims (1 to 3), channel ``i`` the displacement along
spatial axis ``i`` (MONAI's layout), in voxels. Computed in float32 (float64 stays float64).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..functional._checks import check_reduction
from ..functional.deformation import bending_energy_loss, diffusion_loss, jacobian_folding_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["BendingEnergyLoss", "DiffusionLoss", "JacobianFoldingLoss"]

_TASKS = ["registration"]
Reduction = Literal["mean", "sum", "none"]
_DDF = (
    TensorSpec(
        "ddf", "(B, S, *spatial), S = number of spatial dims, every size > 2", "float", "displacement field, voxels"
    ),
)


def _ddf(loss: nn.Module, g: torch.Generator) -> tuple[Tensor]:
    return (torch.randn(2, 3, 6, 6, 6, generator=g),)


class _DDFRegulariser(nn.Module):
    loss_name: str  # set on each registered subclass by register_loss, never typed by hand

    def __init__(self, normalize: bool = False, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.normalize = bool(normalize)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)


@register_loss(
    "bending_energy",
    aliases=["BendingEnergyLoss"],
    tasks=_TASKS,
    tags=["regularization", "deformation", "monai"],
    inputs=InputSpec(tensors=_DDF, example=_ddf),
)
class BendingEnergyLoss(_DDFRegulariser):
    """Bending energy of a displacement field (Rueckert et al., "Nonrigid registration using free-form
    deformations", IEEE TMI 1999): per interior voxel and component ``u``,
    ``sum_i (d²u/dx_i²)² + 2 sum_{i<j} (d²u/dx_i dx_j)²``.

    Compact stencils (MONAI 1.6): ``[1, -2, 1]`` for pure second derivatives, the 4-point
    ``(u[+,+] - u[+,-] - u[-,+] + u[-,-]) / 4`` for mixed ones; every spatial size must be > 2.
    Input: ``ddf`` (B, S, *spatial) with S = number of spatial dims (1-3), else ``LossInputError``. A zero or
    affine DDF gives 0.

    Parity: ``bending_energy(normalize=n, reduction=r)`` ≡ MONAI ``BendingEnergyLoss(normalize=n, reduction=r)``
    (MONAI >= 1.6 stencils).

    Args:
        normalize: scale each derivative ``d²u_c/dx_i dx_j`` by ``n_i n_j / n_c`` (the sizes of the axes), making
            the value invariant to the image resolution (MONAI#3485; default False: voxel units).
        reduction: "mean" (default) over all interior voxels and components, "sum", or "none" ((B, S,
            *(spatial - 2))).

    Example:
        >>> value = BendingEnergyLoss()(0.1 * torch.randn(2, 3, 6, 6, 6))
    """

    def forward(self, ddf: Tensor) -> Tensor:
        return bending_energy_loss(ddf, normalize=self.normalize, reduction=self.reduction)


@register_loss(
    "diffusion",
    aliases=["DiffusionLoss"],
    tasks=_TASKS,
    tags=["regularization", "deformation", "monai"],
    inputs=InputSpec(tensors=_DDF, example=_ddf),
)
class DiffusionLoss(_DDFRegulariser):
    """Diffusion (gradient) regulariser of a displacement field (Balakrishnan et al., "VoxelMorph", IEEE TMI
    2019): per interior voxel and component ``u``, ``sum_i (du/dx_i)²`` with central differences
    ``(u[i+1] - u[i-1]) / 2``.

    Input: ``ddf`` (B, S, *spatial), S = number of spatial dims, every size > 2. A constant DDF gives 0.

    Parity: ``diffusion(normalize=n, reduction=r)`` ≡ MONAI ``DiffusionLoss(normalize=n, reduction=r)``.

    Args:
        normalize: scale each derivative ``du_c/dx_i`` by ``n_i / n_c`` (the sizes of the axes), making the value
            invariant to the image resolution (default False: voxel units).
        reduction: "mean" (default) over all interior voxels and components, "sum", or "none" ((B, S,
            *(spatial - 2))).

    Example:
        >>> value = DiffusionLoss(normalize=True)(0.1 * torch.randn(2, 2, 8, 8))
    """

    def forward(self, ddf: Tensor) -> Tensor:
        return diffusion_loss(ddf, normalize=self.normalize, reduction=self.reduction)


@register_loss(
    "jacobian_folding",
    aliases=["JacobianFoldingLoss", "folding"],
    tasks=_TASKS,
    tags=["regularization", "deformation"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("ddf", "(B, S, *spatial), S = 2 or 3, every size > 2", "float", "displacement field, voxels"),
        ),
        example=_ddf,
    ),
)
class JacobianFoldingLoss(nn.Module):
    """Folding penalty on the Jacobian determinant of the map ``phi(x) = x + u(x)``:
    ``relu(eps - det(I + grad u))`` per interior voxel, i.e. ``mean(relu(-det J))`` with ``eps = 0``.

    ``grad u`` uses central differences in voxel units (the DDF is in voxels); ``det J <= 0`` marks a fold
    (the map stops being locally invertible), so the loss is 0 for any fold-free field, e.g. a zero DDF
    (``det J = 1``). Cf. Kuang & Schmah, "FAIM", 2019 and Mok & Chung, "Fast symmetric diffeomorphic
    registration", CVPR 2020. Input: ``ddf`` (B, S, *spatial), S = 2 or 3 spatial dims, every size > 2.
    No MONAI/kornia equivalent.

    Args:
        eps: the Jacobian determinant below which a voxel is penalised (finite, default 0.0: only folds,
            ``det J < 0``). A positive value also penalises strong compression (``det J < eps``, a volume ratio).
        reduction: "mean" (default) over all interior voxels, "sum", or "none" ((B, *(spatial - 2))).

    Example:
        >>> value = JacobianFoldingLoss(eps=0.1)(0.1 * torch.randn(2, 3, 6, 6, 6))
    """

    loss_name: str  # set by register_loss

    def __init__(self, eps: float = 0.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        if not -1e30 < eps < 1e30:
            raise ValueError(f"{self.loss_name}: eps must be finite, got {eps!r}")
        self.eps = float(eps)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, ddf: Tensor) -> Tensor:
        return jacobian_folding_loss(ddf, eps=self.eps, reduction=self.reduction)
