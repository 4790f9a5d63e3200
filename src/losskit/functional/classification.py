"""Classification losses beyond PyTorch's: soft-target CE, Poly-1, logit-adjusted CE (ASL: ``asymmetric.py``),
the cross-entropy core with the zoo's edge policy, and :func:`check_class_input`, the one (logits, class target)
validation of the classification family.

All take logits, work in log space, accumulate in float32 (float64 stays float64) and never form a one-hot
tensor for index targets; ``ignore_index`` is replaced before any gather. Every public function validates its
options (``ValueError`` with did-you-mean) and tensors (``LossInputError``) and follows the zoo's edge policy
(``docs/conventions.md``): integer labels of any dtype, an empty or all-ignored batch gives 0 for
"mean"/"sum", NaN in gives NaN out, float32 under autocast (:func:`~._precision.float32_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import (
    as_class_weight,
    check_float,
    check_probabilities,
    check_reduction,
)
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .class_target import check_class_target

__all__ = [
    "check_class_input",
    "class_weight",
    "check_unit_interval",
    "soft_target_cross_entropy",
    "poly1_cross_entropy",
    "logit_adjusted_cross_entropy",
    "class_ce",
]

Reduction = Literal["mean", "sum", "none"]
ClassWeight = Tensor | Sequence[float] | None


def check_class_input(
    loss: str,
    input: Tensor,
    target: Tensor,
    *,
    num_classes: int | None,
    ignore_index: int | None,
    weight: Tensor | None = None,
    allow_dense: bool = True,
) -> bool:
    """The multiclass case of :func:`~.class_target.check_class_target` under torch's cross-entropy rules
    (``segmentation=False``); True when ``target`` holds class indices, False when it holds class probabilities
    (of the input's shape; refused with ``allow_dense=False``)."""
    check_class_target(
        loss,
        "multiclass",
        input,
        target,
        num_classes=num_classes,
        ignore_index=ignore_index,
        weight=weight,
        segmentation=False,
        allow_dense=allow_dense,
    )
    return not target.is_floating_point()


def class_weight(loss: str, weight: ClassWeight, name: str = "weight") -> Tensor | None:
    """A per-class weight as a tensor: a list/tuple is converted (and checked) by ``as_class_weight``; a tensor
    passes through unchecked (a value check would sync on every call)."""
    if weight is None or isinstance(weight, Tensor):
        return weight
    return as_class_weight(loss, weight, name)


def check_unit_interval(loss: str, name: str, value: float, *, closed: bool = True) -> float:
    """A float option in [0, 1] ([0, 1) with ``closed=False``); NaN fails."""
    ok = 0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0
    if not ok:
        raise ValueError(f"{loss}: {name} must be in [0, 1{']' if closed else ')'}, got {value}")
    return float(value)


def _labels(target: Tensor) -> Tensor:
    """Class indices as int64, the dtype every gather and torch's losses need (uint8 masks come from PIL)."""
    return target if target.dtype == torch.long else target.long()


def _safe_labels(target: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor | None]:
    """(int64 labels with ignored entries replaced by class 0, validity mask or None)."""
    target = _labels(target)
    if ignore_index is None:
        return target, None
    valid = target != ignore_index
    return torch.where(valid, target, torch.zeros_like(target)), valid


def _gather1(t: Tensor, labels: Tensor) -> Tensor:
    return t.gather(1, labels.unsqueeze(1)).squeeze(1)


def class_ce(
    x: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None,
    ignore_index: int | None,
    label_smoothing: float,
    reduction: str,
    log_probs: bool = False,
) -> Tensor:
    """``F.cross_entropy`` (``F.nll_loss`` with ``log_probs``) on validated inputs, with the zoo's edge policy:
    int64 labels, and a mean that is 0 (not NaN) over an empty or all-ignored batch."""
    w = None if weight is None else weight.to(x.dtype)
    inner = reduction if reduction == "none" else "sum"
    if target.is_floating_point():  # class probabilities (validated: cross-entropy only)
        out = F.cross_entropy(x, target.to(x.dtype), weight=w, label_smoothing=label_smoothing, reduction=inner)
        # torch's mean for probability targets divides by N * spatial (weights do not renormalise)
        return reduce(out, reduction, avg_factor=target.numel() // max(x.shape[1], 1))
    labels = _labels(target)
    ignore = -100 if ignore_index is None else ignore_index
    if log_probs:
        out = F.nll_loss(x, labels, weight=w, ignore_index=ignore, reduction=inner)
    else:
        out = F.cross_entropy(
            x, labels, weight=w, ignore_index=ignore, label_smoothing=label_smoothing, reduction=inner
        )
    if reduction != "mean":
        return out
    # torch's weighted mean, total / sum_i w[t_i] over the valid targets, but 0 (not NaN) when none is valid
    valid = labels != ignore
    counted = valid if w is None else torch.where(valid, w[torch.where(valid, labels, 0)], 0.0)
    return reduce(out, "mean", counted)


@float32_loss
def soft_target_cross_entropy(
    input: Tensor, target: Tensor, *, num_classes: int | None = None, reduction: Reduction = "mean"
) -> Tensor:
    """``sum_c -y_c log_softmax(x)_c`` over dim 1 (timm ``SoftTargetCrossEntropy``, for mixup/CutMix).

    ``input`` logits (N, C, *), ``target`` probabilities of the same shape (values in [0, 1], checked under
    the label-check switch). "mean" averages over N and the spatial positions; "none" is (N, *). Parity:
    timm ``SoftTargetCrossEntropy()(x, y)`` = "mean"; ``F.cross_entropy(x, y)`` with probability targets.

    Example:
        >>> y = torch.tensor([[0.7, 0.3]])  # a mixup of two classes
        >>> soft_target_cross_entropy(y.log(), y)  # at its minimum, the target's entropy
        tensor(0.6109)
    """
    name = "soft_target_cross_entropy"
    check_reduction(name, reduction)
    check_float(name, "target", target, "(N, C, *) of class probabilities")
    check_class_input(name, input, target, num_classes=num_classes, ignore_index=None)
    check_probabilities(name, target)
    out = -(target.to(input.dtype) * torch.log_softmax(input, dim=1)).sum(1)
    return reduce(out, reduction)


@float32_loss
def poly1_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float = 1.0,
    weight: ClassWeight = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Poly-1 cross-entropy (Leng et al., "PolyLoss", ICLR 2022): ``CE + epsilon (1 - p_t)``.

    With label smoothing ``ls``, ``p_t = sum_c y'_c p_c`` for the smoothed target ``y'`` (as the paper's
    code), i.e. ``(1 - ls) p_t + ls / C`` for index targets. Index targets (N, *): each term is scaled by
    ``weight[t]`` and "mean" divides by the sum of the weights of the valid targets (PyTorch's weighted CE
    mean; 0 when there are none), so ``epsilon=0`` is exactly ``F.cross_entropy``. Dense targets (N, C, *):
    "mean" over N and spatial positions; ``weight`` applies to the CE term only (as PyTorch). "none" (N, *).
    """
    name = "poly"
    check_reduction(name, reduction)
    check_unit_interval(name, "label_smoothing", label_smoothing)
    w = class_weight(name, weight)
    indices = check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, weight=w)
    x = input
    c = x.shape[1]
    w = None if w is None else w.to(x.dtype)
    if not indices:
        check_probabilities(name, target)
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
    denom = (elem_w if valid is None else torch.where(valid, elem_w, zero)).sum(dtype=acc_dtype(out))
    return out.sum(dtype=acc_dtype(out)) / torch.where(denom > 0, denom, torch.ones_like(denom))


@float32_loss
def logit_adjusted_cross_entropy(
    input: Tensor,
    target: Tensor,
    log_prior: Tensor | None,
    *,
    tau: float = 1.0,
    weight: ClassWeight = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Logit-adjusted CE (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021):
    ``CE(x + tau log pi, y)`` with class priors ``pi`` (given here as ``log_prior`` (C,)).

    Same targets, ``weight``, ``ignore_index``, smoothing and reductions as ``cross_entropy_loss``
    (an empty or all-ignored "mean" is 0); ``tau=0`` or ``log_prior=None`` is plain CE.
    """
    name = "logit_adjusted_cross_entropy"
    check_reduction(name, reduction)
    check_unit_interval(name, "label_smoothing", label_smoothing)
    w = class_weight(name, weight)
    indices = check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, weight=w)
    if not indices:
        check_probabilities(name, target)
    x = input
    if log_prior is not None:
        if log_prior.numel() != x.shape[1]:
            raise LossInputError(f"{name}: log_prior has {log_prior.numel()} entries for {x.shape[1]} classes")
        if tau != 0:
            x = x + (tau * log_prior.to(x.dtype)).reshape((1, -1) + (1,) * (x.dim() - 2))
    return class_ce(
        x, target, weight=w, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction
    )
