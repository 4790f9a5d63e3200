r"""Distillation of a large output layer without the (N, V) logits of either model: ``linear_kd``, ``linear_jsd``.

The student's hidden states and head weight, the teacher's hidden states and head weight: each chunk of rows
gets both models' logits (two matmuls), its divergence and its gradient with respect to the student's logits,
through the chunk machinery of :mod:`losskit.functional.linear_ce` (:class:`~.linear_ce.ChunkedLinear`,
:func:`~.linear_ce.walk_rows`): neither model's (N, V) logits, nor their gradient, ever exist in full. The
teacher is detached (no gradient reaches its hidden states or head). With hard labels the cross-entropy of the
student's logits is mixed in the same pass (no third matmul).

Rows whose label is ``ignore_index`` (padding) are left out of both terms when a ``target`` is given, as in
Liger-Kernel's fused linear JSD; ``kd`` on logits distils every position (it has no notion of padding).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_labels, check_reduction, ignored_mask, shape_str
from .linear_ce import (
    ChunkedLinear,
    ChunkKernel,
    ChunkOut,
    ChunkSpec,
    check_chunk_size,
    chunk_logits,
    chunk_rows,
    matmul_dtype,
)

__all__ = ["linear_kd_loss", "linear_jsd_loss", "check_distill_options"]

Reduction = Literal["batchmean", "sum", "none"]


class _DistillSpec(ChunkSpec):
    def __init__(
        self, kind: str, temperature: float, beta: float, alpha: float, has_target: bool, chunk: int, mm: torch.dtype
    ) -> None:
        super().__init__(chunk, mm)
        self.kind, self.temperature, self.beta, self.alpha, self.has_target = kind, temperature, beta, alpha, has_target

    def kernel(self, extra: tuple[Tensor, ...], stats: Tensor | None, acc: torch.dtype, forward: bool) -> ChunkKernel:
        return _DistillKernel(self, extra, forward)


class _DistillKernel(ChunkKernel):
    """Per row: ``alpha * soft + (1 - alpha) * CE`` (``soft`` alone without a target); soft is
    ``T^2 KL(p || q)`` (kd) or the generalized JSD (jsd) of the tempered softmaxes ``p`` (teacher), ``q``
    (student)."""

    def __init__(self, o: _DistillSpec, extra: tuple[Tensor, ...], forward: bool) -> None:
        self.o, self.forward = o, forward
        self.th, self.tw, self.t = extra[0], extra[1].to(o.mm), extra[2]
        self.tb = extra[3] if len(extra) > 3 else None

    def __call__(self, start: int, stop: int, z: Tensor, g: Tensor | None) -> ChunkOut:
        o, temp = self.o, self.o.temperature
        u = chunk_logits(self.th[start:stop].to(o.mm), self.tw, self.tb, z.dtype)
        ls, lp = torch.log_softmax(z / temp, dim=1), torch.log_softmax(u / temp, dim=1)
        q, p = ls.exp(), lp.exp()
        if o.kind == "kd" or o.beta == 0.0:  # KL(p || q): kd scales it by T^2 (Hinton), jsd's beta = 0 does not
            scale = temp * temp if o.kind == "kd" else 1.0
            soft = scale * (p * (lp - ls)).sum(dim=1)
            d_soft = (q - p).mul_(scale / temp)
        else:
            if o.beta == 1.0:  # KL(q || p), the reverse KL
                soft, a = (q * (ls - lp)).sum(dim=1), ls - lp
            else:  # beta KL(p || m) + (1 - beta) KL(q || m), m = beta p + (1 - beta) q
                lm = torch.logaddexp(lp + math.log(o.beta), ls + math.log1p(-o.beta))
                soft = o.beta * (p * (lp - lm)).sum(dim=1) + (1.0 - o.beta) * (q * (ls - lm)).sum(dim=1)
                a = (ls - lm).mul_(1.0 - o.beta)  # d soft / d q
            d_soft = q * (a - (q * a).sum(dim=1, keepdim=True)) / temp
        loss, d = soft, d_soft
        if o.has_target and o.alpha < 1.0:
            t = self.t[start:stop, None]
            l1 = ls if temp == 1.0 else torch.log_softmax(z, dim=1)
            loss = o.alpha * soft - (1.0 - o.alpha) * l1.gather(1, t)[:, 0]
            d = d_soft.mul_(o.alpha).add_(l1.exp(), alpha=1.0 - o.alpha)
            d.scatter_add_(1, t, torch.full_like(t, o.alpha - 1.0, dtype=d.dtype))
        elif o.has_target:
            d = d_soft.mul_(o.alpha)
            loss = o.alpha * soft
        return (loss if self.forward else None), None, (None if g is None else d.mul_(g[:, None]))


def check_distill_options(
    loss: str, reduction: str, temperature: float, alpha: float, beta: float, chunk_size: int | None
) -> None:
    """The options of :func:`linear_kd_loss` / :func:`linear_jsd_loss` (the functional forms and the modules)."""
    check_reduction(loss, reduction, ("batchmean", "sum", "none"))
    if not temperature > 0:
        raise ValueError(f"{loss}: temperature must be > 0, got {temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{loss}: alpha must be in [0, 1], got {alpha!r}")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"{loss}: beta must be in [0, 1], got {beta!r}")
    check_chunk_size(loss, chunk_size)


def _distill(
    name: str,
    kind: str,
    hs: Tensor,
    ws: Tensor,
    ht: Tensor,
    wt: Tensor,
    target: Tensor | None,
    bs: Tensor | None,
    bt: Tensor | None,
    temperature: float,
    beta: float,
    alpha: float,
    ignore_index: int,
    reduction: str,
    chunk_size: int | None,
) -> Tensor:
    check_distill_options(name, reduction, temperature, alpha, beta, chunk_size)
    for what, t, layout in (("student_hidden", hs, "(*, H_s)"), ("student_weight", ws, "(V, H_s)")):
        check_float(name, what, t, layout)
    for what, t, layout in (("teacher_hidden", ht, "(*, H_t)"), ("teacher_weight", wt, "(V, H_t)")):
        check_float(name, what, t, layout)
    if ws.dim() != 2 or wt.dim() != 2 or hs.dim() < 1 or hs.shape[-1] != ws.shape[1] or ht.shape[-1:] != wt.shape[1:]:
        raise LossInputError(
            f"{name}: expected hidden states (*, H) and head weights (V, H) with matching H, got student "
            f"{shape_str(hs)} x {shape_str(ws)}, teacher {shape_str(ht)} x {shape_str(wt)}"
        )
    if ht.shape[:-1] != hs.shape[:-1] or wt.shape[0] != ws.shape[0]:
        raise LossInputError(
            f"{name}: expected the teacher's rows and vocabulary to match the student's, got student hidden "
            f"{shape_str(hs)} and weight {shape_str(ws)}, teacher hidden {shape_str(ht)} and weight {shape_str(wt)}"
        )
    for what, bias in (("student_bias", bs), ("teacher_bias", bt)):
        if bias is not None:
            check_float(name, what, bias, "(V,)")
            if tuple(bias.shape) != (ws.shape[0],):
                raise LossInputError(f"{name}: expected {what} of shape ({ws.shape[0]},), got {shape_str(bias)}")
    n, v = math.prod(hs.shape[:-1]), ws.shape[0]
    if n and not v:
        raise LossInputError(f"{name}: the head weights {shape_str(ws)} have no rows (a vocabulary of 0 classes)")
    if target is not None:
        if tuple(target.shape) != tuple(hs.shape[:-1]):
            raise LossInputError(
                f"{name}: expected target of shape {tuple(hs.shape[:-1])} (the hidden states' rows), got "
                f"{shape_str(target)}"
            )
        check_labels(name, target, v, ignore_index)
    acc = torch.float64 if torch.float64 in (hs.dtype, ws.dtype) else torch.float32
    flat = None if target is None else target.reshape(n)
    ignored = None if flat is None else ignored_mask(flat, ignore_index)
    valid = torch.ones(n, dtype=torch.bool, device=hs.device) if ignored is None else ~ignored
    t = torch.zeros(n, dtype=torch.long, device=hs.device) if flat is None else torch.where(valid, flat, 0).long()
    mm = matmul_dtype(hs, ws, ht, wt)
    spec = _DistillSpec(kind, temperature, beta, alpha, target is not None, chunk_rows(n, v, chunk_size, 8), mm)
    extra = (ht.detach().reshape(n, ht.shape[-1]), wt.detach(), t) + (() if bt is None else (bt.detach(),))
    total = reduction != "none" and torch.is_grad_enabled()
    h = hs.reshape(n, hs.shape[-1])
    out: Tensor = ChunkedLinear.apply(h, ws, bs, valid.to(acc), spec, total, *extra)  # type: ignore[no-untyped-call]
    if not total:
        out = torch.where(valid, out, 0.0)
        if reduction == "none":
            return out.reshape(hs.shape[:-1])
        out = out.sum()
    return out if reduction == "sum" else out / valid.sum(dtype=out.dtype).clamp_min(1)


def linear_kd_loss(
    student_hidden: Tensor,
    student_weight: Tensor,
    teacher_hidden: Tensor,
    teacher_weight: Tensor,
    target: Tensor | None = None,
    *,
    student_bias: Tensor | None = None,
    teacher_bias: Tensor | None = None,
    temperature: float = 4.0,
    alpha: float = 0.5,
    ignore_index: int = -100,
    reduction: Reduction = "batchmean",
    chunk_size: int | None = None,
) -> Tensor:
    r"""Logit distillation (Hinton et al. 2015) of a large output layer, never holding either model's logits:

    .. math::

        \ell_n = \alpha\, T^2 \operatorname{KL}(\operatorname{softmax}(u_n / T) \,\|\, \operatorname{softmax}(s_n / T))
            + (1 - \alpha)\, \operatorname{CE}(s_n, t_n), \quad s = h_s W_s^\top + b_s,\ u = h_t W_t^\top + b_t

    the CE term only with a ``target`` (without one, :math:`\ell_n` is the KD term alone). The teacher is
    detached. Rows are walked in chunks as in :func:`~losskit.functional.linear_cross_entropy`; memory besides
    the inputs and the student's gradients: a chunk of about ``8 c V`` float32 elements (both models' logits,
    their softmaxes, the gradient), ``c = max(256, 64 MiB // (32 V))`` rows by default, against ``4 N V`` bytes
    per logits tensor unfused. Under fp16/bf16 autocast the matmuls run in the autocast dtype, everything else
    in float32.

    Args:
        student_hidden: the student's last hidden states (N, H_s) or (B, T, H_s).
        student_weight: the student's output layer weight (V, H_s).
        teacher_hidden: the teacher's hidden states, the student's rows (N, H_t) or (B, T, H_t) (detached).
        teacher_weight: the teacher's output layer weight (V, H_t) (detached).
        target: hard labels of the rows' shape, any integer dtype (optional): adds the CE term, and rows labelled
            ``ignore_index`` (padding) are left out of both terms.
        student_bias: the student's output bias (V,), optional.
        teacher_bias: the teacher's output bias (V,), optional.
        temperature: T > 0 (default 4.0).
        alpha: the KD term's weight in [0, 1] with a target (default 0.5); the CE term gets ``1 - alpha``.
        ignore_index: the label of rows left out (default -100).
        reduction: "batchmean" (default): the mean over the (non-ignored) rows; "sum"; "none": per row, the
            rows' shape (0 at ignored rows).
        chunk_size: rows per chunk, or None (default) for the automatic size above.

    Example:
        >>> student, teacher = torch.nn.Linear(8, 30), torch.nn.Linear(16, 30)
        >>> hs, ht = torch.randn(5, 8), torch.randn(5, 16)
        >>> loss = linear_kd_loss(hs, student.weight, ht, teacher.weight, student_bias=student.bias,
        ...                       teacher_bias=teacher.bias, temperature=2.0)
        >>> from losskit.functional import kd_loss
        >>> ref = kd_loss(student(hs), teacher(ht), temperature=2.0)
        >>> torch.allclose(loss, ref, atol=1e-6)
        True

    Parity: :func:`~losskit.functional.kd_loss` on ``F.linear`` logits (with a target: on the non-ignored rows).
    """
    return _distill(
        "linear_kd",
        "kd",
        student_hidden,
        student_weight,
        teacher_hidden,
        teacher_weight,
        target,
        student_bias,
        teacher_bias,
        temperature,
        0.0,
        alpha,
        ignore_index,
        reduction,
        chunk_size,
    )


def linear_jsd_loss(
    student_hidden: Tensor,
    student_weight: Tensor,
    teacher_hidden: Tensor,
    teacher_weight: Tensor,
    target: Tensor | None = None,
    *,
    student_bias: Tensor | None = None,
    teacher_bias: Tensor | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
    alpha: float = 0.5,
    ignore_index: int = -100,
    reduction: Reduction = "batchmean",
    chunk_size: int | None = None,
) -> Tensor:
    r"""Generalized Jensen-Shannon distillation (GKD, Agarwal et al. 2024; Liger-Kernel's fused linear JSD) of a
    large output layer, never holding either model's logits. With ``p`` = softmax(teacher / T), ``q`` =
    softmax(student / T) and ``m = beta p + (1 - beta) q``:

    .. math::

        \operatorname{JSD}_\beta = \beta \operatorname{KL}(p \,\|\, m) + (1 - \beta) \operatorname{KL}(q \,\|\, m),

    ``beta = 0`` the forward KL(p || q), ``beta = 1`` the reverse KL(q || p) (as TRL's ``generalized_jsd_loss``),
    without the ``T^2`` factor of KD. With a ``target``, ``alpha * JSD + (1 - alpha) * CE(student, target)`` and
    rows labelled ``ignore_index`` left out. Chunks, memory and precision as :func:`linear_kd_loss`.

    Args:
        student_hidden: the student's last hidden states (N, H_s) or (B, T, H_s).
        student_weight: the student's output layer weight (V, H_s).
        teacher_hidden: the teacher's hidden states, the student's rows (N, H_t) or (B, T, H_t) (detached).
        teacher_weight: the teacher's output layer weight (V, H_t) (detached).
        target: hard labels of the rows' shape (optional): adds the CE term and leaves out ignored rows.
        student_bias: the student's output bias (V,), optional.
        teacher_bias: the teacher's output bias (V,), optional.
        beta: the mixture weight in [0, 1] (default 0.5, the symmetric JSD).
        temperature: T > 0 (default 1.0).
        alpha: the JSD term's weight in [0, 1] with a target (default 0.5); the CE term gets ``1 - alpha``.
        ignore_index: the label of rows left out (default -100).
        reduction: "batchmean" (default): the mean over the (non-ignored) rows; "sum"; "none": per row.
        chunk_size: rows per chunk, or None (default) for the automatic size.

    Example:
        >>> hs, ws, ht, wt = torch.randn(6, 8), torch.randn(40, 8), torch.randn(6, 16), torch.randn(40, 16)
        >>> loss = linear_jsd_loss(hs, ws, ht, wt, beta=0.5)
        >>> bool(0 <= loss <= math.log(2))  # the symmetric JSD is bounded by log 2
        True
    """
    return _distill(
        "linear_jsd",
        "jsd",
        student_hidden,
        student_weight,
        teacher_hidden,
        teacher_weight,
        target,
        student_bias,
        teacher_bias,
        1.0 * temperature,
        beta,
        alpha,
        ignore_index,
        reduction,
        chunk_size,
    )
