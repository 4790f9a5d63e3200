"""Noise-robust classification losses: ``gce``, ``sce``, ``bi_tempered`` and ``ohem_cross_entropy``.

Each class holds its options and calls its functional form in :mod:`losskit.functional.noisy_labels` once.
Inputs: logits (N, C) or (N, C, *spatial) and class indices (N, *spatial) of any integer dtype.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..functional import noisy_labels as FN
from ..functional._checks import check_choice, check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._examples import logits_and_labels, num_classes_of

__all__ = ["GCELoss", "SCELoss", "BiTemperedLogisticLoss", "OhemCrossEntropyLoss"]

Reduction = Literal["mean", "sum", "none"]

_LOGITS = TensorSpec("input", "(N, C) or (N, C, *spatial)", "float", "logits")
_LABELS = TensorSpec("target", "(N, *spatial)", "long", "class indices in [0, C)")
_CLASSIFICATION = InputSpec(tensors=(_LOGITS, _LABELS), example=logits_and_labels())


@register_loss(
    "gce",
    aliases=["GCELoss", "GeneralizedCrossEntropyLoss", "generalized_cross_entropy"],
    tasks=["classification", "segmentation"],
    tags=["noisy_labels", "robust"],
    inputs=_CLASSIFICATION,
)
class GCELoss(nn.Module):
    """Generalized cross-entropy ``(1 - p_t^q) / q`` (Zhang & Sabuncu, NeurIPS 2018;
    :func:`losskit.functional.gce_loss`): between cross-entropy (``q -> 0``) and the noise-robust MAE (``q = 1``).

    Example:
        >>> GCELoss(q=1.0)(torch.zeros(2, 4), torch.tensor([0, 3]))
        tensor(0.7500)

    Args:
        q: the exponent in (0, 1] (default 0.7, the paper's).
        ignore_index: target value that counts nowhere (left out of every sum and of the mean's count); None
            (default): none.
        num_classes: expected number of classes C, checked against the input's dim 1; None (default): taken
            from the input.
        reduction: "mean" (default): the mean over the valid targets, 0 when none; "sum"; "none": shape
            (N, *spatial).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        q: float = 0.7,
        ignore_index: int | None = None,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not 0.0 < q <= 1.0:
            raise ValueError(f"{self.loss_name}: q must be in (0, 1], got {q}")
        self.q = float(q)
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FN.gce_loss(
            input,
            target,
            q=self.q,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


@register_loss(
    "sce",
    aliases=["SCELoss", "SymmetricCrossEntropyLoss", "symmetric_cross_entropy"],
    tasks=["classification", "segmentation"],
    tags=["noisy_labels", "robust"],
    inputs=_CLASSIFICATION,
)
class SCELoss(nn.Module):
    """Symmetric cross-entropy ``alpha CE + beta RCE`` (Wang et al., ICCV 2019; :func:`losskit.functional.sce_loss`),
    the reverse term ``-sum_k p_k log y_k`` with ``log 0 := log 1e-4`` (the authors' clamps).

    Example:
        >>> SCELoss(alpha=1.0, beta=0.0)(torch.zeros(1, 2), torch.tensor([1])).round(decimals=4)
        tensor(0.6931)

    Args:
        alpha: weight of the cross-entropy term, >= 0 (default 0.1, the paper's CIFAR-10 setting).
        beta: weight of the reverse cross-entropy term, >= 0 (default 1.0).
        ignore_index: target value that counts nowhere (left out of every sum and of the mean's count); None
            (default): none.
        num_classes: expected number of classes C, checked against the input's dim 1; None (default): taken
            from the input.
        reduction: "mean" (default): the mean over the valid targets, 0 when none; "sum"; "none": shape
            (N, *spatial).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        alpha: float = 0.1,
        beta: float = 1.0,
        ignore_index: int | None = None,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not (alpha >= 0 and beta >= 0):
            raise ValueError(f"{self.loss_name}: alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
        self.alpha, self.beta = float(alpha), float(beta)
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FN.sce_loss(
            input,
            target,
            alpha=self.alpha,
            beta=self.beta,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


def _bi_tempered_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    if getattr(loss, "mode", "multiclass") == "binary":
        return torch.randn(4, 1, generator=g), torch.randint(0, 2, (4, 1), generator=g).float()
    return logits_and_labels()(loss, g)


@register_loss(
    "bi_tempered",
    aliases=["BiTemperedLogisticLoss", "bi_tempered_logistic"],
    tasks=["classification", "segmentation"],
    tags=["noisy_labels", "robust"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C) or (N, C, *spatial); binary: (N, 1, *)", "float", "logits"),
            TensorSpec(
                "target",
                "(N, *spatial) or (N, C, *spatial); binary: the input's shape",
                "long | float",
                "class indices, class probabilities, or binary targets in [0, 1]",
            ),
        ),
        example=_bi_tempered_example,
    ),
)
class BiTemperedLogisticLoss(nn.Module):
    """Bi-tempered logistic loss (Amid et al., NeurIPS 2019; :func:`losskit.functional.bi_tempered_loss`): a
    bounded tempered log (``t1 < 1``) on a heavy-tailed tempered softmax (``t2 > 1``); ``t1 = t2 = 1`` is
    cross-entropy. Parity: pytorch-toolbelt ``BiTemperedLogisticLoss(t1, t2, smoothing)`` (multiclass) and
    ``BinaryBiTemperedLogisticLoss`` (``mode="binary"``).

    Example:
        >>> loss = BiTemperedLogisticLoss(t1=1.0, t2=1.0)
        >>> loss(torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])).round(decimals=4)  # cross-entropy
        tensor(0.1698)

    Args:
        t1: temperature of the log in [0, 1] (default 0.8; < 1 bounds the loss).
        t2: temperature of the softmax, > 0 (default 1.2; > 1 heavy tails, < 1 finite support).
        label_smoothing: in [0, 1) (default 0.0): targets become ``(1 - ls C / (C - 1)) y + ls / (C - 1)``.
        num_iters: iterations of the tempered normalization, >= 1 (default 5, the authors').
        mode: "multiclass" (default): softmax over dim 1 with class indices or probabilities; "binary": the
            two-class loss on logits (-x, x) with targets in [0, 1] of the input's shape (toolbelt's binary form).
        ignore_index: target value that counts nowhere (left out of every sum and of the mean's count); None
            (default): none.
        num_classes: expected number of classes C, checked against the input's dim 1 (multiclass); None
            (default): taken from the input.
        reduction: "mean" (default): the mean over the valid targets, 0 when none; "sum"; "none": shape
            (N, *spatial) (binary: the input's shape).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        t1: float = 0.8,
        t2: float = 1.2,
        label_smoothing: float = 0.0,
        num_iters: int = 5,
        mode: FN.BiTemperedMode = "multiclass",
        ignore_index: int | None = None,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.mode: FN.BiTemperedMode = check_choice(self.loss_name, "mode", mode, ("multiclass", "binary"))
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)
        self.t1, self.t2 = float(t1), float(t2)
        self.label_smoothing = float(label_smoothing)
        self.num_iters = num_iters
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        FN.check_bi_tempered_options(self.loss_name, t1, t2, label_smoothing, num_iters)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FN.bi_tempered_loss(
            input,
            target,
            t1=self.t1,
            t2=self.t2,
            label_smoothing=self.label_smoothing,
            num_iters=self.num_iters,
            mode=self.mode,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


def _pixels(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    c = num_classes_of(loss)
    return torch.randn(2, c, 6, 6, generator=g), torch.randint(0, c, (2, 6, 6), generator=g)


@register_loss(
    "ohem_cross_entropy",
    aliases=["OhemCrossEntropyLoss", "OhemCELoss", "ohem_ce"],
    tasks=["classification", "segmentation"],
    tags=["hard_mining", "imbalanced"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C, *spatial) or (N, C)", "float", "logits"),
            TensorSpec("target", "(N, *spatial) or (N,)", "long", "class indices in [0, C), or ignore_index"),
        ),
        example=_pixels,
    ),
)
class OhemCrossEntropyLoss(nn.Module):
    """Cross-entropy over the hard targets only (OHEM; :func:`losskit.functional.ohem_cross_entropy_loss`): a
    pixel (or sample) counts when its target probability is below ``max(thresh, k-th smallest)``, so at least
    about ``min_kept`` of them count. Parity: PaddleSeg ``OhemCrossEntropyLoss(thresh, min_kept, ignore_index)``;
    mmseg ``OHEMPixelSampler`` as documented in the functional form.

    Example:
        >>> x, y = torch.tensor([[4.0, 0.0], [0.0, 4.0]]), torch.tensor([0, 0])
        >>> OhemCrossEntropyLoss(min_kept=0)(x, y).round(decimals=4)  # only the second sample is hard
        tensor(4.0182)

    Args:
        thresh: probability threshold in (0, 1] (default 0.7): targets predicted with ``p_t < thresh`` are hard.
        min_kept: the least number of hard targets kept over the whole batch, >= 0 (default 10000, PaddleSeg's).
        ignore_index: target value that counts nowhere (default 255, PaddleSeg's and mmseg's); None: none.
        num_classes: expected number of classes C, checked against the input's dim 1; None (default): taken
            from the input.
        reduction: "mean" (default): the mean over the kept targets, 0 when none; "sum"; "none": shape
            (N, *spatial), 0 where not kept.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        thresh: float = 0.7,
        min_kept: int = 10000,
        ignore_index: int | None = 255,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not 0.0 < thresh <= 1.0:
            raise ValueError(f"{self.loss_name}: thresh must be in (0, 1], got {thresh}")
        if isinstance(min_kept, bool) or not isinstance(min_kept, int) or min_kept < 0:
            raise ValueError(f"{self.loss_name}: min_kept must be an integer >= 0, got {min_kept!r}")
        self.thresh = float(thresh)
        self.min_kept = min_kept
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FN.ohem_cross_entropy_loss(
            input,
            target,
            thresh=self.thresh,
            min_kept=self.min_kept,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )
