"""Image-aware smoothness of an inverse depth map (kornia's ``inverse_depth_smoothness_loss``)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_reduction, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

__all__ = ["inverse_depth_smoothness_loss"]

Reduction = Literal["mean", "sum", "none"]


def _axis_term(d: Tensor, img: Tensor, dim: int) -> Tensor:
    """Per-sample mean of ``|d_k - d_{k+1}| exp(-mean_c |I_k - I_{k+1}|)`` along ``dim`` (a dim of size 1: 0)."""
    n = d.shape[dim]
    dd = d.narrow(dim, 0, n - 1) - d.narrow(dim, 1, n - 1) if n > 1 else d.narrow(dim, 0, 0)
    di = img.narrow(dim, 0, n - 1) - img.narrow(dim, 1, n - 1) if n > 1 else img.narrow(dim, 0, 0)
    weight = torch.exp(-di.abs().mean(dim=1, keepdim=True))
    count = max(
        math.prod(dd.shape[1:]), 1
    )  # no differences along this axis: a zero sum, so divide by 1 (not kornia's NaN)
    return (dd * weight).abs().sum(dim=(1, 2, 3), dtype=acc_dtype(d)) / count


@float32_loss
def inverse_depth_smoothness_loss(idepth: Tensor, image: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""Image-aware smoothness of an inverse depth map, as in monocular depth estimation (Godard et al.,
    "Unsupervised Monocular Depth Estimation with Left-Right Consistency", CVPR 2017).

    .. math::

        \ell_n = \operatorname{mean}_{ij} \left|\partial_x d_{nij}\right|
        e^{-\frac{1}{C} \sum_c \left|\partial_x I_{ncij}\right|}
        + \operatorname{mean}_{ij} \left|\partial_y d_{nij}\right|
        e^{-\frac{1}{C} \sum_c \left|\partial_y I_{ncij}\right|}

    per sample ``n``, with forward differences :math:`\partial_x`, :math:`\partial_y` (each mean over its own
    ``H (W - 1)`` or ``(H - 1) W`` differences; an axis of size 1 contributes 0). Depth edges are penalised
    less where the image has an edge. The weights use raw image values, so ``image`` is expected in a unit
    range; ``idepth`` is not normalised (the loss is linear in its scale). ``reduction`` reduces the
    per-sample values :math:`\ell_n`.

    Args:
        idepth: inverse depth, shape :math:`(N, 1, H, W)`.
        image: the image, shape :math:`(N, C, H, W)` (e.g. C = 3), same N, H, W as ``idepth`` (no broadcasting).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the samples.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty batch), the per-sample values :math:`(N,)` for
        ``"none"``.

    Example:
        >>> idepth = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
        >>> inverse_depth_smoothness_loss(idepth, torch.zeros(1, 3, 2, 2))
        tensor(1.)

    Parity: ``inverse_depth_smoothness_loss(d, I, reduction="mean")`` ≡ kornia
    ``inverse_depth_smoothness_loss(d, I)`` (``InverseDepthSmoothnessLoss()``, a scalar; all samples have the
    same number of differences, so the mean of the per-sample values is kornia's mean); "none" gives the
    per-sample values, "sum" their sum. kornia gives NaN for H = 1 or W = 1; losskit 0 for that term.
    """
    loss = "inverse_depth_smoothness"
    check_float(loss, "idepth", idepth)
    check_float(loss, "image", image)
    check_reduction(loss, reduction)
    if idepth.dim() != 4 or idepth.shape[1] != 1:
        raise LossInputError(f"{loss}: expected idepth (N, 1, H, W), got {shape_str(idepth)}")
    if (
        image.dim() != 4
        or image.shape[1] < 1
        or image.shape[0] != idepth.shape[0]
        or image.shape[2:] != idepth.shape[2:]
    ):
        want = f"image (N, C, H, W) with the N, H, W of idepth {shape_str(idepth)}"
        raise LossInputError(f"{loss}: expected {want}, got {shape_str(image)}")
    return reduce(_axis_term(idepth, image, 3) + _axis_term(idepth, image, 2), reduction)
