"""Local and global normalised cross-correlation for image registration (negated, to minimise).

Both functions take two images of the same shape, ``input`` (the warped moving image) and ``target`` (the
fixed image), laid out (B, C, *spatial) with 1 to 3 spatial dims. They follow the zoo's autocast rule
(:func:`~losskit.functional._precision.float32_loss`): computed in float32 with autocast off (float64 stays
float64), the result float32 (or float64).

Speed and memory, compared with MONAI 1.6: ``lncc_loss`` filters the five maps t, p, t², p², tp as one stacked
tensor with a custom autograd function whose backward is the same filter (the kernels are symmetric, the
zero-padded correlation is self-adjoint). The rectangular window sum is built from power-of-two partial sums
(``log2 k`` shifted adds per axis, exact like a direct sum, unlike a long cumulative sum in float32); other
kernels use ``k`` shifted multiply-adds per axis instead of MONAI's three grouped convolutions per map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

__all__ = [
    "KERNEL_TYPES",
    "KernelType",
    "Reduction",
    "make_kernel_1d",
    "LNCCWindow",
    "make_window",
    "window_sum",
    "check_image_pair",
    "lncc_loss",
    "global_ncc_loss",
]

KernelType = Literal["rectangular", "triangular", "gaussian"]
Reduction = Literal["mean", "sum", "none"]
KERNEL_TYPES: tuple[KernelType, ...] = ("rectangular", "triangular", "gaussian")


def make_kernel_1d(kernel_type: KernelType, kernel_size: int) -> tuple[float, ...]:
    """The 1-D window of LNCC, as MONAI builds it (computed in float32, so float64 parity is exact).

    ``rectangular``: ones; ``triangular``: a box of ``f = (k+1)//2`` (made odd) convolved with itself, over
    ``f^2`` (zero taps at the ends when ``f`` had to be reduced; ``k=3`` is a single tap); ``gaussian``:
    ``exp(-x^2 / (2 sigma^2))`` with ``sigma = k / 3``, unnormalised.
    """
    check_choice("lncc", "kernel_type", kernel_type, KERNEL_TYPES)
    k = kernel_size
    if kernel_type == "rectangular":
        kernel = torch.ones(k)
    elif kernel_type == "triangular":
        f = (k + 1) // 2
        if f % 2 == 0:
            f -= 1
        box = torch.ones((1, 1, f), dtype=torch.float).div(f)
        kernel = torch.nn.functional.conv1d(box, box, padding=(k - f) // 2 + f // 2).reshape(-1)
    else:
        sigma = k / 3.0
        x = torch.arange(-(k // 2), k // 2 + 1, dtype=torch.float)
        kernel = torch.exp(-0.5 / (sigma * sigma) * x**2)
    return tuple(float(v) for v in kernel.tolist())


def _kernel_volume(kernel: tuple[float, ...], nd: int) -> float:
    """Sum of the separable ``nd``-D window, accumulated in float32 like MONAI's ``kernel_vol``."""
    k = torch.tensor(kernel, dtype=torch.float)
    vol = k
    for _ in range(nd - 1):
        vol = torch.matmul(vol.unsqueeze(-1), k.unsqueeze(0))
    return float(vol.sum())


class LNCCWindow(NamedTuple):
    """A precomputed LNCC window: the 1-D taps (None for the rectangular box) and its volume for 1, 2, 3 dims."""

    kernel_size: int
    kernel: tuple[float, ...] | None
    volumes: tuple[float, float, float]


def make_window(kernel_type: KernelType, kernel_size: int) -> LNCCWindow:
    """Build the window once (modules do it in ``__init__``): the taps are host values, so building them
    inside a ``torch.compile``d forward would break the graph."""
    if kernel_type == "rectangular":
        return LNCCWindow(kernel_size, None, (float(kernel_size), float(kernel_size) ** 2, float(kernel_size) ** 3))
    kernel = make_kernel_1d(kernel_type, kernel_size)
    volumes = (_kernel_volume(kernel, 1), _kernel_volume(kernel, 2), _kernel_volume(kernel, 3))
    return LNCCWindow(kernel_size, kernel, volumes)


def _pad_axis(x: Tensor, axis: int, left: int, right: int) -> Tensor:
    pad = [0, 0] * (x.dim() - axis)
    pad[-2], pad[-1] = left, right
    return torch.nn.functional.pad(x, pad)


def _box_axis(x: Tensor, axis: int, k: int) -> Tensor:
    """Zero-padded sliding sum of width ``k`` (odd) along ``axis``, same length, from power-of-two partial
    sums: ``s_{2m}[i] = s_m[i] + s_m[i + m]``, then the binary digits of ``k`` are added at their offsets."""
    if k == 1:
        return x.clone()  # a custom Function must not return its input
    n, r = x.shape[axis], k // 2
    p = _pad_axis(x, axis, r, r)
    # k odd >= 3 has bit 0 and a higher bit set: ``out`` is always a new tensor, never a view of ``p``
    out = p.narrow(axis, 0, n)
    offset, width, partial, bits = 1, 1, p, k >> 1
    while bits:
        m = partial.shape[axis] - width
        partial = partial.narrow(axis, 0, m) + partial.narrow(axis, width, m)
        width *= 2
        if bits & 1:
            out = out + partial.narrow(axis, offset, n)
            offset += width
        bits >>= 1
    return out


def _weighted_axis(x: Tensor, axis: int, kernel: Sequence[float]) -> Tensor:
    """Zero-padded correlation with a 1-D ``kernel`` along ``axis`` (same length), skipping zero taps."""
    n, r = x.shape[axis], len(kernel) // 2
    p = _pad_axis(x, axis, r, r)
    out = torch.zeros_like(x)
    for j, w in enumerate(kernel):
        if w != 0.0:
            out.add_(p.narrow(axis, j, n), alpha=w)
    return out


def _filter(x: Tensor, kernel: tuple[float, ...] | None, k: int, axes: Sequence[int]) -> Tensor:
    for axis in axes:
        x = _box_axis(x, axis, k) if kernel is None else _weighted_axis(x, axis, kernel)
    return x


class _WindowSum(torch.autograd.Function):
    """Separable zero-padded window sum; the backward applies the flipped kernel (the same for symmetric
    windows), so autograd keeps no shifted copies of the input."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: Tensor,
        kernel: tuple[float, ...] | None,
        k: int,
        axes: tuple[int, ...],
    ) -> Tensor:
        ctx.kernel, ctx.k, ctx.axes = kernel, k, axes  # type: ignore[attr-defined]
        return _filter(x, kernel, k, axes)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor | None, None, None, None]:
        kernel = ctx.kernel  # type: ignore[attr-defined]
        flipped = None if kernel is None else tuple(reversed(kernel))
        return _filter(grad.contiguous(), flipped, ctx.k, ctx.axes), None, None, None  # type: ignore[attr-defined]


def window_sum(
    x: Tensor, kernel_size: int, kernel_type: KernelType = "rectangular", spatial_dims: int | None = None
) -> Tensor:
    """Weighted window sums over the trailing ``spatial_dims`` axes of ``x`` (zero padding, same shape), with
    LNCC's separable window (:func:`make_kernel_1d`). Differentiable; equals MONAI's ``separable_filtering``."""
    nd = x.dim() - 2 if spatial_dims is None else spatial_dims
    kernel = None if kernel_type == "rectangular" else make_kernel_1d(kernel_type, kernel_size)
    dims = tuple(range(x.dim() - nd, x.dim()))
    out: Tensor = _WindowSum.apply(x, kernel, kernel_size, dims)  # type: ignore[no-untyped-call]
    return out


def check_image_pair(name: str, input: Tensor, target: Tensor, spatial_dims: int | None = None) -> int:
    """Validate a (B, C, *spatial) image pair with 1 to 3 spatial dims; return the number of spatial dims."""
    check_float(name, "input", input, "(B, C, *spatial)")
    check_float(name, "target", target, "(B, C, *spatial)")
    check_same_shape(name, input, target)
    nd = input.dim() - 2
    if spatial_dims is not None and nd != spatial_dims:
        raise LossInputError(
            f"{name}: configured for spatial_dims={spatial_dims}, expected input (B, C{', *' * spatial_dims}) "
            f"with {spatial_dims + 2} dims, got {shape_str(input)}"
        )
    if nd not in (1, 2, 3):
        raise LossInputError(
            f"{name}: expected input (B, C, *spatial) with 1 to 3 spatial dims, got {shape_str(input)}"
        )
    return nd


@float32_loss
def lncc_loss(
    input: Tensor,
    target: Tensor,
    *,
    spatial_dims: int | None = None,
    kernel_size: int = 3,
    kernel_type: KernelType = "rectangular",
    squared: bool = True,
    smooth_nr: float = 0.0,
    smooth_dr: float = 1e-5,
    reduction: Reduction = "mean",
    window: LNCCWindow | None = None,
) -> Tensor:
    """Local normalised cross-correlation, negated (see :class:`losskit.zoo.image_registration.LNCCLoss`).

    With window weights ``w`` of volume ``V = sum w``, per voxel: ``S_x = sum_w x``,
    ``cross = S_tp - S_t S_p / V``, ``var_x = max(S_xx - S_x^2 / V, smooth_dr)``;
    ``squared``: ``ncc = (cross^2 + smooth_nr) / (var_t var_p)``, else ``(cross + smooth_nr) / sqrt(var_t var_p)``.
    Returns ``-ncc`` reduced ("none": (B, C, *spatial)). ``window``: a :func:`make_window` result that
    replaces ``kernel_size``/``kernel_type`` (precomputed, for ``torch.compile``). An empty batch gives 0.
    """
    nd = check_image_pair("lncc", input, target, spatial_dims)
    check_reduction("lncc", reduction)
    if window is None:
        check_choice("lncc", "kernel_type", kernel_type, KERNEL_TYPES)
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"lncc: kernel_size must be a positive odd integer, got {kernel_size!r}")
        window = make_window(kernel_type, kernel_size)
    kernel_size, kernel, vol = window.kernel_size, window.kernel, window.volumes[nd - 1]
    dtype = acc_dtype(input)
    p, t = input.to(dtype), target.to(dtype)
    stacked = torch.stack((t, p, t * t, p * p, t * p))  # one filter pass over the five maps
    # explicit leading size: a -1 is ambiguous for an empty batch
    flat = stacked.reshape(stacked.shape[:3].numel(), *stacked.shape[-nd:])
    flat_sums: Tensor = _WindowSum.apply(flat, kernel, kernel_size, tuple(range(1, nd + 1)))  # type: ignore[no-untyped-call]
    sums = flat_sums.reshape(stacked.shape)
    t_sum, p_sum, t2_sum, p2_sum, tp_sum = sums.unbind(0)
    cross = tp_sum - p_sum * t_sum / vol
    # clamp_min keeps NaN (NaN in, NaN out) and floors a flat window's zero variance
    t_var = (t2_sum - t_sum * t_sum / vol).clamp_min(smooth_dr)
    p_var = (p2_sum - p_sum * p_sum / vol).clamp_min(smooth_dr)
    if squared:
        ncc = (cross * cross + smooth_nr) / (t_var * p_var)
    else:
        ncc = (cross + smooth_nr) * torch.rsqrt(t_var * p_var)
    return reduce(ncc.neg(), reduction)


@float32_loss
def global_ncc_loss(input: Tensor, target: Tensor, *, eps: float = 1e-8, reduction: Reduction = "mean") -> Tensor:
    """Global (whole-image) normalised cross-correlation per sample and channel, negated.

    ``ncc = mean(dt dp) / sqrt((mean(dt^2) + eps) (mean(dp^2) + eps))`` with ``dx = x - mean(x)`` over the
    spatial dims; a constant image gives ``ncc = 0``. "none": (B, C). An empty batch gives 0.
    """
    check_float("ncc", "input", input, "(B, C, *spatial)")
    check_same_shape("ncc", input, target)
    check_reduction("ncc", reduction)
    if input.dim() < 3 or input.shape[2:].numel() == 0:
        raise LossInputError(
            f"ncc: expected input (B, C, *spatial) with at least one spatial dim, got {shape_str(input)}"
        )
    if not eps >= 0:
        raise ValueError(f"ncc: eps must be >= 0, got {eps!r}")
    dtype = acc_dtype(input)
    p, t = input.to(dtype).flatten(2), target.to(dtype).flatten(2)
    dp = p - p.mean(-1, keepdim=True)  # centring first keeps the variance exact (no E[x^2] - E[x]^2)
    dt = t - t.mean(-1, keepdim=True)
    cov = (dp * dt).mean(-1)
    denom = ((dp * dp).mean(-1) + eps) * ((dt * dt).mean(-1) + eps)
    return reduce((cov * torch.rsqrt(denom)).neg(), reduction)
