"""Argument checks of the segmentation functional forms (region losses, Lovász, MCC and their combinations).

Every public segmentation function validates its own options and tensors, as ``torch.nn.functional`` does:
a misspelled choice is a ``ValueError`` with did-you-mean (:func:`check_choice`), a bad tensor a
``LossInputError`` naming the function, what it expected and what it got. The zoo's modules hold options
and call the functional form, so the checks live here once; the tensor check is the zoo's one (logits, class
target) validator, :func:`~losskit.functional.class_target.check_class_target`, under its segmentation name.

The segmentation family has one default ``mode``: :data:`DEFAULT_MODE` (``"multiclass"``). A one-channel
input in multiclass mode is an error that leads with ``mode='binary'`` (a softmax over one channel is the
constant 1, so the loss would be a constant with a zero gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor

from ._checks import as_class_weight, check_choice, check_reduction
from .class_target import Mode
from .class_target import check_class_target as check_segmentation_input  # the segmentation flavour is the default

__all__ = [
    "Mode",
    "Reduction",
    "PairReduction",
    "MODES",
    "DEFAULT_MODE",
    "check_segmentation_input",
    "prepare_segmentation",
]

Reduction = Literal["mean", "sum", "none"]
PairReduction = Literal["mean", "sum"]  # the combos: their two terms have different "none" shapes
MODES: tuple[str, ...] = ("binary", "multiclass", "multilabel")
DEFAULT_MODE: Mode = "multiclass"


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
