"""Losses over a large output layer (a language model's vocabulary, 100k classes), computed from the hidden states
and the layer's weight in row chunks so the (N, V) logits are never held: ``linear_cross_entropy``."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..functional._checks import check_reduction
from ..functional.linear_ce import linear_cross_entropy
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["LinearCrossEntropyLoss"]


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
    ``16 c V`` bytes (``c = max(1, 64 MiB // (16 V))`` rows by default), against ``4 N V`` for the logits alone.

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
        chunk_size: rows per chunk (an int >= 1), or None (default): automatic, about 64 MiB of logits work.

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
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{self.loss_name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
        if not z_loss >= 0.0:
            raise ValueError(f"{self.loss_name}: z_loss must be >= 0, got {z_loss!r}")
        if softcap is not None and not softcap > 0.0:
            raise ValueError(f"{self.loss_name}: softcap must be > 0 or None, got {softcap!r}")
        if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size >= 1):
            raise ValueError(f"{self.loss_name}: chunk_size must be an int >= 1 or None, got {chunk_size!r}")
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
