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
    check_labels,
    check_probabilities,
    check_reduction,
    label_checks_enabled,
    shape_str,
)
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

__all__ = [
    "check_class_input",
    "class_weight",
    "check_unit_interval",
    "soft_target_cross_entropy",
    "poly1_cross_entropy",
    "logit_adjusted_cross_entropy",
    "class_ce",
    "mean_over_valid",
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
    """Validate a (logits, target) pair; return True when ``target`` holds class indices, False when dense.

    Logits (N, C, *); class indices (N, *) of any integer dtype, range-checked under the label-check switch
    (``ignore_index`` allowed); or, with ``allow_dense``, float class probabilities of the input's shape.
    ``weight`` must have C entries. Raises ``LossInputError`` naming ``loss``, the expected and the given.
    """
    check_float(loss, "input", input, "(N, C, *)")
    if input.dim() < 2:
        raise LossInputError(f"{loss}: expected input of shape (N, C) or (N, C, *spatial), got {shape_str(input)}")
    c = input.shape[1]
    if num_classes is not None and c != num_classes:
        raise LossInputError(
            f"{loss}: configured for num_classes={num_classes}, got input with {c} classes {shape_str(input)}"
        )
    if weight is not None and weight.numel() != c:
        raise LossInputError(f"{loss}: class weight has {weight.numel()} entries for {c} classes")
    if target.is_floating_point():
        if not allow_dense:
            raise LossInputError(
                f"{loss}: expected integer class indices as target, got {target.dtype} {shape_str(target)}"
            )
        if target.shape != input.shape:
            raise LossInputError(
                f"{loss}: a floating-point target holds class probabilities and must have the input's shape "
                f"{shape_str(input)}, got {shape_str(target)}; class indices must be integers"
            )
        return False
    expected = (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        raise LossInputError(
            f"{loss}: expected target of class indices with shape {'(' + ', '.join(map(str, expected)) + ')'} "
            f"for input {shape_str(input)}, got {shape_str(target)}"
        )
    if ignore_index is not None and label_checks_enabled() and target.dtype not in (torch.long, torch.bool):
        # `uint8 == -100` compares after wrapping -100 to 156: compare in int64, as the losses do
        target = target.long()
    check_labels(loss, target, c, ignore_index)
    return True


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


def mean_over_valid(total: Tensor, labels: Tensor, ignore_index: int | None, weight: Tensor | None) -> Tensor:
    """torch's weighted mean of a summed CE/NLL: ``total / sum_i w[t_i]`` over the valid targets.

    torch divides 0 by 0 (NaN) when no target is valid or N = 0; here that mean is 0 and stays connected to
    ``total``'s graph, so backward gives a zero gradient. A NaN in ``total`` still comes out as NaN.
    """
    valid = None if ignore_index is None else labels != ignore_index
    if weight is None:
        count = total.new_tensor(labels.numel()) if valid is None else valid.sum(dtype=total.dtype)
    else:
        safe = labels if valid is None else torch.where(valid, labels, 0)
        w = weight.to(total.dtype)[safe]
        count = (w if valid is None else torch.where(valid, w, 0.0)).sum(dtype=total.dtype)
    return total / torch.where(count > 0, count, torch.ones_like(count))


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
    return mean_over_valid(out, labels, ignore, w) if reduction == "mean" else out


@float32_loss
def soft_target_cross_entropy(
    input: Tensor, target: Tensor, *, num_classes: int | None = None, reduction: Reduction = "mean"
) -> Tensor:
    """``sum_c -y_c log_softmax(x)_c`` over dim 1 (timm ``SoftTargetCrossEntropy``, for mixup/CutMix).

    ``input`` logits (N, C, *), ``target`` probabilities of the same shape (values in [0, 1], checked under
    the label-check switch). "mean" averages over N and the spatial positions; "none" is (N, *). Parity:
    timm ``SoftTargetCrossEntropy()(x, y)`` = "mean"; ``F.cross_entropy(x, y)`` with probability targets.
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
