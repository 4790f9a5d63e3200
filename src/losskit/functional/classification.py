"""Classification losses beyond PyTorch's: soft-target CE, Poly-1, logit-adjusted CE, asymmetric loss (ASL).

All take logits, work in log space, accumulate in float32 (float64 stays float64) and never form a one-hot
tensor for index targets; ``ignore_index`` is replaced before any gather.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_float, check_reduction, check_same_shape
from ._reduce import acc_dtype, reduce

__all__ = [
    "soft_target_cross_entropy",
    "poly1_cross_entropy",
    "logit_adjusted_cross_entropy",
    "asymmetric_multilabel_loss",
    "asymmetric_single_label_loss",
]


def _upcast(x: Tensor) -> Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.to(acc_dtype(x))


def _safe_labels(target: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor | None]:
    """(labels with ignored entries replaced by class 0, validity mask or None)."""
    if ignore_index is None:
        return target, None
    valid = target != ignore_index
    return torch.where(valid, target, torch.zeros_like(target)), valid


def _gather1(t: Tensor, labels: Tensor) -> Tensor:
    return t.gather(1, labels.unsqueeze(1)).squeeze(1)


def soft_target_cross_entropy(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """``sum_c -y_c log_softmax(x)_c`` over dim 1 (timm ``SoftTargetCrossEntropy``, for mixup/CutMix).

    ``input`` logits (N, C, *), ``target`` probabilities of the same shape. "mean" averages over N and the
    spatial positions; "none" is (N, *). Parity: timm ``SoftTargetCrossEntropy()(x, y)`` = "mean";
    ``F.cross_entropy(x, y)`` with probability targets is the same value.
    """
    check_float("soft_target_cross_entropy", "input", input)
    check_same_shape("soft_target_cross_entropy", input, target)
    check_reduction("soft_target_cross_entropy", reduction)
    x = _upcast(input)
    out = -(target.to(x.dtype) * torch.log_softmax(x, dim=1)).sum(1)
    return reduce(out, reduction)


def poly1_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float = 1.0,
    weight: Tensor | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Poly-1 cross-entropy (Leng et al., "PolyLoss", ICLR 2022): ``CE + epsilon (1 - p_t)``.

    With label smoothing ``ls``, ``p_t = sum_c y'_c p_c`` for the smoothed target ``y'`` (as the paper's
    code), i.e. ``(1 - ls) p_t + ls / C`` for index targets. Index targets (N, *): each term is scaled by
    ``weight[t]`` and "mean" divides by the sum of the weights of the valid targets (PyTorch's weighted CE
    mean), so ``epsilon=0`` is exactly ``F.cross_entropy``. Dense targets (N, C, *): "mean" over N and spatial
    positions; ``weight`` applies to the CE term only (as PyTorch). "none" is (N, *).
    """
    x = _upcast(input)
    c = x.shape[1]
    w = None if weight is None else weight.to(x.dtype)
    if target.is_floating_point():
        y = target.to(x.dtype)
        ce = F.cross_entropy(x, y, weight=w, reduction="none", label_smoothing=label_smoothing)
        y = y * (1.0 - label_smoothing) + label_smoothing / c if label_smoothing else y
        pt = (y * torch.softmax(x, dim=1)).sum(1)
        return reduce(ce + epsilon * (1.0 - pt), reduction)
    labels, valid = _safe_labels(target, ignore_index)
    # per-element weighted (and smoothed) CE; torch's "mean" divides its sum by sum_i w[t_i], as below
    ce = F.cross_entropy(x, labels, reduction="none", label_smoothing=label_smoothing, weight=w)
    pt = _gather1(torch.log_softmax(x, dim=1), labels).exp() * (1.0 - label_smoothing) + label_smoothing / c
    elem_w = None if w is None else w[labels]
    poly = epsilon * (1.0 - pt)
    out = ce + (poly if elem_w is None else poly * elem_w)
    zero = torch.zeros((), dtype=out.dtype, device=out.device)
    if valid is not None:
        out = torch.where(valid, out, zero)
    if reduction != "mean":
        return reduce(out, reduction)
    if elem_w is None:
        return reduce(out, reduction, valid)
    dtype = acc_dtype(out)
    denom = elem_w if valid is None else torch.where(valid, elem_w, zero)
    return out.sum(dtype=dtype) / denom.sum(dtype=dtype).clamp_min(torch.finfo(dtype).tiny)


def logit_adjusted_cross_entropy(
    input: Tensor,
    target: Tensor,
    log_prior: Tensor | None,
    *,
    tau: float = 1.0,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Logit-adjusted CE (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021):
    ``CE(x + tau log pi, y)`` with class priors ``pi`` (given here as ``log_prior`` (C,)).

    Same targets, ``weight``, ``ignore_index``, smoothing and reductions as ``F.cross_entropy``; ``tau=0`` or
    ``log_prior=None`` is plain CE.
    """
    x = _upcast(input)
    if log_prior is not None and tau != 0:
        x = x + (tau * log_prior.to(x.dtype)).reshape((1, -1) + (1,) * (x.dim() - 2))
    if target.is_floating_point():
        target = target.to(x.dtype)
    return F.cross_entropy(
        x, target, weight=None if weight is None else weight.to(x.dtype), ignore_index=ignore_index,
        label_smoothing=label_smoothing, reduction=reduction,
    )


def asymmetric_multilabel_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma_pos: float = 1.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    """Asymmetric loss, multi-label form (Ridnik et al., "Asymmetric Loss For Multi-Label Classification",
    ICCV 2021).

    With ``p = sigmoid(x)`` and the shifted negative probability ``p_m = max(p - clip, 0)``:
    ``L = -y (1 - p)^gamma_pos log max(p, eps) - (1 - y) p_m^gamma_neg log max(1 - p_m, eps)``.
    Evaluated in float32 from ``logsigmoid`` (no NaN in fp16, ASL#53); the powers are guarded at 0 so
    ``gamma < 1`` keeps finite gradients. "none" keeps the input's shape; "mean" is over all elements.
    Parity: timm/ASL ``AsymmetricLossMultiLabel(gamma_neg, gamma_pos, clip, eps)`` = ``reduction="sum"``.
    """
    x = _upcast(input)
    y = target.to(x.dtype)
    log_eps = math.log(eps) if eps > 0 else float("-inf")
    tiny = torch.finfo(x.dtype).tiny
    log_p = F.logsigmoid(x).clamp_min(log_eps)
    if clip > 0:
        p_m = (torch.sigmoid(x) - clip).clamp_min(0.0)
        log_not_pm = torch.log1p(-p_m).clamp_min(log_eps)
    else:
        p_m = torch.sigmoid(x)
        log_not_pm = F.logsigmoid(-x).clamp_min(log_eps)
    los_pos = y * log_p
    los_neg = (1.0 - y) * log_not_pm
    if gamma_pos:
        los_pos = los_pos * torch.sigmoid(-x).clamp_min(tiny).pow(gamma_pos)
    if gamma_neg:
        los_neg = los_neg * p_m.clamp_min(tiny).pow(gamma_neg)
    return reduce(-(los_pos + los_neg), reduction)


def asymmetric_single_label_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma_pos: float = 1.0,
    gamma_neg: float = 4.0,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Asymmetric loss, single-label (softmax) form (timm ``AsymmetricLossSingleLabel``).

    ``L = -sum_c y'_c w_c log p_c`` with ``p = softmax(x)``, ``w_t = (1 - p_t)^gamma_pos`` on the target class
    and ``w_c = p_c^gamma_neg`` elsewhere, ``y'`` the (optionally smoothed) one-hot target. Computed from the
    per-class sum and a gathered correction (no one-hot tensor). "mean" over valid elements, "none" (N, *).
    Parity: timm ``AsymmetricLossSingleLabel(gamma_pos, gamma_neg, eps=ls)`` = ``label_smoothing=ls``.
    """
    x = _upcast(input)
    c = x.shape[1]
    tiny = torch.finfo(x.dtype).tiny
    labels, valid = _safe_labels(target, ignore_index)
    logp = torch.log_softmax(x, dim=1)
    logp_t = _gather1(logp, labels)
    p_t = logp_t.exp()
    w_t = torch.expm1(logp_t).neg().clamp_min(tiny).pow(gamma_pos) if gamma_pos else torch.ones_like(logp_t)
    out = -(1.0 - label_smoothing) * w_t * logp_t
    if label_smoothing:
        w_neg = logp.exp().clamp_min(tiny).pow(gamma_neg) if gamma_neg else torch.ones_like(logp)
        total = (w_neg * logp).sum(1)
        w_neg_t = p_t.clamp_min(tiny).pow(gamma_neg) if gamma_neg else torch.ones_like(p_t)
        total = total - w_neg_t * logp_t + w_t * logp_t
        out = out - (label_smoothing / c) * total
    if valid is not None:
        out = torch.where(valid, out, torch.zeros((), dtype=out.dtype, device=out.device))
    return reduce(out, reduction, valid)
