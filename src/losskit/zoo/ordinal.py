"""Rank-consistent ordinal regression losses: ``coral`` and ``corn``.

Each class calls its functional form in :mod:`losskit.functional.ordinal` once. They take K - 1 task logits per
sample (not K class logits), so they are registered under the task ``"ordinal"``: ``losskit compare --task
classification`` (K logits per sample) does not train them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..functional import ordinal as FO
from ..functional._checks import as_class_weight, check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["CoralLoss", "CornLoss"]

Reduction = Literal["mean", "sum", "none"]


def _tasks_and_ranks(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Task logits (6, K-1) and ranks (6,) in [0, K-1]; K - 1 from the importance weights, else 4."""
    w = getattr(loss, "importance_weights", None)
    tasks = w.numel() if isinstance(w, Tensor) else 4
    return torch.randn(6, tasks, generator=g), torch.randint(0, tasks + 1, (6,), generator=g)


_ORDINAL = InputSpec(
    tensors=(
        TensorSpec("input", "(N, K-1)", "float", "logits of the K - 1 binary tasks 'rank > k'"),
        TensorSpec("target", "(N,)", "long", "ranks in [0, K-1]"),
    ),
    example=_tasks_and_ranks,
)


@register_loss(
    "coral",
    aliases=["CoralLoss", "CORAL"],
    tasks=["ordinal"],
    tags=["ordinal_regression", "rank_consistent"],
    inputs=_ORDINAL,
)
class CoralLoss(nn.Module):
    """CORAL loss (Cao et al., Pattern Recognition Letters 2020; :func:`losskit.functional.coral_loss`): the
    (weighted) binary cross-entropies of the K - 1 tasks "rank > k", summed per sample. The rank-consistent
    output layer (one shared weight vector, K - 1 biases) is the model's. Parity: coral_pytorch ``CoralLoss``.

    Example:
        >>> CoralLoss()(torch.tensor([[2.0, 0.0, -2.0]]), torch.tensor([2]))  # K = 4 ranks, rank 2
        tensor(0.9470)

    Args:
        importance_weights: (K-1,) weight of each task (finite, >= 0; a buffer); None (default): all 1.
        reduction: "mean" (default): over the N samples; "sum"; "none": (N,) per sample.
    """

    loss_name: str  # set by register_loss
    importance_weights: Tensor | None  # buffer

    def __init__(
        self, importance_weights: Tensor | Sequence[float] | None = None, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        w = as_class_weight(self.loss_name, importance_weights, "importance_weights")
        self.register_buffer("importance_weights", None if w is None else w.float())
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FO.coral_loss(input, target, importance_weights=self.importance_weights, reduction=self.reduction)


@register_loss(
    "corn",
    aliases=["CornLoss", "CORN"],
    tasks=["ordinal"],
    tags=["ordinal_regression", "rank_consistent", "conditional"],
    inputs=_ORDINAL,
)
class CornLoss(nn.Module):
    """CORN loss (Shi et al., Pattern Analysis and Applications 2023; :func:`losskit.functional.corn_loss`): task k
    is the conditional "rank > k given rank >= k", trained on the samples of rank >= k only; the rank probability
    is the cumulative product of the task probabilities. Parity: coral_pytorch ``CornLoss``.

    Example:
        >>> CornLoss()(torch.tensor([[2.0, 0.0, -2.0]]), torch.tensor([1]))
        tensor(0.4100)

    Args:
        reduction: "mean" (default): over the (sample, task) pairs of the conditional subsets (CORN's); "sum";
            "none": (N,) each sample's sum over its tasks.
    """

    loss_name: str  # set by register_loss

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FO.corn_loss(input, target, reduction=self.reduction)
