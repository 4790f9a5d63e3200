"""Argument checks of the segmentation functional forms (region losses, Lovász, MCC and their combinations).

Every public segmentation function validates its own options and tensors, as ``torch.nn.functional`` does:
a misspelled choice is a ``ValueError`` with did-you-mean (:func:`check_choice`), a bad tensor a
``LossInputError`` naming the function, what it expected and what it got. The zoo's modules hold options
and call the functional form, so the checks live here once.

The segmentation family has one default ``mode``: :data:`DEFAULT_MODE` (``"multiclass"``). A one-channel
input in multiclass mode is an error that leads with ``mode='binary'`` (a softmax over one channel is the
constant 1, so the loss would be a constant with a zero gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import (
    as_class_weight,
    check_choice,
    check_float,
    check_labels,
    check_probabilities,
    check_reduction,
    check_tensor,
    shape_str,
)

__all__ = [
    "Mode",
    "Reduction",
    "PairReduction",
    "MODES",
    "DEFAULT_MODE",
    "check_segmentation_input",
    "prepare_segmentation",
]

Mode = Literal["binary", "multiclass", "multilabel"]
Reduction = Literal["mean", "sum", "none"]
PairReduction = Literal["mean", "sum"]  # the combos: their two terms have different "none" shapes
MODES: tuple[str, ...] = ("binary", "multiclass", "multilabel")
DEFAULT_MODE: Mode = "multiclass"


def check_segmentation_input(
    loss: str,
    mode: str,
    input: Tensor,
    target: Tensor,
    *,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    weight: Tensor | None = None,
) -> Tensor:
    """Validate a (logits, target) pair for ``mode``; return the target in the layout the kernels take
    (binary (N, *) targets of an (N, 1, *) input get their channel; an (N, 1, *) label map loses it).

    Shapes and dtypes always; label ranges and dense values in [0, 1] under the label-check switch (one sync).
    """
    check_float(loss, "input", input, "(N, C, *spatial)")
    check_tensor(loss, "target", target)
    if input.dim() < 2:
        raise LossInputError(f"{loss}: expected input of shape (N, C, *spatial) or (N, *), got {shape_str(input)}")
    if mode == "binary":
        if target.shape != input.shape:
            if input.shape[1] == 1 and tuple(target.shape) == (input.shape[0], *input.shape[2:]):
                target = target.unsqueeze(1)
            else:
                raise LossInputError(
                    f"{loss}: incompatible shapes: binary mode expects a target of the input's shape {shape_str(input)}"
                    f" or, for an (N, 1, *) input, (N, *); got {shape_str(target)}"
                )
        check_probabilities(loss, target, ignore_index)
        return target
    c = input.shape[1]
    if mode == "multiclass" and c < 2:
        raise LossInputError(
            f"{loss}: use mode='binary' for a one-channel input {shape_str(input)}: multiclass mode needs C >= 2 "
            f"channels (a softmax over one channel is the constant 1)"
        )
    if num_classes is not None and c != num_classes:
        raise LossInputError(
            f"{loss}: configured for num_classes={num_classes}, got input with {c} classes {shape_str(input)}"
        )
    if weight is not None and weight.numel() != c:
        raise LossInputError(f"{loss}: class weight has {weight.numel()} entries for {c} classes")
    if mode == "multilabel" or target.is_floating_point():
        if target.shape != input.shape:
            raise LossInputError(
                f"{loss}: incompatible shapes: {mode} mode with a float target expects the input's shape "
                f"{shape_str(input)}, got {shape_str(target)}"
                + ("; class indices must be integers" if mode == "multiclass" else "")
            )
        check_probabilities(loss, target, ignore_index if mode == "multilabel" else None)
        return target
    if target.dim() == input.dim() and target.shape[1] == 1:
        target = target.squeeze(1)
    expected = (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        raise LossInputError(
            f"{loss}: incompatible shapes: expected class indices of shape ({', '.join(map(str, expected))}) for "
            f"input {shape_str(input)}, got {shape_str(target)}"
        )
    check_labels(loss, target, c, ignore_index)
    if target.dtype != torch.int64:
        # widened once, so every kernel compares int64 labels with ignore_index exactly: an index the narrow dtype
        # cannot hold (255 for int8) matches nothing, as in check_labels (see _checks.ignored_mask)
        target = target.long()
    return target


def prepare_segmentation(
    loss: str,
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    reduction: str,
    weight: Tensor | Sequence[float] | None = None,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reductions: Sequence[str] = ("mean", "sum", "none"),
) -> tuple[Tensor, Tensor | None]:
    """The checks every segmentation functional form runs first: ``mode`` and ``reduction`` choices, a class
    ``weight`` given as a list (converted; a tensor is used as is, with no sync), then the tensors. Returns
    the target in the kernels' layout and the weight as a tensor on the input's device."""
    check_choice(loss, "mode", mode, MODES)
    check_reduction(loss, reduction, reductions)
    w = weight if weight is None or isinstance(weight, Tensor) else as_class_weight(loss, weight)
    if w is not None:
        w = w.to(input.device) if isinstance(input, Tensor) else w
    target = check_segmentation_input(
        loss, mode, input, target, num_classes=num_classes, ignore_index=ignore_index, weight=w
    )
    return target, w
