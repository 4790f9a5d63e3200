"""Distillation and distribution-matching losses."""

from __future__ import annotations

from typing import ClassVar, Literal

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
    correct KL per sample). Its forward is :func:`losskit.functional.kl_div_loss`: ``input`` (log-probabilities)
    and ``target`` of the same shape (N, *) (no broadcasting), 0 for an empty batch (not NaN), float32 under
    autocast.

    Args:
        reduction: "batchmean" (default): the sum over all elements divided by the batch size N, the KL per
            sample; "mean": divided by the number of elements (PyTorch's default, N times the class count
            smaller than the true KL for (N, C) inputs); "sum": the sum over everything; "none": the elementwise
            terms, the input's shape.
        log_target: False (default): ``target`` holds probabilities; True: ``target`` holds log-probabilities
            (more stable for a saturated teacher: no ``0 * log 0``).

    Example:
        >>> student = torch.log_softmax(torch.randn(4, 5), dim=1)
        >>> value = KLDivLoss()(student, torch.softmax(torch.randn(4, 5), dim=1))
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
    ``KD = T^2 * KL(softmax(t / T) || softmax(s / T))`` over the class dim 1, the teacher detached. ``T^2``
    keeps the gradient scale independent of the temperature.

    ``forward(student_logits, teacher_logits, target=None)``: logits (N, C) or (N, C, *) of the same shape; with
    hard labels ``target`` (N, *) (any integer dtype) the loss is ``alpha * KD + (1 - alpha) * CE(student_logits,
    target)``, the CE averaged over the non-ignored labels (0 when all are ignored); without, it is KD alone.

    Parity: with ``temperature=1``, ≡ ``F.kl_div(log_softmax(s), softmax(t), reduction="batchmean")``; the
    KD term of timm's ``LogitDistillationTask``.

    Args:
        temperature: T (> 0, default 4.0) dividing both logits before the softmax; higher values soften the
            distributions and pass more of the teacher's "dark knowledge" about non-target classes.
        alpha: the weight of the KD term in [0, 1] (default 0.5) when a ``target`` is given; the CE gets
            ``1 - alpha``. Unused without a target (the loss is KD alone).
        ignore_index: the label value in ``target`` left out of the CE term (default -100, PyTorch's).
        reduction: "batchmean" (default): the KL summed over classes and averaged over samples (and spatial
            positions for (N, C, *) logits); "sum": summed over them (the CE term summed too); "none": the
            per-position KD (N, *), which refuses a target.

    Example:
        >>> loss = KDLoss(temperature=2.0, alpha=0.7)
        >>> value = loss(torch.randn(4, 5), torch.randn(4, 5), torch.tensor([0, 1, 2, 3]))
    """

    loss_name: str  # set by register_loss
    #: a config may give these as schedules (losskit.compose.scheduled)
    __losskit_schedulable__: ClassVar[tuple[str, ...]] = ("temperature", "alpha")

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

    ``P`` is a learnable linear projection ``student_dim -> teacher_dim`` over the channel dimension when both
    sizes are given and differ, else the identity. The projection is a sub-module: give its parameters to the
    optimizer (``loss.parameters()``). Inputs: ``student`` (N, C_s, *) or (N, *, C_s), ``teacher`` of the
    projected student's shape (a mismatch is a ``LossInputError``).

    Parity: the feature term of timm's ``FeatureDistillationTask`` (MSE after a projection).

    Args:
        student_dim: the student's channel count C_s (None, default: not checked). Given, the student's size on
            ``channel_dim`` must match it.
        teacher_dim: the teacher's channel count C_t (None, default). With ``student_dim`` given and different,
            a learnable ``nn.Linear(student_dim, teacher_dim)`` projects the student first.
        channel_dim: the dimension holding the channels (default 1 for (N, C, *) maps, where the projection acts
            as a 1x1 convolution; -1 for (N, L, D) tokens).
        normalize: L2-normalise student and teacher along ``channel_dim`` before the squared error (default
            False).
        reduction: "mean" (default) over all elements, "sum", or "none" (the elementwise shape).

    Example:
        >>> loss = FeatureDistillationLoss(student_dim=8, teacher_dim=16)
        >>> value = loss(torch.randn(2, 8, 3, 3), torch.randn(2, 16, 3, 3))
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
