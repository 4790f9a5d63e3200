"""The SSIM statistics of :mod:`losskit.functional.image_quality` as one custom autograd function.

Why a custom function (speed and memory, issue 11): autograd through the windowed statistics keeps every
intermediate map of the SSIM formula and filters all five moment maps ``x, y, x^2, y^2, xy`` back. Here the
forward filters the five maps in one separable pass and keeps only the three (four when both images need a
gradient) per-pixel derivatives of the SSIM map with respect to the local statistics; the backward filters
those with the adjoint window and combines them with the images:

.. math::

    \\nabla_x = F^\\top g_{\\mu_x} + 2x\\, F^\\top g_{xx} + y\\, F^\\top g_{xy}

(``F`` the "valid" window filter, ``g_s = \\partial \\mathrm{SSIM} / \\partial s`` times the upstream gradient).
The values are those of the plain formula (the same filter and arithmetic); ``gradcheck`` covers the backward.

On CPU each 1-D pass is ``k`` shifted multiply-adds (no workspace; as fast as oneDNN's depthwise convolution
here, which pads the channels to blocks of 16); elsewhere a depthwise ``conv2d`` on a 4-D view of the maps.
Under ``torch.compile`` the forward and the backward are two opaque custom ops (``losskit::ssim_mean``,
``losskit::ssim_mean_backward``): the compiled step calls this kernel instead of tracing it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

__all__ = ["window_taps", "filter_valid", "filter_full", "ssim_mean"]

Kind = Literal["ssim", "cs"]


def window_taps(window: str, size: int, sigma: float) -> tuple[float, ...]:
    """The 1-D window as host floats: a box of ``size`` taps, or MONAI's and kornia's Gaussian (taps at integer
    offsets from the centre, normalised to sum 1). Host values: no device sync, and ``torch.compile`` sees
    constants."""
    if window == "uniform":
        return (1.0 / size,) * size
    offsets = [i - (size - 1) / 2 for i in range(size)]
    taps = [math.exp(-(d * d) / (2 * sigma * sigma)) for d in offsets]  # d * d: a traced pow of a negative fails
    total = sum(taps)
    return tuple(t / total for t in taps)


def _conv_axis(x: Tensor, axis: int, taps: Tensor, pad: int) -> Tensor:
    """Correlate (B, M, *spatial) with the 1-D ``taps`` along spatial ``axis``, zero-padded by ``pad`` on both
    sides (0: "valid"; ``k - 1``: "full", the adjoint of "valid"), as a depthwise ``conv2d`` on a 4-D view: the
    axis as the view's height, or its width for the last axis (a depth-only ``conv3d`` is slow)."""
    b, m, *spatial = x.shape
    k = taps.numel()
    if axis < len(spatial) - 1:  # (B, M * prod(before), n, prod(after))
        groups = m * math.prod(spatial[:axis])
        view = x.reshape(b, groups, spatial[axis], math.prod(spatial[axis + 1 :]))
        weight, padding = taps.reshape(1, 1, k, 1).expand(groups, 1, k, 1), (pad, 0)
    else:  # (B, M * prod(before the previous), previous, n)
        groups = m * math.prod(spatial[:-2])
        view = x.reshape(b, groups, spatial[-2] if len(spatial) > 1 else 1, spatial[-1])
        weight, padding = taps.reshape(1, 1, 1, k).expand(groups, 1, 1, k), (0, pad)
    out = F.conv2d(view, weight, padding=padding, groups=groups)
    spatial[axis] += 2 * pad - k + 1
    return out.reshape(b, m, *spatial)


def _shift_axis(x: Tensor, axis: int, taps: tuple[float, ...], adjoint: bool) -> Tensor:
    """The same correlation as ``k`` shifted multiply-adds along ``axis`` ("valid"; ``adjoint``: "full" with the
    taps reversed, written as a scatter of the taps into the longer output)."""
    k, dim = len(taps), axis + 2
    if adjoint:
        n = x.shape[dim]
        out = x.new_zeros(*x.shape[:dim], n + k - 1, *x.shape[dim + 1 :])
        for j, w in enumerate(taps):
            out.narrow(dim, j, n).add_(x, alpha=w)
        return out
    n = x.shape[dim] - k + 1
    out = x.narrow(dim, 0, n) * taps[0]
    for j in range(1, k):
        out.add_(x.narrow(dim, j, n), alpha=taps[j])
    return out


def _use_shifts(x: Tensor) -> bool:
    """CPU: shifted multiply-adds (oneDNN's depthwise convolution pads the channels to blocks of 16 in a
    workspace, up to 3x the map at one channel, and is not faster here); other devices: convolutions."""
    return x.device.type == "cpu"


def filter_valid(maps: Tensor, taps: tuple[float, ...]) -> Tensor:
    """Filter (B, M, *spatial) with the separable window ``taps`` along every spatial axis ("valid")."""
    if _use_shifts(maps):
        for axis in range(maps.dim() - 2):
            maps = _shift_axis(maps, axis, taps, adjoint=False)
        return maps
    w = torch.tensor(taps, dtype=maps.dtype, device=maps.device)
    for axis in range(maps.dim() - 2):
        maps = _conv_axis(maps, axis, w, 0)
    return maps


def filter_full(maps: Tensor, taps: tuple[float, ...]) -> Tensor:
    """The adjoint of :func:`filter_valid`: zero-padded by ``k - 1`` and correlated with the reversed taps."""
    if _use_shifts(maps):
        for axis in range(maps.dim() - 2):
            maps = _shift_axis(maps, axis, taps, adjoint=True)
        return maps
    w = torch.tensor(taps[::-1], dtype=maps.dtype, device=maps.device)
    for axis in range(maps.dim() - 2):
        maps = _conv_axis(maps, axis, w, len(taps) - 1)
    return maps


#: The stacked moment maps are built and filtered a few samples at a time, each slice at most this large (and
#: at least one sample), so the peak holds one slice's stack, not the whole batch's (5 maps of the input's size).
CHUNK_BYTES = 16 << 20


def _stacked(xs: Tensor, ys: Tensor) -> Tensor:
    """``[x, y, x^2, y^2, xy]`` stacked along the channels, (B, 5C, *spatial)."""
    c = xs.shape[1]
    maps = xs.new_empty(xs.shape[0], 5 * c, *xs.shape[2:])
    maps[:, :c] = xs
    maps[:, c : 2 * c] = ys
    torch.mul(xs, xs, out=maps[:, 2 * c : 3 * c])
    torch.mul(ys, ys, out=maps[:, 3 * c : 4 * c])
    torch.mul(xs, ys, out=maps[:, 4 * c :])
    return maps


def _moments(x: Tensor, y: Tensor, taps: tuple[float, ...]) -> Tensor:
    """The filtered ``[x, y, x^2, y^2, xy]`` stacked along the channels, (B, 5C, *valid)."""
    b = x.shape[0]
    # the batch goes in chunks: the peak holds one chunk's five maps
    step = max(1, CHUNK_BYTES // max(1, 5 * x[:1].numel() * x.element_size()))
    if step >= b:
        return filter_valid(_stacked(x, y), taps)
    valid = [s - len(taps) + 1 for s in x.shape[2:]]
    stats = x.new_empty(b, 5 * x.shape[1], *valid)
    for i in range(0, b, step):
        stats[i : i + step] = filter_valid(_stacked(x[i : i + step], y[i : i + step]), taps)
    return stats


def _forward(
    x: Tensor, y: Tensor, taps: tuple[float, ...], c1: float, c2: float, kind: str, need: tuple[bool, bool]
) -> tuple[Tensor, Tensor | None]:
    """The per-sample mean (B,) and, when an image needs a gradient, the stacked per-pixel derivatives of the map
    with respect to the local statistics ``[d_mu..., d_xx, d_xy]`` (what the backward filters)."""
    c = x.shape[1]
    stats = _moments(x, y, taps)
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.chunk(5, dim=1)
    mu_xy = mu_x * mu_y
    cs = e_xy.sub_(mu_xy).mul_(2).add_(c2)  # 2 cov + c2, divided by b2 below
    b2 = e_xx.sub_(mu_x.square()).add_(e_yy).sub_(mu_y.square()).add_(c2)  # var_x + var_y + c2
    cs.div_(b2)
    if kind == "ssim":
        b1 = mu_x.square().add_(mu_y.square()).add_(c1)
        lum = mu_xy.mul_(2).add_(c1).div_(b1)  # (2 mu_x mu_y + c1) / b1
        out_map = lum * cs
    else:
        del mu_xy
        out_map = cs
    out = out_map.flatten(1).mean(dim=1)
    if not any(need):
        return out, None
    # derivatives of the map w.r.t. mu_x and mu_y (those needed), E[x^2] (= E[y^2]'s) and E[xy], per pixel,
    # stacked [d_mu..., d_xx, d_xy]
    n_mu = sum(need)
    derivs = out_map.new_empty(out_map.shape[0], (n_mu + 2) * c, *out_map.shape[2:])
    parts = derivs.chunk(n_mu + 2, dim=1)
    inv_b2 = b2.reciprocal_()
    pairs = [ab for ab, needed in zip(((mu_y, mu_x), (mu_x, mu_y)), need, strict=True) if needed]
    for (a, b), d in zip(pairs, parts, strict=False):
        if kind == "ssim":  # 2 cs (a - lum b) / b1 + 2 lum (cs b - a) / b2, (a, b) = (mu_y, mu_x) for mu_x
            torch.addcmul(a, lum, b, value=-1, out=d).mul_(cs).div_(b1)
            d.add_((cs * b).sub_(a).mul_(lum).mul_(inv_b2)).mul_(2)
        else:  # 2 (cs b - a) / b2
            torch.mul(cs, b, out=d).sub_(a).mul_(inv_b2).mul_(2)
    if kind == "ssim":
        torch.mul(out_map, inv_b2, out=parts[-2]).neg_()  # -ssim / b2
        torch.mul(lum, inv_b2, out=parts[-1]).mul_(2)  # 2 lum / b2
    else:
        torch.mul(cs, inv_b2, out=parts[-2]).neg_()  # -cs / b2
        torch.mul(inv_b2, 2, out=parts[-1])  # 2 / b2
    return out, derivs


def _backward(
    grad: Tensor, x: Tensor, y: Tensor, derivs: Tensor, taps: tuple[float, ...], need: tuple[bool, bool]
) -> list[Tensor | None]:
    """``[grad_x, grad_y]`` (None where not needed) from the forward's derivative maps."""
    n = x.shape[1] * math.prod(derivs.shape[2:])  # channels x valid pixels: the mean's count
    scale = (grad / n).reshape(-1, *[1] * (x.dim() - 1))
    # grad_x = F'(d_mu_x) + 2 x F'(d_xx) + y F'(d_xy), and x <-> y
    *f_mu, f_xx, f_xy = filter_full(derivs, taps).chunk(sum(need) + 2, dim=1)
    pairs = [ab for ab, needed in zip(((x, y), (y, x)), need, strict=True) if needed]
    grads = iter(
        [
            torch.addcmul(f, a, f_xx, value=2).addcmul_(b, f_xy).mul_(scale)
            for f, (a, b) in zip(f_mu, pairs, strict=True)
        ]
    )
    return [next(grads) if needed else None for needed in need]


class _SSIMMean(torch.autograd.Function):
    """Per-sample mean of the SSIM map (``kind="ssim"``) or of its contrast-structure factor (``"cs"``).

    The five moment maps are written into one stacked tensor and filtered together (few, large operations: with
    several threads on busy cores, every operation can wait for a descheduled thread); the formula runs in place
    on the filtered stack, and the backward keeps the three (four) derivative maps, stacked, and filters them
    together."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, y: Tensor, taps: tuple[float, ...], c1: float, c2: float, kind: Kind
    ) -> Tensor:
        need = ctx.needs_input_grad[:2]  # type: ignore[attr-defined]
        out, derivs = _forward(x, y, taps, c1, c2, kind, need)
        if derivs is not None:
            ctx.save_for_backward(x, y, derivs)
            ctx.taps = taps  # type: ignore[attr-defined]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, y, derivs = ctx.saved_tensors  # type: ignore[attr-defined]
        gx, gy = _backward(grad, x, y, derivs, ctx.taps, ctx.needs_input_grad[:2])  # type: ignore[attr-defined]
        return gx, gy, None, None, None, None


# Under torch.compile the function runs as two opaque ops (forward, backward): traced, its k shifted
# multiply-adds per axis become a graph of hundreds of nodes that inductor takes a minute to compile and that ran
# 2.8x slower than eager (benchmarks/RESULTS-sweep.md, 8x3x256x256); opaque, the compiled step calls the kernel.
@torch.library.custom_op("losskit::ssim_mean", mutates_args=())
def _ssim_op(
    x: Tensor, y: Tensor, taps: list[float], c1: float, c2: float, kind: str, need_x: bool, need_y: bool
) -> tuple[Tensor, Tensor]:
    out, derivs = _forward(x, y, tuple(taps), c1, c2, kind, (need_x, need_y))
    return out, x.new_empty(0) if derivs is None else derivs


@_ssim_op.register_fake
def _(
    x: Tensor, y: Tensor, taps: list[float], c1: float, c2: float, kind: str, need_x: bool, need_y: bool
) -> tuple[Tensor, Tensor]:
    valid = [s - len(taps) + 1 for s in x.shape[2:]]
    n = int(need_x) + int(need_y)
    derivs = x.new_empty(x.shape[0], (n + 2) * x.shape[1], *valid) if n else x.new_empty(0)
    return x.new_empty(x.shape[0]), derivs


@torch.library.custom_op("losskit::ssim_mean_backward", mutates_args=())
def _ssim_backward_op(
    grad: Tensor, x: Tensor, y: Tensor, derivs: Tensor, taps: list[float], need_x: bool, need_y: bool
) -> tuple[Tensor, Tensor]:
    gx, gy = _backward(grad, x, y, derivs, tuple(taps), (need_x, need_y))
    return x.new_empty(0) if gx is None else gx, y.new_empty(0) if gy is None else gy


@_ssim_backward_op.register_fake
def _(
    grad: Tensor, x: Tensor, y: Tensor, derivs: Tensor, taps: list[float], need_x: bool, need_y: bool
) -> tuple[Tensor, Tensor]:
    return x.new_empty(x.shape if need_x else 0), y.new_empty(y.shape if need_y else 0)


def _ssim_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    x, y, taps, *_, need_x, need_y = inputs
    ctx.save_for_backward(x, y, output[1])
    ctx.taps, ctx.need = taps, (need_x, need_y)


def _ssim_op_backward(ctx: Any, grad: Tensor, _grad_derivs: Tensor | None) -> tuple[Tensor | None, ...]:
    x, y, derivs = ctx.saved_tensors
    gx, gy = _ssim_backward_op(grad, x, y, derivs, ctx.taps, *ctx.need)
    return gx if ctx.need[0] else None, gy if ctx.need[1] else None, None, None, None, None, None, None


_ssim_op.register_autograd(_ssim_op_backward, setup_context=_ssim_setup)


def ssim_mean(x: Tensor, y: Tensor, taps: tuple[float, ...], c1: float, c2: float, kind: Kind = "ssim") -> Tensor:
    """Per-sample mean (B,) over channels and "valid" pixels of the SSIM map (or its ``cs`` factor) of two
    (B, C, *spatial) images with the separable window ``taps``."""
    if torch.compiler.is_compiling():
        grad = torch.is_grad_enabled()
        op: Tensor = _ssim_op(x, y, list(taps), c1, c2, kind, grad and x.requires_grad, grad and y.requires_grad)[0]
        return op
    result: Tensor = _SSIMMean.apply(x, y, taps, c1, c2, kind)  # type: ignore[no-untyped-call]
    return result
