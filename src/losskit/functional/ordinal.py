"""Rank-consistent ordinal regression losses: CORAL (``coral``) and CORN (``corn``).

Both take K - 1 binary-task logits per sample, (N, K-1), for K ordered ranks, and target ranks (N,) in
[0, K - 1] of any integer dtype (the predicted rank is the number of tasks with a probability > 0.5: for CORN the
cumulative product of the conditional probabilities). Every form follows the zoo's edge policy: an empty batch
gives 0 with a zero gradient, NaN in gives NaN out, float32 under autocast (``@float32_loss``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_labels, check_probabilities, check_reduction, shape_str
from ._precision import float32_loss
from ._reduce import reduce

__all__ = ["coral_loss", "corn_loss", "rank_levels"]

Reduction = Literal["mean", "sum", "none"]


def _check_ordinal(loss: str, input: Tensor, target: Tensor, *, allow_levels: bool) -> bool:
    """Validates (N, K-1) logits and ranks (N,) in [0, K-1]; True when ``target`` holds levels (N, K-1) instead."""
    check_float(loss, "input", input, "(N, K-1)")
    if input.dim() != 2:
        raise LossInputError(f"{loss}: expected input of shape (N, K-1) (K - 1 task logits), got {shape_str(input)}")
    if allow_levels and target.is_floating_point() and target.shape == input.shape:
        check_probabilities(loss, target)
        return True
    check_labels(loss, target, input.shape[1] + 1)
    if target.shape != input.shape[:1]:
        raise LossInputError(
            f"{loss}: expected target ranks of shape ({input.shape[0]},) for an input {shape_str(input)}, got "
            f"{shape_str(target)}"
        )
    return False


def rank_levels(target: Tensor, num_tasks: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The extended binary labels of ranks (N,): ``levels[i, k] = 1`` if ``target[i] > k``, shape (N, K-1)."""
    k = torch.arange(num_tasks, device=target.device)
    return (target.long().unsqueeze(1) > k).to(dtype)


@float32_loss
def coral_loss(
    input: Tensor,
    target: Tensor,
    *,
    importance_weights: Tensor | Sequence[float] | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""CORAL loss (Cao, Mirjalili & Raschka, "Rank consistent ordinal regression for neural networks with
    application to age estimation", Pattern Recognition Letters 2020): K - 1 binary tasks "rank > k" sharing
    their weights (the rank-consistent layer is the model's), each a weighted binary cross-entropy.

    .. math::

        \ell_i = \sum_{k=0}^{K-2} \lambda_k \Big[ -y^{(k)}_i \log \sigma(x_{ik})
            - (1 - y^{(k)}_i) \log\big(1 - \sigma(x_{ik})\big) \Big], \qquad y^{(k)}_i = [\,r_i > k\,]

    Args:
        input: logits (N, K-1).
        target: ranks (N,) in [0, K-1] of any integer dtype, or the levels (N, K-1) as floats in [0, 1]
            (coral_pytorch's ``levels_from_labelbatch``).
        importance_weights: lambda, (K-1,) task weights; None: all 1.
        reduction: ``"mean"`` over the N samples (0 when N = 0) | ``"sum"`` | ``"none"``: (N,).

    Example:
        >>> coral_loss(torch.tensor([[2.0, 0.0, -2.0]]), torch.tensor([2]), reduction="none")  # K = 4, rank 2
        tensor([0.9470])

    Parity: coral_pytorch ``coral_loss(input, levels_from_labelbatch(target, K), importance_weights,
    reduction)`` (``reduction=None`` there is ``"none"`` here).
    """
    name = "coral"
    check_reduction(name, reduction)
    levels = _check_ordinal(name, input, target, allow_levels=True)
    y = target.to(input.dtype) if levels else rank_levels(target, input.shape[1], input.dtype)
    # -[y log sigma(x) + (1 - y) log(1 - sigma(x))] in softplus form, finite for any finite logit
    out = y * F.softplus(-input) + (1.0 - y) * F.softplus(input)
    if importance_weights is not None:
        w = torch.as_tensor(importance_weights).to(device=input.device, dtype=input.dtype).flatten()
        if w.numel() != input.shape[1]:
            raise LossInputError(
                f"{name}: importance_weights has {w.numel()} entries for an input with {input.shape[1]} tasks"
            )
        out = out * w
    return reduce(out.sum(1), reduction)


@float32_loss
def corn_loss(input: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""CORN loss (Shi, Cao & Raschka, "Deep Neural Networks for Rank-Consistent Ordinal Regression Based On
    Conditional Probabilities", Pattern Analysis and Applications 2023): task k is the conditional "rank > k given
    rank > k - 1", trained only on the samples of rank >= k.

    .. math::

        \mathcal{L} = \frac{1}{\sum_{i,k} m_{ik}} \sum_{i,k} m_{ik} \Big[ -[r_i > k] \log \sigma(x_{ik})
            - [r_i \le k] \log\big(1 - \sigma(x_{ik})\big) \Big], \qquad m_{ik} = [\,r_i \ge k\,]

    Args:
        input: logits (N, K-1).
        target: ranks (N,) in [0, K-1] of any integer dtype.
        reduction: ``"mean"``: over the (sample, task) pairs in the conditional subsets (CORN's; 0 when N = 0) |
            ``"sum"`` | ``"none"``: (N,), each sample's sum over its tasks.

    Example:
        >>> corn_loss(torch.tensor([[2.0, 0.0, -2.0]]), torch.tensor([1]))  # tasks 0 and 1 (rank >= k)
        tensor(0.4100)

    Parity: coral_pytorch ``corn_loss(input, target, num_classes=K)`` = this ``"mean"``.
    """
    name = "corn"
    check_reduction(name, reduction)
    _check_ordinal(name, input, target, allow_levels=False)
    ranks = target.long().unsqueeze(1)
    k = torch.arange(input.shape[1], device=input.device)
    subset = ranks >= k
    above = (ranks > k).to(input.dtype)
    bce = above * F.softplus(-input) + (1.0 - above) * F.softplus(input)
    out = torch.where(subset, bce, 0.0).sum(1)
    return reduce(out, reduction, subset.sum(1))
