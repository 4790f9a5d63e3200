"""The region-statistics kernel: per-(sample, class) ``(I, P, T, count)`` of a prediction against a target.

Every region loss (Dice, Jaccard, Tversky, focal-Tversky, generalized Dice, MCC) is a function of three
per-(sample, class) statistics of the prediction ``p`` (softmax or sigmoid of the logits) and the target
``t``, summed over the valid (non-ignored) voxels:

* ``I`` the soft intersection ``(|p| + |t| - |p - t|) / 2`` (L1 norms; equals ``sum p t`` for hard labels and
  makes every loss minimal at ``p = t`` for soft labels too, as MONAI>=1.4 and JDTLoss do);
* ``P = sum p`` (prediction cardinality) and ``T = sum t`` (target cardinality).

For class-index targets all three come from the (N, C, C) table ``G[b, i, j] = sum_s p[b, i, s] [y_s = j]``
(``I = diag G``, ``P`` its row sums), built by one of two algorithms:

* :class:`_GramStats` (C <= 8): one ``bmm`` of ``p`` against a transient float one-hot ``h``. Its backward
  reuses ``h`` as the gradient buffer and applies the fused softmax backward in place, so forward plus
  backward hold two (N, C, *) buffers. On CPU, gathers along the class dim and scatter_adds with colliding
  indices are poorly vectorised: a one-hot-free version measured 116 ms fwd+bwd on (4, 21, 256, 256) against
  56 ms for this one and 112 ms for MONAI (benchmarks/RESULTS.md).
* :class:`_ScatterStats` (C > 8, where the bmm grows as C^2): a scatter-add of ``p`` by label, no one-hot.

The dense-target function :class:`_DenseStats` keeps only the logits and recomputes the softmax in backward.

Precision: statistics are float32 (float64 stays float64). The public losses are wrapped by
:func:`~losskit.functional._precision.float32_loss`; the custom backward passes also switch autocast off, so
a ``backward()`` called inside an autocast region cannot run their products in half precision.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._precision import autocast_off, float32_loss
from ._reduce import acc_dtype

__all__ = [
    "RegionStats",
    "region_stats",
    "region_stats_with_nll",
    "pool_stats",
    "safe_ratio",
    "class_row",
    "flat_logits",
]


class RegionStats(NamedTuple):
    """Per-(sample, class) sums, shape (N, C) each (or (C,) once pooled over the batch)."""

    inter: Tensor
    pred: Tensor
    true: Tensor
    count: Tensor  # type: ignore[assignment]  # number of valid voxels, (N, 1) or (N, C): the ``M`` of MCC's true negatives


_softmax_bwd_out = torch.ops.aten._softmax_backward_data.out

# Up to this many classes one (N, C, C) bmm against a float one-hot gives all three statistics; past it the
# same (N, C, C) table comes from a scatter-add of p by label (cost independent of C, no one-hot).
_GRAM_MAX_CLASSES = 8
# Label counts read off the product's column sums are rounded to integers while S (voxels per sample) stays
# below this (the rounding error there is orders of magnitude below 0.5); larger maps count the one-hot.
_ROUNDED_COUNT_MAX_VOXELS = 1 << 22


def _softmax_backward(grad: Tensor, p: Tensor) -> Tensor:
    """``p (g - sum_c p g)``, written over ``grad`` on CPU (elementwise alias-safe there: each column's sum is
    taken before it is overwritten; the tests compare against autograd), a fresh buffer elsewhere."""
    if grad.device.type == "cpu":
        out: Tensor = _softmax_bwd_out(grad, p, 1, p.dtype, grad_input=grad)
        return out
    return torch._softmax_backward_data(grad, p, 1, p.dtype)


def _softmax_and_nll(x: Tensor, labels: Tensor, valid: Tensor | None, dt: torch.dtype) -> tuple[Tensor, Tensor]:
    """``(softmax(x), per-sample sum of -log p_y over the valid voxels)`` from one ``log_softmax``: the
    cross-entropy of :func:`region_stats_with_nll` at the cost of an ``exp`` pass, exact for any logits (no
    ``log`` of an underflowed probability)."""
    logp = torch.log_softmax(x, dim=1, dtype=dt)
    nll = logp.gather(1, labels.unsqueeze(1)).squeeze(1).neg_()
    if valid is not None:
        nll.mul_(valid)
    return logp.exp_(), nll.sum(-1)


def _add_nll_grad(grad: Tensor, p: Tensor, labels: Tensor, valid: Tensor | None, g_nll: Tensor | None) -> None:
    """``grad += g_nll (p - onehot(y))`` at the valid voxels: the cross-entropy's gradient with respect to the
    logits, added after the softmax backward of the region terms (in place; a scatter for the one-hot part)."""
    if g_nll is None:
        return
    n, _, s = p.shape
    w = g_nll.to(p.dtype).unsqueeze(-1).expand(n, s)
    if valid is not None:
        w = w * valid
    grad.addcmul_(p, w.unsqueeze(1))
    grad.scatter_add_(1, labels.unsqueeze(1), w.neg().unsqueeze(1))


def _grads(g_inter: Tensor | None, g_pred: Tensor | None, p: Tensor) -> tuple[Tensor, Tensor]:
    n, c = p.shape[:2]
    gi = p.new_zeros((n, c)) if g_inter is None else g_inter.to(p.dtype)
    gp = p.new_zeros((n, c)) if g_pred is None else g_pred.to(p.dtype)
    return gi, gp


class _GramStats(torch.autograd.Function):
    """C <= 8: ``(I, P, T)`` of ``p`` (``softmax(x)``, or ``x`` itself) against (N, S) labels from ``G = p h^T``,
    one bmm against a float one-hot ``h`` (ignored voxels get a zero column). ``T`` = column sums of ``G``
    (columns of a softmax sum to 1), rounded to exact counts; it carries no gradient. Backward writes
    ``dL/dp = g_P + g_I h`` over ``h`` and applies the fused softmax backward in place."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, with_nll: bool = False
    ) -> tuple[Tensor, ...]:
        dt = acc_dtype(x)
        s = x.shape[2]
        nll = None
        if with_nll:
            p, nll = _softmax_and_nll(x, labels, valid, dt)
        else:
            p = torch.softmax(x, dim=1, dtype=dt) if softmax else x.to(dt)
        h = _one_hot(p, labels, valid)
        gram = torch.bmm(p, h.transpose(1, 2))  # gram[b, i, j] = sum_s p[b, i, s] [y_s = j]
        inter = gram.diagonal(0, 1, 2).clone()
        pred = gram.sum(2)
        true = gram.sum(1).round_() if softmax and s <= _ROUNDED_COUNT_MAX_VOXELS else h.sum(-1)
        # p and h live on ctx (not save_for_backward): backward overwrites h with the gradient, and rebuilds it
        # from the labels if it is called again (retain_graph).
        ctx.save_for_backward(labels, valid)
        ctx.p, ctx.h, ctx.softmax, ctx.in_dtype = p, h, softmax or with_nll, x.dtype
        ctx.mark_non_differentiable(true)
        return (inter, pred, true) if nll is None else (inter, pred, true, nll)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, g_inter: Tensor | None, g_pred: Tensor | None, _g_true: Tensor | None, g_nll: Tensor | None = None
    ) -> tuple[Tensor | None, None, None, None, None]:
        p, h = ctx.p, ctx.h
        ctx.h = None
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        with autocast_off(p):
            gi, gp = _grads(g_inter, g_pred, p)
            labels, valid = ctx.saved_tensors
            if h is None:
                h = _one_hot(p, labels, valid)
            grad = torch.addcmul(gp.unsqueeze(-1), h, gi.unsqueeze(-1), out=h)  # dL/dp = g_P + g_I [y = c]
            if valid is not None:
                grad.mul_(valid.unsqueeze(1))
            if ctx.softmax:
                grad = _softmax_backward(grad, p)
            _add_nll_grad(grad, p, labels, valid, g_nll)
        return grad.to(ctx.in_dtype), None, None, None, None


def _scatter_forward(
    x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, with_nll: bool
) -> tuple[tuple[Tensor, ...], Tensor, Tensor]:
    """``((I, P, T[, nll]), p, lab)``: the statistics from scatter-adds by label, the probabilities and the labels
    with ignored voxels moved to the spare column C (what the backward needs)."""
    dt = acc_dtype(x)
    n, c, s = x.shape
    nll = None
    if with_nll:
        p, nll = _softmax_and_nll(x, labels, valid, dt)
    else:
        p = torch.softmax(x, dim=1, dtype=dt) if softmax else x.to(dt)
    lab = labels if valid is None else labels.masked_fill(valid == 0, c)
    gram = torch.zeros((n, c, c + 1), dtype=dt, device=x.device)
    gram = gram.scatter_add_(2, lab.unsqueeze(1).expand(n, c, s), p)[:, :, :c]
    ones = torch.ones((1, 1), dtype=dt, device=x.device).expand(n, s)
    true = torch.zeros((n, c + 1), dtype=dt, device=x.device).scatter_add_(1, lab, ones)[:, :c]
    stats = (gram.diagonal(0, 1, 2).clone(), gram.sum(2), true)
    return (stats if nll is None else (*stats, nll)), p, lab


def _scatter_backward(
    g_inter: Tensor | None,
    g_pred: Tensor | None,
    g_nll: Tensor | None,
    p: Tensor,
    lab: Tensor,
    labels: Tensor,
    valid: Tensor | None,
    softmax: bool,
) -> Tensor:
    """``dL/dx`` (in ``p``'s dtype): ``dL/dp[b, i, s] = table[b, i, y_s]``, table = g_P + diag(g_I) with a zero
    column for ignored voxels, through the softmax, plus the cross-entropy's gradient."""
    with autocast_off(p):
        gi, gp = _grads(g_inter, g_pred, p)
        n, c, s = p.shape
        table = torch.zeros((n, c, c + 1), dtype=p.dtype, device=p.device)
        table[:, :, :c] = torch.diag_embed(gi)
        table[:, :, :c] += gp.unsqueeze(-1)
        grad = table.gather(2, lab.unsqueeze(1).expand(n, c, s))
        if softmax:
            grad = _softmax_backward(grad, p)
        _add_nll_grad(grad, p, labels, valid, g_nll)
    return grad


class _ScatterStats(torch.autograd.Function):
    """C > 8: ``G`` is a scatter-add of ``p`` into (N, C, C + 1) by label (column C collects ignored voxels),
    ``T`` a scatter-add of ones (exact counts). O(N C S), no one-hot and no product; only ``p`` is kept.
    Backward gathers ``dL/dp`` from the (N, C, C + 1) table ``g_P + diag(g_I)`` (zero spare column)."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, with_nll: bool = False
    ) -> tuple[Tensor, ...]:
        stats, p, lab = _scatter_forward(x, labels, valid, softmax, with_nll)
        ctx.save_for_backward(lab, labels, valid)
        ctx.p, ctx.softmax, ctx.in_dtype = p, softmax or with_nll, x.dtype
        ctx.mark_non_differentiable(stats[2])
        return stats

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, g_inter: Tensor | None, g_pred: Tensor | None, _g_true: Tensor | None, g_nll: Tensor | None = None
    ) -> tuple[Tensor | None, None, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        lab, labels, valid = ctx.saved_tensors
        grad = _scatter_backward(g_inter, g_pred, g_nll, ctx.p, lab, labels, valid, ctx.softmax)
        return grad.to(ctx.in_dtype), None, None, None, None


# Under torch.compile the scatter kernel runs as two opaque ops: inductor lowers the scatter-adds with colliding
# indices to a serial loop (focal_tversky at 8x64x64x64: 14.8 ms compiled against 7.7 ms eager,
# benchmarks/RESULTS-sweep.md); opaque, the compiled step calls this kernel.
@torch.library.custom_op("losskit::region_scatter_stats", mutates_args=())
def _scatter_op(
    x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, with_nll: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    stats, p, lab = _scatter_forward(x, labels, valid, softmax, with_nll)
    # an output may not alias an input: p is x itself for float32 probabilities, lab the labels without a mask
    # (the backward takes those from its inputs then)
    return (
        stats[0],
        stats[1],
        stats[2],
        stats[3] if with_nll else p.new_empty(0),
        p if softmax or with_nll else p.new_empty(0),
        lab if valid is not None else labels.new_empty(0),
    )


@_scatter_op.register_fake
def _(
    x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, with_nll: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    dt = acc_dtype(x)
    n, c = x.shape[:2]
    nll = x.new_empty(n, dtype=dt) if with_nll else x.new_empty(0, dtype=dt)
    stats = [x.new_empty(n, c, dtype=dt) for _ in range(3)]
    p = x.new_empty(x.shape, dtype=dt) if softmax or with_nll else x.new_empty(0, dtype=dt)
    lab = torch.empty_like(labels) if valid is not None else labels.new_empty(0)
    return stats[0], stats[1], stats[2], nll, p, lab


@torch.library.custom_op("losskit::region_scatter_stats_backward", mutates_args=())
def _scatter_backward_op(
    g_inter: Tensor,
    g_pred: Tensor,
    g_nll: Tensor,
    p: Tensor,
    lab: Tensor,
    labels: Tensor,
    valid: Tensor | None,
    softmax: bool,
    with_nll: bool,
) -> Tensor:
    return _scatter_backward(g_inter, g_pred, g_nll if with_nll else None, p, lab, labels, valid, softmax)


@_scatter_backward_op.register_fake
def _(
    g_inter: Tensor,
    g_pred: Tensor,
    g_nll: Tensor,
    p: Tensor,
    lab: Tensor,
    labels: Tensor,
    valid: Tensor | None,
    softmax: bool,
    with_nll: bool,
) -> Tensor:
    return torch.empty_like(p)


def _scatter_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    x, labels, valid, softmax, with_nll = inputs
    ctx.softmax, ctx.with_nll, ctx.in_dtype = softmax or with_nll, with_nll, x.dtype
    ctx.save_for_backward(output[4] if ctx.softmax else x, output[5] if valid is not None else labels, labels, valid)


def _scatter_op_backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, None, None, None, None]:
    p, lab, labels, valid = ctx.saved_tensors
    if not ctx.needs_input_grad[0]:
        return None, None, None, None, None
    p = p.to(acc_dtype(p))
    g_inter, g_pred, _, g_nll = grads[:4]
    zeros = p.new_zeros(p.shape[:2])
    grad = _scatter_backward_op(
        zeros if g_inter is None else g_inter,
        zeros if g_pred is None else g_pred,
        p.new_zeros(p.shape[0]) if g_nll is None or not ctx.with_nll else g_nll,
        p,
        lab,
        labels,
        valid,
        ctx.softmax,
        ctx.with_nll,
    )
    return grad.to(ctx.in_dtype), None, None, None, None


_scatter_op.register_autograd(_scatter_op_backward, setup_context=_scatter_setup)


def _scatter_apply(
    x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, with_nll: bool
) -> tuple[Tensor, ...]:
    """The scatter statistics: the autograd function eagerly, the opaque ops under ``torch.compile``."""
    if torch.compiler.is_compiling():
        inter, pred, true, nll, _p, _lab = _scatter_op(x, labels, valid, softmax, with_nll)
        return (inter, pred, true, nll) if with_nll else (inter, pred, true)
    out: tuple[Tensor, ...] = _ScatterStats.apply(x, labels, valid, softmax, with_nll)  # type: ignore[no-untyped-call]
    return out


def _one_hot(p: Tensor, labels: Tensor, valid: Tensor | None) -> Tensor:
    """(N, C, S) one-hot of (N, S) labels in ``p``'s dtype; ``valid`` (0 at ignored voxels, whose label was
    replaced by 0) is scattered as the value, so ignored voxels get an all-zero column."""
    n, s = labels.shape
    src = (
        valid.unsqueeze(1)
        if valid is not None
        else torch.ones((1, 1, 1), dtype=p.dtype, device=p.device).expand(n, 1, s)
    )
    return torch.zeros_like(p, memory_format=torch.contiguous_format).scatter_(1, labels.unsqueeze(1), src)


class _DenseStats(torch.autograd.Function):
    """``(P, D)`` with ``D = sum |p - t|`` for softmax (dim 1) or sigmoid ``p``; saves ``x``, ``t``, the mask."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, t: Tensor, valid: Tensor | None, softmax: bool) -> tuple[Tensor, Tensor]:
        dt = acc_dtype(x)
        p = torch.softmax(x, dim=1, dtype=dt) if softmax else torch.sigmoid(x.to(dt))
        diff = (p - t).abs_()
        if valid is not None:
            p.mul_(valid)
            diff.mul_(valid)
        ctx.save_for_backward(x, t, valid)
        ctx.softmax = softmax
        return p.sum(-1), diff.sum(-1)

    @staticmethod
    def backward(ctx: Any, g_pred: Tensor | None, g_diff: Tensor | None) -> tuple[Tensor | None, None, None, None]:
        x, t, valid = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        with autocast_off(x):
            dt = acc_dtype(x)
            p = torch.softmax(x, dim=1, dtype=dt) if ctx.softmax else torch.sigmoid(x.to(dt))
            zeros = p.new_zeros(p.shape[:2])
            gp = (zeros if g_pred is None else g_pred.to(dt)).unsqueeze(-1)
            gd = (zeros if g_diff is None else g_diff.to(dt)).unsqueeze(-1)
            u = torch.sign(p - t).mul_(gd).add_(gp)  # dL/dp
            if valid is not None:
                u.mul_(valid)
            if ctx.softmax:
                u.sub_((p * u).sum(1, keepdim=True)).mul_(p)
            else:
                u.mul_(p).mul_(1.0 - p)
        return u.to(x.dtype), None, None, None


def flat_logits(x: Tensor, binary: bool) -> Tensor:
    """(N, C, *) -> (N, C, S), or (N, *) -> (N, 1, S) in binary mode; explicit sizes, so N = 0 works too."""
    n = x.shape[0]
    if binary:
        return x.reshape(n, 1, math.prod(x.shape[1:]))
    return x.reshape(n, x.shape[1], math.prod(x.shape[2:]))


@float32_loss
def region_stats(
    input: Tensor,
    target: Tensor,
    *,
    mode: str = "multiclass",
    from_logits: bool = True,
    ignore_index: int | None = None,
) -> RegionStats:
    """The per-(sample, class) statistics ``(I, P, T, count)``, shape (N, C) (C = 1 in binary mode), in float32
    (float64 for float64 input). Ignored voxels (``target == ignore_index``) count nowhere. Inputs must already
    be validated (:func:`~losskit.functional.segmentation_input.check_segmentation_input`)."""
    binary = mode == "binary"
    x = flat_logits(input, binary)
    dt = acc_dtype(x)
    n, c, s = x.shape
    if mode == "multiclass" and not target.is_floating_point():
        # Any integer dtype: widened first, so ignore_index compares the same way for uint8 and int64.
        y = target.reshape(n, s).long()
        valid = None
        if ignore_index is not None:
            keep = y != ignore_index
            y = torch.where(keep, y, torch.zeros_like(y))  # 255 never reaches gather/scatter below
            valid = keep.to(dt)
        if c > _GRAM_MAX_CLASSES:
            inter, pred, true = _scatter_apply(x, y, valid, from_logits, False)
        else:
            inter, pred, true = _GramStats.apply(x, y, valid, from_logits)  # type: ignore[no-untyped-call]
        count = true.sum(-1, keepdim=True)  # valid voxels: every one has exactly one label
        return RegionStats(inter, pred, true, count)
    t = target.reshape(x.shape).detach().to(dt)
    valid = None
    if ignore_index is not None and mode != "multiclass":
        keep = t != ignore_index
        t = torch.where(keep, t, torch.zeros_like(t))
        valid = keep.to(dt)
    if valid is None:
        true = t.sum(-1)
        count = torch.full((n, 1), float(s), dtype=dt, device=x.device)
    else:
        true = (t * valid).sum(-1)
        count = valid.sum(-1)
    if from_logits:
        pred, diff = _DenseStats.apply(x, t, valid, mode == "multiclass")  # type: ignore[no-untyped-call]
    else:
        p = x.to(dt)
        d = (p - t).abs()
        if valid is not None:
            p, d = p * valid, d * valid
        pred, diff = p.sum(-1), d.sum(-1)
    inter = (pred + true - diff) * 0.5
    return RegionStats(inter, pred, true, count)


@float32_loss
def region_stats_with_nll(
    input: Tensor, target: Tensor, *, ignore_index: int | None = None
) -> tuple[RegionStats, Tensor]:
    """:func:`region_stats` of multiclass logits against class indices, plus the cross-entropy summed per sample
    over the valid voxels (N,), from one softmax pass and one backward pass (what ``dice_ce`` needs: no second
    ``log_softmax`` and no second gradient buffer). Inputs must already be validated."""
    x = flat_logits(input, False)
    n, c, s = x.shape
    y = target.reshape(n, s).long()
    valid = None
    if ignore_index is not None:
        keep = y != ignore_index
        y = torch.where(keep, y, torch.zeros_like(y))
        valid = keep.to(acc_dtype(x))
    if c > _GRAM_MAX_CLASSES:
        inter, pred, true, nll = _scatter_apply(x, y, valid, True, True)
    else:
        inter, pred, true, nll = _GramStats.apply(x, y, valid, True, True)  # type: ignore[no-untyped-call]
    return RegionStats(inter, pred, true, true.sum(-1, keepdim=True)), nll


def pool_stats(stats: RegionStats, batch: bool, include_background: bool = True) -> RegionStats:
    """Drop channel 0 when ``include_background`` is false (and C > 1); sum over the batch when ``batch``."""
    out = stats
    if not include_background and stats.inter.shape[-1] > 1:
        out = RegionStats(*(s[:, 1:] if s.shape[-1] > 1 else s for s in out))
    if batch:
        out = RegionStats(*(s.sum(0) for s in out))
    return out


def safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    """``num / den``, and 1 (a perfect score) where ``den == 0``: a class empty in both prediction and target
    with no smoothing. Gradients stay finite (the masked branch divides by 1). A NaN ``den`` is not "empty":
    the test is ``den <= 0`` (False for NaN), so NaN in gives NaN out."""
    empty = den <= 0
    return torch.where(empty, torch.ones_like(num), num / torch.where(empty, torch.ones_like(den), den))


def class_row(weight: Tensor | None, loss: Tensor) -> Tensor | None:
    """A class weight lined up with the last dimension of per-(sample, class) losses, for
    :func:`~losskit.functional._reduce.reduce`'s ``weight``: MONAI's convention, weights scale the terms and a
    mean still divides by the number of entries. The background entry is dropped when the losses lack it."""
    if weight is None:
        return None
    w = weight.to(device=loss.device, dtype=loss.dtype)
    return w[1:] if w.numel() != loss.shape[-1] else w  # include_background=False
