"""timm's multi-label classification losses: ``zlpr``, ``two_way`` and ``distribution_balanced``.

Each class holds its options (the class statistics as a buffer) and calls its functional form in
:mod:`losskit.functional.multilabel` once. Their targets are declared float (multi-hot), so ``losskit compare
--task classification`` trains them on one-hot targets; it fills ``class_counts`` from the task's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..functional import multilabel as FM
from ..functional._checks import check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["ZlprLoss", "TwoWayLoss", "DistributionBalancedLoss"]

Reduction = Literal["mean", "sum", "none"]


def _logits_and_multi_hot(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Logits (4, C) and a multi-hot float target with a positive in every row; C from the class counts, else 6."""
    counts = getattr(loss, "class_counts", None)
    c = counts.numel() if isinstance(counts, Tensor) else 6
    y = (torch.rand(4, c, generator=g) < 0.3).float()
    y[torch.arange(4), torch.randint(0, c, (4,), generator=g)] = 1.0
    return torch.randn(4, c, generator=g), y


_MULTILABEL = InputSpec(
    tensors=(
        TensorSpec("input", "(N, C)", "float", "logits"),
        TensorSpec("target", "(N, C) same as input", "float", "multi-hot targets (1: positive)"),
    ),
    example=_logits_and_multi_hot,
)


@register_loss(
    "zlpr", aliases=["ZlprLoss"], tasks=["classification"], tags=["multilabel", "ranking"], inputs=_MULTILABEL
)
class ZlprLoss(nn.Module):
    """ZLPR loss (Su et al., 2022; :func:`losskit.functional.zlpr_loss`): ``log(1 + sum_neg e^x) + log(1 + sum_pos
    e^-x)`` per sample, the multi-label extension of softmax cross-entropy (threshold 0). Parity: timm ``ZlprLoss``.

    Example:
        >>> ZlprLoss()(torch.tensor([[2.0, -1.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]))
        tensor(0.9889)

    Args:
        reduction: "mean" (default): over the N samples; "sum"; "none": (N,) per sample.
    """

    loss_name: str  # set by register_loss

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FM.zlpr_loss(input, target, reduction=self.reduction)


@register_loss(
    "two_way",
    aliases=["TwoWayLoss", "two_way_multilabel"],
    tasks=["classification"],
    tags=["multilabel", "ranking"],
    inputs=_MULTILABEL,
)
class TwoWayLoss(nn.Module):
    """Two-way multi-label loss (Kobayashi, CVPR 2023; :func:`losskit.functional.two_way_loss`): the soft-max
    negative against the soft-min positive logit, over the classes of each sample and over the samples of each
    class; a batch-level loss (rows / columns without a positive do not count). Parity: timm ``TwoWayLoss``.

    Example:
        >>> TwoWayLoss()(torch.tensor([[2.0, -1.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        tensor(0.3079)

    Args:
        tp: temperature of the soft-min over the positive logits (> 0; default 4.0).
        tn: temperature of the soft-max over the negative logits (> 0; default 1.0).
        reduction: "mean" (default): the sum of the two directions' means (timm's); "sum": the sum over every
            valid row and column.
    """

    loss_name: str  # set by register_loss

    def __init__(self, tp: float = 4.0, tn: float = 1.0, reduction: FM.TwoWayReduction = "mean") -> None:
        super().__init__()
        if not (tp > 0 and tn > 0):
            raise ValueError(f"{self.loss_name}: tp and tn must be > 0, got tp={tp}, tn={tn}")
        self.tp, self.tn = float(tp), float(tn)
        self.reduction: FM.TwoWayReduction = check_reduction(self.loss_name, reduction, ("mean", "sum"))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FM.two_way_loss(input, target, tp=self.tp, tn=self.tn, reduction=self.reduction)


@register_loss(
    "distribution_balanced",
    aliases=["DistributionBalancedLoss", "db_loss"],
    tasks=["classification"],
    tags=["multilabel", "long_tail", "imbalanced"],
    inputs=_MULTILABEL,
)
class DistributionBalancedLoss(nn.Module):
    """Distribution-balanced loss (Wu et al., ECCV 2020; :func:`losskit.functional.distribution_balanced_loss`):
    sigmoid BCE with re-balanced weights from the class counts and negative-tolerant regularisation (prior-shifted
    logits, scaled negatives, an optional focal factor). Parity: timm ``DistributionBalancedLoss`` (same options).

    Example:
        >>> loss = DistributionBalancedLoss(class_counts=[30, 5], num_samples=40)
        >>> loss(torch.tensor([[1.0, -1.0]]), torch.tensor([[1.0, 0.0]])).round(decimals=4)
        tensor(0.0241)

    Args:
        class_counts: (C,) positive count of each class over the training set (finite, in [0, num_samples]; a
            buffer); None (default): every class equally frequent, no prior shift. ``losskit compare`` fills it
            from the task's data.
        num_samples: number of training samples the counts were taken over (>= 2); None (default): the sum of the
            counts (exact for single-label data).
        map_alpha: the smallest re-balancing weight (default 0.1).
        map_beta: scale of the re-balancing map (default 10.0).
        map_mu: threshold of the re-balancing map (default 0.2).
        neg_scale: negative logit scale lambda > 0 (default 2.0; 1 disables the negative tolerance).
        init_bias: class prior shift factor kappa (default 0.05; 0 disables it).
        focal_gamma: focusing parameter >= 0 (default 2.0; 0 disables the focal factors).
        focal_balance: constant scale of the focal loss (default 2.0).
        smoothing: label smoothing in [0, 1), towards 0.5 (default 0.0).
        reduction: "mean" (default): over samples and classes (timm's); "batchmean": summed over the classes,
            averaged over the samples; "sum"; "none": (N, C).
    """

    loss_name: str  # set by register_loss
    class_counts: Tensor | None  # buffer

    def __init__(
        self,
        class_counts: Tensor | Sequence[float] | None = None,
        num_samples: int | None = None,
        map_alpha: float = 0.1,
        map_beta: float = 10.0,
        map_mu: float = 0.2,
        neg_scale: float = 2.0,
        init_bias: float = 0.05,
        focal_gamma: float = 2.0,
        focal_balance: float = 2.0,
        smoothing: float = 0.0,
        reduction: FM.DBReduction = "mean",
    ) -> None:
        super().__init__()
        FM.check_db_options(self.loss_name, neg_scale, focal_gamma, smoothing)
        counts = None
        if class_counts is not None:
            counts = torch.as_tensor(class_counts, dtype=torch.float32).detach().clone().flatten()
            FM.db_statistics(self.loss_name, counts.tolist(), num_samples, counts.numel(), counts, check=True)
        elif num_samples is not None and num_samples < 2:
            raise ValueError(f"{self.loss_name}: num_samples must be >= 2, got {num_samples}")
        self.register_buffer("class_counts", counts)
        self.num_samples = num_samples
        self.map_alpha, self.map_beta, self.map_mu = float(map_alpha), float(map_beta), float(map_mu)
        self.neg_scale, self.init_bias = float(neg_scale), float(init_bias)
        self.focal_gamma, self.focal_balance, self.smoothing = (
            float(focal_gamma),
            float(focal_balance),
            float(smoothing),
        )
        self.reduction: FM.DBReduction = check_reduction(
            self.loss_name, reduction, ("mean", "batchmean", "sum", "none")
        )

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FM.distribution_balanced_loss(
            input,
            target,
            self.class_counts,
            self.num_samples,
            map_alpha=self.map_alpha,
            map_beta=self.map_beta,
            map_mu=self.map_mu,
            neg_scale=self.neg_scale,
            init_bias=self.init_bias,
            focal_gamma=self.focal_gamma,
            focal_balance=self.focal_balance,
            smoothing=self.smoothing,
            reduction=self.reduction,
        )
