"""Binary cross-entropy variants (segmentation_models_pytorch, pytorch-toolbelt) and toolbelt's soft F1.

All three take logits and a target in [0, 1] of the input's shape (binary or multilabel, any spatial shape),
with an optional ``ignore_index`` compared elementwise (docs/conventions.md).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..functional._checks import check_reduction
from ..functional.bce_variants import _check_nonnegative, balanced_bce_loss, soft_bce_loss, soft_f1_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._arg_docs import document_args
from ._examples import logits_and_binary

__all__ = ["SoftBCEWithLogitsLoss", "BalancedBCEWithLogitsLoss", "BinarySoftF1Loss"]

Reduction = Literal["mean", "sum", "none"]

_INPUTS = InputSpec(
    tensors=(
        TensorSpec("input", "(*)", "float", "logits"),
        TensorSpec("target", "(*) same as input", "float", "targets in [0, 1] (or ignore_index)"),
    ),
    example=logits_and_binary((2, 1, 8, 8)),
)

_IGNORE = "elements whose target equals it count nowhere (zero gradient), e.g. 255. None (default): none."
_REDUCTION = (
    '"mean" (default): the mean over non-ignored elements (0 when there are none); "sum": the sum; '
    '"none": the input\'s shape, 0 at ignored elements.'
)


@register_loss(
    "soft_bce",
    aliases=["SoftBCEWithLogitsLoss"],
    tasks=["segmentation", "classification"],
    tags=["bce", "label_smoothing"],
    inputs=_INPUTS,
)
@document_args(
    smooth_factor="label smoothing ``s`` in [0, 0.5]: targets become ``(1 - y) s + y (1 - s)``. None (default): none.",
    ignore_index=_IGNORE,
    weight="elementwise weight broadcastable to the input (a buffer). None (default): unweighted.",
    pos_weight=(
        "weight of the positive term broadcastable to the input, e.g. (C,) for (N, C) (a buffer). None (default): 1."
    ),
    reduction=_REDUCTION,
)
class SoftBCEWithLogitsLoss(nn.Module):
    """Sigmoid BCE from logits with label smoothing and ``ignore_index``
    (:func:`losskit.functional.soft_bce_loss`). Parity: smp ``SoftBCEWithLogitsLoss`` (its default
    ``ignore_index`` is -100, losskit's None; its mean divides by every element, losskit's by the non-ignored).
    """

    loss_name: str  # set by register_loss
    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None

    def __init__(
        self,
        smooth_factor: float | None = None,
        ignore_index: int | None = None,
        weight: torch.Tensor | None = None,
        pos_weight: torch.Tensor | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)
        if smooth_factor is not None and not 0.0 <= smooth_factor <= 0.5:
            raise ValueError(f"{self.loss_name}: smooth_factor must be in [0, 0.5] (or None), got {smooth_factor}")
        self.smooth_factor = smooth_factor
        self.ignore_index = ignore_index
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_bce_loss(
            input,
            target,
            smooth_factor=self.smooth_factor,
            ignore_index=self.ignore_index,
            weight=self.weight,
            pos_weight=self.pos_weight,
            reduction=self.reduction,
        )


@register_loss(
    "balanced_bce",
    aliases=["BalancedBCEWithLogitsLoss"],
    tasks=["segmentation", "classification"],
    tags=["bce", "imbalance"],
    inputs=_INPUTS,
)
@document_args(
    gamma="the balancing power (>= 0, default 1.0), applied to the batch's class shares as in pytorch-toolbelt.",
    ignore_index=_IGNORE,
    reduction=_REDUCTION,
)
class BalancedBCEWithLogitsLoss(nn.Module):
    """Balanced BCE from logits: the positive and negative terms weighted per batch by the other class's
    share (:func:`losskit.functional.balanced_bce_loss`). Parity: pytorch-toolbelt ``BalancedBCEWithLogitsLoss``.
    """

    loss_name: str  # set by register_loss

    def __init__(self, gamma: float = 1.0, ignore_index: int | None = None, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.gamma = _check_nonnegative(self.loss_name, "gamma", gamma)
        self.ignore_index = ignore_index
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return balanced_bce_loss(
            input, target, gamma=self.gamma, ignore_index=self.ignore_index, reduction=self.reduction
        )


@register_loss(
    "soft_f1",
    aliases=["BinarySoftF1Loss"],
    tasks=["segmentation", "classification"],
    tags=["region", "f1"],
    inputs=_INPUTS,
)
@document_args(
    ignore_index=_IGNORE,
    eps="the probability clamp ``[eps, 1 - eps]`` and the denominator's smoothing, in (0, 0.5) (default 1e-6).",
)
class BinarySoftF1Loss(nn.Module):
    """Soft F1 loss from logits: ``1 - 2 TP / (2 TP + FP + FN + eps)`` over the whole batch, on sigmoid
    probabilities (:func:`losskit.functional.soft_f1_loss`). A batch statistic: no ``reduction``.
    Parity: pytorch-toolbelt ``BinarySoftF1Loss``.
    """

    loss_name: str  # set by register_loss

    def __init__(self, ignore_index: int | None = None, eps: float = 1e-6) -> None:
        super().__init__()
        if not 0.0 < eps < 0.5:
            raise ValueError(f"{self.loss_name}: eps must be in (0, 0.5), got {eps}")
        self.ignore_index = ignore_index
        self.eps = eps

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_f1_loss(input, target, ignore_index=self.ignore_index, eps=self.eps)
