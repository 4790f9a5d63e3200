"""Neighbour-aware calibration loss (NACL; Murugesan et al. 2023, 2024), MONAI's ``NACLLoss``.

Cross-entropy plus a penalty that pulls the logits towards the class proportions of each voxel's neighbourhood:
the one-hot target smoothed by a mean or Gaussian filter (zero padding, same size). The cross-entropy term is
:func:`~losskit.functional.cross_entropy.cross_entropy_loss`; the smoothing reuses the image losses' grouped
separable filter.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..compose.terms import with_terms
from ..errors import LossInputError
from ._checks import check_choice, is_finite, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .cross_entropy import cross_entropy_loss
from .image_quality import _separable_filter
from .segmentation_input import PairReduction, prepare_segmentation

__all__ = ["nacl_loss", "check_nacl_options", "KERNEL_OPS", "DISTANCE_TYPES"]

KernelOps = Literal["mean", "gaussian"]
DistanceType = Literal["l1", "l2"]
KERNEL_OPS: tuple[KernelOps, ...] = ("mean", "gaussian")
DISTANCE_TYPES: tuple[DistanceType, ...] = ("l1", "l2")
Result = Tensor | tuple[Tensor, dict[str, Tensor]]

_GAUSS_TRUNCATED = 4.0  # MONAI's GaussianFilter default: the kernel spans 4 standard deviations each side


def check_nacl_options(
    loss: str, kernel_size: int, kernel_ops: str, distance_type: str, alpha: float, sigma: float, dim: int | None
) -> None:
    """Option checks shared by the functional form and the constructor (ValueError naming the loss)."""
    check_choice(loss, "kernel_ops", kernel_ops, KERNEL_OPS)
    check_choice(loss, "distance_type", distance_type, DISTANCE_TYPES)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"{loss}: kernel_size must be a positive int, got {kernel_size!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (is_finite(alpha) and alpha >= 0):
        raise ValueError(f"{loss}: alpha must be finite and >= 0, got {alpha!r}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (is_finite(sigma) and sigma > 0):
        raise ValueError(f"{loss}: sigma must be finite and > 0, got {sigma!r}")
    if dim is not None and (isinstance(dim, bool) or dim not in (2, 3)):
        raise ValueError(f"{loss}: dim must be 2, 3 or None (from the input), got {dim!r}")


def _kernel_1d(kernel_ops: str, kernel_size: int, sigma: float, like: Tensor) -> Tensor:
    """MONAI's taps: a box of ``kernel_size`` ones / kernel_size (the mean filter, separable), or the "erf"
    discrete Gaussian of ``GaussianFilter`` (unnormalised, as MONAI), ``2 * round(4 sigma) + 1`` taps."""
    if kernel_ops == "mean":
        return torch.full((kernel_size,), 1.0 / kernel_size, dtype=like.dtype, device=like.device)
    tail = int(max(sigma * _GAUSS_TRUNCATED, 0.5) + 0.5)
    x = torch.arange(-tail, tail + 1, dtype=like.dtype, device=like.device)
    t = 0.70710678 / abs(sigma)  # MONAI's constant, for parity
    return (0.5 * (torch.erf(t * (x + 0.5)) - torch.erf(t * (x - 0.5)))).clamp_min(0.0)


def _smooth(t: Tensor, w: Tensor) -> Tensor:
    """Zero-padded "same" filtering of (N, C, *spatial) with the 1-D taps ``w`` along every spatial axis (torch's
    ``padding="same"``: an even width puts the extra zero on the right)."""
    k = w.numel()
    left, right = (k - 1) // 2, k - 1 - (k - 1) // 2
    padded = F.pad(t, [left, right] * (t.dim() - 2))
    return _separable_filter(padded, w)


@float32_loss
def nacl_loss(
    input: Tensor,
    target: Tensor,
    *,
    kernel_size: int = 3,
    kernel_ops: KernelOps = "mean",
    distance_type: DistanceType = "l1",
    alpha: float = 0.1,
    sigma: float = 1.0,
    dim: int | None = None,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: PairReduction = "mean",
    return_terms: bool = False,
) -> Result:
    r"""Neighbour-aware calibration: cross-entropy + ``alpha`` times a distance of the logits to the smoothed
    one-hot target.

    .. math::

        \mathcal{L} = \mathrm{CE}(x, y) + \alpha\,\operatorname{mean}_{n,c,s} \big|\,(K * \mathbb{1}_y)_{c,s} -
        x_{c,s}\big|^{q},\qquad q = 1\ (\text{"l1"})\ \text{or}\ 2\ (\text{"l2"})

    ``K`` a mean filter of width ``kernel_size`` or a Gaussian of std ``sigma`` (zero padding, same size), so
    the constraint target of a voxel is its neighbourhood's class proportions (Murugesan, Adiga Vasudeva,
    Liu, Lombaert, Ben Ayed, Dolz, "Trust your neighbours: Penalty-based constraints for model calibration",
    MICCAI 2023; "Neighbor-Aware Calibration of Segmentation Networks with Penalty-Based Constraints", 2024).
    As in the paper and MONAI, the penalty is on the **logits** ``x``, not on the softmax.

    Args:
        input: logits (N, C, H, W) or (N, C, D, H, W), C >= 2.
        target: class indices (N, *spatial) / (N, 1, *spatial) of any integer dtype, or class probabilities
            (N, C, *spatial) (smoothed as they are).
        kernel_size: width of the mean filter (``kernel_ops="mean"``).
        kernel_ops: ``"mean"`` | ``"gaussian"``.
        distance_type: ``"l1"`` | ``"l2"``.
        alpha: weight of the calibration term, >= 0.
        sigma: std of the Gaussian filter (``kernel_ops="gaussian"``), > 0.
        dim: 2 or 3, checked against the input; None: from the input.
        ignore_index: label that counts nowhere (left out of both terms; its one-hot is 0 in the smoothing),
            or None.
        num_classes: checked against C when given.
        reduction: ``"mean"`` (MONAI's) | ``"sum"``: the CE and distance sums.
        return_terms: also return ``{"cross_entropy": ..., "calibration": ...}`` (unweighted, detached).

    Returns:
        a scalar (0 for an empty batch), or ``(total, terms)`` with ``return_terms=True``.

    Example:
        >>> x = torch.zeros(1, 2, 3, 3)
        >>> y = torch.zeros(1, 3, 3, dtype=torch.long)
        >>> nacl_loss(x, y).round(decimals=4)
        tensor(0.7234)

    Parity: ≡ MONAI ``NACLLoss(classes=C, dim, kernel_size, kernel_ops, distance_type, alpha, sigma)`` on the
    same logits and (N, *spatial) labels (CE of ``nn.CrossEntropyLoss()``, mean filter divided by
    ``kernel_size ** dim``, ``GaussianFilter(sigma)`` with its "erf" kernel).
    """
    name = "nacl_loss"
    check_nacl_options(name, kernel_size, kernel_ops, distance_type, alpha, sigma, dim)
    prepared, _ = prepare_segmentation(
        name,
        input,
        target,
        mode="multiclass",
        reduction=reduction,
        ignore_index=ignore_index,
        num_classes=num_classes,
        reductions=("mean", "sum"),
    )
    spatial = input.dim() - 2
    if spatial not in (2, 3) or (dim is not None and spatial != dim):
        want = "(N, C, H, W) or (N, C, D, H, W)" if dim is None else f"{dim} spatial dims"
        raise LossInputError(f"{name}: expected input with {want}, got {shape_str(input)}")
    ce = cross_entropy_loss(
        input, prepared, ignore_index=-100 if ignore_index is None else ignore_index, reduction=reduction
    )
    dt = acc_dtype(input)
    x = input.to(dt)
    valid = None
    with torch.no_grad():  # the constraint target is a constant of the labels
        if prepared.is_floating_point():
            onehot = prepared.to(dt)
        else:
            y = prepared
            if ignore_index is not None:
                keep = y != ignore_index
                y = torch.where(keep, y, torch.zeros_like(y))  # an ignored 255 never reaches the one-hot
                valid = keep.to(dt).unsqueeze(1)
            onehot = torch.zeros_like(x).scatter_(1, y.unsqueeze(1), 1.0 if valid is None else valid)
        smoothed = _smooth(onehot, _kernel_1d(kernel_ops, kernel_size, sigma, x))
    diff = smoothed - x
    dist = diff.abs() if distance_type == "l1" else diff.square()
    if valid is not None:
        calibration = reduce(torch.where(valid > 0, dist, 0.0), reduction, valid.expand_as(dist))
    else:
        calibration = reduce(dist, reduction)
    total = ce + alpha * calibration
    return with_terms(total, {"cross_entropy": ce, "calibration": calibration}, return_terms)
