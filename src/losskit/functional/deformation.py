"""Regularisers of a dense displacement field (DDF) ``u``, laid out (B, C, *spatial) with C = number of
spatial dims (2 or 3; 1 for bending/diffusion) and channel ``i`` the displacement along spatial axis ``i``
(MONAI's convention), in voxel units.

Finite differences are central and compact (three voxels per axis), so every spatial size must be > 2, and
every per-voxel map is defined on the interior ``[1:-1]`` of each spatial axis. Every function follows the
zoo's autocast rule (``float32_loss``): autocast off, float32 (float64 stays float64). An empty batch gives 0.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_reduction, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

Reduction = Literal["mean", "sum", "none"]

__all__ = [
    "check_ddf",
    "bending_energy_loss",
    "diffusion_loss",
    "jacobian_determinant",
    "jacobian_folding_loss",
    "gradient_smoothness",
]


def check_ddf(name: str, ddf: Tensor, *, dims: tuple[int, ...] = (1, 2, 3), what: str = "ddf") -> int:
    """Validate a DDF (B, C, *spatial) with C = number of spatial dims, every spatial size > 2; return C."""
    check_float(name, what, ddf, "(B, C, *spatial)")
    nd = ddf.dim() - 2
    if nd not in dims:
        raise LossInputError(
            f"{name}: expected {what} (B, C, *spatial) with {' or '.join(map(str, dims))} spatial dims, "
            f"got {shape_str(ddf)}"
        )
    if ddf.shape[1] != nd:
        raise LossInputError(
            f"{name}: {what} must have one channel per spatial dim (C = {nd} for {shape_str(ddf)}), "
            f"got C = {ddf.shape[1]}"
        )
    if any(s <= 2 for s in ddf.shape[2:]):
        raise LossInputError(f"{name}: every spatial size of {what} must be > 2, got {shape_str(ddf)}")
    return nd


def _interior(x: Tensor, shifts: dict[int, int]) -> Tensor:
    """``x`` on the interior ``[1:-1]`` of every spatial axis, shifted by ``shifts[axis]`` in {-1, 0, 1}."""
    out = x
    for axis in range(2, x.dim()):
        out = out.narrow(axis, 1 + shifts.get(axis, 0), x.shape[axis] - 2)
    return out


def _central(x: Tensor, axis: int) -> Tensor:
    return (_interior(x, {axis: 1}) - _interior(x, {axis: -1})) / 2.0


def _second(x: Tensor, a: int, b: int) -> Tensor:
    if a == b:
        return _interior(x, {a: 1}) - 2 * _interior(x, {}) + _interior(x, {a: -1})
    return (
        _interior(x, {a: 1, b: 1})
        - _interior(x, {a: 1, b: -1})
        - _interior(x, {a: -1, b: 1})
        + _interior(x, {a: -1, b: -1})
    ) / 4.0


def _scales(ddf: Tensor) -> Tensor:
    """(1, C, 1, ...): the size of the axis each displacement component runs along."""
    nd = ddf.dim() - 2
    return torch.tensor(ddf.shape[2:], dtype=ddf.dtype, device=ddf.device).reshape(1, nd, *([1] * nd))


@float32_loss
def bending_energy_loss(ddf: Tensor, *, normalize: bool = False, reduction: Reduction = "mean") -> Tensor:
    """Bending energy ``sum_i (d²u/dx_i²)² + 2 sum_{i<j} (d²u/dx_i dx_j)²`` per voxel and component
    (see :class:`losskit.zoo.deformation.BendingEnergyLoss`). "none": (B, C, *(spatial - 2))."""
    check_ddf("bending_energy", ddf)
    check_reduction("bending_energy", reduction)
    u = ddf.to(acc_dtype(ddf))
    axes = range(2, u.dim())
    scale = 1.0 / _scales(u) if normalize else None
    terms = []
    for a in axes:
        for b in axes:
            if b < a:
                continue
            d2 = _second(u, a, b)
            if scale is not None:
                d2 = d2 * (u.shape[a] * u.shape[b] * scale)
            terms.append(d2 * d2 if a == b else 2 * d2 * d2)
    return reduce(sum(terms[1:], terms[0]), reduction)


@float32_loss
def diffusion_loss(ddf: Tensor, *, normalize: bool = False, reduction: Reduction = "mean") -> Tensor:
    """Diffusion regulariser ``sum_i (du/dx_i)²`` per voxel and component, central differences
    (see :class:`losskit.zoo.deformation.DiffusionLoss`). "none": (B, C, *(spatial - 2))."""
    check_ddf("diffusion", ddf)
    check_reduction("diffusion", reduction)
    u = ddf.to(acc_dtype(ddf))
    scale = 1.0 / _scales(u) if normalize else None
    terms = []
    for a in range(2, u.dim()):
        g = _central(u, a)
        if scale is not None:
            g = g * (u.shape[a] * scale)
        terms.append(g * g)
    return reduce(sum(terms[1:], terms[0]), reduction)


@float32_loss
def jacobian_determinant(ddf: Tensor, *, name: str = "jacobian_folding") -> Tensor:
    """``det(I + grad u)`` of the map ``x -> x + u(x)`` on the interior voxels, central differences.
    ``ddf`` (B, C, *spatial) with C = 2 or 3; returns (B, *(spatial - 2))."""
    nd = check_ddf(name, ddf, dims=(2, 3))
    u = ddf.to(acc_dtype(ddf))
    # J[i][j] = d(x_i + u_i)/dx_j: channel i, axis 2 + j
    grads = [_central(u, 2 + j) for j in range(nd)]  # each (B, C, *interior)
    jac = [[grads[j][:, i] + (1.0 if i == j else 0.0) for j in range(nd)] for i in range(nd)]
    if nd == 2:
        return jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0]
    return (
        jac[0][0] * (jac[1][1] * jac[2][2] - jac[1][2] * jac[2][1])
        - jac[0][1] * (jac[1][0] * jac[2][2] - jac[1][2] * jac[2][0])
        + jac[0][2] * (jac[1][0] * jac[2][1] - jac[1][1] * jac[2][0])
    )


@float32_loss
def jacobian_folding_loss(ddf: Tensor, *, eps: float = 0.0, reduction: Reduction = "mean") -> Tensor:
    """Folding penalty ``relu(eps - det(I + grad u))`` per interior voxel
    (see :class:`losskit.zoo.deformation.JacobianFoldingLoss`). "none": (B, *(spatial - 2))."""
    check_reduction("jacobian_folding", reduction)
    det = jacobian_determinant(ddf)
    return reduce(torch.relu(eps - det), reduction)


@float32_loss
def gradient_smoothness(ddf: Tensor) -> Tensor:
    """Seed 002's smoothness term: ``sum_axes mean(diff(u, axis)²)`` with forward differences over every
    spatial axis of a (B, C, *spatial) field. A scalar (float32, or float64)."""
    u = ddf.to(acc_dtype(ddf))
    total = u.new_zeros(())
    for axis in range(2, u.dim()):
        d = torch.diff(u, dim=axis)
        total = total + reduce(d * d, "mean")
    return total
