"""Global mutual information by Parzen windowing, for (multimodal) image registration (negated, to minimise).

Follows the zoo's autocast rule (:func:`~losskit.functional._precision.float32_loss`): float32 with autocast
off (float64 stays float64). Memory, compared with MONAI 1.6: the joint histogram is built in chunks of
voxels with a custom backward that recomputes each chunk's weights, so only one (B, chunk, bins) weight
tensor is alive at a time instead of MONAI's (B, N_vox, bins) tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

__all__ = ["MI_KERNEL_TYPES", "MIKernelType", "MI_CHUNK_ELEMENTS", "mutual_information_loss"]

MIKernelType = Literal["gaussian", "b-spline"]
MI_KERNEL_TYPES: tuple[MIKernelType, ...] = ("gaussian", "b-spline")
# Elements of one (B, chunk, bins) Parzen weight tensor of the MI joint histogram (2 MiB in float32): big enough
# that per-op overhead (and thread synchronisation) stays small, small enough to keep the peak low.
MI_CHUNK_ELEMENTS = 1 << 19


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


#: Parzen weights (B, n) -> (B, n, bins) of one image; the chunked histogram takes one per image (``nmi`` too).
ParzenWeights = Callable[[Tensor], Tensor]


def _histogram_chunk(a: Tensor, b: Tensor, weights_a: ParzenWeights, weights_b: ParzenWeights) -> Tensor:
    """(B, bins + 1, bins + 1): the unnormalised joint histogram in [:, :bins, :bins], the marginal sums in
    the last row/column (one bmm gives all three)."""
    wa, wb = weights_a(a), weights_b(b)
    ones = wa.new_ones(wa.shape[0], wa.shape[1], 1)
    return torch.bmm(torch.cat((wa, ones), -1).transpose(1, 2), torch.cat((wb, ones), -1))


def _joint_histogram(a: Tensor, b: Tensor, weights_a: ParzenWeights, weights_b: ParzenWeights, chunk: int) -> Tensor:
    hist = _histogram_chunk(a[:, :chunk], b[:, :chunk], weights_a, weights_b)
    for s in range(chunk, a.shape[1], chunk):
        # in place: no per-chunk allocation survives the iteration (keeps the allocator from fragmenting)
        hist = hist.add_(_histogram_chunk(a[:, s : s + chunk], b[:, s : s + chunk], weights_a, weights_b))
    return hist


class _ChunkedJointHistogram(torch.autograd.Function):
    """The (B, bins + 1, bins + 1) histogram of :func:`_histogram_chunk` summed over voxel chunks, without
    keeping any (B, N, bins) tensor: the backward recomputes each chunk's Parzen weights and back-propagates
    through them alone (custom checkpointing with one preallocated gradient buffer per input)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        a: Tensor,
        b: Tensor,
        weights_a: ParzenWeights,
        weights_b: ParzenWeights,
        chunk: int,
    ) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.options = (weights_a, weights_b, chunk)  # type: ignore[attr-defined]
        return _joint_histogram(a, b, weights_a, weights_b, chunk)

    @staticmethod
    @once_differentiable  # the per-chunk autograd.grad below builds no graph: refuse double backward loudly
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors  # type: ignore[attr-defined]
        weights_a, weights_b, chunk = ctx.options  # type: ignore[attr-defined]
        num_bins = grad.shape[-1] - 1
        need_a, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1]  # type: ignore[attr-defined]
        ga = torch.zeros_like(a) if need_a else None
        gb = torch.zeros_like(b) if need_b else None
        g_joint = grad[:, :num_bins, :num_bins]
        for s in range(0, a.shape[1], chunk):
            with torch.enable_grad():
                ac = a[:, s : s + chunk].detach().requires_grad_(need_a)
                bc = b[:, s : s + chunk].detach().requires_grad_(need_b)
                wa, wb = weights_a(ac), weights_b(bc)
            outputs, grads, inputs = [], [], []
            # d hist[i, j] / d wa[v, i] = wb[v, j] (with wb's implicit trailing 1), and symmetrically for wb
            if need_a and wa.requires_grad:
                outputs.append(wa)
                grads.append(
                    torch.bmm(wb.detach(), g_joint.transpose(1, 2)) + grad[:, :num_bins, num_bins].unsqueeze(1)
                )
                inputs.append(ac)
            if need_b and wb.requires_grad:
                outputs.append(wb)
                grads.append(torch.bmm(wa.detach(), g_joint) + grad[:, num_bins, :num_bins].unsqueeze(1))
                inputs.append(bc)
            if outputs:
                for target, g in zip(inputs, torch.autograd.grad(outputs, inputs, grads), strict=True):
                    (ga if target is ac else gb)[:, s : s + chunk] = g  # type: ignore[index]
        return ga, gb, None, None, None


@float32_loss
def mutual_information_loss(
    input: Tensor,
    target: Tensor,
    *,
    kernel_type: MIKernelType = "gaussian",
    num_bins: int = 23,
    sigma_ratio: float = 0.5,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    smooth_nr: float = 1e-7,
    smooth_dr: float = 1e-7,
    reduction: Literal["mean", "sum", "none"] = "mean",
    chunk_size: int | None = None,
) -> Tensor:
    """Global mutual information by Parzen windowing, negated (see
    :class:`losskit.zoo.image_registration.MutualInformationLoss` for the formula and the deviations from
    MONAI).

    Inputs (B, *) of the same shape; every voxel of a sample (all channels) is one intensity pair.
    "none": (B,). An empty batch gives 0 ("none": an empty (0,)).
    """
    name = "mutual_information"
    check_float(name, "input", input, "(B, *)")
    check_float(name, "target", target, "(B, *)")
    check_same_shape(name, input, target)
    check_reduction(name, reduction)
    check_choice(name, "kernel_type", kernel_type, MI_KERNEL_TYPES)
    minimum = 5 if kernel_type == "b-spline" else 2
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < minimum:
        raise ValueError(f"{name}: num_bins must be an integer >= {minimum} for {kernel_type}, got {num_bins!r}")
    if input.dim() < 2 or input.shape[1:].numel() == 0:
        raise LossInputError(f"{name}: expected a non-empty sample shape (B, *), got {shape_str(input)}")
    dtype = acc_dtype(input)
    a, b = input.to(dtype).flatten(1), target.to(dtype).flatten(1)
    if a.shape[0] == 0:  # empty batch: 0, still connected to the graph
        return reduce((a.sum(1) + b.sum(1)) * 0.0, reduction)
    n = a.shape[1]
    # under torch.compile the chunk ignores the batch size, so that a new batch size keeps the graph (the loop
    # over chunks is unrolled); eagerly it bounds the (B, chunk, bins) weights whatever B is
    rows = 1 if torch.compiler.is_compiling() else a.shape[0]
    chunk = chunk_size or max(1024, MI_CHUNK_ELEMENTS // (rows * (num_bins + 1)))
    preterm = 0.0
    if kernel_type == "gaussian":
        a, b = _unit_range(a, value_range), _unit_range(b, value_range)
        sigma = sigma_ratio / max(num_bins - 1, 1)
        preterm = 1.0 / (2.0 * sigma * sigma)
    else:
        a, b = _bspline_bins(a, num_bins), _bspline_bins(b, num_bins)
    weights_a = partial(_parzen, kernel_type=kernel_type, num_bins=num_bins, preterm=preterm, order=3)
    weights_b = partial(_parzen, kernel_type=kernel_type, num_bins=num_bins, preterm=preterm, order=0)
    hist = chunked_joint_histogram(a, b, weights_a, weights_b, chunk)
    hist = hist / n
    pab, pa, pb = hist[:, :num_bins, :num_bins], hist[:, :num_bins, num_bins], hist[:, num_bins, :num_bins]
    papb = pa.unsqueeze(2) * pb.unsqueeze(1)
    mi = (pab * torch.log((pab + smooth_nr) / (papb + smooth_dr) + smooth_dr)).sum((1, 2))
    return reduce(mi.neg(), reduction)


def chunked_joint_histogram(
    a: Tensor, b: Tensor, weights_a: ParzenWeights, weights_b: ParzenWeights, chunk: int
) -> Tensor:
    """The (B, bins + 1, bins + 1) histogram of :func:`_histogram_chunk` of flat (B, N) ``a`` and ``b``; when a
    gradient is tracked and N > ``chunk``, through :class:`_ChunkedJointHistogram` (peak memory one chunk of
    weights, not (B, N, bins))."""
    track = torch.is_grad_enabled() and (a.requires_grad or b.requires_grad)
    if a.shape[1] > chunk and track:
        return _ChunkedJointHistogram.apply(a, b, weights_a, weights_b, chunk)  # type: ignore[no-untyped-call,no-any-return]
    return _joint_histogram(a, b, weights_a, weights_b, chunk)


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
