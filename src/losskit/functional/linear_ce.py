r"""Cross-entropy over a large output layer without the (N, V) logits: ``linear_cross_entropy``.

``cross_entropy(hidden @ weight.T + bias, target)`` computed by a custom autograd function that walks the rows
in chunks of ``chunk_size`` (:func:`walk_rows`, the one pass over the logits). The forward keeps only the
per-row logsumexp (N floats); the gradients of ``hidden``, ``weight`` and ``bias`` are formed chunk by chunk
from each chunk's logits, so neither the logits nor their gradient ever exist in full. For "none" the backward
recomputes each chunk's logits from the saved logsumexp. For "mean"/"sum" (a scalar, whose upstream gradient is
one number) the gradients are formed in the forward's own pass over the logits and scaled in backward: one
logits matmul instead of two, which keeps the time at the unfused computation's on CPU (a second backward through
the same graph, ``retain_graph=True``, recomputes them). The chunk machinery (:func:`chunk_rows`,
:func:`matmul_dtype`, :func:`chunk_logits`, :func:`walk_rows`) is the one for every linear-output loss.

Precision: the logsumexp, the softmax, the per-row losses, the reduction and the ``weight``/``bias`` gradient
accumulators are float32 (float64 stays float64). Under fp16/bf16 autocast the chunk matmuls run in the
autocast dtype, as ``F.linear`` would, and their output is upcast before any statistic; outside autocast
they run in the inputs' dtype. The loss is returned in float32 (float64 for float64 inputs).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_labels, check_reduction, check_tensor, ignored_mask, shape_str
from ._precision import autocast_off
from ._reduce import reduce

__all__ = [
    "linear_cross_entropy",
    "chunk_rows",
    "matmul_dtype",
    "chunk_logits",
    "walk_rows",
    "ChunkedLinear",
    "ChunkSpec",
    "ChunkKernel",
    "check_chunk_size",
    "check_linear_ce_options",
    "LOGITS_BUDGET_BYTES",
    "MIN_CHUNK_ROWS",
]

Reduction = Literal["mean", "sum", "none"]

#: The automatic chunk's working set: about four (chunk, V) float32 buffers live at once (the logits, their
#: exponentials, the logit gradient and a temporary) must fit in this many bytes...
LOGITS_BUDGET_BYTES = 64 * 2**20
#: ...but a chunk is never narrower than this many rows: the chunk's (rows, H) @ (H, V) matmul runs at a fraction
#: of the machine's speed below it (measured at N=2048, H=1024, V=131072, 2 CPU threads, forward+backward against
#: the unfused 7.0 s: 32 rows 11.1 s, 64 10.2 s, 128 8.2 s, 256 7.3 s, 512 7.5 s).
MIN_CHUNK_ROWS = 256


def chunk_rows(n: int, v: int, chunk_size: int | None, itemsize: int = 4) -> int:
    """Rows per chunk: ``chunk_size`` when given, else ``max(256, 64 MiB // (4 * V * itemsize))``, at most N."""
    if chunk_size is None:
        chunk_size = max(MIN_CHUNK_ROWS, LOGITS_BUDGET_BYTES // (4 * max(v, 1) * itemsize))
    return max(1, min(int(chunk_size), max(n, 1)))


def matmul_dtype(*tensors: Tensor) -> torch.dtype:
    """The chunk matmul's dtype: the autocast dtype when autocast is on for the device, else the inputs' one."""
    device = tensors[0].device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def chunk_logits(h: Tensor, w: Tensor, b: Tensor | None, acc: torch.dtype) -> Tensor:
    """``h @ w.T + b`` for one chunk (``h`` and ``w`` already in the matmul dtype), upcast to ``acc``."""
    z = (h @ w.T).to(acc)
    return z if b is None else z + b.to(acc)


def _softcapped(z: Tensor, softcap: float | None) -> Tensor:
    return z if softcap is None else softcap * torch.tanh(z / softcap)


Grads = tuple[Tensor | None, Tensor | None, Tensor | None]
#: What a chunk kernel returns for rows [start, stop): their losses (None in a backward recompute), a per-row
#: statistic to save for the backward (None: nothing), and d(sum_n g_n loss_n)/d logits (None without ``g``).
ChunkOut = tuple[Tensor | None, Tensor | None, Tensor | None]


class ChunkKernel:
    """The loss-specific part of a chunked linear-output loss: from one chunk's logits ``z`` (upcast, rows
    [start, stop)) and the per-row gradient weights ``g`` (None: no gradient wanted), a :data:`ChunkOut`."""

    def __call__(self, start: int, stop: int, z: Tensor, g: Tensor | None) -> ChunkOut:
        raise NotImplementedError


class ChunkSpec:
    """A chunked linear-output loss for :class:`ChunkedLinear`: the chunk rows, the matmul dtype and its kernel,
    built from the extra tensors (a teacher's hidden states and head), the saved per-row statistic (None in the
    forward), the accumulation dtype and whether it is the forward (losses wanted) or the backward's recompute."""

    def __init__(self, chunk: int, mm: torch.dtype) -> None:
        self.chunk, self.mm = chunk, mm

    def kernel(self, extra: tuple[Tensor, ...], stats: Tensor | None, acc: torch.dtype, forward: bool) -> ChunkKernel:
        raise NotImplementedError


def walk_rows(
    h: Tensor,
    w: Tensor,
    b: Tensor | None,
    spec: ChunkSpec,
    kernel: ChunkKernel,
    *,
    g: Tensor | None = None,
    need: tuple[bool, bool, bool] = (True, True, True),
) -> tuple[Tensor | None, Tensor | None, Grads]:
    """The one pass over the rows in chunks of every linear-output loss: each chunk's logits ``h_c @ w.T + b``
    (in ``spec.mm``, upcast to float32/float64) go to ``kernel``; its losses and statistics are gathered, and
    with per-row weights ``g`` its logit gradients give those of (hidden, weight, bias) that are ``need``-ed,
    accumulated in float32 (float64). Nothing of size (N, V) is ever made."""
    acc = torch.float64 if torch.float64 in (h.dtype, w.dtype) else torch.float32
    n, v = h.shape[0], w.shape[0]
    rows = stats = None
    grad_h = torch.empty(h.shape, dtype=acc, device=h.device) if g is not None and need[0] else None
    grad_w = torch.zeros(w.shape, dtype=acc, device=w.device) if g is not None and need[1] else None
    grad_b = torch.zeros(v, dtype=acc, device=w.device) if g is not None and need[2] and b is not None else None
    w_mm = w.to(spec.mm)
    for start in range(0, n, spec.chunk):
        stop = min(start + spec.chunk, n)
        h_c = h[start:stop].to(spec.mm)
        loss, stat, d = kernel(start, stop, chunk_logits(h_c, w_mm, b, acc), None if g is None else g[start:stop])
        if loss is not None:
            rows = h.new_empty(n, dtype=acc) if rows is None else rows
            rows[start:stop] = loss
        if stat is not None:
            stats = h.new_empty(n, dtype=acc) if stats is None else stats
            stats[start:stop] = stat
        if d is None:
            continue
        if grad_b is not None:
            grad_b += d.sum(dim=0)
        d_mm = d.to(spec.mm)
        if grad_h is not None:
            grad_h[start:stop] = d_mm @ w_mm
        if grad_w is not None and grad_w.dtype == spec.mm:
            grad_w.addmm_(d_mm.T, h_c)  # in place: no (V, H) temporary per chunk
        elif grad_w is not None:
            grad_w += d_mm.T @ h_c
    return rows, stats, (grad_h, grad_w, grad_b)


def _as(grads: tuple[Tensor | None, ...], *like: Tensor | None) -> tuple[Tensor | None, ...]:
    return tuple(None if gr is None or x is None else gr.to(x.dtype) for gr, x in zip(grads, like, strict=True))


class ChunkedLinear(torch.autograd.Function):
    """A chunked linear-output loss (``spec``) of ``h @ w.T + b``: the per-row losses (N,), or with ``total`` their
    sum weighted by ``g`` (a scalar), whose gradients are formed in the forward's pass over the logits and scaled
    by the upstream gradient in backward; otherwise (and for a second backward) the backward recomputes each
    chunk's logits. ``extra`` tensors (a teacher) reach the kernel and get no gradient."""

    @staticmethod
    def forward(
        ctx: Any, h: Tensor, w: Tensor, b: Tensor | None, g: Tensor, spec: ChunkSpec, total: bool, *extra: Tensor
    ) -> Tensor:
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]), bool(ctx.needs_input_grad[2]))
        fused = total and any(need)
        acc = torch.float64 if torch.float64 in (h.dtype, w.dtype) else torch.float32
        with autocast_off(h):
            rows, stats, grads = walk_rows(
                h, w, b, spec, spec.kernel(extra, None, acc, True), g=g if fused else None, need=need
            )
        rows = h.new_zeros(h.shape[0], dtype=acc) if rows is None else rows  # None: no rows (N = 0)
        ctx.save_for_backward(h, w, b, g, stats, *extra)
        ctx.spec, ctx.total, ctx.grads = spec, total, (grads if fused else None)
        return torch.where(g != 0, rows * g, 0.0).sum() if total else rows

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        h, w, b, g, stats, *extra = ctx.saved_tensors
        nones = (None,) * (3 + len(extra))
        grads, ctx.grads = ctx.grads, None  # formed in the forward: scaled in place, released, used once
        if grads is not None:
            scaled = tuple(None if gr is None else gr.mul_(grad.to(gr.dtype)) for gr in grads)
            return (*_as(scaled, h, w, b), *nones)
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]), bool(ctx.needs_input_grad[2]))
        acc = g.dtype
        weights = (grad * g if ctx.total else grad).to(acc)  # a scalar upstream broadcasts over the rows
        with autocast_off(h):
            kernel = ctx.spec.kernel(tuple(extra), stats, acc, False)
            _, _, recomputed = walk_rows(h, w, b, ctx.spec, kernel, g=weights, need=need)
        return (*_as(recomputed, h, w, b), *nones)


class _CrossEntropySpec(ChunkSpec):
    def __init__(self, t: Tensor, smoothing: float, z_loss: float, softcap: float | None, chunk: int, mm: torch.dtype):
        super().__init__(chunk, mm)
        self.t, self.smoothing, self.z_loss, self.softcap = t, smoothing, z_loss, softcap

    def kernel(self, extra: tuple[Tensor, ...], stats: Tensor | None, acc: torch.dtype, forward: bool) -> ChunkKernel:
        return _CrossEntropyKernel(self, stats)


class _CrossEntropyKernel(ChunkKernel):
    """Cross-entropy rows (smoothing, z-loss, softcap); the statistic is the row's logsumexp."""

    def __init__(self, o: _CrossEntropySpec, lse: Tensor | None) -> None:
        self.o, self.lse = o, lse

    def __call__(self, start: int, stop: int, z: Tensor, g: Tensor | None) -> ChunkOut:
        o, t = self.o, self.o.t[start:stop]
        y = _softcapped(z, o.softcap)
        p = None
        if self.lse is not None:  # the backward's recompute: softmax from the saved logsumexp
            m = self.lse[start:stop, None]
            p = torch.exp(y - m)
        elif g is None:  # loss only
            m = torch.logsumexp(y, dim=1, keepdim=True)
        else:  # loss and gradient from one exp pass
            top = y.amax(dim=1, keepdim=True)
            p = (y - top).exp_()
            total = p.sum(dim=1, keepdim=True)
            p.div_(total)
            m = top + total.log()
        loss = None
        if self.lse is None:
            loss = m[:, 0] - (1.0 - o.smoothing) * y.gather(1, t[:, None])[:, 0]
            if o.smoothing:
                loss = loss - (o.smoothing / y.shape[1]) * y.sum(dim=1)
            if o.z_loss:
                loss = loss + o.z_loss * m[:, 0] ** 2
        if g is None or p is None:
            return loss, (m[:, 0] if self.lse is None else None), None
        return loss, (m[:, 0] if self.lse is None else None), _logit_grad(p, y, t, m, g[:, None], o)


def _logit_grad(p: Tensor, y: Tensor, t: Tensor, m: Tensor, g: Tensor, o: _CrossEntropySpec) -> Tensor:
    """d (sum_n g_n row_n) / d z for one chunk, in place in ``p`` = softmax(y):
    ``g (p (1 + 2 z_loss lse) - (1 - eps) onehot(t) - eps / V)``, times ``1 - (y / softcap)^2`` under a softcap."""
    p.mul_(g * (1.0 + 2.0 * o.z_loss * m) if o.z_loss else g)
    p.scatter_add_(1, t[:, None], -(1.0 - o.smoothing) * g)
    if o.smoothing:
        p.sub_((o.smoothing / p.shape[1]) * g)
    if o.softcap is not None:
        p.mul_(1.0 - (y / o.softcap) ** 2)
    return p


def check_chunk_size(loss: str, chunk_size: object) -> None:
    """``chunk_size`` is None (automatic) or an int >= 1: else a ``ValueError`` naming the loss."""
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"{loss}: chunk_size must be an int >= 1 or None, got {chunk_size!r}")


def check_linear_ce_options(
    loss: str, label_smoothing: float, z_loss: float, softcap: float | None, chunk_size: int | None
) -> None:
    """The numeric options of :func:`linear_cross_entropy` (the functional form and the module check alike)."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{loss}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if not z_loss >= 0.0:
        raise ValueError(f"{loss}: z_loss must be >= 0, got {z_loss!r}")
    if softcap is not None and not softcap > 0.0:
        raise ValueError(f"{loss}: softcap must be > 0 or None, got {softcap!r}")
    check_chunk_size(loss, chunk_size)


def _check(
    name: str, hidden: Tensor, weight: Tensor, target: Tensor, bias: Tensor | None, ignore_index: int
) -> tuple[int, int]:
    check_float(name, "hidden", hidden, "(*, H)")
    check_float(name, "weight", weight, "(V, H)")
    check_tensor(name, "target", target)
    if hidden.dim() < 1 or weight.dim() != 2 or hidden.shape[-1] != weight.shape[1]:
        raise LossInputError(
            f"{name}: expected hidden (*, H) and weight (V, H) with the same H, got hidden {shape_str(hidden)} "
            f"and weight {shape_str(weight)}"
        )
    if tuple(target.shape) != tuple(hidden.shape[:-1]):
        raise LossInputError(
            f"{name}: expected target of shape {tuple(hidden.shape[:-1])} (hidden {shape_str(hidden)} without "
            f"its last dim H), got {shape_str(target)}"
        )
    if bias is not None:
        check_float(name, "bias", bias, "(V,)")
        if tuple(bias.shape) != (weight.shape[0],):
            raise LossInputError(f"{name}: expected bias of shape ({weight.shape[0]},), got {shape_str(bias)}")
    n, v = math.prod(target.shape), weight.shape[0]
    if n and not v:
        raise LossInputError(f"{name}: weight {shape_str(weight)} has no rows (a vocabulary of 0 classes)")
    check_labels(name, target, v, ignore_index)
    return n, v


def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    target: Tensor,
    bias: Tensor | None = None,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: Reduction = "mean",
    chunk_size: int | None = None,
) -> Tensor:
    r"""Cross-entropy of ``hidden @ weight.T + bias`` against ``target``, never holding the (N, V) logits.

    .. math::

        y = s \tanh(z / s) \text{ (softcap } s\text{, else } y = z), \quad z = h W^\top + b, \quad
        \ell_n = \operatorname{lse}(y_n) - (1 - \varepsilon)\, y_{n, t_n}
            - \frac{\varepsilon}{V} \sum_v y_{n, v} + \lambda_z \operatorname{lse}(y_n)^2

    Label smoothing ``eps`` as ``F.cross_entropy``'s; PaLM's auxiliary z-loss ``lambda_z lse^2`` (Chowdhery et
    al. 2022); Gemma 2's logit softcap (Gemma Team 2024). Rows whose target is ``ignore_index`` count for
    nothing. The rows are walked in chunks (a custom autograd function): the forward keeps the per-row
    logsumexp, and each chunk's logits give the gradients of ``hidden``, ``weight`` and ``bias`` chunk by chunk:
    recomputed in backward for ``"none"``; for ``"mean"``/``"sum"`` formed in the forward's pass (when gradients
    are enabled) and scaled by the upstream gradient in backward. No ``.item()``, no host sync (except the
    label-range check, under its switch).

    Memory, besides the inputs and their gradients: ``8 N`` bytes (per-row loss and logsumexp, float32), a
    float32 accumulator ``4 (V H + V)`` bytes for the ``weight``/``bias`` gradient and ``4 N H`` for the
    ``hidden`` gradient (these are the gradients when the inputs are float32), a copy of ``weight`` in the
    matmul dtype when it differs (autocast), and the chunk's working set, about ``4 c V`` float32 elements
    (``16 c V`` bytes). The automatic chunk is ``c = max(256, 64 MiB // (16 V))`` rows (256 from V = 16384
    up: a narrower chunk's matmul is slow): 64 MiB at V <= 16384, ``4 KiB * V`` above (512 MiB at V = 131072),
    whatever N is, against ``4 N V`` bytes for the logits alone (and as much again for their gradient) in the
    unfused computation. For "mean"/"sum" the ``hidden``/``weight``/``bias`` gradients exist
    from the forward on (the unfused backward allocates them too, later). Time: three matmuls of the logits' size
    for "mean"/"sum" (as unfused), four for "none" (the recompute).

    Precision: the chunk matmuls run in the autocast dtype under fp16/bf16 autocast (as ``F.linear``), else in
    the inputs' dtype; logsumexp, softmax, the losses, the reduction and the gradient accumulators are float32
    (float64 stays float64). The loss is float32 (float64).

    Args:
        hidden: the last hidden states, (N, H) or (B, T, H) (any leading shape).
        weight: the output layer's weight (V, H), as ``nn.Linear(H, V).weight`` (an ``lm_head.weight``).
        target: class indices of the hidden's leading shape, (N,) or (B, T), any integer dtype.
        bias: the output layer's bias (V,), optional.
        ignore_index: the target value of rows left out (default -100).
        label_smoothing: ``eps`` in [0, 1] (default 0).
        z_loss: ``lambda_z`` >= 0, the weight of ``lse^2`` (default 0; PaLM uses 1e-4).
        softcap: ``s`` > 0, or None (default) for no softcap (Gemma 2 uses 30).
        reduction: ``"mean"`` over the non-ignored rows (0 when there is none), ``"sum"``, ``"none"``.
        chunk_size: rows per chunk, or None (default) for the automatic size above.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty or all-ignored batch, with a zero gradient); the
        target's shape for ``"none"`` (0 at ignored rows).

    Example:
        >>> hidden, head = torch.randn(6, 16), torch.nn.Linear(16, 50)
        >>> target = torch.tensor([1, 7, 49, -100, 3, 0])
        >>> loss = linear_cross_entropy(hidden, head.weight, target, head.bias, chunk_size=4)
        >>> ref = torch.nn.functional.cross_entropy(head(hidden), target)
        >>> torch.allclose(loss, ref, atol=1e-6)
        True

    Parity: ``F.cross_entropy(F.linear(hidden, weight, bias), target, ignore_index=..., label_smoothing=...,
    reduction=...)`` plus ``z_loss * lse^2`` over the same rows, on the softcapped logits; Liger-Kernel's
    ``LigerFusedLinearCrossEntropyLoss`` and Apple's Cut Cross-Entropy compute the same quantity.
    """
    name = "linear_cross_entropy"
    check_reduction(name, reduction)
    check_linear_ce_options(name, label_smoothing, z_loss, softcap, chunk_size)
    n, v = _check(name, hidden, weight, target, bias, ignore_index)
    mm = matmul_dtype(hidden, weight)
    h = hidden.reshape(n, hidden.shape[-1])
    flat = target.reshape(n)
    ignored = ignored_mask(flat, ignore_index)
    valid = torch.ones_like(flat, dtype=torch.bool) if ignored is None else ~ignored
    t = torch.where(valid, flat, 0).long()  # ignored rows gather class 0; their loss and gradient are zeroed
    spec = _CrossEntropySpec(t, float(label_smoothing), float(z_loss), softcap, chunk_rows(n, v, chunk_size), mm)
    # "mean"/"sum" with gradients wanted: one pass over the logits forms the loss and its gradients (the upstream
    # gradient of a scalar is one number, applied in backward); "none": the backward recomputes the logits
    total = reduction != "none" and torch.is_grad_enabled()
    w_valid = valid.to(torch.float64 if torch.float64 in (hidden.dtype, weight.dtype) else torch.float32)
    out: Tensor = ChunkedLinear.apply(h, weight, bias, w_valid, spec, total)  # type: ignore[no-untyped-call]
    if not total:
        rows = reduce(torch.where(valid, out, 0.0), reduction, valid)
        return rows.reshape(target.shape) if reduction == "none" else rows
    return out if reduction == "sum" else out / valid.sum(dtype=out.dtype).clamp_min(1)
