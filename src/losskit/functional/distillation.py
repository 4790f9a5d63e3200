"""Knowledge-distillation losses: logit KD with temperature and feature matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._reduce import acc_dtype

__all__ = ["kd_loss", "feature_distillation_loss"]


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    temperature: float = 4.0,
    reduction: str = "batchmean",
) -> torch.Tensor:
    """Logit distillation (Hinton, Vinyals & Dean 2015):
    ``T^2 * KL(softmax(t / T) || softmax(s / T))`` over the class dim 1, the teacher detached.

    Logits are (N, C) or (N, C, *). ``reduction``: "batchmean" (the sum over classes averaged over the N
    samples and every spatial position), "sum", "none" ((N, *), the per-position KL).
    """
    dtype = acc_dtype(student_logits)
    log_p_s = F.log_softmax(student_logits.to(dtype) / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach().to(dtype) / temperature, dim=1)
    # KL in log space (log_target) so a saturated teacher gives 0 * (-inf) nowhere.
    per_position = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1) * (temperature * temperature)
    if reduction == "none":
        return per_position
    total = per_position.sum()
    return total if reduction == "sum" else total / max(per_position.numel(), 1)


def feature_distillation_loss(student: torch.Tensor, teacher: torch.Tensor, *, normalize: bool = False, dim: int = 1, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error between (projected) student features and detached teacher features; ``normalize``
    L2-normalises both along the channel dim ``dim`` first. "none" keeps the elementwise shape."""
    dtype = acc_dtype(student)
    s, t = student.to(dtype), teacher.detach().to(dtype)
    if normalize:
        s, t = F.normalize(s, dim=dim), F.normalize(t, dim=dim)
    err = (s - t) ** 2
    if reduction == "none":
        return err
    total = err.sum()
    return total if reduction == "sum" else total / max(err.numel(), 1)
