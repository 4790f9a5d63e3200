"""Erosion-based Hausdorff loss (Karimi & Salcudean, "Reducing the Hausdorff Distance in Medical Image
Segmentation with Convolutional Neural Networks", IEEE TMI 2019), 2-D and 3-D, every class at once.

The squared error map ``(p - t)^2`` is eroded ``k`` times with the cross (the pixel and its 2d face
neighbours, averaged), soft-thresholded at 0.5 and min-max normalised per image and class; erosion ``i`` is
weighted by ``(i + 1)^alpha``. Large errors far from a boundary survive many erosions, so the loss grows
with the distance of a mistake from the boundary, as the Hausdorff distance does.

kornia's ``HausdorffERLoss``/``HausdorffERLoss3D`` run one single-channel convolution per class and erosion;
here the cross average is 2d + 1 shifted adds over the whole (N, C, *spatial) map (a single-channel
convolution is ~20x slower than the adds on CPU), so all classes go in one pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import is_finite
from ._precision import float32_loss
from ._reduce import reduce
from .segmentation_input import Mode, Reduction, prepare_segmentation
from .topology import _maps

__all__ = ["hausdorff_er_loss", "check_hausdorff_er_options"]


def check_hausdorff_er_options(loss: str, alpha: float, k: int) -> None:
    """The option checks of ``hausdorff_er`` (functional form and constructor): ValueError naming the loss."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not is_finite(alpha):
        raise ValueError(f"{loss}: alpha must be a finite number, got {alpha!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{loss}: k (the number of erosions) must be an int >= 1, got {k!r}")


def _cross_mean(x: Tensor) -> Tensor:
    """The mean of each voxel and its 2d face neighbours (zero outside), for (N, C, *spatial) with d = 2 or 3:
    kornia's convolution with the cross kernel of weights 1 / (2d + 1)."""
    d = x.dim() - 2
    xp = F.pad(x, (1, 1) * d)
    size = x.shape[2:]
    total = x
    for axis in range(d):
        for shift in (0, 2):
            idx = [slice(None), slice(None)] + [slice(1, 1 + n) for n in size]
            idx[2 + axis] = slice(shift, shift + size[axis])
            total = total + xp[tuple(idx)]
    return total * (1.0 / (2 * d + 1))


def erosion_sum(bound: Tensor, alpha: float, k: int) -> Tensor:
    """``sum_i (i + 1)^alpha * E_i`` of a (N, C, *spatial) error map, ``E_i`` the i-th normalised erosion."""
    dims = tuple(range(2, bound.dim()))
    total = bound.new_zeros(())
    for i in range(k):
        dil = _cross_mean(bound)
        # soft threshold at 0.5; masked_fill keeps a gradient of 1 at exactly 0.5, as kornia
        er = (dil - 0.5).masked_fill(dil < 0.5, 0.0)
        lo = er.amin(dims, keepdim=True)
        span = er.amax(dims, keepdim=True) - lo
        # a flat map (span 0) stays as is and divides by a safe 1, so its gradient stays finite; a NaN span is
        # "not 0" and gives NaN, never a silent pass
        flat = span == 0
        er = torch.where(flat, er, (er - lo) / torch.where(flat, torch.ones_like(span), span))
        total = total + er * float((i + 1) ** alpha)
        bound = er
    return total


@float32_loss
def hausdorff_er_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    alpha: float = 2.0,
    k: int = 10,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Erosion-based Hausdorff loss (Karimi & Salcudean, IEEE TMI 2019), per voxel, 2-D or 3-D.

    .. math::

        B_0 = (p - t)^2,\quad B_{i+1} = \operatorname{norm}\big(\operatorname{relu}_{0.5}(B_i \ast K)\big),
        \quad \ell = \sum_{i=1}^{k} i^{\alpha}\, B_i

    ``K`` the cross of the voxel and its face neighbours with weights ``1 / (2d + 1)`` (zero padding),
    ``relu_0.5(x) = x - 0.5`` where ``x >= 0.5`` else 0, ``norm`` the min-max normalisation over the spatial
    dims of each (sample, class) map (a constant map is left as is).

    Args:
        input: logits (probabilities with ``from_logits=False``), (N, C, H, W) or (N, C, D, H, W); binary mode
            also (N, H, W) / (N, D, H, W).
        target: class indices (N, *spatial) or (N, 1, *spatial) (multiclass), class probabilities or {0, 1}
            masks of the input's shape.
        mode, from_logits, include_background, num_classes: as :func:`dice_loss` (``include_background``
            default True: kornia scores class 0 too).
        alpha: exponent of the erosion weight ``(i + 1)^alpha`` (finite; default 2.0).
        k: number of erosions (int >= 1; default 10).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the per-voxel map (N, C, *spatial); C - 1 without the
            background, 1 in binary mode).

    Example:
        >>> x = torch.randn(2, 3, 16, 16)
        >>> y = torch.randint(0, 3, (2, 16, 16))
        >>> hausdorff_er_loss(x, y, reduction="none").shape
        torch.Size([2, 3, 16, 16])

    Parity: ``hausdorff_er_loss(p, y, from_logits=False, alpha=a, k=k, reduction=r)`` ≡ kornia
    ``HausdorffERLoss(alpha=a, k=k, reduction=r)(p, y[:, None])`` for 2-D and ``HausdorffERLoss3D`` for 3-D
    inputs (``p`` probabilities, ``y`` int64 labels); kornia's ``"none"`` is (C, N, 1, *spatial), losskit's
    the same values as (N, C, *spatial). Logits (the default) go through the softmax first.
    """
    name = "hausdorff_er_loss"
    target, _ = prepare_segmentation(name, input, target, mode=mode, reduction=reduction, num_classes=num_classes)
    check_hausdorff_er_options(name, alpha, k)
    p, t, _ = _maps(name, input, target, mode, from_logits, None, include_background)
    return reduce(erosion_sum((p - t) ** 2, alpha, k), reduction)
