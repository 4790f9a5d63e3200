"""Lovász losses (Berman et al., CVPR 2018): the Lovász extension of the Jaccard loss, vectorised.

All (sample, class) problems are solved at once: the errors form an (N, C, S) matrix (or (C, N*S) pooled over
the batch) sorted along its last dimension in one call; the Jaccard gradient of every row comes from one
``cumsum``. No Python loop over classes or images, no one-hot target (the foreground of the sorted errors is
read from the labels through the sort permutation).

Multiclass class-index targets with rows of at least 1024 voxels (CPU) take a per-row path instead: each
row's errors become integer sort keys (float32: the error's bits and the voxel index packed in one int64, so
the sorted keys carry the permutation and ties keep index order), worked one row at a time in NumPy (its
sort, cumsum and scatter are single-threaded: no OpenMP barriers and no process-wide thread setting), its
Lovász gradient is scattered back into the errors' buffer, and a custom backward multiplies it by the upstream
gradient and applies the fused softmax backward. Two (N, C, S) buffers in all (the probabilities and that
shared buffer), no (N, C, S) permutation; forward plus backward 1.2-3x faster than the batched path at one
thread and 2.5-7x at two on a loaded machine (rows of 1024-262144 voxels, 2D and 3D). Under ``torch.compile``
the batched torch path runs instead (NumPy cannot be traced), so a compiled step keeps one graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._checks import check_choice
from ._precision import autocast_off, float32_loss
from ._reduce import acc_dtype, reduce
from .region_stats import flat_logits
from .segmentation_input import DEFAULT_MODE, Mode, Reduction, prepare_segmentation

__all__ = ["lovasz_loss", "lovasz_grad"]


def lovasz_grad(fg_sorted: Tensor) -> Tensor:
    """Gradient of the Lovász extension of the Jaccard loss at the sorted errors of each row (last dim):
    ``J_i - J_{i-1}`` with ``J_i = 1 - |fg \\ first i| / |fg  union  first i|``."""
    total = fg_sorted.sum(-1, keepdim=True)
    cum = fg_sorted.cumsum(-1)
    rank = torch.arange(1, fg_sorted.shape[-1] + 1, dtype=fg_sorted.dtype, device=fg_sorted.device)
    union = (total + rank).sub_(cum)  # >= 1 at every position: never divides by 0
    jac = (total - cum).div_(union).neg_().add_(1.0)
    del cum, union
    return torch.diff(jac, dim=-1, prepend=torch.zeros_like(jac[..., :1]))


def _rows(t: Tensor, batch: bool) -> Tensor:
    """(N, C, S) -> itself, or (C, N*S) when pooling over the batch."""
    return t.transpose(0, 1).reshape(t.shape[1], -1) if batch else t


# Rows at least this long go through the per-row path below (measured crossover, one thread: 576-voxel rows
# are 10% slower per row, 1024-voxel rows 1.2-1.7x faster than the batched float-matrix sort). Shorter rows
# (many small problems) stay on the batched path, where the per-row Python loop costs more than it saves.
_RADIX_MIN_ROW = 1024
_INF_BITS = {torch.float32: (torch.int32, 0x7F800000), torch.float64: (torch.int64, 0x7FF0000000000000)}


def _label_rows(p: Tensor, labels: Tensor, valid: Tensor | None, batch: bool) -> tuple[Tensor, Tensor]:
    """Errors ``|[y = c] - p_c|`` as rows (N*C, S), or (C, N*S) with ``batch``, in a fresh buffer; ignored
    voxels (label -1, ``valid`` 0) get error 0. Also the (N, S) or (1, N*S) label rows for the foreground."""
    n, c, s = p.shape
    y0 = labels.clamp_min(0).unsqueeze(1)  # -1 (ignored) never reaches gather/scatter
    err = p.scatter(1, y0, p.gather(1, y0).neg_().add_(1.0))
    if valid is not None:
        err.mul_(valid.unsqueeze(1))
    if batch:
        return err.transpose(0, 1).reshape(c, n * s), labels.reshape(1, n * s)
    return err.view(n * c, s), labels


def _lovasz_rows(err: Tensor, labels: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """Per row r (class ``r % c`` of label row ``r // c``): the Lovász-softmax loss ``dot(sorted errors, lovasz
    grad)`` and the foreground count; ``err`` is overwritten with the signed gradient ``d loss / d p`` (the
    Lovász gradient in the original order, negated on the foreground where the error is ``1 - p``).

    Runs in NumPy on the tensors' memory (CPU only). Why: on rows of 32768+ elements every torch op (the 1-D
    radix sort above all, one set of OpenMP barriers per pass) is a parallel region, and with 2+ threads on a
    loaded machine ~15 of them per row cost up to 50x the work; the only torch way around that,
    ``torch.set_num_threads(1)``, is process-wide (another thread of the process sees it). NumPy's sort and
    elementwise ops are single-threaded, and its sort is 2x faster than the one-thread radix sort on these rows;
    the rows are independent, so one thread working them back to back is the fast schedule at any setting."""
    rows, length = err.shape
    ndt = np.float32 if err.dtype == torch.float32 else np.float64
    ibits = np.int32 if ndt == np.float32 else np.int64
    inf_bits = _INF_BITS[err.dtype][1]
    e_all = err.numpy()
    lab_all = labels.numpy()
    rank = np.arange(1, length + 1, dtype=ndt)
    col = np.arange(length, dtype=np.int64)
    # float32: (key << 32) | index packs a distinct int64 per element, so the (unstable, SIMD) in-place sort gives
    # the stable order and its low 32 bits are the permutation. float64 bits fill an int64: a stable argsort.
    packed = ndt == np.float32 and length < 2**32
    key = np.empty(length, dtype=np.int64)
    perm = np.empty(length, dtype=np.int64)
    losses = np.empty(rows, dtype=ndt)
    counts = np.empty(rows, dtype=ndt)
    for r in range(rows):
        e = e_all[r]
        # Non-negative floats order like their bit patterns: descending errors = ascending (inf_bits - bits).
        np.subtract(inf_bits, e.view(ibits), out=key)
        if packed:
            np.left_shift(key, 32, out=key)
            np.bitwise_or(key, col, out=key)
            key.sort()
            np.bitwise_and(key, 0xFFFFFFFF, out=perm)
        else:
            perm = np.argsort(key, kind="stable")
        fg = np.take(lab_all[r // c], perm) == r % c
        total = np.count_nonzero(fg)
        union = (rank - np.cumsum(fg, dtype=ndt)) + ndt(total)  # |fg| + i - |fg in first i|, >= 1
        jac = np.divide(rank, union, out=union)  # J_i = 1 - |fg \ first i| / |fg U first i| = i / union_i
        grad = np.diff(jac, prepend=ndt(0))
        losses[r] = np.multiply(np.take(e, perm), grad).sum()
        counts[r] = total
        np.negative(grad, out=grad, where=fg)
        e[perm] = grad
    return torch.from_numpy(losses), torch.from_numpy(counts)


class _LovaszSoftmaxRows(torch.autograd.Function):
    """Multiclass Lovász-softmax from logits (or probabilities) and (N, S) labels (-1 = ignored), per row:
    losses (R,) and foreground counts (R,). Keeps ``p`` and one (R, L) buffer that holds the errors, then their
    sort keys, then the signed Lovász gradient; backward is one multiply and the fused softmax backward."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, batch: bool
    ) -> tuple[Tensor, Tensor]:
        p, g, losses, counts = _LovaszSoftmaxRows._run(x, labels, valid, softmax, batch)
        ctx.save_for_backward(x, labels, valid)
        ctx.p, ctx.g, ctx.softmax, ctx.batch = p, g, softmax, batch
        ctx.mark_non_differentiable(counts)
        return losses, counts

    @staticmethod
    def _run(
        x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, batch: bool
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        dt = acc_dtype(x)
        p = torch.softmax(x, dim=1, dtype=dt) if softmax else x.to(dt)
        err, lab = _label_rows(p, labels, valid, batch)
        losses, counts = _lovasz_rows(err, lab, x.shape[1])
        return p, err, losses, counts

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_loss: Tensor, _g_counts: Tensor | None) -> tuple[Tensor | None, None, None, None, None]:
        with autocast_off(ctx.p):
            return _LovaszSoftmaxRows._backward(ctx, g_loss)

    @staticmethod
    def _backward(ctx: Any, g_loss: Tensor) -> tuple[Tensor | None, None, None, None, None]:
        x, labels, valid = ctx.saved_tensors
        p, g = ctx.p, ctx.g
        ctx.g = None
        if g is None:  # called again (retain_graph): the buffer was consumed, redo the forward
            p, g, _, _ = _LovaszSoftmaxRows._run(x, labels, valid, ctx.softmax, ctx.batch)
        return _rows_grad(g_loss, p, g, valid, ctx.softmax, ctx.batch).to(x.dtype), None, None, None, None


def _rows_grad(g_loss: Tensor, p: Tensor, g: Tensor, valid: Tensor | None, softmax: bool, batch: bool) -> Tensor:
    """``dL/dx`` from the signed Lovász gradient rows ``g`` (consumed: scaled in place) and ``p``."""
    n, c, s = p.shape
    grad = g.mul_(g_loss.to(g.dtype).unsqueeze(-1))
    grad = grad.view(c, n, s).transpose(0, 1) if batch else grad.view(n, c, s)
    if valid is not None:
        grad = grad.mul_(valid.unsqueeze(1))
    if softmax:
        grad = torch._softmax_backward_data(grad.contiguous(), p, 1, p.dtype)
    return grad


# Under torch.compile the NumPy rows run as two opaque ops (NumPy cannot be traced; the torch sort the compiler
# got before ran 2x slower than eager, benchmarks/RESULTS-sweep.md, 1x21x512x512).
@torch.library.custom_op("losskit::lovasz_softmax_rows", mutates_args=())
def _rows_op(
    x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, batch: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    p, g, losses, counts = _LovaszSoftmaxRows._run(x, labels, valid, softmax, batch)
    return losses, counts, p if softmax else p.new_empty(0), g  # p is x itself without the softmax: no alias out


@_rows_op.register_fake
def _(
    x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, batch: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    dt = acc_dtype(x)
    n, c, s = x.shape
    rows = x.new_empty(c if batch else n * c, dtype=dt)
    p = x.new_empty(x.shape, dtype=dt) if softmax else x.new_empty(0, dtype=dt)
    g = x.new_empty((c, n * s) if batch else (n * c, s), dtype=dt)
    return rows, torch.empty_like(rows), p, g


@torch.library.custom_op("losskit::lovasz_softmax_rows_backward", mutates_args=())
def _rows_backward_op(g_loss: Tensor, p: Tensor, g: Tensor, valid: Tensor | None, softmax: bool, batch: bool) -> Tensor:
    return _rows_grad(g_loss, p, g.clone(), valid, softmax, batch)  # g is an input here: not written over


@_rows_backward_op.register_fake
def _(g_loss: Tensor, p: Tensor, g: Tensor, valid: Tensor | None, softmax: bool, batch: bool) -> Tensor:
    return torch.empty_like(p)


def _rows_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    x, _labels, valid, softmax, batch = inputs
    ctx.save_for_backward(output[2] if softmax else x, output[3], valid)
    ctx.softmax, ctx.batch, ctx.in_dtype = softmax, batch, x.dtype


def _rows_op_backward(
    ctx: Any, g_loss: Tensor | None, *_: Tensor | None
) -> tuple[Tensor | None, None, None, None, None]:
    p, g, valid = ctx.saved_tensors
    if g_loss is None or not ctx.needs_input_grad[0]:
        return None, None, None, None, None
    grad = _rows_backward_op(g_loss, p.to(acc_dtype(p)), g, valid, ctx.softmax, ctx.batch)
    return grad.to(ctx.in_dtype), None, None, None, None


_rows_op.register_autograd(_rows_op_backward, setup_context=_rows_setup)


def _lovasz_softmax_rows(
    x: Tensor, labels: Tensor, valid: Tensor | None, softmax: bool, batch: bool
) -> tuple[Tensor, Tensor]:
    """Per-row losses and foreground counts: the autograd function eagerly, the opaque ops under compile."""
    if torch.compiler.is_compiling():
        losses, counts, _, _ = _rows_op(x, labels, valid, softmax, batch)
        return losses, counts
    out: tuple[Tensor, Tensor] = _LovaszSoftmaxRows.apply(x, labels, valid, softmax, batch)  # type: ignore[no-untyped-call]
    return out


@float32_loss
def lovasz_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    ignore_index: int | None = None,
    batch: bool = False,
    classes: Literal["present", "all"] = "present",
    weight: Tensor | Sequence[float] | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Lovász hinge (binary, logits), or Lovász-softmax (multiclass: softmax probabilities; multilabel: per-class
    sigmoid probabilities) with errors ``|fg - p|``.

    ``classes="present"`` averages over the (sample, class) entries whose target is not empty (multiclass and
    multilabel; Berman's default); ``"all"`` over every entry. Binary mode always uses every entry.
    "none" shape: (N, C) (or (C,) with ``batch``), C = 1 in binary mode; excluded entries hold 0 there.
    An empty batch gives 0 (an empty "none") with a zero gradient; NaN in the input gives NaN.

    Example:
        >>> t = torch.tensor([[1.0, 0.0]])
        >>> lovasz_loss(torch.tensor([[2.0, -2.0]]), t, mode="binary")  # both margins >= 1: no loss
        tensor(0.)
        >>> lovasz_loss(torch.tensor([[2.0, 2.0]]), t, mode="binary")  # hinge errors (-1, 3), Jaccard gradient 1/2
        tensor(1.5000)
    """
    check_choice("lovasz_loss", "classes", classes, ("present", "all"))
    target, w = prepare_segmentation(
        "lovasz_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
    )
    return _lovasz(input, target, mode, from_logits, ignore_index, batch, classes, w, reduction)


def _lovasz(
    input: Tensor,
    target: Tensor,
    mode: str,
    from_logits: bool,
    ignore_index: int | None,
    batch: bool,
    classes: str,
    weight: Tensor | None,
    reduction: str,
) -> Tensor:
    dt = acc_dtype(input)
    n = input.shape[0]
    binary = mode == "binary"
    x = flat_logits(input, binary)
    c = x.shape[1]
    if x.numel() == 0:
        # Nothing to sort (N = 0 or no voxels): 0, or an empty "none", still connected to the input's graph.
        zero = x.to(dt).sum(-1) * 0.0
        return _reduce_rows(
            zero.sum(0) if batch else zero, torch.zeros_like(zero, dtype=torch.bool), dt, True, weight, reduction
        )
    labels: Tensor | None = None
    valid: Tensor | None = None
    if (
        mode == "multiclass"
        and not target.is_floating_point()
        and x.device.type == "cpu"
        and (n if batch else 1) * x.shape[-1] >= _RADIX_MIN_ROW
    ):
        y = target.reshape(n, x.shape[-1]).long()
        if ignore_index is not None:
            keep = y != ignore_index
            valid = keep.to(dt)
            y = torch.where(keep, y, torch.full_like(y, -1))
        loss, fg_count = _lovasz_softmax_rows(x, y, valid, from_logits, batch)
        loss = loss.view(n, c) if not batch else loss
        present = (fg_count > 0).view(loss.shape)
        return _reduce_rows(loss, present, dt, classes == "all", weight, reduction)
    if mode == "multiclass" and not target.is_floating_point():
        y = target.reshape(n, x.shape[-1]).long()  # any integer dtype, widened before comparing to ignore_index
        if ignore_index is not None:
            keep = y != ignore_index
            valid = keep.to(dt).unsqueeze(1)
            y = torch.where(keep, y, torch.zeros_like(y))
        p = torch.softmax(x, dim=1, dtype=dt) if from_logits else x.to(dt)
        idx = y.unsqueeze(1)
        errors = p.scatter(1, idx, 1.0 - p.gather(1, idx))
        # -1 marks ignored voxels: it matches no class when the foreground is read back through the permutation.
        small = torch.int16 if c < 2**15 else torch.int32
        labels = (y if ignore_index is None else torch.where(keep, y, torch.full_like(y, -1))).to(small)
    else:
        t = target.reshape(x.shape).detach().to(dt)
        if ignore_index is not None and mode != "multiclass":
            keep = t != ignore_index
            valid = keep.to(dt)
            t = torch.where(keep, t, torch.zeros_like(t))
        if binary and from_logits:
            errors = torch.relu(1.0 - x.to(dt) * (2.0 * t - 1.0))
        else:
            p = (
                x.to(dt)
                if not from_logits
                else (torch.softmax(x, 1, dtype=dt) if mode == "multiclass" else torch.sigmoid(x.to(dt)))
            )
            errors = (p - t).abs()
        fg = t if valid is None else t * valid
    if valid is not None:
        errors = errors * valid
    rows = _rows(errors, batch)
    with torch.no_grad():
        sorted_err, perm = rows.detach().sort(dim=-1, descending=True)
        del sorted_err
        if labels is not None:
            lab = labels.unsqueeze(1).expand(n, c, -1)
            lab = _rows(lab, batch) if batch else lab
            cls = torch.arange(c, device=x.device, dtype=lab.dtype).view(-1, 1)
            fg_sorted = lab.gather(-1, perm).eq_(cls if batch else cls.unsqueeze(0)).to(dt)
        else:
            fg_rows = _rows(fg, batch)
            fg_sorted = fg_rows.gather(-1, perm)
        present = fg_sorted.sum(-1) > 0
        g = lovasz_grad(fg_sorted)
        del fg_sorted
        g_unsorted = torch.empty_like(g).scatter_(-1, perm, g)
        del g, perm
    loss = (rows * g_unsorted).sum(-1)  # d loss / d errors = the Lovász gradient, in the original order
    return _reduce_rows(loss, present, dt, binary or classes == "all", weight, reduction)


def _reduce_rows(
    loss: Tensor, present: Tensor, dt: torch.dtype, count_all: bool, weight: Tensor | None, reduction: str
) -> Tensor:
    """Per-(sample, class) rows reduced over the classes that count: all of them, or the present ones."""
    if count_all:
        return reduce(loss, reduction, weight=weight)
    return reduce(loss * present.to(dt), reduction, present, weight=weight)
