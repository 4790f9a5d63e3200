"""Row-block (tiled) evaluation of the contrastive losses over an (M, M') similarity matrix: ``info_nce``, ``supcon``
and ``siglip`` with ``chunk_size``.

The logits are ``scale * (a @ b.T) + bias`` (``a`` (M, D), ``b`` (M', D); ``a is b`` for the self-similarity
losses). :class:`_TiledRows` walks the rows of ``a`` in blocks of ``chunk_size``: the forward pass builds one
(chunk_size, M') block of logits at a time, turns it into per-row losses and keeps only per-row statistics (a
log-sum-exp and a positive-term factor: O(M)). The exact gradient of a block, ``G = dL/dlogits``, follows in
closed form and gives ``da_I = scale * G @ b``, ``db += scale * G.T @ a_I``, ``dbias = sum G``,
``dscale = sum G * (a_I @ b.T)``. For a summed loss ("mean"/"sum") this happens in the forward's own pass (the
upstream gradient of a scalar is one number, applied in backward), so the three (M, M', D) matmuls are those of
the unchunked loss; for per-row losses the backward recomputes each block from ``a`` and ``b``. Nothing
of size M x M' is ever held: the working memory is a few (rows, M') blocks, about ``9 * rows * M'`` floats, plus
``O((M + M') * D)`` for the embeddings and their gradients, where ``rows = min(chunk_size, 2**22 // M')``: a
block never holds more than 4M logits (:data:`BLOCK_ELEMENTS`, a limit of the allocator, not of memory).

Each loss is a :class:`RowKernel` (how one block of logits becomes per-row losses and per-row statistics, and how
the block's gradient follows from them); positives and negatives come from integer ``labels`` of the rows and the
columns (``siglip``: ``arange``, positives on the diagonal). The masks are built per block from the labels, so
no (M, M') mask exists either. Everything runs in the dtype of ``a`` (float32 under autocast: the functional forms
are ``float32_loss``, and the backward switches autocast off too). No ``.item()``, no host sync: the loop bounds
are shapes, so it traces under ``torch.compile`` and runs on any device.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._precision import autocast_off

__all__ = ["check_chunk_size", "masked_logsumexp", "tiled_row_losses", "RowKernel", "INFO_NCE", "SUPCON", "SIGLIP"]


def check_chunk_size(loss: str, chunk_size: int | None, reduction: str, *, rowwise_none: bool) -> int | None:
    """``None`` or a positive int; ``reduction="none"`` is refused with a chunk size unless the loss's "none" output
    is per row (``rowwise_none``): a per-pair (M, M) output is the matrix that ``chunk_size`` exists to avoid."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{loss}: chunk_size must be None or a positive int, got {chunk_size!r}")
    if reduction == "none" and not rowwise_none:
        raise ValueError(
            f"{loss}: reduction='none' returns the full (N, N) per-pair matrix, which chunk_size exists to avoid; "
            "use reduction='mean' or 'sum' with chunk_size, or chunk_size=None"
        )
    return int(chunk_size)


def _masks(rows: torch.Tensor, cols: torch.Tensor, start: int, exclude_self: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) masks of one block: equal labels / different labels; ``exclude_self`` drops the pair
    of row ``start + r`` with column ``start + r`` (an embedding with itself) from the positives."""
    same = rows[:, None] == cols[None, :]
    if not exclude_self:
        return same, ~same
    row_ids = torch.arange(start, start + rows.shape[0], device=rows.device)
    not_self = row_ids[:, None] != torch.arange(cols.shape[0], device=cols.device)[None, :]
    return same & not_self, ~same


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor, *, add_one: bool = False) -> torch.Tensor:
    """Row-wise ``log(sum_{mask} exp(x))`` (``+ exp(0)`` with ``add_one``), finite with finite gradients
    even for an empty row (it then gives ``log(tiny)``, or exactly 0 with ``add_one``). Shared by the unchunked
    metric losses (``metric``, ``metric_pairs``, ``metric_proxies``) and the row kernels here."""
    neg_inf = torch.finfo(x.dtype).min
    row_max = torch.where(mask, x, neg_inf).amax(dim=1, keepdim=True).detach()
    if add_one:
        row_max = row_max.clamp_min(0.0)
    else:
        row_max = torch.where(mask.any(dim=1, keepdim=True), row_max, torch.zeros_like(row_max))
    total = torch.where(mask, torch.exp(x - row_max), torch.zeros_like(x)).sum(dim=1)
    if add_one:
        total = total + torch.exp(-row_max.squeeze(1))
    return total.clamp_min(torch.finfo(x.dtype).tiny).log() + row_max.squeeze(1)


def _softplus_grad(x: torch.Tensor) -> torch.Tensor:
    """The derivative of ``F.softplus`` as torch computes it (linear past its threshold 20), so the chunked gradients
    are those of the unchunked value to the last bit rather than differing by up to ``e^-20``."""
    return torch.where(x > 20.0, torch.ones_like(x), torch.sigmoid(x))


class RowKernel:
    """How a block of logits (rows I, all columns) becomes per-row losses, and its gradient."""

    name = ""
    exclude_self = True

    def forward(self, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-row loss, per-row statistics (rows, k)) of the block ``z``."""
        raise NotImplementedError

    def grad(self, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """``d(per-row loss_i) / dz_ij`` for the block (the caller multiplies by the row's upstream gradient)."""
        raise NotImplementedError


class _InfoNCE(RowKernel):
    """Row i: ``sum_{j pos} softplus(lse_neg_i - z_ij)``. Statistics: ``lse_neg_i`` and
    ``c_i = sum_{j pos} sigmoid(lse_neg_i - z_ij)``; gradient ``-sigmoid(lse_i - z_ij)`` on positives,
    ``c_i * exp(z_ij - lse_i)`` on negatives."""

    name = "info_nce"

    def forward(self, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lse = masked_logsumexp(z, neg)
        gap = lse[:, None] - z
        zero = torch.zeros_like(z)
        loss = torch.where(pos, F.softplus(gap), zero).sum(dim=1)
        c = torch.where(pos, _softplus_grad(gap), zero).sum(dim=1)
        return loss, torch.stack([lse, c], dim=1)

    def grad(self, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        lse, c = stats[:, :1], stats[:, 1:]
        on_neg = torch.where(neg, c * torch.exp(z - lse), torch.zeros_like(z))
        return torch.where(pos, -_softplus_grad(lse - z), on_neg)


class _SupCon(RowKernel):
    """Row i with ``n_i > 0`` positives: ``lse_{j != i} z_ij - (1/n_i) sum_{j pos} z_ij`` (0 without positives).
    Statistics: ``lse_i`` and ``n_i``; gradient ``softmax_{j != i}(z_i)_j - [j pos] / n_i`` on rows with positives."""

    name = "supcon"

    def forward(self, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lse = masked_logsumexp(z, pos | neg)
        n_pos = pos.sum(dim=1).to(z.dtype)
        mean_pos = torch.where(pos, z, torch.zeros_like(z)).sum(dim=1) / n_pos.clamp_min(1)
        loss = torch.where(n_pos > 0, lse - mean_pos, torch.zeros_like(lse))
        return loss, torch.stack([lse, n_pos], dim=1)

    def grad(self, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        lse, n_pos = stats[:, :1], stats[:, 1:]
        softmax = torch.where(pos | neg, torch.exp(z - lse), torch.zeros_like(z))
        g = softmax - pos.to(z.dtype) / n_pos.clamp_min(1)
        return torch.where(n_pos > 0, g, torch.zeros_like(g))


class _SigLip(RowKernel):
    """Row i: ``sum_j -logsigmoid(y_ij z_ij)``, ``y = +1`` on positives (the diagonal), -1 elsewhere; gradient
    ``-y_ij sigmoid(-y_ij z_ij)``; no statistics needed."""

    name = "siglip"
    exclude_self = False

    def forward(self, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return -F.logsigmoid(torch.where(pos, z, -z)).sum(dim=1), z.new_zeros(z.shape[0], 0)

    def grad(self, z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(torch.where(pos, -z, z))
        return torch.where(pos, -s, s)


INFO_NCE, SUPCON, SIGLIP = _InfoNCE(), _SupCon(), _SigLip()


#: A block holds at most this many logits (16 MiB in float32), whatever ``chunk_size`` allows: glibc hands a larger
#: buffer back to the OS when it is freed, so each of a block's dozen temporaries would page-fault anew on every
#: block (measured, N = 16384, D = 256, 2 threads, forward+backward: 1024-row blocks 17.3 s, 7.6 s with the
#: allocator told to keep its memory; 256-row blocks 8.4 s; unchunked 11.0 s).
BLOCK_ELEMENTS = 1 << 22


def _blocks(m: int, chunk: int, columns: int) -> list[tuple[int, int]]:
    """Row blocks of at most ``chunk`` rows and :data:`BLOCK_ELEMENTS` logits."""
    rows = max(1, min(chunk, BLOCK_ELEMENTS // max(columns, 1)))
    return [(start, min(start + rows, m)) for start in range(0, m, rows)]


Grads = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


def _zero_grads(
    a: torch.Tensor, cols: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, need: tuple[bool, ...], same: bool
) -> Grads:
    """Zeroed gradients of (a, cols, scale, bias) for those ``need``-ed; with ``a @ a.T`` (``same``) both sides
    share one tensor, so the column gradient lands on ``a``."""
    grad_a = torch.zeros_like(a) if need[0] else None
    grad_b = grad_a if same else torch.zeros_like(cols) if need[1] else None
    return grad_a, grad_b, torch.zeros_like(scale) if need[2] else None, torch.zeros_like(bias) if need[3] else None


def _accumulate(
    grads: Grads, g: torch.Tensor, dots: torch.Tensor, cols: torch.Tensor, a_rows: torch.Tensor, start: int, stop: int
) -> None:
    """One block's share, ``g = dL/dlogits`` of rows [start, stop): ``da_I += g @ b``, ``db += g.T @ a_I`` (both
    still to be multiplied by ``scale``: :func:`_scaled`), ``dscale += sum g * (a_I @ b.T)``, ``dbias += sum g``."""
    grad_a, grad_b, grad_scale, grad_bias = grads
    if grad_a is not None:
        grad_a[start:stop].addmm_(g, cols)
    if grad_b is not None:
        grad_b.addmm_(g.T, a_rows)
    if grad_scale is not None:
        grad_scale += (g * dots).sum()
    if grad_bias is not None:
        grad_bias += g.sum()


def _scaled(grads: Grads, factor: torch.Tensor, scale: torch.Tensor, same: bool) -> tuple[torch.Tensor | None, ...]:
    """The gradients for ``backward``, times the upstream ``factor`` (0-d; 1 when it was applied per row), with the
    embeddings' ones times ``scale`` (one (M, D) multiply instead of one per block), ``None`` for ``b`` when it
    was ``a``."""
    grad_a, grad_b, grad_scale, grad_bias = grads
    emb_factor = factor * scale
    for gr, f in (
        (grad_a, emb_factor),
        (None if same else grad_b, emb_factor),
        (grad_scale, factor),
        (grad_bias, factor),
    ):
        if gr is not None:
            gr.mul_(f)
    return grad_a, None if same else grad_b, grad_scale, grad_bias, None, None, None, None, None


class _TiledRows(torch.autograd.Function):
    """Per-row losses (M,) of ``kernel`` over the logits ``scale * a @ b.T + bias``, in row blocks of ``chunk``, or
    with ``total`` their sum (a scalar), and the number of positives of each row (M,) (int64, no gradient: what a
    mean over positive pairs divides by).

    With ``total`` and gradients wanted, the forward's one pass over the blocks also forms the gradients (the
    upstream gradient of a scalar is one number, applied in backward), so no block is built twice: the same three
    (M, M', D) matmuls as the unchunked loss. Otherwise (``"none"``, or a second backward through a retained
    graph) the backward recomputes each block's logits from ``a`` and ``b``."""

    @staticmethod
    def forward(
        ctx: Any,
        a: torch.Tensor,
        b: torch.Tensor | None,
        scale: torch.Tensor,
        bias: torch.Tensor,
        row_labels: torch.Tensor,
        col_labels: torch.Tensor | None,
        kernel: RowKernel,
        chunk: int,
        total: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # b None: the columns are the rows (a @ a.T); torch.compile refuses the same tensor passed twice
        cols, col_ids = (a, row_labels) if b is None else (b, col_labels if col_labels is not None else row_labels)
        same = b is None
        need = tuple(bool(x) for x in ctx.needs_input_grad[:4])
        grads = _zero_grads(a, cols, scale, bias, need, same) if total and any(need) else None
        losses, stats, counts = [], [], []
        with autocast_off(a):
            for start, stop in _blocks(a.shape[0], chunk, cols.shape[0]):
                a_rows = a[start:stop]
                dots = a_rows @ cols.T
                z = scale * dots + bias
                pos, neg = _masks(row_labels[start:stop], col_ids, start, kernel.exclude_self)
                loss, stat = kernel.forward(z, pos, neg)
                if grads is not None:
                    _accumulate(grads, kernel.grad(z, pos, neg, stat), dots, cols, a_rows, start, stop)
                losses.append(loss)
                stats.append(stat)
                counts.append(pos.sum(dim=1))
        ctx.save_for_backward(a, cols, scale, bias, row_labels, col_ids, torch.cat(stats))
        ctx.kernel, ctx.chunk, ctx.same, ctx.grads = kernel, chunk, same, grads
        n_pos = torch.cat(counts)
        ctx.mark_non_differentiable(n_pos)
        rows = torch.cat(losses)
        return (rows.sum() if total else rows), n_pos

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor, _grad_counts: Any) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():  # create_graph=True: the saved statistics would be constants, the result wrong
            raise RuntimeError(
                f"{ctx.kernel.name}: chunk_size gives first derivatives only (no create_graph / double backward); "
                "use chunk_size=None for a second derivative"
            )
        grads, ctx.grads = ctx.grads, None  # formed in the forward: scaled in place, released, used once
        if grads is not None:
            return _scaled(grads, grad_out, ctx.saved_tensors[2], ctx.same)
        a, b, scale, bias, row_labels, col_ids, stats = ctx.saved_tensors
        kernel: RowKernel = ctx.kernel
        need = tuple(bool(x) for x in ctx.needs_input_grad[:4])
        grads = _zero_grads(a, b, scale, bias, need, ctx.same)
        with autocast_off(a):
            for start, stop in _blocks(a.shape[0], ctx.chunk, b.shape[0]):
                a_rows = a[start:stop]
                dots = a_rows @ b.T
                pos, neg = _masks(row_labels[start:stop], col_ids, start, kernel.exclude_self)
                g = kernel.grad(scale * dots + bias, pos, neg, stats[start:stop])
                g = g * (grad_out if grad_out.dim() == 0 else grad_out[start:stop, None])
                _accumulate(grads, g, dots, b, a_rows, start, stop)
        return _scaled(grads, torch.ones_like(scale), scale, ctx.same)


def tiled_row_losses(
    kernel: RowKernel,
    a: torch.Tensor,
    b: torch.Tensor | None,
    labels: tuple[torch.Tensor, torch.Tensor | None],
    chunk_size: int,
    scale: torch.Tensor | float,
    bias: torch.Tensor | float = 0.0,
    *,
    total: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row losses (M,) and positives per row (M,) of ``kernel`` over ``scale * a @ b.T + bias`` (``a`` (M, D),
    ``b`` (M', D), or None for ``a @ a.T``), walked in blocks of ``chunk_size`` rows; ``labels`` = (row labels (M,),
    column labels (M',) or None: the row labels), equal labels = positive. ``scale`` and ``bias`` may be 0-d
    tensors with gradients (siglip's learnable ones). ``total``: the sum of the per-row losses (a scalar) instead,
    with its gradients formed in the same pass (what "mean" and "sum" need: no block is built twice)."""
    scale_t = torch.as_tensor(scale, dtype=a.dtype, device=a.device)
    bias_t = torch.as_tensor(bias, dtype=a.dtype, device=a.device)
    losses, n_pos = _TiledRows.apply(  # type: ignore[no-untyped-call]
        a, b, scale_t, bias_t, *labels, kernel, chunk_size, total
    )
    return losses, n_pos
