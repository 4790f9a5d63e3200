"""Seesaw loss (Wang et al., CVPR 2021), with the accumulated class counts as a buffer.

The class holds its options and the counts and calls :func:`losskit.functional.seesaw_loss` once per forward.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..functional import seesaw as FS
from ..functional._checks import check_labels, check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._examples import num_classes_of

__all__ = ["SeesawLoss"]

Reduction = Literal["mean", "sum", "none"]


def _every_class_once(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Logits (C, C) and labels holding every class once: repeated calls (check_loss's determinism and round
    trips) add equal counts to every class, so the count ratios, hence the value, do not move."""
    c = num_classes_of(loss, default=4)
    return torch.randn(c, c, generator=g), torch.randperm(c, generator=g)


@register_loss(
    "seesaw",
    aliases=["SeesawLoss"],
    tasks=["classification"],
    tags=["long_tail", "imbalanced", "stateful"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C)", "float", "logits"),
            TensorSpec("target", "(N,)", "long", "class indices in [0, C)"),
        ),
        example=_every_class_once,
    ),
)
class SeesawLoss(nn.Module):
    """Seesaw loss (Wang et al., CVPR 2021; :func:`losskit.functional.seesaw_loss`): cross-entropy whose negative
    logits are re-weighted by a mitigation factor ``(n_j / n_y)^p`` (for rarer classes j) and a compensation factor
    ``(sigma_j / sigma_y)^q`` (for wrongly higher-scored classes j).

    State: ``cum_samples`` (C,), the accumulated count of each class, a float64 buffer (exact counts; saved in the
    ``state_dict``, pickled, moved by ``.to``). In training mode each ``forward`` first adds the batch's label
    counts under ``no_grad`` (mmdet's order: the batch counts before its loss), then computes the loss; in eval
    mode the counts are frozen (as BatchNorm's running statistics). DDP: each rank counts its own labels (as
    mmdet); for global counts, ``torch.distributed.all_reduce`` the batch counts yourself, or sum
    ``cum_samples`` over the ranks when resuming.

    Parity: the classification core of mmdet ``SeesawLoss(p, q, eps, num_classes)`` (``seesaw_ce_loss`` with
    the same counts); mmdet's detection variant adds an objectness branch (C + 2 logits), not included here.

    Example:
        >>> loss = SeesawLoss(num_classes=3)
        >>> value = loss(torch.tensor([[1.0, 2.0, 0.0]]), torch.tensor([0]))
        >>> loss.cum_samples
        tensor([1., 0., 0.], dtype=torch.float64)

    Args:
        num_classes: C, the number of classes and the size of the counts (>= 1; default 1203, mmdet's: LVIS).
        p: exponent of the mitigation factor (>= 0; default 0.8; 0 disables it).
        q: exponent of the compensation factor (>= 0; default 2.0; 0 disables it).
        eps: lower bound of the target's score in the compensation ratio (> 0; default 1e-2).
        reduction: "mean" (default): over the N samples; "sum"; "none": (N,) per sample.
    """

    loss_name: str  # set by register_loss
    cum_samples: Tensor  # buffer

    def __init__(
        self, num_classes: int = 1203, p: float = 0.8, q: float = 2.0, eps: float = 1e-2, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{self.loss_name}: num_classes must be an int >= 1, got {num_classes!r}")
        FS.check_seesaw_options(self.loss_name, p, q, eps)
        self.num_classes = num_classes
        self.p, self.q, self.eps = float(p), float(q), float(eps)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)
        self.register_buffer("cum_samples", torch.zeros(num_classes, dtype=torch.float64))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if self.training:
            self.accumulate(target)
        return FS.seesaw_loss(
            input, target, self.cum_samples, p=self.p, q=self.q, eps=self.eps, reduction=self.reduction
        )

    @torch.no_grad()
    def accumulate(self, target: Tensor) -> None:
        """Adds the label counts of ``target`` to ``cum_samples``: a scatter-add, sync-free (``bincount`` reads the
        largest label on the host). Labels out of range fail the label check first."""
        check_labels(self.loss_name, target, self.num_classes)
        labels = target.reshape(-1).long()
        self.cum_samples.scatter_add_(0, labels, torch.ones_like(labels, dtype=self.cum_samples.dtype))
