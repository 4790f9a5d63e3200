"""Image similarity for registration: local NCC, global NCC, Parzen-window mutual information, soft Dice.

Every function takes two images of the same shape, ``input`` (the warped moving image) and ``target`` (the
fixed image), laid out (B, C, *spatial) with 1 to 3 spatial dims, and returns a quantity to *minimise*
(negated similarity). Everything is computed with autocast off, in float32 (float64 stays float64), so
fp16/bf16 inputs give finite values; the result is float32 (or float64).

Speed and memory, compared with MONAI 1.6:

* ``lncc_loss`` filters the five maps t, p, t², p², tp as one stacked tensor with a custom autograd function
  whose backward is the same filter (the kernels are symmetric, the zero-padded correlation is self-adjoint).
  The rectangular window sum is built from power-of-two partial sums (``log2 k`` shifted adds per axis,
  exact like a direct sum, unlike a long cumulative sum in float32); other kernels use ``k`` shifted
  multiply-adds per axis instead of MONAI's three grouped convolutions per map.
* ``mutual_information_loss`` builds the joint histogram in chunks of voxels with a custom backward that
  recomputes each chunk's weights,
  so only one (B, chunk, bins) weight tensor is alive at a time instead of MONAI's (B, N_vox, bins) tensors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_same_shape, shape_str
from ._reduce import acc_dtype, reduce

__all__ = [
    "KERNEL_TYPES",
    "MI_KERNEL_TYPES",
    "MI_CHUNK_ELEMENTS",
    "make_kernel_1d",
    "LNCCWindow",
    "make_window",
    "window_sum",
    "check_image_pair",
    "lncc_loss",
    "global_ncc_loss",
    "mutual_information_loss",
    "soft_dice_loss",
]

KERNEL_TYPES = ("rectangular", "triangular", "gaussian")
MI_KERNEL_TYPES = ("gaussian", "b-spline")
# Elements of one (B, chunk, bins) Parzen weight tensor of the MI joint histogram (2 MiB in float32): big enough
# that per-op overhead (and thread synchronisation) stays small, small enough to keep the peak low.
MI_CHUNK_ELEMENTS = 1 << 19


@contextlib.contextmanager
def _no_autocast(t: Tensor) -> Iterator[None]:
    with torch.autocast(t.device.type, enabled=False):
        yield


def make_kernel_1d(kernel_type: str, kernel_size: int) -> tuple[float, ...]:
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


def make_window(kernel_type: str, kernel_size: int) -> LNCCWindow:
    """Build the window once (modules do it in ``__init__``): the taps are host values, so building them
    inside a ``torch.compile``d forward would break the graph."""
    if kernel_type == "rectangular":
        return LNCCWindow(kernel_size, None, (float(kernel_size), float(kernel_size) ** 2, float(kernel_size) ** 3))
    kernel = make_kernel_1d(kernel_type, kernel_size)
    return LNCCWindow(kernel_size, kernel, (_kernel_volume(kernel, 1), _kernel_volume(kernel, 2), _kernel_volume(kernel, 3)))


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
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, kernel: tuple[float, ...] | None, k: int, axes: tuple[int, ...]) -> Tensor:  # type: ignore[override]
        ctx.kernel, ctx.k, ctx.axes = kernel, k, axes  # type: ignore[attr-defined]
        return _filter(x, kernel, k, axes)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor | None, None, None, None]:  # type: ignore[override]
        kernel = ctx.kernel  # type: ignore[attr-defined]
        flipped = None if kernel is None else tuple(reversed(kernel))
        return _filter(grad.contiguous(), flipped, ctx.k, ctx.axes), None, None, None  # type: ignore[attr-defined]


def window_sum(x: Tensor, kernel_size: int, kernel_type: str = "rectangular", spatial_dims: int | None = None) -> Tensor:
    """Weighted window sums over the trailing ``spatial_dims`` axes of ``x`` (zero padding, same shape), with
    LNCC's separable window (:func:`make_kernel_1d`). Differentiable; equals MONAI's ``separable_filtering``."""
    nd = x.dim() - 2 if spatial_dims is None else spatial_dims
    kernel = None if kernel_type == "rectangular" else make_kernel_1d(kernel_type, kernel_size)
    return _WindowSum.apply(x, kernel, kernel_size, tuple(range(x.dim() - nd, x.dim())))


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
        raise LossInputError(f"{name}: expected input (B, C, *spatial) with 1 to 3 spatial dims, got {shape_str(input)}")
    return nd


def lncc_loss(
    input: Tensor,
    target: Tensor,
    *,
    spatial_dims: int | None = None,
    kernel_size: int = 3,
    kernel_type: str = "rectangular",
    squared: bool = True,
    smooth_nr: float = 0.0,
    smooth_dr: float = 1e-5,
    reduction: str = "mean",
    window: LNCCWindow | None = None,
) -> Tensor:
    """Local normalised cross-correlation, negated (see :class:`losskit.zoo.registration.LNCCLoss`).

    With window weights ``w`` of volume ``V = sum w``, per voxel: ``S_x = sum_w x``,
    ``cross = S_tp - S_t S_p / V``, ``var_x = max(S_xx - S_x^2 / V, smooth_dr)``;
    ``squared``: ``ncc = (cross^2 + smooth_nr) / (var_t var_p)``, else ``(cross + smooth_nr) / sqrt(var_t var_p)``.
    Returns ``-ncc`` reduced ("none": (B, C, *spatial)). ``window``: a :func:`make_window` result that
    replaces ``kernel_size``/``kernel_type`` (precomputed, for ``torch.compile``).
    """
    nd = check_image_pair("lncc", input, target, spatial_dims)
    check_reduction("lncc", reduction)
    if window is None:
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise LossInputError(f"lncc: kernel_size must be a positive odd number, got {kernel_size}")
        window = make_window(kernel_type, kernel_size)
    kernel_size, kernel, vol = window.kernel_size, window.kernel, window.volumes[nd - 1]
    with _no_autocast(input):
        dtype = acc_dtype(input)
        p, t = input.to(dtype), target.to(dtype)
        stacked = torch.stack((t, p, t * t, p * p, t * p))  # one filter pass over the five maps
        flat = stacked.reshape(-1, *stacked.shape[-nd:])
        sums = _WindowSum.apply(flat, kernel, kernel_size, tuple(range(1, nd + 1))).reshape(stacked.shape)
        t_sum, p_sum, t2_sum, p2_sum, tp_sum = sums.unbind(0)
        cross = tp_sum - p_sum * t_sum / vol
        t_var = (t2_sum - t_sum * t_sum / vol).clamp_min(smooth_dr)
        p_var = (p2_sum - p_sum * p_sum / vol).clamp_min(smooth_dr)
        if squared:
            ncc = (cross * cross + smooth_nr) / (t_var * p_var)
        else:
            ncc = (cross + smooth_nr) * torch.rsqrt(t_var * p_var)
        return reduce(ncc.neg(), reduction)


def global_ncc_loss(input: Tensor, target: Tensor, *, eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """Global (whole-image) normalised cross-correlation per sample and channel, negated.

    ``ncc = mean(dt dp) / sqrt((mean(dt^2) + eps) (mean(dp^2) + eps))`` with ``dx = x - mean(x)`` over the
    spatial dims; a constant image gives ``ncc = 0``. "none": (B, C).
    """
    check_float("ncc", "input", input, "(B, C, *spatial)")
    check_same_shape("ncc", input, target)
    check_reduction("ncc", reduction)
    if input.dim() < 3:
        raise LossInputError(f"ncc: expected input (B, C, *spatial) with at least one spatial dim, got {shape_str(input)}")
    with _no_autocast(input):
        dtype = acc_dtype(input)
        p, t = input.to(dtype).flatten(2), target.to(dtype).flatten(2)
        dp = p - p.mean(-1, keepdim=True)  # centring first keeps the variance exact (no E[x^2] - E[x]^2)
        dt = t - t.mean(-1, keepdim=True)
        cov = (dp * dt).mean(-1)
        denom = ((dp * dp).mean(-1) + eps) * ((dt * dt).mean(-1) + eps)
        return reduce((cov * torch.rsqrt(denom)).neg(), reduction)


def _bspline3(d: Tensor) -> Tensor:
    """Cubic B-spline of ``d = |x - bin| >= 0``: (4 - 6d² + 3d³)/6 on [0, 1), (2 - d)³/6 on [1, 2), else 0."""
    inner = (4 - 6 * d**2 + 3 * d**3) / 6
    outer = (2 - d).clamp_min(0) ** 3 / 6
    return torch.where(d < 1, inner, outer)


def _parzen(x: Tensor, kernel_type: str, num_bins: int, preterm: float, order: int) -> Tensor:
    """Normalised Parzen weights (B, n, num_bins) of bin coordinates ``x`` (B, n) (gaussian: intensities
    already in [0, 1]; b-spline: continuous bin index)."""
    bins = torch.arange(num_bins, device=x.device, dtype=x.dtype)
    if kernel_type == "gaussian":
        centres = bins / max(num_bins - 1, 1)
        w = torch.exp(-preterm * (x.unsqueeze(-1) - centres) ** 2)
    else:
        d = (bins - x.unsqueeze(-1)).abs()
        w = _bspline3(d) if order == 3 else (d < 0.5).to(x.dtype) + (d == 0.5).to(x.dtype) * 0.5
    return w / w.sum(-1, keepdim=True)


def _histogram_chunk(a: Tensor, b: Tensor, kernel_type: str, num_bins: int, preterm: float) -> Tensor:
    """(B, bins + 1, bins + 1): the unnormalised joint histogram in [:, :bins, :bins], the marginal sums in
    the last row/column (one bmm gives all three)."""
    wa = _parzen(a, kernel_type, num_bins, preterm, order=3)
    wb = _parzen(b, kernel_type, num_bins, preterm, order=0)
    ones = wa.new_ones(wa.shape[0], wa.shape[1], 1)
    return torch.bmm(torch.cat((wa, ones), -1).transpose(1, 2), torch.cat((wb, ones), -1))


def _joint_histogram(a: Tensor, b: Tensor, kernel_type: str, num_bins: int, preterm: float, chunk: int) -> Tensor:
    hist = _histogram_chunk(a[:, :chunk], b[:, :chunk], kernel_type, num_bins, preterm)
    for s in range(chunk, a.shape[1], chunk):
        # in place: no per-chunk allocation survives the iteration (keeps the allocator from fragmenting)
        hist = hist.add_(_histogram_chunk(a[:, s : s + chunk], b[:, s : s + chunk], kernel_type, num_bins, preterm))
    return hist


class _ChunkedJointHistogram(torch.autograd.Function):
    """The (B, bins + 1, bins + 1) histogram of :func:`_histogram_chunk` summed over voxel chunks, without
    keeping any (B, N, bins) tensor: the backward recomputes each chunk's Parzen weights and back-propagates
    through them alone (custom checkpointing with one preallocated gradient buffer per input)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, a: Tensor, b: Tensor, kernel_type: str, num_bins: int, preterm: float, chunk: int
    ) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.options = (kernel_type, num_bins, preterm, chunk)  # type: ignore[attr-defined]
        return _joint_histogram(a, b, kernel_type, num_bins, preterm, chunk)

    @staticmethod
    @once_differentiable  # the per-chunk autograd.grad below builds no graph: refuse double backward loudly
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        a, b = ctx.saved_tensors  # type: ignore[attr-defined]
        kernel_type, num_bins, preterm, chunk = ctx.options  # type: ignore[attr-defined]
        need_a, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1]  # type: ignore[attr-defined]
        ga = torch.zeros_like(a) if need_a else None
        gb = torch.zeros_like(b) if need_b else None
        g_joint = grad[:, :num_bins, :num_bins]
        for s in range(0, a.shape[1], chunk):
            with torch.enable_grad():
                ac = a[:, s : s + chunk].detach().requires_grad_(need_a)
                bc = b[:, s : s + chunk].detach().requires_grad_(need_b)
                wa = _parzen(ac, kernel_type, num_bins, preterm, order=3)
                wb = _parzen(bc, kernel_type, num_bins, preterm, order=0)
            outputs, grads, inputs = [], [], []
            # d hist[i, j] / d wa[v, i] = wb[v, j] (with wb's implicit trailing 1), and symmetrically for wb
            if need_a and wa.requires_grad:
                outputs.append(wa)
                grads.append(torch.bmm(wb.detach(), g_joint.transpose(1, 2)) + grad[:, :num_bins, num_bins].unsqueeze(1))
                inputs.append(ac)
            if need_b and wb.requires_grad:
                outputs.append(wb)
                grads.append(torch.bmm(wa.detach(), g_joint) + grad[:, num_bins, :num_bins].unsqueeze(1))
                inputs.append(bc)
            if outputs:
                for target, g in zip(inputs, torch.autograd.grad(outputs, inputs, grads)):
                    (ga if target is ac else gb)[:, s : s + chunk] = g  # type: ignore[index]
        return ga, gb, None, None, None, None


def mutual_information_loss(
    input: Tensor,
    target: Tensor,
    *,
    kernel_type: str = "gaussian",
    num_bins: int = 23,
    sigma_ratio: float = 0.5,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    smooth_nr: float = 1e-7,
    smooth_dr: float = 1e-7,
    reduction: str = "mean",
    chunk_size: int | None = None,
) -> Tensor:
    """Global mutual information by Parzen windowing, negated (see
    :class:`losskit.zoo.registration.MutualInformationLoss` for the formula and the deviations from MONAI).

    Inputs (B, *) of the same shape; every voxel of a sample (all channels) is one intensity pair.
    "none": (B,).
    """
    check_float("mutual_information", "input", input, "(B, *)")
    check_float("mutual_information", "target", target, "(B, *)")
    check_same_shape("mutual_information", input, target)
    check_reduction("mutual_information", reduction)
    check_choice("mutual_information", "kernel_type", kernel_type, MI_KERNEL_TYPES)
    if input.dim() < 2 or input[0].numel() == 0:
        raise LossInputError(f"mutual_information: expected a non-empty input (B, *), got {shape_str(input)}")
    with _no_autocast(input):
        dtype = acc_dtype(input)
        a, b = input.to(dtype).flatten(1), target.to(dtype).flatten(1)
        n = a.shape[1]
        chunk = chunk_size or max(1024, MI_CHUNK_ELEMENTS // (a.shape[0] * (num_bins + 1)))
        preterm = 0.0
        if kernel_type == "gaussian":
            a, b = _unit_range(a, value_range), _unit_range(b, value_range)
            sigma = sigma_ratio / max(num_bins - 1, 1)
            preterm = 1.0 / (2.0 * sigma * sigma)
        else:
            a, b = _bspline_bins(a, num_bins), _bspline_bins(b, num_bins)
        track = torch.is_grad_enabled() and (a.requires_grad or b.requires_grad)
        if n > chunk and track:
            # Weights recomputed chunk by chunk in backward: peak memory is one chunk, not (B, N, bins).
            hist = _ChunkedJointHistogram.apply(a, b, kernel_type, num_bins, preterm, chunk)
        else:
            hist = _joint_histogram(a, b, kernel_type, num_bins, preterm, chunk)
        hist = hist / n
        pab, pa, pb = hist[:, :num_bins, :num_bins], hist[:, :num_bins, num_bins], hist[:, num_bins, :num_bins]
        papb = pa.unsqueeze(2) * pb.unsqueeze(1)
        mi = (pab * torch.log((pab + smooth_nr) / (papb + smooth_dr) + smooth_dr)).sum((1, 2))
        return reduce(mi.neg(), reduction)


def _unit_range(x: Tensor, value_range: tuple[float, float] | None) -> Tensor:
    """Map intensities to [0, 1]: clamp to ``value_range`` (MONAI: (0, 1)), or per-sample min-max when None."""
    if value_range is None:
        lo, hi = x.amin(1, keepdim=True), x.amax(1, keepdim=True)
        span = hi - lo
        return (x - lo) / torch.where(span > 0, span, torch.ones_like(span))
    lo_f, hi_f = float(value_range[0]), float(value_range[1])
    if lo_f == 0.0 and hi_f == 1.0:
        return x.clamp(0.0, 1.0)
    return ((x - lo_f) / (hi_f - lo_f)).clamp(0.0, 1.0)


def _bspline_bins(x: Tensor, num_bins: int) -> Tensor:
    """Continuous bin index in [2, num_bins - 3] from the *per-sample* min/max, with 2 padding bins each side
    (Mattes); a constant sample maps to bin 2 instead of 0/0."""
    lo, hi = x.amin(1, keepdim=True), x.amax(1, keepdim=True)
    span = hi - lo
    bin_size = torch.where(span > 0, span, torch.ones_like(span)) / (num_bins - 4)
    return ((x - lo) / bin_size + 2).clamp(2, num_bins - 3)


def soft_dice_loss(input: Tensor, target: Tensor, *, epsilon: float = 1e-5, smooth_nr: float | None = None) -> Tensor:
    """Soft Dice over the whole batch (seed 002's ``DiceSmoothLoss``):
    ``1 - (2 sum(p t) + nr) / (sum p + sum t + eps)``, ``nr = epsilon`` unless ``smooth_nr`` is given."""
    nr = epsilon if smooth_nr is None else smooth_nr
    with _no_autocast(input):
        dtype = acc_dtype(input)
        p, t = input.to(dtype), target.to(dtype)
        inter = (p * t).sum(dtype=dtype)
        union = p.sum(dtype=dtype) + t.sum(dtype=dtype)
        return 1.0 - (2.0 * inter + nr) / (union + epsilon)
