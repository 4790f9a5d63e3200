"""Normalised mutual information (Studholme et al. 1999) by Parzen windowing, negated, as kornia's
``NMILossFromRef`` / ``normalized_mutual_information_loss``.

The joint histogram is the chunked one of :mod:`losskit.functional.mutual_information`
(:func:`~losskit.functional.mutual_information.chunked_joint_histogram`): with a gradient and more voxels than a
chunk, only one (B, chunk, bins) weight tensor is alive at a time (kornia holds two (B, bins, N) tensors).
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .mutual_information import MI_CHUNK_ELEMENTS, chunked_joint_histogram

__all__ = ["NMI_KERNEL_TYPES", "NMIKernelType", "nmi_loss", "check_nmi_options"]

NMIKernelType = Literal["xu", "rectangular", "truncated_gaussian"]
NMI_KERNEL_TYPES: tuple[NMIKernelType, ...] = ("xu", "rectangular", "truncated_gaussian")
Reduction = Literal["mean", "sum", "none"]


def check_nmi_options(name: str, kernel_type: str, num_bins: int, window_radius: float, chunk_size: int | None) -> None:
    """Option checks shared by the functional form and the module (construction time)."""
    check_choice(name, "kernel_type", kernel_type, NMI_KERNEL_TYPES)
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 2:
        raise ValueError(f"{name}: num_bins must be an integer >= 2, got {num_bins!r}")
    if not float(window_radius) > 0:
        raise ValueError(f"{name}: window_radius must be > 0, got {window_radius!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"{name}: chunk_size must be a positive integer or None, got {chunk_size!r}")


def _kde_weights(x: Tensor, kernel_type: str, num_bins: int, window_radius: float) -> Tensor:
    """Unnormalised kernel weights (B, n, num_bins) of bin coordinates ``x`` (B, n) in [0, num_bins - 1]
    (kornia's ``MIKernel`` members, evaluated at ``bin - x``)."""
    d = (torch.arange(num_bins, device=x.device, dtype=x.dtype) - x.unsqueeze(-1)).abs()
    if kernel_type == "xu":  # Xu et al. 2008, Eq. 22: C1 at u = 1/2, 0 beyond u = 1
        u = d / window_radius
        inner = u * (-1.8 * u - 0.1) + 1.0
        outer = u * (1.8 * u - 3.7) + 1.9
        return torch.where(u < 0.5, inner, torch.where(u <= 1.0, outer, torch.zeros_like(u)))
    if kernel_type == "rectangular":  # piecewise constant: no gradient (evaluation only, as kornia)
        return (d <= window_radius).to(x.dtype)
    g = torch.exp(-0.5 * (d / window_radius) ** 2) / (window_radius * (2 * torch.pi) ** 0.5)
    return torch.where(d <= window_radius, g, torch.zeros_like(g))


def _bin_coordinates(x: Tensor, num_bins: int) -> tuple[Tensor, Tensor]:
    """Per-sample min-max map of (B, N) onto the bin centres 0 .. num_bins - 1 (kornia's ``_normalize_signal``: a
    sample whose range is <= the dtype's eps is constant and maps to 0), and a (B,) NaN carrier ``0 * (min + max)``
    (the kernels' comparisons are False for NaN, which would turn a NaN sample into a finite histogram)."""
    lo, hi = x.amin(1, keepdim=True), x.amax(1, keepdim=True)
    span = hi - lo
    varies = span > torch.finfo(x.dtype).eps
    coords = torch.where(varies, (x - lo) / torch.where(varies, span, torch.ones_like(span)) * (num_bins - 1), 0.0)
    return coords, ((lo + hi) * 0.0).squeeze(1)


def _entropy(p: Tensor, dims: tuple[int, ...]) -> Tensor:
    return -(p * torch.log(p)).sum(dims)


@float32_loss
def nmi_loss(
    input: Tensor,
    target: Tensor,
    *,
    kernel_type: NMIKernelType = "xu",
    num_bins: int = 64,
    window_radius: float = 1.0,
    reduction: Reduction = "mean",
    chunk_size: int | None = None,
) -> Tensor:
    r"""Normalised mutual information loss: minus Studholme's NMI of each sample's joint Parzen histogram.

    .. math::

        h_{ij} = \sum_v k(i - \hat a_v)\, k(j - \hat b_v),\quad p = \frac{\max(h, \epsilon)}{\sum \max(h, \epsilon)},
        \quad \ell_b = -\frac{H(p_a) + H(p_b)}{H(p)}

    where :math:`\hat a, \hat b` are the sample's intensities min-max mapped onto the bin centres
    :math:`0 \dots n_{bins} - 1`, :math:`k` the kernel (support :math:`|d| \le` ``window_radius`` bin widths),
    :math:`\epsilon` the dtype's machine epsilon (the empty-bin floor), :math:`p_a, p_b` the marginals and
    :math:`H` the Shannon entropy. NMI lies in [1, 2], so the loss lies in [-2, -1]: -1 when one sample is
    constant and the other is not. Paper: Studholme, Hill, Hawkes, "An overlap invariant entropy measure of 3D
    medical image alignment", Pattern Recognition 1999; kernel "xu": Xu et al., "Parzen-window based normalized
    mutual information for medical image registration", IEICE 2008. A NaN voxel gives a NaN loss.

    Args:
        input: the warped (moving) image, (B, *): every voxel of a sample (all channels) is one intensity pair.
        target: the fixed image, the input's shape (no broadcasting).
        kernel_type: ``"xu"`` (default, 2nd-order polynomial), ``"rectangular"`` (1 on the support: no gradient,
            evaluation only) or ``"truncated_gaussian"`` (the normal density of std ``window_radius``, cut there).
        num_bins: bins per image (an integer >= 2, default 64).
        window_radius: the kernel's support radius in bin widths (> 0, default 1.0).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the batch.
        chunk_size: voxels per chunk of the histogram accumulation (None, default: 2^19 weights per chunk).

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty batch), shape (B,) for ``"none"``.

    Example:
        >>> x = torch.linspace(0, 1, 64).reshape(1, 1, 8, 8)
        >>> nmi_loss(x, x, num_bins=8) < nmi_loss(x, x.flip(-1).flip(-2) ** 2, num_bins=8)
        tensor(True)

    Parity (float64, rtol 1e-10): kornia ``normalized_mutual_information_loss(input.flatten(1),
    target.flatten(1), kernel_function=MIKernel.<kernel_type>, num_bins=n, window_radius=r)`` (and
    ``NMILossFromRef(target.flatten(1), ...)(input.flatten(1))``) ≡ ``nmi_loss(input, target, kernel_type=...,
    num_bins=n, window_radius=r, reduction="none")``. kornia's ``*_2d``/``*_3d`` forms give one value per leading
    index (a (B, C, H, W) image: (B, C)); here a sample is everything after dim 0 (flatten per channel to match).
    Not supported: kornia's ``input_mask``/``target_mask``. Half inputs are computed in float32 (kornia too).
    """
    name = "nmi"
    check_nmi_options(name, kernel_type, num_bins, window_radius, chunk_size)
    check_reduction(name, reduction)
    check_float(name, "input", input, "(B, *)")
    check_float(name, "target", target, "(B, *)")
    check_same_shape(name, input, target)
    if input.dim() < 2 or input.shape[1:].numel() == 0:
        raise LossInputError(f"{name}: expected a non-empty sample shape (B, *), got {shape_str(input)}")
    dtype = acc_dtype(input)
    a, b = input.to(dtype).flatten(1), target.to(dtype).flatten(1)
    if a.shape[0] == 0:  # empty batch: 0, still connected to the graph
        return reduce((a.sum(1) + b.sum(1)) * 0.0, reduction)
    # under torch.compile the chunk ignores the batch size, so that a new batch size keeps the graph (the loop
    # over chunks is unrolled); eagerly it bounds the (B, chunk, bins) weights whatever B is
    rows = 1 if torch.compiler.is_compiling() else a.shape[0]
    chunk = chunk_size or max(1024, MI_CHUNK_ELEMENTS // (rows * (num_bins + 1)))
    (a, nan_a), (b, nan_b) = _bin_coordinates(a, num_bins), _bin_coordinates(b, num_bins)
    weights = partial(_kde_weights, kernel_type=kernel_type, num_bins=num_bins, window_radius=float(window_radius))
    joint = chunked_joint_histogram(a, b, weights, weights, chunk)[:, :num_bins, :num_bins]
    # kornia's floor: every bin gets at least eps before normalising, so log(0) never occurs
    p = joint.clamp_min(torch.finfo(joint.dtype).eps)
    p = p / p.sum((1, 2), keepdim=True)
    nmi = (_entropy(p.sum(2), (1,)) + _entropy(p.sum(1), (1,))) / _entropy(p, (1, 2))
    return reduce(nan_a + nan_b - nmi, reduction)
