"""Classification losses.

Conventions (shared by the whole zoo, see ``docs/conventions.md``): ``forward(input, target)``; ``input`` are
logits of shape (N, C) or (N, C, *spatial); ``target`` are class indices (N, *spatial) for multiclass, or a
tensor of the input's shape for dense/soft/multilabel targets; ``ignore_index`` marks targets that count
nowhere (means divide by the number of valid targets); ``weight`` is a per-class tensor (C,); ``reduction``
is "mean" | "sum" | "none" ("none" keeps (N, *spatial) for index targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from ..functional._checks import as_class_weight, check_reduction
from ..functional.classification import (
    check_class_input,
    check_unit_interval,
    logit_adjusted_cross_entropy,
    poly1_cross_entropy,
    soft_target_cross_entropy,
)
from ..functional.cross_entropy import bce_loss, bce_with_logits_loss, cross_entropy_loss, nll_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._arg_docs import BCE_ARGS, CLASS_ARGS, LOGIT_ADJUSTED_ARGS, POLY_ARGS, document_args
from ._examples import logits_and_binary, logits_and_labels, num_classes_of, probs_and_binary

__all__ = [
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "SoftTargetCrossEntropy",
    "PolyLoss",
    "LogitAdjustedCrossEntropy",
    "check_class_input",  # moved to losskit.functional.classification; re-exported for existing imports
]

Reduction = Literal["mean", "sum", "none"]

_LOGITS_LABELS = InputSpec(
    tensors=(
        TensorSpec("input", "(N, C) or (N, C, *spatial)", "float", "logits"),
        TensorSpec(
            "target", "(N, *spatial) or (N, C, *spatial)", "long | float", "class indices, or class probabilities"
        ),
    ),
    example=logits_and_labels(),
)


@register_loss(
    "cross_entropy", aliases=["CrossEntropyLoss", "ce"], tasks=["classification", "segmentation"], inputs=_LOGITS_LABELS
)
@document_args(CLASS_ARGS)
class CrossEntropyLoss(nn.CrossEntropyLoss):
    """Softmax cross-entropy: ``-sum_c y_c log softmax(x)_c``, with class weights, ``ignore_index``, label
    smoothing (Szegedy et al. 2016) and dense/soft targets (mixup, CutMix).

    Same semantics as ``torch.nn.CrossEntropyLoss`` (of which it is a subclass), plus input validation
    (``LossInputError`` for a shape mismatch, float labels of the wrong shape, a label out of range) and an
    optional ``num_classes`` checked against the input.

    Inputs: ``input`` logits (N, C, *); ``target`` indices (N, *) or probabilities (N, C, *).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(
            weight=as_class_weight(self.loss_name, weight),
            ignore_index=ignore_index,
            reduction=check_reduction(self.loss_name, reduction),
            label_smoothing=check_unit_interval(self.loss_name, "label_smoothing", label_smoothing),
        )
        self.num_classes = num_classes

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            num_classes=self.num_classes,
            reduction=self.reduction,  # type: ignore[arg-type]
        )


def _log_probs_and_labels(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    logits, labels = logits_and_labels()(loss, g)
    return torch.log_softmax(logits, dim=1), labels


@register_loss(
    "nll",
    aliases=["NLLLoss"],
    tasks=["classification"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C) or (N, C, *spatial)", "float", "log-probabilities"),
            TensorSpec("target", "(N, *spatial)", "long", "class indices"),
        ),
        example=_log_probs_and_labels,
    ),
)
@document_args(CLASS_ARGS)
class NLLLoss(nn.NLLLoss):
    """Negative log-likelihood of log-probabilities: ``-input[n, target[n]]`` (weighted), mean over valid
    targets. A subclass of ``torch.nn.NLLLoss`` with input validation."""

    loss_name: str  # set by register_loss

    def __init__(
        self,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        num_classes: int | None = None,
    ) -> None:
        super().__init__(
            weight=as_class_weight(self.loss_name, weight),
            ignore_index=ignore_index,
            reduction=check_reduction(self.loss_name, reduction),
        )
        self.num_classes = num_classes

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,  # type: ignore[arg-type]
        )


_BINARY_TARGET = TensorSpec("target", "(*) same as input", "float", "targets in [0, 1]")


@register_loss(
    "bce",
    aliases=["BCELoss"],
    tasks=["classification"],
    inputs=InputSpec(
        tensors=(TensorSpec("input", "(*)", "float", "probabilities in [0, 1]"), _BINARY_TARGET),
        example=probs_and_binary(),
    ),
)
@document_args(BCE_ARGS)
class BCELoss(nn.BCELoss):
    """Binary cross-entropy of *probabilities*: ``-(y log p + (1 - y) log(1 - p))`` (log clamped at -100, as
    PyTorch). Prefer ``bce_with_logits``, which is numerically safe and autocast-friendly."""

    loss_name: str  # set by register_loss

    def __init__(self, weight: torch.Tensor | None = None, reduction: Reduction = "mean") -> None:
        super().__init__(weight=weight, reduction=check_reduction(self.loss_name, reduction))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return bce_loss(input, target, weight=self.weight, reduction=self.reduction)  # type: ignore[arg-type]


@register_loss(
    "bce_with_logits",
    aliases=["BCEWithLogitsLoss", "sigmoid_bce"],
    tasks=["classification", "segmentation"],
    inputs=InputSpec(
        tensors=(TensorSpec("input", "(*)", "float", "logits"), _BINARY_TARGET), example=logits_and_binary()
    ),
)
@document_args(BCE_ARGS)
class BCEWithLogitsLoss(nn.BCEWithLogitsLoss):
    """Sigmoid binary cross-entropy from logits, for binary and multilabel targets:
    ``-(pw y log s(x) + (1 - y) log(1 - s(x)))`` with ``pos_weight`` ``pw`` per class (broadcast over the last
    dimension) and optional label smoothing ``y <- y (1 - ls) + ls / 2``.

    Inputs: ``input`` logits (*) and ``target`` in [0, 1] of the same shape.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        reduction: Reduction = "mean",
        pos_weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight=weight, reduction=check_reduction(self.loss_name, reduction), pos_weight=pos_weight)
        self.label_smoothing = check_unit_interval(self.loss_name, "label_smoothing", label_smoothing)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return bce_with_logits_loss(
            input,
            target,
            weight=self.weight,
            pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,  # type: ignore[arg-type]
        )


# ------------------------------------------------------------------------------------- beyond torch.nn


def _soft_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    c = num_classes_of(loss)
    return torch.randn(4, c, generator=g), torch.softmax(torch.randn(4, c, generator=g), dim=1)


@register_loss(
    "soft_target_cross_entropy",
    aliases=["SoftTargetCrossEntropy", "soft_ce"],
    tasks=["classification"],
    tags=["mixup"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C) or (N, C, *spatial)", "float", "logits"),
            TensorSpec("target", "(N, C) or (N, C, *spatial)", "float", "class probabilities (mixup/CutMix)"),
        ),
        example=_soft_example,
    ),
)
@document_args(
    CLASS_ARGS, reduction='"mean" (default): over N and the spatial positions; "sum"; "none": shape (N, *spatial).'
)
class SoftTargetCrossEntropy(nn.Module):
    """Cross-entropy against soft targets (timm ``SoftTargetCrossEntropy``): ``sum_c -y_c log_softmax(x)_c``.

    Inputs: logits (N, C, *) and probabilities of the same shape (class dim 1). ``reduction``: "mean" over N
    (and spatial positions), "sum", "none" (N, *). Parity: timm ``SoftTargetCrossEntropy()`` = "mean";
    equals ``F.cross_entropy(x, y)`` with probability targets. For class indices use ``cross_entropy``.
    """

    loss_name: str  # set by register_loss

    def __init__(self, reduction: Reduction = "mean", num_classes: int | None = None) -> None:
        super().__init__()
        self.reduction = check_reduction(self.loss_name, reduction)
        self.num_classes = num_classes

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_target_cross_entropy(input, target, num_classes=self.num_classes, reduction=self.reduction)


@register_loss(
    "poly",
    aliases=["PolyLoss", "poly1", "Poly1CrossEntropyLoss"],
    tasks=["classification", "segmentation"],
    inputs=_LOGITS_LABELS,
)
@document_args(CLASS_ARGS, POLY_ARGS)
class PolyLoss(nn.Module):
    """Poly-1 cross-entropy (Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
    Functions", ICLR 2022): ``CE + epsilon (1 - p_t)``.

    Inputs: logits (N, C, *); class indices (N, *) or probabilities (N, C, *). ``p_t`` is the probability of
    the (smoothed) target, ``(1 - ls) p_t + ls / C`` under ``label_smoothing`` (as the paper's code). timm
    ``PolyCrossEntropy``-style usage maps 1:1.

    Example:
        >>> import torch
        >>> PolyLoss(epsilon=0.0)(torch.zeros(2, 4), torch.tensor([1, 3])).round(decimals=4)
        tensor(1.3863)
    """

    loss_name: str  # set by register_loss

    weight: torch.Tensor | None  # buffer

    def __init__(
        self,
        epsilon: float = 1.0,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.epsilon = float(epsilon)
        self.ignore_index = ignore_index
        self.label_smoothing = check_unit_interval(self.loss_name, "label_smoothing", label_smoothing)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.num_classes = num_classes
        self.register_buffer("weight", as_class_weight(self.loss_name, weight))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return poly1_cross_entropy(
            input,
            target,
            epsilon=self.epsilon,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


@register_loss(
    "logit_adjusted_cross_entropy",
    aliases=["LogitAdjustedCrossEntropy", "logit_adjusted_ce", "la_ce"],
    tasks=["classification"],
    tags=["long_tail", "imbalanced"],
    inputs=_LOGITS_LABELS,
)
@document_args(CLASS_ARGS, LOGIT_ADJUSTED_ARGS)
class LogitAdjustedCrossEntropy(nn.Module):
    """Logit-adjusted cross-entropy (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021):
    ``CE(x + tau log pi, y)``.

    Targets (indices (N, *) or probabilities (N, C, *)) as ``cross_entropy``. Use the unadjusted logits at
    inference (the adjustment is a training-time loss only).

    Example:
        >>> import torch
        >>> loss = LogitAdjustedCrossEntropy(prior=[3, 1])
        >>> loss
        LogitAdjustedCrossEntropy(prior=tensor([0.75, 0.25], dtype=float32), num_classes=2)
        >>> loss(torch.zeros(2, 2), torch.tensor([0, 1])).round(decimals=4)
        tensor(0.8370)
    """

    loss_name: str  # set by register_loss

    log_prior: torch.Tensor | None  # buffers
    prior: torch.Tensor | None
    weight: torch.Tensor | None

    def __init__(
        self,
        prior: Sequence[float] | torch.Tensor | None = None,
        tau: float = 1.0,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        log_prior = probs = None
        if prior is not None:
            p = torch.as_tensor(prior, dtype=torch.float64).flatten()
            if p.numel() == 0 or not bool(torch.isfinite(p).all()) or bool((p <= 0).any()):
                raise ValueError(
                    f"{self.loss_name}: prior must be finite, positive class counts or probabilities "
                    f"(give zero-count classes a pseudo-count), got {p.tolist()}"
                )
            probs = (p / p.sum()).float()
            log_prior = probs.log()
            if num_classes is not None and p.numel() != num_classes:
                raise ValueError(f"{self.loss_name}: prior has {p.numel()} entries for num_classes={num_classes}")
            num_classes = p.numel()
        self.tau = float(tau)
        self.ignore_index = ignore_index
        self.label_smoothing = check_unit_interval(self.loss_name, "label_smoothing", label_smoothing)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.num_classes = num_classes
        self.register_buffer("log_prior", log_prior)
        # The normalised prior under the option's own name, so the repr shows it (the generic repr reads options
        # by name); not persistent: log_prior alone is the state, as in checkpoints written before.
        self.register_buffer("prior", probs, persistent=False)
        self.register_buffer("weight", as_class_weight(self.loss_name, weight))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return logit_adjusted_cross_entropy(
            input,
            target,
            self.log_prior,
            tau=self.tau,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )
