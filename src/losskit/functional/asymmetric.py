"""Asymmetric loss, ASL (Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021), in its
multi-label (sigmoid) and single-label (softmax) forms. Conventions as :mod:`.classification`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import (
    check_choice,
    check_float,
    check_probabilities,
    check_reduction,
    check_same_shape,
    ignored_mask,
    shape_str,
)
from ._precision import float32_loss
from ._reduce import reduce
from .classification import Reduction, _gather1, _safe_labels, check_class_input, check_unit_interval

__all__ = ["asymmetric_loss", "asymmetric_multilabel_loss", "asymmetric_single_label_loss", "check_gamma"]


def check_gamma(loss: str, name: str, gamma: float) -> float:
    if not gamma >= 0:  # also rejects NaN
        raise ValueError(f"{loss}: {name} must be >= 0, got {gamma}")
    return float(gamma)


@float32_loss
def asymmetric_multilabel_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma_pos: float = 1.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Asymmetric loss, multi-label form (Ridnik et al., "Asymmetric Loss For Multi-Label Classification",
    ICCV 2021).

    With ``p = sigmoid(x)`` and the shifted negative probability ``p_m = max(p - clip, 0)``:
    ``L = -y (1 - p)^gamma_pos log max(p, eps) - (1 - y) p_m^gamma_neg log max(1 - p_m, eps)``.
    Evaluated in float32 from ``logsigmoid`` (no NaN in fp16, ASL#53); the powers are guarded at 0 so
    ``gamma < 1`` keeps finite gradients. ``target`` float in [0, 1] of the input's shape. "none" keeps the
    input's shape; "mean" is over all elements. ``ignore_index`` compares the float target value by value
    (``docs/conventions.md``): those elements count nowhere (0 in "none", a zero gradient).
    Parity: timm/ASL ``AsymmetricLossMultiLabel(gamma_neg, gamma_pos, clip, eps)`` = ``reduction="sum"``.
    """
    name = "asymmetric"
    check_reduction(name, reduction)
    check_gamma(name, "gamma_pos", gamma_pos)
    check_gamma(name, "gamma_neg", gamma_neg)
    check_unit_interval(name, "clip", clip, closed=False)
    if not eps >= 0:
        raise ValueError(f"{name}: eps must be >= 0, got {eps}")
    check_float(name, "input", input)
    if not target.is_floating_point():
        raise LossInputError(
            f"{name}: mode='multilabel' expects a float {{0, 1}} target of the input's shape {shape_str(input)}, "
            f"got {target.dtype} {shape_str(target)}; use mode='multiclass' for class indices"
        )
    check_same_shape(name, input, target)
    if num_classes is not None and input.dim() >= 2 and input.shape[1] != num_classes:
        raise LossInputError(f"{name}: configured for num_classes={num_classes}, got input {shape_str(input)}")
    check_probabilities(name, target, ignore_index)
    x = input
    ignored = ignored_mask(target, ignore_index)
    y = target.to(x.dtype) if ignored is None else torch.where(ignored, 0.0, target).to(x.dtype)
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
    loss = -(los_pos + los_neg)
    if ignored is None:
        return reduce(loss, reduction)
    valid = ~ignored
    return reduce(torch.where(valid, loss, 0.0), reduction, valid)


@float32_loss
def asymmetric_single_label_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma_pos: float = 1.0,
    gamma_neg: float = 4.0,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Asymmetric loss, single-label (softmax) form (timm ``AsymmetricLossSingleLabel``).

    ``L = -sum_c y'_c w_c log p_c`` with ``p = softmax(x)``, ``w_t = (1 - p_t)^gamma_pos`` on the target class
    and ``w_c = p_c^gamma_neg`` elsewhere, ``y'`` the (optionally smoothed) one-hot target. Computed from the
    per-class sum and a gathered correction (no one-hot tensor). ``target`` class indices (N, *) of any
    integer dtype. "mean" over valid elements (0 when none), "none" (N, *).
    Parity: timm ``AsymmetricLossSingleLabel(gamma_pos, gamma_neg, eps=ls)`` = ``label_smoothing=ls``.
    """
    name = "asymmetric"
    check_reduction(name, reduction)
    check_gamma(name, "gamma_pos", gamma_pos)
    check_gamma(name, "gamma_neg", gamma_neg)
    check_unit_interval(name, "label_smoothing", label_smoothing)
    check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, allow_dense=False)
    x = input
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


@float32_loss
def asymmetric_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Literal["multilabel", "multiclass"] = "multilabel",
    gamma_pos: float = 1.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Asymmetric loss (ASL): :func:`asymmetric_multilabel_loss` for ``mode="multilabel"`` (sigmoid, float
    target of the input's shape; ``clip``, ``eps``), :func:`asymmetric_single_label_loss` for
    ``"multiclass"`` (softmax, class indices; ``label_smoothing``). ``ignore_index`` in both: a class index,
    or a float target value compared element by element.

    Example:
        >>> x, y = torch.tensor([[-3.0, 0.0, 3.0]]), torch.tensor([[0.0, 0.0, 1.0]])
        >>> asymmetric_loss(x, y, reduction="none")  # the easy negative (p = 0.047 < clip) costs nothing
        tensor([[0.0000, 0.0245, 0.0023]])
        >>> asymmetric_loss(x, y, gamma_pos=0.0, gamma_neg=0.0, clip=0.0, reduction="none")  # plain BCE
        tensor([[0.0486, 0.6931, 0.0486]])
    """
    if check_choice("asymmetric", "mode", mode, ("multilabel", "multiclass")) == "multilabel":
        return asymmetric_multilabel_loss(
            input,
            target,
            gamma_pos=gamma_pos,
            gamma_neg=gamma_neg,
            clip=clip,
            eps=eps,
            ignore_index=ignore_index,
            num_classes=num_classes,
            reduction=reduction,
        )
    return asymmetric_single_label_loss(
        input,
        target,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        num_classes=num_classes,
        reduction=reduction,
    )
