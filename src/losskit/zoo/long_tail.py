"""Long-tail and class-imbalance losses: ``class_balanced``, ``ldam`` (with deferred re-weighting) and ``aucm``.

Each class holds its options (the class counts as a buffer) and calls its functional form in
:mod:`losskit.functional.long_tail` once. ``losskit compare`` fills ``samples_per_class`` from the task's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..functional import long_tail as FL
from ..functional._checks import check_choice, check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._examples import logits_and_labels

__all__ = ["ClassBalancedLoss", "LDAMLoss", "AUCMLoss"]

Reduction = Literal["mean", "sum", "none"]

_CLASSIFICATION = InputSpec(
    tensors=(
        TensorSpec("input", "(N, C) or (N, C, *spatial)", "float", "logits"),
        TensorSpec("target", "(N, *spatial)", "long", "class indices in [0, C)"),
    ),
    example=logits_and_labels(),
)


def _count_buffer(loss: str, samples_per_class: Tensor | Sequence[float] | None) -> Tensor | None:
    """The counts as a float32 buffer, checked once at construction (finite, > 0)."""
    if samples_per_class is None:
        return None
    return FL.check_class_counts(loss, samples_per_class).float()


@register_loss(
    "class_balanced",
    aliases=["ClassBalancedLoss", "CBLoss", "cb_loss"],
    tasks=["classification", "segmentation"],
    tags=["long_tail", "imbalanced"],
    inputs=_CLASSIFICATION,
)
class ClassBalancedLoss(nn.Module):
    """Class-balanced loss (Cui et al., CVPR 2019; :func:`losskit.functional.class_balanced_loss`): the base loss
    of each target weighted by ``(1 - beta) / (1 - beta^n_y)``, the inverse effective number of samples of its
    class (weights normalised to sum to C).

    Example:
        >>> loss = ClassBalancedLoss(samples_per_class=[90, 10], beta=0.9)
        >>> loss(torch.zeros(2, 2), torch.tensor([0, 1])).round(decimals=4)
        tensor(0.6931)

    Args:
        samples_per_class: (C,) training-set count of each class (finite, > 0; a buffer); None (default): every
            weight 1, the plain base loss. ``losskit compare`` fills it from the task's data.
        beta: in [0, 1) (default 0.9999): 0 gives equal weights, towards 1 inverse class frequency.
        base: "cross_entropy" (default): softmax cross-entropy; "focal": one-vs-rest sigmoid focal loss summed
            over the classes (the paper's CB focal); "sigmoid": one-vs-rest sigmoid BCE summed over the classes.
        gamma: focusing parameter >= 0 of the "focal" base (default 2.0).
        ignore_index: target value that counts nowhere (left out of every sum and of the mean's count); None
            (default): none.
        num_classes: expected number of classes C, checked against the input's dim 1; None (default): taken
            from the input (or from samples_per_class).
        reduction: "mean" (default): the mean over the valid targets, 0 when none; "sum"; "none": shape
            (N, *spatial).
    """

    loss_name: str  # set by register_loss
    samples_per_class: Tensor | None  # buffer

    def __init__(
        self,
        samples_per_class: Tensor | Sequence[float] | None = None,
        beta: float = 0.9999,
        base: FL.BalancedBase = "cross_entropy",
        gamma: float = 2.0,
        ignore_index: int | None = None,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        counts = _count_buffer(self.loss_name, samples_per_class)
        FL.class_balanced_weights([1.0], beta, self.loss_name)  # the beta check, at build time
        if not gamma >= 0:
            raise ValueError(f"{self.loss_name}: gamma must be >= 0, got {gamma}")
        if counts is not None and num_classes is not None and counts.numel() != num_classes:
            raise ValueError(f"{self.loss_name}: samples_per_class has {counts.numel()} entries for {num_classes}")
        self.register_buffer("samples_per_class", counts)
        self.beta, self.gamma = float(beta), float(gamma)
        self.base: FL.BalancedBase = check_choice(self.loss_name, "base", base, ("cross_entropy", "focal", "sigmoid"))
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FL.class_balanced_loss(
            input,
            target,
            self.samples_per_class,
            beta=self.beta,
            base=self.base,
            gamma=self.gamma,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


@register_loss(
    "ldam",
    aliases=["LDAMLoss", "ldam_drw"],
    tasks=["classification"],
    tags=["long_tail", "imbalanced", "margin"],
    inputs=_CLASSIFICATION,
)
class LDAMLoss(nn.Module):
    """LDAM loss with deferred re-weighting (Cao et al., NeurIPS 2019; :func:`losskit.functional.ldam_loss`):
    cross-entropy of ``s (x - m_y)`` with the margin ``m_c = max_m (min n / n_c)^(1/4)`` on the target class.

    DRW switch: train with ``reweight=False``, then set ``loss.reweight = True`` at the deferred epoch (the paper:
    epoch 160 of 200); from then on each target is weighted by the class-balanced weight of its class
    (``beta``, torch's weighted mean), as the authors' ``--train_rule DRW``. The flag is a plain attribute
    (shown in the repr), not part of the ``state_dict``: set it again when resuming after the switch.

    Example:
        >>> loss = LDAMLoss(samples_per_class=[100, 1], s=1.0)
        >>> loss(torch.zeros(1, 2), torch.tensor([1])).round(decimals=4)
        tensor(0.9741)

    Args:
        samples_per_class: (C,) training-set count of each class (finite, > 0; a buffer); None (default): the
            margin max_m for every class. ``losskit compare`` fills it from the task's data.
        max_m: the largest margin, the rarest class's, >= 0 (default 0.5, the paper's).
        s: logit scale > 0 (default 30.0, the paper's for cosine logits).
        reweight: the DRW switch (default False): True weights each target by its class-balanced weight.
        beta: in [0, 1) (default 0.9999): the effective-number beta of the DRW weights.
        ignore_index: target value that counts nowhere (left out of every sum and of the mean's count); None
            (default): none.
        num_classes: expected number of classes C, checked against the input's dim 1; None (default): taken
            from the input.
        reduction: "mean" (default): the (DRW-weighted) mean over the valid targets, 0 when none; "sum"; "none":
            shape (N, *spatial).
    """

    loss_name: str  # set by register_loss
    samples_per_class: Tensor | None  # buffer

    def __init__(
        self,
        samples_per_class: Tensor | Sequence[float] | None = None,
        max_m: float = 0.5,
        s: float = 30.0,
        reweight: bool = False,
        beta: float = 0.9999,
        ignore_index: int | None = None,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not (max_m >= 0 and s > 0):
            raise ValueError(f"{self.loss_name}: expected max_m >= 0 and s > 0, got max_m={max_m}, s={s}")
        FL.class_balanced_weights([1.0], beta, self.loss_name)  # the beta check, at build time
        self.register_buffer("samples_per_class", _count_buffer(self.loss_name, samples_per_class))
        self.max_m, self.s, self.beta = float(max_m), float(s), float(beta)
        self.reweight = bool(reweight)
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        counts = self.samples_per_class
        weight = (
            FL.class_balanced_weights(counts, self.beta, self.loss_name)
            if self.reweight and counts is not None
            else None
        )
        return FL.ldam_loss(
            input,
            target,
            counts,
            max_m=self.max_m,
            s=self.s,
            weight=weight,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


def _scores(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    y = torch.tensor([1.0, 0.0] * 4).reshape(8, 1)  # both classes present, as the v2 means need
    return torch.randn(8, 1, generator=g), y


@register_loss(
    "aucm",
    aliases=["AUCMLoss", "auc_margin"],
    tasks=["classification"],
    tags=["imbalanced", "auc", "binary"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, 1, *) or (N,); (N, C): one-vs-rest", "float", "scores (LibAUC: probabilities)"),
            TensorSpec("target", "same as input", "float", "labels 0 or 1 (integer dtypes accepted too)"),
        ),
        example=_scores,
    ),
)
class AUCMLoss(nn.Module):
    """AUC-margin loss (Yuan et al., ICCV 2021; :func:`losskit.functional.aucm_loss`), the min-max squared-hinge
    surrogate of the AUROC, with its variables ``a``, ``b`` (minimised) and ``alpha`` (maximised: use LibAUC's
    PESG or negate its gradient) as ``nn.Parameter``\\ s, each 0 at start. A batch-level objective: a scalar.
    An (N, C) input with one-hot or multilabel targets pools its N x C one-vs-rest scores into one binary problem
    (a micro-averaged surrogate with one a, b, alpha; LibAUC's ``AUCM_MultiLabel`` keeps them per class).
    Parity: MONAI ``AUCMLoss(margin, imratio, version)`` (same parameters, same values; MONAI takes C = 1 only).

    Example:
        >>> AUCMLoss(version="v2")(torch.tensor([[1.0], [0.0]]), torch.tensor([[1.0], [0.0]]))
        tensor(1., grad_fn=<SubBackward0>)

    Args:
        margin: the margin > 0 (default 1.0).
        imratio: positive ratio of the training set in [0, 1] (v1); None (default): the batch's.
        version: "v1" (default): with the class prior (global means, LibAUC's); "v2": class-conditional means,
            no prior.
    """

    loss_name: str  # set by register_loss

    def __init__(self, margin: float = 1.0, imratio: float | None = None, version: FL.AUCMVersion = "v1") -> None:
        super().__init__()
        if not margin > 0:
            raise ValueError(f"{self.loss_name}: margin must be > 0, got {margin}")
        if imratio is not None and not 0.0 <= imratio <= 1.0:
            raise ValueError(f"{self.loss_name}: imratio must be in [0, 1], got {imratio}")
        self.margin = float(margin)
        self.imratio = None if imratio is None else float(imratio)
        self.version: FL.AUCMVersion = check_choice(self.loss_name, "version", version, ("v1", "v2"))
        self.a = nn.Parameter(torch.tensor(0.0))
        self.b = nn.Parameter(torch.tensor(0.0))
        self.alpha = nn.Parameter(torch.tensor(0.0))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FL.aucm_loss(
            input,
            target,
            self.a,
            self.b,
            self.alpha,
            margin=self.margin,
            imratio=self.imratio,
            version=self.version,
        )
