"""Multi-label classification losses of timm: ZLPR (``zlpr``), the two-way multi-label loss (``two_way``) and the
distribution-balanced loss (``distribution_balanced``).

All take logits (N, C) and a dense multi-hot target of the same shape (float, int or bool; entries above 0.5 are
positives where the loss binarises it). Every form follows the zoo's edge policy: an empty batch (or a batch
without positives for ``two_way``) gives 0 with a zero gradient, NaN in gives NaN out, float32 under autocast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import reduce

__all__ = ["zlpr_loss", "two_way_loss", "distribution_balanced_loss", "db_statistics", "check_db_options"]

Reduction = Literal["mean", "sum", "none"]
TwoWayReduction = Literal["mean", "sum"]
DBReduction = Literal["mean", "batchmean", "sum", "none"]
Counts = Tensor | Sequence[float]

_TWO_WAY_FILL = -1e4  # timm's finite fill: a row / column without entries must not give inf - inf in backward


def _check_multilabel(loss: str, input: Tensor, target: Tensor) -> None:
    check_float(loss, "input", input, "(N, C)")
    check_same_shape(loss, input, target)
    if input.dim() != 2:
        raise LossInputError(f"{loss}: expected input of shape (N, C), got {shape_str(input)}")


@float32_loss
def zlpr_loss(input: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""ZLPR loss (Su et al., "ZLPR: A Novel Loss for Multi-label Classification", 2022): the multi-label
    extension of softmax cross-entropy; every positive logit is pushed above every negative one, 0 is the
    threshold.

    .. math::

        \ell_i = \log\Big(1 + \sum_{j \in \Omega^-_i} e^{x_{ij}}\Big)
            + \log\Big(1 + \sum_{j \in \Omega^+_i} e^{-x_{ij}}\Big)

    with :math:`\Omega^+_i = \{j : y_{ij} > 0.5\}` and :math:`\Omega^-_i` the rest.

    Args:
        input: logits (N, C).
        target: multi-hot targets (N, C) (binarised at 0.5).
        reduction: ``"mean"`` over the N samples (0 when N = 0) | ``"sum"`` | ``"none"``: (N,).

    Example:
        >>> zlpr_loss(torch.tensor([[2.0, -1.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]), reduction="none")
        tensor([0.9889])

    Parity: timm ``ZlprLoss()(input, target)`` = this ``"mean"``.
    """
    name = "zlpr"
    check_reduction(name, reduction)
    _check_multilabel(name, input, target)
    pos = target > 0.5
    zero = input.new_zeros(input.shape[:-1] + (1,))
    # the appended zero logit (the "1 +") keeps each log-sum-exp finite, so -inf masks are safe
    neg = torch.logsumexp(torch.cat([input.masked_fill(pos, float("-inf")), zero], -1), -1)
    pos_term = torch.logsumexp(torch.cat([(-input).masked_fill(~pos, float("-inf")), zero], -1), -1)
    return reduce(neg + pos_term, reduction)


@float32_loss
def two_way_loss(
    input: Tensor, target: Tensor, *, tp: float = 4.0, tn: float = 1.0, reduction: TwoWayReduction = "mean"
) -> Tensor:
    r"""Two-way multi-label loss (Kobayashi, "Two-way Multi-Label Loss", CVPR 2023): the soft-max negative logit
    against the soft-min positive logit, across the classes of each sample and across the samples of each class.

    .. math::

        \mathcal{L} = \operatorname{mean}_{i \in V_1} \operatorname{softplus}\Big(
            T_n \log \sum_{j \in \Omega^-_{i\cdot}} e^{x_{ij} / T_n}
            + T_p \log \sum_{j \in \Omega^+_{i\cdot}} e^{-x_{ij} / T_p}\Big)
            + \operatorname{mean}_{j \in V_0} (\text{the same over the samples } i \text{ of class } j)

    where :math:`V_1` are the samples with a positive and :math:`V_0` the classes with a positive in the batch
    (only those contribute; none: 0 with a zero gradient).

    Args:
        input: logits (N, C) (ranking scores, not calibrated probabilities).
        target: multi-hot targets (N, C) (binarised at 0.5).
        tp: temperature of the soft-min over the positive logits (> 0; default 4.0).
        tn: temperature of the soft-max over the negative logits (> 0; default 1.0).
        reduction: ``"mean"``: the sum of the two directions' means over their valid rows / columns | ``"sum"``:
            the sum over the valid rows and columns. A batch-level loss: no ``"none"``.

    Example:
        >>> two_way_loss(torch.tensor([[2.0, -1.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        tensor(0.3079)

    Parity: timm ``TwoWayLoss(tp, tn)(input, target)`` = this ``"mean"``.
    """
    name = "two_way"
    check_reduction(name, reduction, ("mean", "sum"))
    if not (tp > 0 and tn > 0):
        raise ValueError(f"{name}: tp and tn must be > 0, got tp={tp}, tn={tn}")
    _check_multilabel(name, input, target)
    pos = target > 0.5
    fill = torch.tensor(_TWO_WAY_FILL, dtype=input.dtype, device=input.device)
    pos_logits = torch.where(pos, -input / tp, fill)
    neg_logits = torch.where(pos, fill, input / tn)
    total = input.new_zeros(()).sum()
    for dim in (0, 1):  # 0: over the samples of each class, 1: over the classes of each sample
        valid = pos.any(dim=dim)
        value = F.softplus(torch.logsumexp(neg_logits, dim) * tn + torch.logsumexp(pos_logits, dim) * tp)
        total = total + reduce(torch.where(valid, value, 0.0), reduction, valid)
    return total


def check_db_options(loss: str, neg_scale: float, focal_gamma: float, smoothing: float) -> None:
    if not (neg_scale > 0 and focal_gamma >= 0 and 0.0 <= smoothing < 1.0):
        raise ValueError(
            f"{loss}: expected neg_scale > 0, focal_gamma >= 0 and smoothing in [0, 1), got neg_scale={neg_scale}, "
            f"focal_gamma={focal_gamma}, smoothing={smoothing}"
        )


def db_statistics(
    loss: str, class_counts: Counts | None, num_samples: float | None, num_classes: int, like: Tensor, *, check: bool
) -> tuple[Tensor, Tensor]:
    """``(1 / n_c, log-prior bias before the init_bias scale)`` of the distribution-balanced loss, (C,) each.

    ``class_counts`` None: every class equally frequent, no prior shift (zeros). ``num_samples`` None: the sum of
    the counts (exact for single-label data). ``check``: validate the values (a host sync; construction time)."""
    if class_counts is None:
        return like.new_ones(num_classes), like.new_zeros(num_classes)
    counts = torch.as_tensor(class_counts).to(device=like.device, dtype=like.dtype).flatten()
    if counts.numel() != num_classes:
        raise LossInputError(
            f"{loss}: class_counts has {counts.numel()} entries for an input with {num_classes} classes"
        )
    total = counts.sum() if num_samples is None else torch.tensor(float(num_samples), dtype=like.dtype)
    if check and (
        not bool(torch.isfinite(counts).all()) or bool((counts < 0).any()) or bool((counts > total).any()) or total < 2
    ):
        raise ValueError(
            f"{loss}: class_counts must be finite counts in [0, num_samples] with num_samples >= 2, got "
            f"{counts.tolist()!r:.200} of {float(total)}"
        )
    total = total.to(like.device)
    # a class never (or always) positive would give an infinite frequency or prior: timm's clamp
    counts = torch.minimum(counts.clamp_min(1.0), total - 1.0)
    return 1.0 / counts, -torch.log(total / counts - 1.0)


@float32_loss
def distribution_balanced_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Counts | None = None,
    num_samples: float | None = None,
    *,
    map_alpha: float = 0.1,
    map_beta: float = 10.0,
    map_mu: float = 0.2,
    neg_scale: float = 2.0,
    init_bias: float = 0.05,
    focal_gamma: float = 2.0,
    focal_balance: float = 2.0,
    smoothing: float = 0.0,
    reduction: DBReduction = "mean",
) -> Tensor:
    r"""Distribution-balanced loss (Wu et al., "Distribution-Balanced Loss for Multi-Label Classification in
    Long-Tailed Datasets", ECCV 2020): a sigmoid BCE with re-balanced weights and negative-tolerant regularisation.

    .. math::

        r_{ij} = \frac{1 / n_j}{\sum_k y_{ik} / n_k}, \quad w_{ij} = \alpha + \sigma(\beta (r_{ij} - \mu)),
        \quad z_{ij} = x_{ij} + b_j, \quad b_j = -\frac{\kappa}{\lambda} \log\Big(\frac{N}{n_j} - 1\Big)

        \ell_{ij} = w_{ij} \Big[ y_{ij}\, \phi\, \sigma(-z)^{\gamma} \operatorname{softplus}(-z)
            + (1 - y_{ij})\, \phi\, \sigma(\lambda z)^{\gamma} \frac{\operatorname{softplus}(\lambda z)}{\lambda}
            \Big]

    (:math:`\phi` = ``focal_balance`` and :math:`\gamma` = ``focal_gamma``; :math:`\gamma = 0` drops both factors).
    A sample without positives takes the largest weight, :math:`1 + \alpha`. ``smoothing`` moves y towards 0.5
    after the weights are computed.

    Args:
        input: logits (N, C).
        target: multi-hot or soft targets (N, C) (float; used as given, not binarised).
        class_counts: (C,) positive count of each class over the training set, n_j; None: every class equally
            frequent and no prior shift.
        num_samples: number of training samples the counts were taken over, N (>= 2); None: the sum of the counts
            (exact for single-label data).
        map_alpha: the smallest re-balancing weight, alpha (default 0.1).
        map_beta: scale of the re-balancing map, beta (default 10.0).
        map_mu: threshold of the re-balancing map, mu (default 0.2).
        neg_scale: negative logit scale lambda (> 0; default 2.0; 1 disables the negative tolerance).
        init_bias: class prior shift factor kappa (default 0.05; 0 disables it).
        focal_gamma: focusing parameter (>= 0; default 2.0; 0 disables the focal factors).
        focal_balance: constant scale of the focal loss (default 2.0; used only when focal_gamma > 0).
        smoothing: label smoothing in [0, 1) (default 0.0).
        reduction: ``"mean"`` over samples and classes (0 when N = 0) | ``"batchmean"``: summed over the classes,
            averaged over the samples | ``"sum"`` | ``"none"``: (N, C).

    Example:
        >>> x, y = torch.tensor([[1.0, -1.0]]), torch.tensor([[1.0, 0.0]])
        >>> distribution_balanced_loss(x, y, [30, 5], 40, reduction="none")
        tensor([[0.0467, 0.0015]])

    Parity: timm ``DistributionBalancedLoss(class_counts, num_samples, map_alpha, map_beta, map_mu, neg_scale,
    init_bias, focal_gamma, focal_balance, smoothing, reduction)(input, target)``, every reduction.
    """
    name = "distribution_balanced"
    check_reduction(name, reduction, ("mean", "batchmean", "sum", "none"))
    check_db_options(name, neg_scale, focal_gamma, smoothing)
    _check_multilabel(name, input, target)
    check = not isinstance(class_counts, Tensor)  # a tensor (the module's buffer) was checked when it was built
    freq_inv, log_prior = db_statistics(name, class_counts, num_samples, input.shape[1], input, check=check)
    y = target.to(input.dtype)
    repeat_rate = (y * freq_inv).sum(dim=-1, keepdim=True)
    ratio = freq_inv / repeat_rate.clamp(min=torch.finfo(input.dtype).tiny)
    weight = torch.sigmoid(map_beta * (ratio - map_mu)) + map_alpha
    if smoothing:
        y = y * (1.0 - smoothing) + 0.5 * smoothing
    z = input + log_prior * (init_bias / neg_scale)
    pos_loss = F.softplus(-z)
    neg_loss = F.softplus(z * neg_scale) / neg_scale
    if focal_gamma > 0:
        pos_loss = pos_loss * torch.sigmoid(-z).pow(focal_gamma) * focal_balance
        neg_loss = neg_loss * torch.sigmoid(z * neg_scale).pow(focal_gamma) * focal_balance
    out = weight * (y * pos_loss + (1.0 - y) * neg_loss)
    if reduction == "batchmean":
        return reduce(out.sum(-1), "mean")
    return reduce(out, reduction)
