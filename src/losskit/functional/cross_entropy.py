"""Functional forms of the torch cross-entropy family: ``cross_entropy_loss``, ``nll_loss``, ``bce_loss``,
``bce_with_logits_loss``.

Same values as ``torch.nn.functional`` on valid input, plus what the zoo promises (``docs/conventions.md``):
options and tensors validated (``ValueError`` with did-you-mean, ``LossInputError``; a label out of range is a
``LossInputError`` under the label-check switch, never torch's raw index error or a device-side assert);
class labels of any integer dtype; ``weight`` as a tensor or a list; an empty or all-ignored batch gives 0
with a zero gradient where torch gives NaN; NaN in gives NaN out; float32 under fp16/bf16 autocast.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import (
    check_broadcast_weight,
    check_float,
    check_probabilities,
    check_reduction,
    check_same_shape,
    label_checks_enabled,
)
from ._precision import float32_loss
from ._reduce import reduce
from .classification import ClassWeight, check_class_input, check_unit_interval, class_ce, class_weight

__all__ = ["cross_entropy_loss", "nll_loss", "bce_loss", "bce_with_logits_loss", "mask_loss"]

Reduction = Literal["mean", "sum", "none"]


@float32_loss
def cross_entropy_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: ClassWeight = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Softmax cross-entropy ``-sum_c y_c log softmax(x)_c``, as ``F.cross_entropy``.

    ``input`` logits (N, C, *); ``target`` class indices (N, *) of any integer dtype, or class probabilities
    (N, C, *) in [0, 1]. ``weight`` (C,) tensor or list; ``ignore_index`` (-100, PyTorch's default);
    ``label_smoothing`` in [0, 1]; ``num_classes`` checked against C when given. "mean" divides by the summed
    weight of the valid targets (0 when none is valid, or N = 0); "none" is (N, *).

    Example:
        >>> round(float(cross_entropy_loss(torch.zeros(2, 4), torch.tensor([1, 3]))), 4)  # uniform: log 4
        1.3863
        >>> cross_entropy_loss(torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8)), reduction="none").shape
        torch.Size([2, 8, 8])
    """
    name = "cross_entropy"
    check_reduction(name, reduction)
    check_unit_interval(name, "label_smoothing", label_smoothing)
    w = class_weight(name, weight)
    if not check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, weight=w):
        check_probabilities(name, target)
    return class_ce(
        input, target, weight=w, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction
    )


@float32_loss
def nll_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: ClassWeight = None,
    ignore_index: int = -100,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Negative log-likelihood ``-input[n, target[n]]`` of log-probabilities (N, C, *), as ``F.nll_loss``.

    ``target`` class indices (N, *) of any integer dtype; ``weight``, ``ignore_index``, ``num_classes`` and
    the mean (0 over an empty or all-ignored batch) as :func:`cross_entropy_loss`.

    Example:
        >>> log_p = torch.tensor([[-1.0, -2.0], [-3.0, -0.5]])
        >>> nll_loss(log_p, torch.tensor([0, 1]))  # (1 + 0.5) / 2
        tensor(0.7500)
        >>> nll_loss(log_p, torch.tensor([0, -100]))  # the second target ignored
        tensor(1.)
    """
    name = "nll"
    check_reduction(name, reduction)
    w = class_weight(name, weight)
    check_class_input(
        name, input, target, num_classes=num_classes, ignore_index=ignore_index, weight=w, allow_dense=False
    )
    return class_ce(
        input, target, weight=w, ignore_index=ignore_index, label_smoothing=0.0, reduction=reduction, log_probs=True
    )


@float32_loss
def bce_loss(input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: Reduction = "mean") -> Tensor:
    """Binary cross-entropy of *probabilities* ``-(y log p + (1 - y) log(1 - p))`` (logs clamped at -100, as
    ``F.binary_cross_entropy``). ``input`` and ``target`` the same shape (*), both in [0, 1] (checked under
    the label-check switch: a 0/255 mask is a ``LossInputError``); ``weight`` broadcastable to (*).
    Prefer :func:`bce_with_logits_loss`, which is numerically safe.

    Example:
        >>> bce_loss(torch.tensor([0.5, 0.9]), torch.tensor([1.0, 1.0]), reduction="none")  # -log p
        tensor([0.6931, 0.1054])
    """
    name = "bce"
    check_reduction(name, reduction)
    check_float(name, "input", input)
    check_same_shape(name, input, target)
    check_broadcast_weight(name, "weight", weight, input)
    if label_checks_enabled() and input.numel() and bool(((input < 0) | (input > 1)).any()):
        raise LossInputError(f"{name}: expected probabilities in [0, 1] as input; for logits use 'bce_with_logits'")
    check_probabilities(name, target)
    # torch refuses a NaN probability outright; compute on a finite stand-in and put the NaN back (p - p)
    p = input.nan_to_num(nan=0.5)
    w = None if weight is None else weight.to(p.dtype)
    inner = "none" if reduction == "none" else "sum"
    out = F.binary_cross_entropy(p, target.to(p.dtype), weight=w, reduction=inner)
    nan = (input - input) if reduction == "none" else (input - input).sum()
    out = out + nan
    return reduce(out, reduction, avg_factor=input.numel())


@float32_loss
def bce_with_logits_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """Sigmoid binary cross-entropy from logits ``-(pw y log s(x) + (1 - y) log(1 - s(x)))``, as
    ``F.binary_cross_entropy_with_logits``, for binary and multilabel targets.

    ``target`` in [0, 1] of the input's shape (checked under the label-check switch: a 0/255 mask is a
    ``LossInputError``); ``weight`` broadcastable to the input; ``pos_weight`` per class, broadcast over the
    last dimension; ``label_smoothing`` ``y <- y (1 - ls) + ls / 2``. "mean" over all elements (0 when empty).

    Example:
        >>> x, y = torch.zeros(1, 2), torch.tensor([[0.0, 1.0]])
        >>> bce_with_logits_loss(x, y, pos_weight=torch.tensor([1.0, 3.0]), reduction="none")  # log 2, 3 log 2
        tensor([[0.6931, 2.0794]])
    """
    return _bce_with_logits("bce_with_logits", input, target, weight, pos_weight, label_smoothing, reduction)


def _bce_with_logits(
    name: str,
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    label_smoothing: float,
    reduction: str,
) -> Tensor:
    """The checks and the kernel of :func:`bce_with_logits_loss`; ``name`` is the public form's, for messages."""
    check_reduction(name, reduction)
    check_unit_interval(name, "label_smoothing", label_smoothing)
    check_float(name, "input", input)
    check_same_shape(name, input, target)
    check_broadcast_weight(name, "weight", weight, input)
    check_broadcast_weight(name, "pos_weight", pos_weight, input)
    check_probabilities(name, target)
    y = target.to(input.dtype)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    out = F.binary_cross_entropy_with_logits(
        input,
        y,
        weight=None if weight is None else weight.to(input.dtype),
        pos_weight=None if pos_weight is None else pos_weight.to(input.dtype),
        reduction="none" if reduction == "none" else "sum",
    )
    return reduce(out, reduction, avg_factor=input.numel())


@float32_loss
def mask_loss(
    input: Tensor, target: Tensor, *, pos_weight: Tensor | float | None = None, reduction: Reduction = "mean"
) -> Tensor:
    """AutoTimm's per-instance mask loss: sigmoid BCE ``-(pw t log s(x) + (1 - t) log(1 - s(x)))`` over the
    masks of N instances, ``input`` and ``target`` (N, H, W) (any trailing shape), ``target`` in [0, 1].

    :func:`bce_with_logits_loss` with a scalar (or broadcastable) ``pos_weight`` on foreground pixels; "mean"
    over every pixel of every instance, 0 for an empty instance set (N = 0).

    Example:
        >>> x, t = torch.zeros(2, 4, 4), torch.ones(2, 4, 4)
        >>> round(float(mask_loss(x, t, pos_weight=2.0)), 4)  # 2 * log(2)
        1.3863
    """
    if pos_weight is not None and not isinstance(pos_weight, Tensor):
        pos_weight = torch.tensor(float(pos_weight), device=input.device)
    return _bce_with_logits("mask", input, target, None, pos_weight, 0.0, reduction)
