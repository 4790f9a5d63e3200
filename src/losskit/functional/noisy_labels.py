"""Noise-robust classification losses: generalized CE (``gce``), symmetric CE (``sce``), the bi-tempered
logistic loss (``bi_tempered``) and online hard example mining CE (``ohem_cross_entropy``).

All take logits (N, C) or (N, C, *spatial) with the classes on dim 1 and class indices (N, *spatial) of any
integer dtype (``bi_tempered`` also takes class probabilities or a binary target). Ignored targets are replaced
by class 0 before any gather and count nowhere; "mean" is over the valid targets and is 0 (connected to the
graph, zero gradient) when there are none; NaN in gives NaN out; float32 under autocast (``@float32_loss``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_choice, check_reduction
from ._precision import float32_loss
from ._reduce import reduce
from .class_target import check_class_target
from .classification import check_class_input, check_unit_interval

__all__ = [
    "gce_loss",
    "sce_loss",
    "bi_tempered_loss",
    "ohem_cross_entropy_loss",
    "target_log_prob",
    "tempered_softmax",
    "check_bi_tempered_options",
]

Reduction = Literal["mean", "sum", "none"]
BiTemperedMode = Literal["multiclass", "binary"]

_SCE_PRED_MIN = 1e-7  # the authors' clamp of the softmax in the reverse term
_SCE_LABEL_MIN = 1e-4  # the authors' clamp of the one-hot label: log 0 := log(1e-4) = A


def target_log_prob(input: Tensor, target: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(log_softmax(x) over dim 1, log p_t (N, *), valid mask or None)`` for validated class indices; ignored
    labels are replaced by class 0 before the gather (their values are to be masked by the caller)."""
    labels = target if target.dtype == torch.long else target.long()
    valid = None if ignore_index is None else labels != ignore_index
    safe = labels if valid is None else torch.where(valid, labels, 0)
    logp = torch.log_softmax(input, dim=1)
    return logp, logp.gather(1, safe.unsqueeze(1)).squeeze(1), valid


def _masked(out: Tensor, valid: Tensor | None, reduction: str) -> Tensor:
    if valid is not None:
        out = torch.where(valid, out, torch.zeros((), dtype=out.dtype, device=out.device))
    return reduce(out, reduction, valid)


@float32_loss
def gce_loss(
    input: Tensor,
    target: Tensor,
    *,
    q: float = 0.7,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Generalized cross-entropy (Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural
    Networks with Noisy Labels", NeurIPS 2018), the negative Box-Cox transform of the target probability:

    .. math::

        \ell = \frac{1 - p_t^{\,q}}{q}, \qquad p = \operatorname{softmax}(x)

    ``q -> 0`` is cross-entropy, ``q = 1`` the MAE ``1 - p_t`` (noise-robust, slow to train); the paper uses
    ``q = 0.7``. Evaluated as ``-expm1(q log p_t) / q`` from ``log_softmax`` (exact near ``p_t = 1``).

    Args:
        input: logits (N, C) or (N, C, *spatial).
        target: class indices (N, *spatial) of any integer dtype.
        q: the exponent, in (0, 1].
        ignore_index: target value that counts nowhere; None (default): none.
        num_classes: checked against C when given.
        reduction: ``"mean"`` over the valid targets (0 when none) | ``"sum"`` | ``"none"`` (N, *spatial).

    Example:
        >>> round(float(gce_loss(torch.zeros(1, 4), torch.tensor([2]), q=1.0)), 4)  # MAE: 1 - 1/4
        0.75

    Parity: the paper's formula (the authors' code: ``(1 - softmax(x)[y] ** q) / q``, mean over the batch);
    the truncated variant (``k``) is not included.
    """
    name = "gce"
    check_reduction(name, reduction)
    if not 0.0 < q <= 1.0:
        raise ValueError(f"{name}: q must be in (0, 1], got {q}")
    check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, allow_dense=False)
    _, logp_t, valid = target_log_prob(input, target, ignore_index)
    return _masked(torch.expm1(logp_t * q).neg() / q, valid, reduction)


@float32_loss
def sce_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Symmetric cross-entropy (Wang et al., "Symmetric Cross Entropy for Robust Learning with Noisy Labels",
    ICCV 2019): cross-entropy plus the reverse cross-entropy of the label distribution under the prediction.

    .. math::

        \ell = \alpha\,(-\log p_t) + \beta\,\Big(-\sum_k \max(p_k, 10^{-7}) \log \max(y_k, 10^{-4})\Big)
             = \alpha\,(-\log p_t) - \beta \log(10^{-4}) \sum_{k \ne t} \max(p_k, 10^{-7})

    The clamps (``log 0 := A = log 1e-4``) are the authors' code's; the paper's CIFAR-10 setting is
    ``alpha=0.1, beta=1.0``.

    Args:
        input: logits (N, C) or (N, C, *spatial).
        target: class indices (N, *spatial) of any integer dtype.
        alpha: weight of the cross-entropy term (>= 0).
        beta: weight of the reverse cross-entropy term (>= 0).
        ignore_index: target value that counts nowhere; None (default): none.
        num_classes: checked against C when given.
        reduction: ``"mean"`` over the valid targets (0 when none) | ``"sum"`` | ``"none"`` (N, *spatial).

    Example:
        >>> x, y = torch.zeros(1, 2), torch.tensor([0])
        >>> round(float(sce_loss(x, y, alpha=1.0, beta=0.0)), 4)  # CE = log 2
        0.6931

    Parity: the authors' ``SCELoss(alpha, beta, num_classes)`` (HanxunH/SCELoss-Reproduce) for (N, C) logits:
    ``alpha * F.cross_entropy + beta * rce.mean()``, the same clamps.
    """
    name = "sce"
    check_reduction(name, reduction)
    if not (alpha >= 0 and beta >= 0):
        raise ValueError(f"{name}: alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
    check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, allow_dense=False)
    logp, logp_t, valid = target_log_prob(input, target, ignore_index)
    p = logp.exp()
    # sum over the non-target classes of the clamped softmax: all classes minus the target's own clamped term
    others = p.clamp(_SCE_PRED_MIN, 1.0).sum(1) - logp_t.exp().clamp(_SCE_PRED_MIN, 1.0)
    out = alpha * -logp_t + (beta * -math.log(_SCE_LABEL_MIN)) * others
    return _masked(out, valid, reduction)


# ---------------------------------------------------------------------------------------------- bi-tempered


def _log_t(u: Tensor, t: float) -> Tensor:
    return u.log() if t == 1.0 else (u.pow(1.0 - t) - 1.0) / (1.0 - t)


def _exp_t(u: Tensor, t: float) -> Tensor:
    return u.exp() if t == 1.0 else (1.0 + (1.0 - t) * u).relu().pow(1.0 / (1.0 - t))


def _normalization(a: Tensor, t: float, num_iters: int) -> Tensor:
    """The tempered log-partition ``lambda(a)`` over the last dim (``sum exp_t(a - lambda) = 1``): the paper's
    fixed point for ``t > 1``, a bisection for ``t < 1`` (finite support), ``num_iters`` steps either way."""
    mu = a.amax(-1, keepdim=True)
    a0 = a - mu
    if t > 1.0:
        z = a0
        for _ in range(num_iters):
            z = a0 * _exp_t(z, t).sum(-1, keepdim=True).pow(1.0 - t)
        return -_log_t(1.0 / _exp_t(z, t).sum(-1, keepdim=True), t) + mu
    # support size: the classes inside the finite support at lambda = 0 bound the bisection interval from above
    effective = (a0 > -1.0 / (1.0 - t)).sum(-1, keepdim=True).to(a.dtype)
    lower = torch.zeros_like(mu)
    upper = -_log_t(1.0 / effective, t)
    for _ in range(num_iters):
        mid = (upper + lower) / 2.0
        below = _exp_t(a0 - mid, t).sum(-1, keepdim=True) < 1.0
        lower, upper = torch.where(below, lower, mid), torch.where(below, mid, upper)
    return (upper + lower) / 2.0 + mu


class _TemperedNormalization(torch.autograd.Function):
    """``lambda(a)`` with its exact implicit gradient: ``d lambda / d a = p^t / sum p^t`` (the escort
    distribution), so backward never differentiates through the iterations."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, t: float, num_iters: int) -> Tensor:
        lam = _normalization(a, t, num_iters)
        ctx.save_for_backward(a, lam)
        ctx.t = t
        return lam

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        a, lam = ctx.saved_tensors
        escort = _exp_t(a - lam, ctx.t).pow(ctx.t)
        return escort / escort.sum(-1, keepdim=True) * grad, None, None


def tempered_softmax(a: Tensor, t: float, num_iters: int = 5) -> Tensor:
    """The tempered softmax ``exp_t(a - lambda(a))`` over the last dim (``softmax`` at ``t = 1``)."""
    if t == 1.0:
        return a.softmax(-1)
    lam: Tensor = _TemperedNormalization.apply(a, t, num_iters)  # type: ignore[no-untyped-call]
    return _exp_t(a - lam, t)


def check_bi_tempered_options(loss: str, t1: float, t2: float, label_smoothing: float, num_iters: int) -> None:
    """``ValueError`` naming ``loss`` unless t1 in [0, 1], t2 > 0 (finite), label_smoothing in [0, 1) and
    num_iters an integer >= 1."""
    check_unit_interval(loss, "label_smoothing", label_smoothing, closed=False)
    if not (0.0 <= t1 <= 1.0 and 0.0 < t2 < math.inf):
        raise ValueError(f"{loss}: expected t1 in [0, 1] and t2 > 0 (finite), got t1={t1}, t2={t2}")
    if isinstance(num_iters, bool) or not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(f"{loss}: num_iters must be an integer >= 1, got {num_iters!r}")


@float32_loss
def bi_tempered_loss(
    input: Tensor,
    target: Tensor,
    *,
    t1: float = 0.8,
    t2: float = 1.2,
    label_smoothing: float = 0.0,
    num_iters: int = 5,
    mode: BiTemperedMode = "multiclass",
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Bi-tempered logistic loss (Amid et al., "Robust Bi-Tempered Logistic Loss Based on Bregman
    Divergences", NeurIPS 2019): a bounded loss (``t1 < 1``) on a heavy-tailed softmax (``t2 > 1``).

    .. math::

        \ell = \sum_c \Big[ y_c (\log_{t_1} y_c - \log_{t_1} \hat y_c)
              - \frac{y_c^{2-t_1} - \hat y_c^{\,2-t_1}}{2 - t_1} \Big], \quad
        \hat y = \exp_{t_2}(x - \lambda_{t_2}(x)),

    with ``log_t u = (u^(1-t) - 1) / (1 - t)``, ``exp_t u = [1 + (1 - t) u]_+^(1/(1-t))`` and the
    normalization ``lambda`` found in ``num_iters`` steps (fixed point for ``t2 > 1``, bisection for ``t2 < 1``;
    its gradient is the exact implicit one). ``t1 = t2 = 1`` is cross-entropy. Label smoothing moves the target
    to ``(1 - ls C / (C - 1)) y + ls / (C - 1)`` (the authors' form).

    Args:
        input: multiclass: logits (N, C) or (N, C, *spatial); binary: logits (N, 1, *) (or any (N, ...)).
        target: multiclass: class indices (N, *spatial) of any integer dtype or class probabilities (N, C, *);
            binary: targets in [0, 1] of the input's shape (or (N, *) for an (N, 1, *) input).
        t1: temperature of the log (boundedness), in [0, 1].
        t2: temperature of the softmax (tail heaviness; < 1: finite support), > 0.
        label_smoothing: in [0, 1).
        num_iters: iterations of the normalization (>= 1).
        mode: ``"multiclass"`` (softmax over dim 1) | ``"binary"`` (the two-class loss on logits ``(-x, x)``).
        ignore_index: target value that counts nowhere; None (default): none.
        num_classes: checked against C when given (multiclass).
        reduction: ``"mean"`` over the valid targets (0 when none) | ``"sum"`` | ``"none"`` ((N, *spatial);
            binary: the input's shape).

    Example:
        >>> x, y = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
        >>> round(float(bi_tempered_loss(x, y, t1=1.0, t2=1.0)), 4)  # cross-entropy
        0.1698

    Parity: pytorch-toolbelt ``BiTemperedLogisticLoss(t1, t2, smoothing=ls)`` on (N, C) logits, and
    ``BinaryBiTemperedLogisticLoss(t1, t2, smoothing=ls)`` for ``mode="binary"``, with ``num_iters=5``; with
    ``ignore_index`` toolbelt's "mean" divides by all targets, this one by the valid targets.
    """
    name = "bi_tempered"
    check_reduction(name, reduction)
    mode = check_choice(name, "mode", mode, ("multiclass", "binary"))
    check_bi_tempered_options(name, t1, t2, label_smoothing, num_iters)
    if mode == "binary":
        y = check_class_target(name, "binary", input, target, ignore_index=ignore_index).to(input.dtype)
        ignored = None if ignore_index is None else y == ignore_index
        y = y if ignored is None else torch.where(ignored, 0.0, y)
        # toolbelt's binary form: the two-class loss on the logits (-x, x) and targets (1 - y, y)
        a, y = torch.stack((-input, input), -1), torch.stack((1.0 - y, y), -1)
        valid = None if ignored is None else ~ignored
    else:
        if isinstance(input, Tensor) and input.dim() >= 2 and input.shape[1] < 2:
            raise LossInputError(
                f"{name}: use mode='binary' for a one-channel input {tuple(input.shape)}: multiclass mode needs "
                f"C >= 2 channels (a tempered softmax over one channel is the constant 1)"
            )
        indices = check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index)
        a = input.movedim(1, -1)
        c = a.shape[-1]
        if indices:
            labels = target.long()
            valid = None if ignore_index is None else labels != ignore_index
            safe = labels if valid is None else torch.where(valid, labels, 0)
            y = torch.nn.functional.one_hot(safe, c).to(input.dtype)
        else:
            valid, y = None, target.to(input.dtype).movedim(1, -1)
    c = y.shape[-1]
    if label_smoothing:
        y = (1.0 - label_smoothing * c / (c - 1)) * y + label_smoothing / (c - 1)
    p = tempered_softmax(a, t2, num_iters)
    out = (
        y * _log_t(y + 1e-10, t1) - y * _log_t(p, t1) - y.pow(2.0 - t1) / (2.0 - t1) + p.pow(2.0 - t1) / (2.0 - t1)
    ).sum(-1)
    return _masked(out, valid, reduction)


# ---------------------------------------------------------------------------------------------- OHEM


@float32_loss
def ohem_cross_entropy_loss(
    input: Tensor,
    target: Tensor,
    *,
    thresh: float = 0.7,
    min_kept: int = 10000,
    ignore_index: int | None = 255,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cross-entropy over the hard examples only (online hard example mining, Shrivastava et al. 2016; the
    semantic-segmentation form of PaddleSeg ``OhemCrossEntropyLoss`` / mmseg ``OHEMPixelSampler``).

    A valid target (pixel or sample) is *kept* when its target probability ``p_t = softmax(x)_t`` is below
    the threshold

    .. math::

        \tau = \max(\text{thresh},\ p_{(k)}), \qquad k = \text{min\_kept},

    with ``p_(k)`` the k-th smallest ``p_t`` over the valid targets of the whole batch, so at least about
    ``min_kept`` hard targets always count; when there are at most ``min_kept`` valid targets all are kept.
    ``min_kept = 0`` keeps exactly those below ``thresh``. The loss is ``-log p_t`` averaged over the kept
    targets. The selection runs without gradient and without a host sync (``kthvalue``); a NaN ``p_t`` is kept.

    Args:
        input: logits (N, C) (samples) or (N, C, *spatial) (pixels).
        target: class indices (N, *spatial) of any integer dtype.
        thresh: probability threshold in (0, 1]: targets predicted with ``p_t < thresh`` are hard.
        min_kept: the least number of hard targets kept over the batch (>= 0).
        ignore_index: target value that counts nowhere (default 255, PaddleSeg's and mmseg's); None: none.
        num_classes: checked against C when given.
        reduction: ``"mean"`` over the kept targets (0 when none) | ``"sum"`` | ``"none"`` ((N, *spatial), 0
            where not kept).

    Example:
        >>> x = torch.tensor([[4.0, 0.0], [0.0, 4.0], [0.0, 0.0]])
        >>> y = torch.tensor([0, 0, 1])  # only the last two are hard at thresh 0.7
        >>> ohem_cross_entropy_loss(x, y, thresh=0.7, min_kept=0, reduction="none")
        tensor([0.0000, 4.0181, 0.6931])

    Parity: PaddleSeg ``OhemCrossEntropyLoss(thresh, min_kept, ignore_index)`` for ``min_kept > 0`` (its
    threshold ``max(thresh, p_(k))``, kept ``p_t < tau``, mean over the kept; PaddleSeg keeps every valid pixel
    when ``min_kept = 0``). mmseg ``OHEMPixelSampler(thresh, min_kept=m)`` with ``CrossEntropyLoss``: its
    per-image ``min_kept`` is ``m * N`` here, its threshold takes the (k+1)-th smallest, and its mean divides
    by all N x H x W pixels (= this "sum" / (N H W)).
    """
    name = "ohem_cross_entropy"
    check_reduction(name, reduction)
    if not 0.0 < thresh <= 1.0:
        raise ValueError(f"{name}: thresh must be in (0, 1], got {thresh}")
    if isinstance(min_kept, bool) or not isinstance(min_kept, int) or min_kept < 0:
        raise ValueError(f"{name}: min_kept must be an integer >= 0, got {min_kept!r}")
    check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, allow_dense=False)
    _, logp_t, valid = target_log_prob(input, target, ignore_index)
    with torch.no_grad():
        p = logp_t.exp()
        total = p.numel()
        keep_all: Tensor | bool = False
        threshold = torch.full((), thresh, dtype=p.dtype, device=p.device)
        if min_kept >= total:
            keep_all = True  # never more than min_kept valid targets
        elif min_kept > 0:
            # ignored targets sort last (p_t <= 1 < 2), so the k-th smallest is over the valid ones while k <= V
            ranked = p.flatten() if valid is None else torch.where(valid, p, 2.0).flatten()
            threshold = torch.maximum(threshold, torch.kthvalue(ranked, min_kept).values)
            if valid is not None:
                keep_all = valid.sum() <= min_kept
        hard = ~(p >= threshold)  # written so that a NaN p_t is kept (NaN in, NaN out)
        keep = hard | keep_all
        if valid is not None:
            keep = keep & valid
    return _masked(-logp_t, keep, reduction)
