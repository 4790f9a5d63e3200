"""What the segmentation modules share: the example inputs, the option holder ``_SegBase``.

Kept apart from :mod:`losskit.zoo.segmentation` so that no module passes 400 lines; the tensors are checked by
the functional forms (:mod:`losskit.functional.segmentation_input`), never here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..functional._checks import as_class_weight, check_choice, check_reduction
from ..functional.segmentation_input import MODES
from ..inputs import InputSpec, TensorSpec
from ._arg_docs import _Cls, document_args
from ._examples import num_classes_of

__all__ = ["SEG_ARGS", "SEG_INPUTS", "TASKS", "SegBase", "seg_args"]


def _seg_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    mode = getattr(loss, "mode", "multiclass")
    c = 1 if mode == "binary" else num_classes_of(loss)
    x = torch.randn(2, c, 6, 5, generator=g)
    if mode == "multiclass":
        y = torch.randint(0, c, (2, 6, 5), generator=g)
        ignore = getattr(loss, "ignore_index", None)
        if ignore is not None:
            y[0, 0, :2] = ignore
        return x, y
    return x, torch.randint(0, 2, x.shape, generator=g).float()


SEG_INPUTS = InputSpec(
    tensors=(
        TensorSpec("input", "(N, C, *spatial)", "float", "logits (probabilities with from_logits=False)"),
        TensorSpec(
            "target",
            "(N, *spatial) or (N, C, *spatial)",
            "long | float",
            "class indices (multiclass) or a target of the input's shape (binary/multilabel/soft)",
        ),
    ),
    example=_seg_example,
)
TASKS = ["segmentation"]

#: The ``Args:`` entries of the options the segmentation losses share; :func:`seg_args` writes them into each
#: registered class's docstring (where ``losskit info`` / ``describe_loss`` read them), so the text of a
#: shared option is written once.
SEG_ARGS: dict[str, str] = {
    "mode": (
        'how the input maps to probabilities and which target layouts are accepted. "multiclass" (the default): '
        "softmax over the C channels of dim 1, target class indices (N, *spatial) of any integer dtype or class "
        'probabilities (N, C, *spatial); "binary": one foreground channel through a sigmoid, input (N, *spatial) '
        'or (N, 1, *spatial), target {0, 1}/soft of the input\'s shape or (N, *spatial); "multilabel": an '
        "independent sigmoid per channel, target (N, C, *spatial) in [0, 1]. A one-channel input in multiclass "
        "mode is an error that points to ``mode='binary'``."
    ),
    "from_logits": (
        "True (default): ``input`` holds logits and goes through the softmax/sigmoid that ``mode`` names; False: "
        "``input`` already holds probabilities and is used as is."
    ),
    "smooth": (
        "smoothing added to both the numerator and the denominator of each ratio (default 1e-5), used for "
        "``smooth_nr``/``smooth_dr`` when they are None; a finite number >= 0."
    ),
    "smooth_nr": "numerator smoothing (finite, >= 0); None (default) takes ``smooth``.",
    "smooth_dr": "denominator smoothing (finite, >= 0); None (default) takes ``smooth``.",
    "weight": (
        "(C,) per-class weight, one entry per input channel (tensor or sequence, finite and >= 0, kept as a "
        "buffer): multiplies each class's loss before the reduction; with ``include_background=False`` the "
        "background entry is dropped. None (default): every class weighs 1."
    ),
    "ignore_index": (
        "target value that counts nowhere: with class-index targets every voxel of that label is left out of "
        "every sum (and masked before any gather, so e.g. 255 needs no channel of its own); with binary/multilabel "
        "targets each element equal to it is left out. None (default): nothing is ignored."
    ),
    "batch": (
        "False (default): one ratio per (sample, class); True: the sums are pooled over the batch first, one "
        "ratio per class (MONAI's ``batch=True``)."
    ),
    "include_background": (
        "True (default): every channel counts; False: channel 0 (the background) is left out of the loss and of "
        'the "none" output.'
    ),
    "num_classes": (
        "expected number of classes C, checked against the input's channel dimension (a ``LossInputError`` on a "
        "mismatch); None (default): taken from the input."
    ),
    "reduction": (
        '"mean" (default): the mean of the (weighted) per-(sample, class) losses; "sum": their sum; "none": the '
        "per-(sample, class) losses, shape (N, C), or (C,) with ``batch=True`` (C = 1 in binary mode)."
    ),
}


def seg_args(**specific: str) -> Callable[[_Cls], _Cls]:
    """:func:`~losskit.zoo._arg_docs.document_args` with the shared segmentation texts of :data:`SEG_ARGS`."""
    return document_args(SEG_ARGS, **specific)


class SegBase(nn.Module):
    """Holds and checks the options shared by the segmentation losses; the functional forms check the tensors."""

    loss_name: str  # set on each registered class by register_loss, never typed by hand
    weight: Tensor | None
    pos_weight: Tensor | None
    mode: Any  # one of MODES, checked in _setup (Literal-typed in the signatures)
    reduction: Any  # checked in _setup

    def _setup(
        self,
        mode: str,
        from_logits: bool,
        weight: Tensor | Sequence[float] | None,
        ignore_index: int | None,
        batch: bool,
        include_background: bool,
        num_classes: int | None,
        reduction: str,
        reductions: tuple[str, ...] = ("mean", "sum", "none"),
    ) -> None:
        name = self.loss_name
        self.mode = check_choice(name, "mode", mode, MODES)
        self.from_logits = bool(from_logits)
        self.ignore_index = ignore_index
        self.batch = bool(batch)
        self.include_background = bool(include_background)
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"{name}: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = num_classes
        self.reduction = check_reduction(name, reduction, reductions)
        self.register_buffer("weight", as_class_weight(name, weight))

    def _common(self) -> dict[str, Any]:
        """The options every segmentation functional form takes, as keywords."""
        return dict(
            mode=self.mode,
            from_logits=self.from_logits,
            ignore_index=self.ignore_index,
            batch=self.batch,
            include_background=self.include_background,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )
