"""Seesaw loss (Wang et al., CVPR 2021) for long-tailed classification: the softmax cross-entropy with each
negative class's logit re-weighted by a mitigation factor (from the accumulated class counts) and a compensation
factor (from the predicted scores).

Takes logits (N, C) and class indices (N,) of any integer dtype, and the accumulated counts (C,) (the module
:class:`losskit.zoo.seesaw.SeesawLoss` holds them as a buffer). Follows the zoo's edge policy: an empty batch
gives 0 with a zero gradient, NaN in gives NaN out, float32 under autocast (``@float32_loss``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_reduction, shape_str
from ._precision import float32_loss
from ._reduce import reduce
from .classification import check_class_input

__all__ = ["seesaw_loss", "check_seesaw_options"]

Reduction = Literal["mean", "sum", "none"]


def check_seesaw_options(loss: str, p: float, q: float, eps: float) -> None:
    if not (p >= 0 and q >= 0 and eps > 0):
        raise ValueError(f"{loss}: expected p >= 0, q >= 0 and eps > 0, got p={p}, q={q}, eps={eps}")


@float32_loss
def seesaw_loss(
    input: Tensor,
    target: Tensor,
    cum_samples: Tensor | Sequence[float] | None = None,
    *,
    p: float = 0.8,
    q: float = 2.0,
    eps: float = 1e-2,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Seesaw loss (Wang et al., "Seesaw Loss for Long-Tailed Instance Segmentation", CVPR 2021): cross-entropy
    whose negative logits are shifted by :math:`\log S_{ij}`, :math:`S_{ij} = M_{ij} C_{ij}`.

    .. math::

        \ell_i = -\log \frac{e^{x_{i y}}}{e^{x_{i y}} + \sum_{j \ne y} S_{y j}\, e^{x_{ij}}}, \qquad
        M_{yj} = \begin{cases} (n_j / n_y)^p & n_j < n_y \\ 1 & \text{else} \end{cases}, \qquad
        C_{yj} = \begin{cases} (\sigma_j / \max(\sigma_y, \epsilon))^q & \sigma_j > \sigma_y \\ 1 & \text{else}
        \end{cases}

    with :math:`n` the accumulated class counts (each clamped to >= 1) and :math:`\sigma = \operatorname{softmax}(x)`
    detached (the factors carry no gradient, as in mmdet).

    Args:
        input: logits (N, C).
        target: class indices (N,) of any integer dtype.
        cum_samples: (C,) accumulated count of each class (the module's buffer, counted before the loss of the
            batch, this batch included); None: equal counts (no mitigation).
        p: exponent of the mitigation factor (>= 0; default 0.8; 0 disables it).
        q: exponent of the compensation factor (>= 0; default 2.0; 0 disables it).
        eps: lower bound of the target's score in the compensation ratio (> 0; default 1e-2).
        reduction: ``"mean"`` over the N samples (0 when N = 0) | ``"sum"`` | ``"none"``: (N,).

    Example:
        >>> x = torch.tensor([[1.0, 2.0, 0.0]])
        >>> seesaw_loss(x, torch.tensor([0]), torch.tensor([100.0, 10.0, 1.0]), reduction="none")
        tensor([1.4333])

    Parity: the classification core of mmdet's ``SeesawLoss(p, q, eps, num_classes)``: mmdet's
    ``seesaw_ce_loss(input, target, None, cum_samples, C, p, q, eps, reduction)``. mmdet's module adds an
    objectness branch for detection heads (C + 2 logits with a background class): not part of this form.
    """
    name = "seesaw"
    check_reduction(name, reduction)
    check_seesaw_options(name, p, q, eps)
    check_class_input(name, input, target, num_classes=None, ignore_index=None, allow_dense=False)
    if input.dim() != 2:
        raise LossInputError(f"{name}: expected input of shape (N, C), got {shape_str(input)}")
    c = input.shape[1]
    labels = target.long()
    onehot = F.one_hot(labels, c).to(torch.bool)
    log_s = input.new_zeros(input.shape)
    if p > 0 and cum_samples is not None:
        n = torch.as_tensor(cum_samples).to(device=input.device, dtype=input.dtype).flatten()
        if n.numel() != c:
            raise LossInputError(f"{name}: cum_samples has {n.numel()} entries for an input with {c} classes")
        n = n.clamp_min(1.0)
        log_ratio = n.log()[None, :] - n.log()[:, None]  # log(n_j / n_i), row i = the target's class
        log_s = log_s + (p * log_ratio).clamp_max(0.0)[labels]
    if q > 0:
        with torch.no_grad():
            scores = torch.softmax(input, dim=1)
            self_scores = scores.gather(1, labels.unsqueeze(1)).clamp_min(eps)
            log_score_ratio = scores.log() - self_scores.log()
            log_s = log_s + (q * log_score_ratio).clamp_min(0.0)
    # the factors shift only the negatives' logits: log S_yy = 0
    shifted = input + torch.where(onehot, 0.0, log_s)
    return reduce(F.cross_entropy(shifted, labels, reduction="none"), reduction)
