"""Distillation and distribution-matching losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..functional._checks import check_float, check_reduction, check_same_shape
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["KLDivLoss"]


def _log_probs_pair(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    student = torch.log_softmax(torch.randn(4, 5, generator=g), dim=-1)
    teacher = torch.softmax(torch.randn(4, 5, generator=g), dim=-1)
    return student, (teacher.log() if getattr(loss, "log_target", False) else teacher)


@register_loss(
    "kl_div",
    aliases=["KLDivLoss", "kl"],
    tasks=["distillation"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, *)", "float", "log-probabilities"),
            TensorSpec("target", "(N, *) same as input", "float", "probabilities (log-probabilities if log_target)"),
        ),
        example=_log_probs_pair,
    ),
)
class KLDivLoss(nn.KLDivLoss):
    """Kullback-Leibler divergence ``KL(target || exp(input)) = sum target (log target - input)``.

    A subclass of ``torch.nn.KLDivLoss`` whose default reduction is ``"batchmean"`` (the mathematically
    correct KL per sample; PyTorch's ``"mean"`` divides by every element as well and is kept available).
    """

    def __init__(self, reduction: str = "batchmean", log_target: bool = False) -> None:
        super().__init__(reduction=check_reduction("kl_div", reduction, ("batchmean", "mean", "sum", "none")), log_target=log_target)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_float("kl_div", "input", input)
        check_same_shape("kl_div", input, target)
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
