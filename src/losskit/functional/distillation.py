"""Knowledge-distillation losses: KL divergence, logit KD with temperature, feature matching.

Every function follows the zoo's autocast rule (``float32_loss``): autocast off, float32 (float64 stays
float64). An empty batch gives 0 with a zero gradient ("none": an empty tensor); NaN in gives NaN out.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import LossInputError
from ._checks import check_float, check_labels, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

__all__ = ["kl_div_loss", "kd_loss", "feature_distillation_loss"]

KLReduction = Literal["batchmean", "mean", "sum", "none"]
KDReduction = Literal["batchmean", "sum", "none"]


@float32_loss
def kl_div_loss(
    input: torch.Tensor, target: torch.Tensor, *, log_target: bool = False, reduction: KLReduction = "batchmean"
) -> torch.Tensor:
    """``KL(target || exp(input)) = sum target (log target - input)`` (``F.kl_div``, ``input`` log-probabilities).

    ``reduction``: "batchmean" (the sum divided by the batch size, the true KL per sample), "mean" (by every
    element, PyTorch's), "sum", "none" (the input's shape). Same shapes required (no broadcasting).
    """
    check_float("kl_div", "input", input)
    check_same_shape("kl_div", input, target)
    check_reduction("kl_div", reduction, ("batchmean", "mean", "sum", "none"))
    elementwise = F.kl_div(input, target, reduction="none", log_target=log_target)
    if reduction == "batchmean":
        # torch's "batchmean": the sum over everything divided by the batch size (0 for an empty batch)
        return reduce(elementwise, "mean", avg_factor=input.shape[0] if input.dim() else 1)
    return reduce(elementwise, reduction)


def _check_logits(loss: str, student: torch.Tensor, teacher: torch.Tensor) -> None:
    check_float(loss, "student_logits", student, "(N, C, *)")
    check_same_shape(loss, student, teacher, ("student_logits", "teacher_logits"))
    if student.dim() < 2:
        raise LossInputError(f"{loss}: expected logits of shape (N, C) or (N, C, *), got {shape_str(student)}")


@float32_loss
def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor | None = None,
    *,
    temperature: float = 4.0,
    alpha: float = 0.5,
    ignore_index: int = -100,
    reduction: KDReduction = "batchmean",
) -> torch.Tensor:
    """Logit distillation (Hinton, Vinyals & Dean 2015):
    ``T^2 * KL(softmax(t / T) || softmax(s / T))`` over the class dim 1, the teacher detached.

    Logits are (N, C) or (N, C, *). ``reduction``: "batchmean" (the sum over classes averaged over the N
    samples and every spatial position), "sum", "none" ((N, *), the per-position KL). With hard labels
    ``target`` (N, *) (any integer dtype) the loss is ``alpha * KD + (1 - alpha) * CE(student, target)``, the
    CE averaged over the non-ignored labels (0 when all are ignored); "none" refuses a target.
    """
    _check_logits("kd", student_logits, teacher_logits)
    check_reduction("kd", reduction, ("batchmean", "sum", "none"))
    if not temperature > 0:
        raise ValueError(f"kd: temperature must be > 0, got {temperature!r}")
    dtype = acc_dtype(student_logits)
    log_p_s = F.log_softmax(student_logits.to(dtype) / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach().to(dtype) / temperature, dim=1)
    # KL in log space (log_target) so a saturated teacher gives 0 * (-inf) nowhere.
    per_position = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1) * (temperature * temperature)
    if reduction == "none":
        if target is not None:
            raise LossInputError("kd: reduction='none' gives the per-sample KD term only; pass no target")
        return per_position
    kd = reduce(per_position, "sum" if reduction == "sum" else "mean")
    if target is None:
        return kd
    expected = (student_logits.shape[0], *student_logits.shape[2:])
    if tuple(target.shape) != expected:
        raise LossInputError(
            f"kd: expected target class indices of shape ({', '.join(map(str, expected))}) for logits "
            f"{shape_str(student_logits)}, got {shape_str(target)}"
        )
    check_labels("kd", target, student_logits.shape[1], ignore_index)
    valid = target != ignore_index
    labels = torch.where(valid, target, 0).long()  # ignored labels never reach the gather
    ce = torch.where(valid, F.cross_entropy(student_logits.to(dtype), labels, reduction="none"), 0.0)
    return alpha * kd + (1.0 - alpha) * reduce(ce, "sum" if reduction == "sum" else "mean", valid)


@float32_loss
def feature_distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    *,
    normalize: bool = False,
    dim: int = 1,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """Mean squared error between (projected) student features and detached teacher features; ``normalize``
    L2-normalises both along the channel dim ``dim`` first. "none" keeps the elementwise shape."""
    check_float("feature_distillation", "student", student)
    check_same_shape("feature_distillation", student, teacher, ("student", "teacher"))
    check_reduction("feature_distillation", reduction)
    dtype = acc_dtype(student)
    s, t = student.to(dtype), teacher.detach().to(dtype)
    if normalize:
        s, t = F.normalize(s, dim=dim), F.normalize(t, dim=dim)
    return reduce((s - t) ** 2, reduction)
