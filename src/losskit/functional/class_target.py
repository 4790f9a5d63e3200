"""The one (logits, class target) validator of the zoo: classification and segmentation forms call it.

:func:`check_class_target` checks a logits tensor (N, C, *) against a target for a ``mode``: class indices
(N, *) of any integer dtype, or a dense target of the input's shape. Two families use it with one difference,
the ``segmentation`` flag: the segmentation forms also take an (N, 1, *) label map (its channel dropped),
refuse a one-channel multiclass input (a softmax over one channel is the constant 1) and check dense targets
lie in [0, 1]; the classification forms follow ``torch.nn.functional.cross_entropy``, which does none of
these. Errors are ``LossInputError`` naming the loss, what it expected and what it got.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_labels, check_probabilities, check_tensor, shape_str

__all__ = ["Mode", "check_class_target"]

Mode = Literal["binary", "multiclass", "multilabel"]


def _check_binary(loss: str, input: Tensor, target: Tensor, ignore_index: int | None) -> Tensor:
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


def check_class_target(
    loss: str,
    mode: str,
    input: Tensor,
    target: Tensor,
    *,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    weight: Tensor | None = None,
    segmentation: bool = True,
    allow_dense: bool = True,
) -> Tensor:
    """Validate a (logits, target) pair for ``mode``; return the target in the layout the kernels take
    (binary (N, *) targets of an (N, 1, *) input get their channel; an (N, 1, *) label map loses it with
    ``segmentation``; class indices widened to int64, so ``ignore_index`` compares exactly).

    ``weight`` must have C entries; ``allow_dense=False`` refuses a float target (index-only losses).
    Shapes and dtypes always; label ranges (and, with ``segmentation``, dense values in [0, 1]) under the
    label-check switch, one sync.
    """
    layout = "(N, C, *spatial) or (N, *)" if segmentation else "(N, C) or (N, C, *spatial)"
    check_float(loss, "input", input, layout)
    check_tensor(loss, "target", target)
    if input.dim() < 2:
        raise LossInputError(f"{loss}: expected input of shape {layout}, got {shape_str(input)}")
    if mode == "binary":
        return _check_binary(loss, input, target, ignore_index)
    c = input.shape[1]
    if segmentation and mode == "multiclass" and c < 2:
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
        if not allow_dense:
            raise LossInputError(
                f"{loss}: expected integer class indices as target, got {target.dtype} {shape_str(target)}"
            )
        if target.shape != input.shape:
            raise LossInputError(
                f"{loss}: incompatible shapes: {mode} mode with a float target expects the input's shape "
                f"{shape_str(input)}, got {shape_str(target)}"
                + (
                    "; a float target holds class probabilities, class indices must be integers"
                    if mode == "multiclass"
                    else ""
                )
            )
        if segmentation:
            check_probabilities(loss, target, ignore_index if mode == "multilabel" else None)
        return target
    if segmentation and target.dim() == input.dim() and target.shape[1] == 1:
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
