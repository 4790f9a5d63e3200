r"""Cross-entropy over a large output layer without the (N, V) logits: ``linear_cross_entropy``.

``cross_entropy(hidden @ weight.T + bias, target)`` computed by a custom autograd function that walks the rows
in chunks of ``chunk_size``. The forward keeps only the per-row logsumexp (N floats); the backward recomputes
each chunk's logits from ``hidden`` and ``weight`` and forms the gradients of ``hidden``, ``weight`` and
``bias`` chunk by chunk, so neither the logits nor their gradient ever exist in full. The chunk machinery
(:func:`chunk_rows`, :func:`matmul_dtype`, :func:`chunk_logits`) is shared with ``linear_distill``.

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
from ._reduce import acc_dtype, reduce

__all__ = ["linear_cross_entropy", "chunk_rows", "matmul_dtype", "chunk_logits", "LOGITS_BUDGET_BYTES"]

Reduction = Literal["mean", "sum", "none"]

#: The automatic chunk's working set: about four (chunk, V) float32 buffers live at once (the logits, their
#: exponentials, the logit gradient and a temporary) must fit in this many bytes.
LOGITS_BUDGET_BYTES = 64 * 2**20


def chunk_rows(n: int, v: int, chunk_size: int | None, itemsize: int = 4) -> int:
    """Rows per chunk: ``chunk_size`` when given, else ``max(1, 64 MiB // (4 * V * itemsize))``, at most N."""
    if chunk_size is None:
        chunk_size = max(1, LOGITS_BUDGET_BYTES // (4 * max(v, 1) * itemsize))
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


class _Options:
    """The options the chunk kernels need, in one object (saved on the autograd context)."""

    def __init__(self, smoothing: float, z_loss: float, softcap: float | None, chunk: int, mm: torch.dtype) -> None:
        self.smoothing, self.z_loss, self.softcap, self.chunk, self.mm = smoothing, z_loss, softcap, chunk, mm


def _forward_rows(h: Tensor, w: Tensor, b: Tensor | None, t: Tensor, o: _Options) -> tuple[Tensor, Tensor]:
    """Per-row loss and logsumexp, chunk by chunk (``t`` holds 0 at ignored rows; masking is the caller's)."""
    acc = acc_dtype(w) if h.dtype != torch.float64 else torch.float64
    n, v = h.shape[0], w.shape[0]
    rows = h.new_empty(n, dtype=acc)
    lse = h.new_empty(n, dtype=acc)
    w_mm = w.to(o.mm)
    for start in range(0, n, o.chunk):
        stop = min(start + o.chunk, n)
        y = _softcapped(chunk_logits(h[start:stop].to(o.mm), w_mm, b, acc), o.softcap)
        m = torch.logsumexp(y, dim=1)
        picked = y.gather(1, t[start:stop, None]).squeeze(1)
        loss = m - (1.0 - o.smoothing) * picked
        if o.smoothing:
            loss = loss - (o.smoothing / v) * y.sum(dim=1)
        if o.z_loss:
            loss = loss + o.z_loss * m * m
        rows[start:stop], lse[start:stop] = loss, m
    return rows, lse


def _backward_rows(
    h: Tensor, w: Tensor, b: Tensor | None, t: Tensor, lse: Tensor, g: Tensor, o: _Options, need: tuple[bool, ...]
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Gradients of ``sum_n g[n] * row_loss[n]`` w.r.t. hidden, weight and bias, recomputing each chunk's logits.

    d row / d y_v = softmax(y)_v (1 + 2 z_loss lse) - (1 - eps) [v = t] - eps / V, times
    d y / d z = 1 - (y / softcap)^2 under a softcap.
    """
    acc = lse.dtype
    n, v = h.shape[0], w.shape[0]
    w_mm = w.to(o.mm)
    grad_h = torch.empty(h.shape, dtype=acc, device=h.device) if need[0] else None
    grad_w = torch.zeros(w.shape, dtype=acc, device=w.device) if need[1] else None
    grad_b = torch.zeros(v, dtype=acc, device=w.device) if need[2] and b is not None else None
    for start in range(0, n, o.chunk):
        stop = min(start + o.chunk, n)
        h_c = h[start:stop].to(o.mm)
        y = _softcapped(chunk_logits(h_c, w_mm, b, acc), o.softcap)
        m = lse[start:stop, None]
        scale = g[start:stop, None] * (1.0 + 2.0 * o.z_loss * m) if o.z_loss else g[start:stop, None]
        d = torch.exp(y - m).mul_(scale)
        d.scatter_add_(1, t[start:stop, None], -(1.0 - o.smoothing) * g[start:stop, None])
        if o.smoothing:
            d.sub_((o.smoothing / v) * g[start:stop, None])
        if o.softcap is not None:
            d.mul_(1.0 - (y / o.softcap) ** 2)
        del y
        if grad_b is not None:
            grad_b += d.sum(dim=0)
        d_mm = d.to(o.mm)
        if grad_h is not None:
            grad_h[start:stop] = d_mm @ w_mm
        if grad_w is not None and grad_w.dtype == o.mm:
            grad_w.addmm_(d_mm.T, h_c)  # in place: no (V, H) temporary per chunk
        elif grad_w is not None:
            grad_w += d_mm.T @ h_c
    return grad_h, grad_w, grad_b


class _LinearCrossEntropy(torch.autograd.Function):
    """Per-row losses (N,) of the chunked linear cross-entropy; see the module doc."""

    @staticmethod
    def forward(ctx: Any, h: Tensor, w: Tensor, b: Tensor | None, t: Tensor, o: _Options) -> Tensor:
        with autocast_off(h):
            rows, lse = _forward_rows(h, w, b, t, o)
        ctx.save_for_backward(h, w, b, t, lse)
        ctx.options = o
        return rows

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        h, w, b, t, lse = ctx.saved_tensors
        need = tuple(ctx.needs_input_grad[:3])
        with autocast_off(h):
            grad_h, grad_w, grad_b = _backward_rows(h, w, b, t, lse, g.to(lse.dtype), ctx.options, need)
        return (
            None if grad_h is None else grad_h.to(h.dtype),
            None if grad_w is None else grad_w.to(w.dtype),
            None if grad_b is None else grad_b.to(b.dtype),
            None,
            None,
        )


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
    logsumexp, the backward recomputes each chunk's logits and forms the gradients of ``hidden``, ``weight``
    and ``bias``. No ``.item()``, no host sync (except the label-range check, under its switch).

    Memory, besides the inputs and their gradients: ``8 N`` bytes (per-row loss and logsumexp, float32), a
    float32 accumulator ``4 (V H + V)`` bytes for the ``weight``/``bias`` gradient and ``4 N H`` for the
    ``hidden`` gradient (these are the gradients when the inputs are float32), a copy of ``weight`` in the
    matmul dtype when it differs (autocast), and the chunk's working set, about ``4 c V`` float32 elements
    (``16 c V`` bytes). The automatic chunk is ``c = max(1, 64 MiB // (16 V))`` rows (128 at V = 32768):
    about 64 MiB whatever N is, against ``4 N V`` bytes for the logits alone (and as much again for their
    gradient) in the unfused computation. Time: one matmul in the forward, three in the backward.

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
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if not z_loss >= 0.0:
        raise ValueError(f"{name}: z_loss must be >= 0, got {z_loss!r}")
    if softcap is not None and not softcap > 0.0:
        raise ValueError(f"{name}: softcap must be > 0 or None, got {softcap!r}")
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"{name}: chunk_size must be an int >= 1 or None, got {chunk_size!r}")
    n, v = _check(name, hidden, weight, target, bias, ignore_index)
    mm = matmul_dtype(hidden, weight)
    h = hidden.reshape(n, hidden.shape[-1])
    flat = target.reshape(n)
    ignored = ignored_mask(flat, ignore_index)
    valid = torch.ones_like(flat, dtype=torch.bool) if ignored is None else ~ignored
    t = torch.where(valid, flat, 0).long()  # ignored rows gather class 0; their loss and gradient are zeroed
    options = _Options(float(label_smoothing), float(z_loss), softcap, chunk_rows(n, v, chunk_size), mm)
    rows: Tensor = _LinearCrossEntropy.apply(h, weight, bias, t, options)  # type: ignore[no-untyped-call]
    rows = torch.where(valid, rows, 0.0)
    return reduce(rows, reduction, valid).reshape(target.shape if reduction == "none" else ())
