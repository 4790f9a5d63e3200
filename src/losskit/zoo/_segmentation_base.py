"""What the segmentation modules share: the example inputs, the option holder ``_SegBase``.

Kept apart from :mod:`losskit.zoo.segmentation` so that no module passes 400 lines; the tensors are checked by
the functional forms (:mod:`losskit.functional.segmentation_input`), never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..functional._checks import as_class_weight, check_choice, check_reduction
from ..functional.segmentation_input import MODES
from ..inputs import InputSpec, TensorSpec
from ._examples import num_classes_of

__all__ = ["SEG_INPUTS", "TASKS", "SegBase"]


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
