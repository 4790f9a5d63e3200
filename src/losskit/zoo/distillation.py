"""Distillation and distribution-matching losses."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..errors import LossInputError
from ..functional import distillation as D
from ..functional._checks import check_float, check_reduction, shape_str
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["KLDivLoss", "KDLoss", "FeatureDistillationLoss"]


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
    Its forward is :func:`losskit.functional.kl_div_loss`: same shapes required, 0 for an empty batch (not
    NaN), float32 under autocast.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self, reduction: Literal["batchmean", "mean", "sum", "none"] = "batchmean", log_target: bool = False
    ) -> None:
        reduction_ = check_reduction(self.loss_name, reduction, ("batchmean", "mean", "sum", "none"))
        super().__init__(reduction=reduction_, log_target=log_target)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return D.kl_div_loss(
            input,
            target,
            log_target=self.log_target,
            reduction=self.reduction,  # type: ignore[arg-type]
        )


def _logit_pair(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(4, 5, generator=g), 2.0 * torch.randn(4, 5, generator=g)


@register_loss(
    "kd",
    aliases=["KDLoss", "knowledge_distillation", "logit_distillation"],
    tasks=["distillation"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("student_logits", "(N, C) or (N, C, *)", "float", "student logits"),
            TensorSpec("teacher_logits", "(N, C) or (N, C, *)", "float", "teacher logits (detached)"),
            TensorSpec("target", "(N, *)", "long", "hard labels, for the CE mix", optional=True),
        ),
        example=_logit_pair,
    ),
)
class KDLoss(nn.Module):
    """Logit knowledge distillation (Hinton, Vinyals & Dean 2015):
    ``KD = T^2 * KL(softmax(t / T) || softmax(s / T))``, summed over classes and averaged over samples
    ("batchmean"; over samples and positions for dense (N, C, *) logits). ``T^2`` keeps the gradient scale
    independent of the temperature. The teacher is detached.

    ``forward(student_logits, teacher_logits, target=None)``: with hard labels ``target`` (N, *) the loss is
    ``alpha * KD + (1 - alpha) * CE(student_logits, target)`` (``ignore_index`` honoured); without, it is KD
    alone (``alpha`` unused). ``reduction``: "batchmean" | "sum" | "none" ((N, *) per-sample KD; "none"
    refuses a target).

    Parity: with ``temperature=1``, ≡ ``F.kl_div(log_softmax(s), softmax(t), reduction="batchmean")``; the
    KD term of timm's ``LogitDistillationTask``.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        temperature: float = 4.0,
        alpha: float = 0.5,
        ignore_index: int = -100,
        reduction: Literal["batchmean", "sum", "none"] = "batchmean",
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"{self.loss_name}: temperature must be > 0, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"{self.loss_name}: alpha must be in [0, 1], got {alpha}")
        self.temperature, self.alpha, self.ignore_index = float(temperature), float(alpha), ignore_index
        self.reduction = check_reduction(self.loss_name, reduction, ("batchmean", "sum", "none"))

    def forward(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        return D.kd_loss(
            student_logits,
            teacher_logits,
            target,
            temperature=self.temperature,
            alpha=self.alpha,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


def _feature_pair(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    s_dim = int(getattr(loss, "student_dim", None) or 8)
    t_dim = int(getattr(loss, "teacher_dim", None) or s_dim)
    return torch.randn(4, s_dim, 3, 3, generator=g), torch.randn(4, t_dim, 3, 3, generator=g)


@register_loss(
    "feature_distillation",
    aliases=["FeatureDistillationLoss", "fitnet", "hint"],
    tasks=["distillation"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("student", "(N, C_s, *) or (N, *, C_s)", "float", "student features"),
            TensorSpec("teacher", "(N, C_t, *) or (N, *, C_t)", "float", "teacher features (detached)"),
        ),
        example=_feature_pair,
    ),
)
class FeatureDistillationLoss(nn.Module):
    """Feature distillation (FitNets, Romero et al. 2015): ``mean((P(student) - sg[teacher])^2)``.

    When ``student_dim`` and ``teacher_dim`` are given and differ, ``P`` is a learnable linear projection
    ``student_dim -> teacher_dim`` over the channel dimension ``channel_dim`` (1 for (N, C, *) maps, where it is
    a 1x1 convolution; -1 for (N, L, D) tokens); otherwise ``P`` is the identity. The projection is a
    sub-module: give its parameters to the optimizer (``loss.parameters()``). ``normalize`` L2-normalises
    both along the channel dim first. ``reduction``: "mean" | "sum" | "none" (the elementwise shape).

    Parity: the feature term of timm's ``FeatureDistillationTask`` (MSE after a projection).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        student_dim: int | None = None,
        teacher_dim: int | None = None,
        channel_dim: int = 1,
        normalize: bool = False,
        reduction: Literal["mean", "sum", "none"] = "mean",
    ) -> None:
        super().__init__()
        self.student_dim, self.teacher_dim, self.channel_dim = student_dim, teacher_dim, channel_dim
        self.normalize = normalize
        self.reduction = check_reduction(self.loss_name, reduction)
        needs = student_dim is not None and teacher_dim is not None and student_dim != teacher_dim
        self.projection: nn.Module = nn.Linear(student_dim, teacher_dim) if needs else nn.Identity()  # type: ignore[arg-type]

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        check_float(self.loss_name, "student", student)
        check_float(self.loss_name, "teacher", teacher)
        if student.dim() < 2:
            raise LossInputError(f"{self.loss_name}: expected features (N, C, *), got {shape_str(student)}")
        c = student.shape[self.channel_dim]
        if self.student_dim is not None and c != self.student_dim:
            raise LossInputError(
                f"{self.loss_name}: configured for student_dim={self.student_dim} on dim {self.channel_dim}, got "
                f"{shape_str(student)}"
            )
        if isinstance(self.projection, nn.Linear):
            student = self.projection(student.movedim(self.channel_dim, -1)).movedim(-1, self.channel_dim)
        if student.shape != teacher.shape:
            raise LossInputError(
                f"{self.loss_name}: projected student features {shape_str(student)} do not match the teacher's "
                f"{shape_str(teacher)}; set student_dim and teacher_dim to add a projection"
            )
        return D.feature_distillation_loss(
            student,
            teacher,
            normalize=self.normalize,
            dim=self.channel_dim,
            reduction=self.reduction,
        )
