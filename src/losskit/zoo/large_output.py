"""Losses over a large output layer (a language model's vocabulary, 100k classes), computed from the hidden states
and the layer's weight in row chunks so the (N, V) logits are never held: ``linear_cross_entropy``, and the
distillation of such a layer, ``linear_kd`` and ``linear_jsd``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

from ..functional._checks import check_reduction
from ..functional.linear_ce import check_linear_ce_options, linear_cross_entropy
from ..functional.linear_distill import check_distill_options, linear_jsd_loss, linear_kd_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["LinearCrossEntropyLoss", "LinearKDLoss", "LinearJSDLoss"]


def _hidden_head_labels(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hidden states (8, 32), a head weight (6, 32) and labels in [0, 6)."""
    return torch.randn(8, 32, generator=g), torch.randn(6, 32, generator=g) / 4, torch.randint(0, 6, (8,), generator=g)


@register_loss(
    "linear_cross_entropy",
    aliases=["LinearCrossEntropyLoss", "fused_linear_cross_entropy", "cut_cross_entropy"],
    tasks=["language_modeling"],
    tags=["large_output", "memory_bounded"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("hidden", "(N, H) or (B, T, H)", "float", "last hidden states"),
            TensorSpec("weight", "(V, H)", "float", "the output layer's weight (lm_head.weight)"),
            TensorSpec("target", "(N,) or (B, T)", "long", "class indices in [0, V)"),
            TensorSpec("bias", "(V,)", "float", "the output layer's bias", optional=True),
        ),
        example=_hidden_head_labels,
    ),
)
class LinearCrossEntropyLoss(nn.Module):
    """Cross-entropy of ``hidden @ weight.T + bias`` without the (N, V) logits
    (:func:`losskit.functional.linear_cross_entropy`): the rows are walked in chunks and each chunk's logits
    give their gradients (formed in the forward's pass for "mean"/"sum", recomputed in backward for "none").
    Memory beyond the inputs and their gradients: ``8 N`` bytes plus a chunk of about
    ``16 c V`` bytes (``c = max(256, 64 MiB // (16 V))`` rows by default), against ``4 N V`` for the logits alone.

    The module holds options only; the output layer stays in the model:
    ``loss(hidden, model.lm_head.weight, target)`` (and ``bias=model.lm_head.bias`` if it has one).

    Parity: ``F.cross_entropy(F.linear(hidden, weight, bias), target)`` with the same options (the z-loss and
    softcap written out); Liger-Kernel's ``LigerFusedLinearCrossEntropyLoss``, Apple's Cut Cross-Entropy.

    Args:
        ignore_index: the target value of rows left out of the loss (default -100, PyTorch's).
        label_smoothing: ``eps`` in [0, 1] (default 0.0): the target mixed with the uniform distribution, as
            ``F.cross_entropy``'s.
        z_loss: the weight of PaLM's auxiliary ``logsumexp(logits)^2`` term (default 0.0; PaLM uses 1e-4),
            which keeps the softmax normaliser near 1.
        softcap: Gemma 2's logit cap ``s`` (> 0): the logits become ``s * tanh(logits / s)`` before the
            softmax; None (default) for none.
        reduction: "mean" (default): the mean over the non-ignored rows (0 when there is none); "sum": their
            sum; "none": the per-row losses, the target's shape (0 at ignored rows).
        chunk_size: rows per chunk (an int >= 1), or None (default): automatic, max(256, 64 MiB // (16 V)) rows.

    Example:
        >>> head = nn.Linear(16, 100, bias=False)
        >>> hidden, target = torch.randn(2, 5, 16, requires_grad=True), torch.randint(0, 100, (2, 5))
        >>> loss = LinearCrossEntropyLoss(z_loss=1e-4)(hidden, head.weight, target)
        >>> loss.backward()
        >>> head.weight.grad.shape
        torch.Size([100, 16])
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        softcap: float | None = None,
        reduction: Literal["mean", "sum", "none"] = "mean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self.reduction = check_reduction(self.loss_name, reduction)
        check_linear_ce_options(self.loss_name, label_smoothing, z_loss, softcap, chunk_size)
        self.ignore_index, self.label_smoothing, self.z_loss = ignore_index, float(label_smoothing), float(z_loss)
        self.softcap, self.chunk_size = (None if softcap is None else float(softcap)), chunk_size

    def forward(
        self, hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        return linear_cross_entropy(
            hidden,
            weight,
            target,
            bias,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            z_loss=self.z_loss,
            softcap=self.softcap,
            reduction=self.reduction,
            chunk_size=self.chunk_size,
        )


def _student_teacher(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """A student (8, 64) with a head (6, 64) and a teacher (8, 96) with a head (6, 96)."""
    return (
        torch.randn(8, 64, generator=g),
        torch.randn(6, 64, generator=g) / 8,
        torch.randn(8, 96, generator=g),
        torch.randn(6, 96, generator=g) / 8,
    )


_DISTILL_INPUTS = (
    TensorSpec("student_hidden", "(N, H_s) or (B, T, H_s)", "float", "the student's last hidden states"),
    TensorSpec("student_weight", "(V, H_s)", "float", "the student's output layer weight (lm_head.weight)"),
    TensorSpec("teacher_hidden", "(N, H_t) or (B, T, H_t)", "float", "the teacher's hidden states (detached)"),
    TensorSpec("teacher_weight", "(V, H_t)", "float", "the teacher's output layer weight (detached)"),
    TensorSpec("target", "(N,) or (B, T)", "long", "hard labels, for the CE mix and padding", optional=True),
)
_DistillReduction = Literal["batchmean", "sum", "none"]


class _LinearDistillLoss(nn.Module):
    """What linear_kd and linear_jsd share: the option checks and the forward (one call of ``_functional``)."""

    loss_name: str  # set by register_loss
    _functional: Callable[..., torch.Tensor]

    def _options(
        self,
        temperature: float,
        alpha: float,
        beta: float,
        ignore_index: int,
        reduction: _DistillReduction,
        chunk_size: int | None,
    ) -> None:
        check_distill_options(self.loss_name, reduction, temperature, alpha, beta, chunk_size)
        self.temperature, self.alpha, self.ignore_index = float(temperature), float(alpha), ignore_index
        self.reduction: _DistillReduction = reduction
        self.chunk_size = chunk_size

    def _extra(self) -> dict[str, Any]:
        return {}

    def forward(
        self,
        student_hidden: torch.Tensor,
        student_weight: torch.Tensor,
        teacher_hidden: torch.Tensor,
        teacher_weight: torch.Tensor,
        target: torch.Tensor | None = None,
        student_bias: torch.Tensor | None = None,
        teacher_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return type(self)._functional(
            student_hidden,
            student_weight,
            teacher_hidden,
            teacher_weight,
            target,
            student_bias=student_bias,
            teacher_bias=teacher_bias,
            temperature=self.temperature,
            alpha=self.alpha,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            chunk_size=self.chunk_size,
            **self._extra(),
        )


@register_loss(
    "linear_kd",
    aliases=["LinearKDLoss", "fused_linear_kd"],
    tasks=["distillation", "language_modeling"],
    tags=["large_output", "memory_bounded"],
    inputs=InputSpec(tensors=_DISTILL_INPUTS, example=_student_teacher),
)
class LinearKDLoss(_LinearDistillLoss):
    """Logit distillation of a large output layer (:func:`losskit.functional.linear_kd_loss`):
    ``alpha T^2 KL(softmax(u / T) || softmax(s / T)) + (1 - alpha) CE(s, target)`` on the logits
    ``s = h_s W_s^T``, ``u = h_t W_t^T`` of student and (detached) teacher, walked in row chunks so neither
    model's (N, V) logits are held: a chunk of about ``32 c V`` bytes (``c = max(256, 64 MiB // (32 V))``).

    ``forward(student_hidden, student_weight, teacher_hidden, teacher_weight, target=None, student_bias=None,
    teacher_bias=None)``; without a target the loss is the KD term alone; with one, rows labelled
    ``ignore_index`` (padding) are left out of both terms. Parity: ``kd`` on ``F.linear`` logits.

    Args:
        temperature: T > 0 (default 4.0) dividing both models' logits before the softmax; the KL is scaled by
            T^2 so the gradient scale does not depend on T.
        alpha: the KD term's weight in [0, 1] with a target (default 0.5); the CE term gets ``1 - alpha``.
        ignore_index: the label of rows left out of both terms (default -100, padding).
        reduction: "batchmean" (default): the mean over the non-ignored rows; "sum": their sum; "none": per
            row, the rows' shape (0 at ignored rows).
        chunk_size: rows per chunk (an int >= 1), or None (default): automatic, max(256, 64 MiB // (32 V)) rows.

    Example:
        >>> student, teacher = nn.Linear(8, 50, bias=False), nn.Linear(16, 50, bias=False)
        >>> hs, ht = torch.randn(2, 5, 8, requires_grad=True), torch.randn(2, 5, 16)
        >>> loss = LinearKDLoss(temperature=2.0)(hs, student.weight, ht, teacher.weight, torch.randint(0, 50, (2, 5)))
        >>> loss.backward()
        >>> student.weight.grad.shape, teacher.weight.grad is None
        (torch.Size([50, 8]), True)
    """

    loss_name: str  # set by register_loss
    _functional = staticmethod(linear_kd_loss)

    def __init__(
        self,
        temperature: float = 4.0,
        alpha: float = 0.5,
        ignore_index: int = -100,
        reduction: _DistillReduction = "batchmean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self._options(temperature, alpha, 0.5, ignore_index, reduction, chunk_size)


@register_loss(
    "linear_jsd",
    aliases=["LinearJSDLoss", "fused_linear_jsd", "generalized_jsd"],
    tasks=["distillation", "language_modeling"],
    tags=["large_output", "memory_bounded"],
    inputs=InputSpec(tensors=_DISTILL_INPUTS, example=_student_teacher),
)
class LinearJSDLoss(_LinearDistillLoss):
    """Generalized Jensen-Shannon distillation of a large output layer (GKD, Agarwal et al. 2024; Liger-Kernel's
    ``LigerFusedLinearJSD``; :func:`losskit.functional.linear_jsd_loss`): with ``p`` the teacher's and ``q`` the
    student's tempered softmax and ``m = beta p + (1 - beta) q``, ``beta KL(p || m) + (1 - beta) KL(q || m)``,
    walked in row chunks like :class:`LinearKDLoss` (same inputs, same memory).

    Args:
        beta: the mixture weight in [0, 1] (default 0.5, the symmetric JSD); 0 gives the forward KL(p || q), 1
            the reverse KL(q || p), as TRL's ``generalized_jsd_loss``.
        temperature: T > 0 (default 1.0) dividing both models' logits (no T^2 factor, unlike KD).
        alpha: the JSD term's weight in [0, 1] with a target (default 0.5); the CE term gets ``1 - alpha``.
        ignore_index: the label of rows left out of both terms (default -100, padding).
        reduction: "batchmean" (default): the mean over the non-ignored rows; "sum": their sum; "none": per
            row, the rows' shape (0 at ignored rows).
        chunk_size: rows per chunk (an int >= 1), or None (default): automatic, max(256, 64 MiB // (32 V)) rows.

    Example:
        >>> hs, ws = torch.randn(6, 8, requires_grad=True), torch.randn(40, 8, requires_grad=True)
        >>> loss = LinearJSDLoss(beta=0.1)(hs, ws, torch.randn(6, 16), torch.randn(40, 16))
        >>> loss.backward()
    """

    loss_name: str  # set by register_loss
    _functional = staticmethod(linear_jsd_loss)

    def __init__(
        self,
        beta: float = 0.5,
        temperature: float = 1.0,
        alpha: float = 0.5,
        ignore_index: int = -100,
        reduction: _DistillReduction = "batchmean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self._options(temperature, alpha, beta, ignore_index, reduction, chunk_size)
        self.beta = float(beta)

    def _extra(self) -> dict[str, Any]:
        return {"beta": self.beta}
