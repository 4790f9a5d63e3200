"""Classification losses of the augmentation recipes: ``jsd`` (AugMix) and ``focal_cosine``.

Each class holds its options and calls its functional form in :mod:`losskit.functional.augmentation` once.
``jsd`` takes the ``num_splits`` views of a batch stacked along dim 0, which ``losskit compare`` does not make:
it is registered under the task ``"augmentation"``, not ``"classification"``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..functional import augmentation as FA
from ..functional._checks import check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._examples import logits_and_labels, num_classes_of

__all__ = ["JsdCrossEntropy", "FocalCosineLoss"]

Reduction = Literal["mean", "sum", "none"]


def _views_and_labels(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Logits of ``num_splits`` views of 4 samples (S * 4, 3), stacked, and the 4 labels."""
    s = int(getattr(loss, "num_splits", 3))
    c = num_classes_of(loss)
    clean = torch.randn(4, c, generator=g)
    views = [clean] + [clean + 0.5 * torch.randn(4, c, generator=g) for _ in range(s - 1)]
    return torch.cat(views), torch.randint(0, c, (4,), generator=g)


@register_loss(
    "jsd",
    aliases=["JsdCrossEntropy", "augmix", "jsd_cross_entropy"],
    tasks=["augmentation"],
    tags=["augmix", "consistency", "robustness"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(S * N, C): S = num_splits views stacked, clean first", "float", "logits"),
            TensorSpec("target", "(N,) or (S * N,)", "long", "class indices in [0, C) (the first N used)"),
        ),
        example=_views_and_labels,
    ),
)
class JsdCrossEntropy(nn.Module):
    """AugMix's Jensen-Shannon consistency loss (Hendrycks et al., ICLR 2020; :func:`losskit.functional.jsd_loss`):
    cross-entropy (label-smoothed) on the clean view plus ``alpha`` times the Jensen-Shannon divergence between the
    softmax of the ``num_splits`` views of each sample. Parity: timm ``JsdCrossEntropy`` (same options, same value).

    Example:
        >>> loss = JsdCrossEntropy(num_splits=2, alpha=1.0, smoothing=0.0)
        >>> loss(torch.tensor([[2.0, 0.0], [1.0, 1.0]]), torch.tensor([0]))
        tensor(0.2165)

    Args:
        num_splits: S, the number of views stacked along dim 0 of the input (int >= 1; default 3, timm's: the
            clean view and two AugMix views).
        alpha: weight of the consistency term (>= 0; default 12.0, AugMix's).
        smoothing: label smoothing of the clean-view cross-entropy in [0, 1) (default 0.1, timm's).
        reduction: "mean" (default): over the N samples; "sum"; "none": (N,) per sample.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self, num_splits: int = 3, alpha: float = 12.0, smoothing: float = 0.1, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        FA.check_jsd_options(self.loss_name, num_splits, alpha, smoothing)
        self.num_splits = int(num_splits)
        self.alpha, self.smoothing = float(alpha), float(smoothing)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FA.jsd_loss(
            input,
            target,
            num_splits=self.num_splits,
            alpha=self.alpha,
            smoothing=self.smoothing,
            reduction=self.reduction,
        )


@register_loss(
    "focal_cosine",
    aliases=["FocalCosineLoss"],
    tasks=["classification"],
    tags=["focal", "cosine"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C)", "float", "logits"),
            TensorSpec("target", "(N,)", "long", "class indices in [0, C)"),
        ),
        example=logits_and_labels(),
    ),
)
class FocalCosineLoss(nn.Module):
    """Focal cosine loss (Kim et al., 2020; :func:`losskit.functional.focal_cosine_loss`): ``1 - cos(x, one_hot)``
    plus ``xent`` times a focal cross-entropy on the L2-normalised logits. Parity: pytorch-toolbelt
    ``FocalCosineLoss`` ("mean" and "none").

    Example:
        >>> FocalCosineLoss()(torch.tensor([[3.0, 4.0], [0.0, 1.0]]), torch.tensor([1, 1]))
        tensor(0.1072)

    Args:
        alpha: scale of the focal term (default 1.0).
        gamma: focusing parameter >= 0 (default 2.0).
        xent: weight of the focal cross-entropy term (default 0.1).
        reduction: "mean" (default): over the N samples; "sum"; "none": (N,) per sample.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self, alpha: float = 1.0, gamma: float = 2.0, xent: float = 0.1, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if not gamma >= 0:
            raise ValueError(f"{self.loss_name}: gamma must be >= 0, got {gamma}")
        self.alpha, self.gamma, self.xent = float(alpha), float(gamma), float(xent)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FA.focal_cosine_loss(
            input, target, alpha=self.alpha, gamma=self.gamma, xent=self.xent, reduction=self.reduction
        )
