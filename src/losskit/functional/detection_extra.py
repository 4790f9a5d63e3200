"""Detection losses of the mmdet family: balanced L1 (Libra R-CNN), distribution focal (GFL), Gaussian focal
(CenterNet heat maps), and the gradient harmonizing losses GHM-C and GHM-R.

Every function checks its options and tensors, runs in float32 under autocast (:func:`~._precision.float32_loss`)
and reduces through :func:`~._reduce.reduce`: an empty input gives 0 connected to the graph, a NaN input a NaN
loss. No host syncs except the documented value checks under the label-check switch.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import (
    check_broadcast_weight,
    check_float,
    check_probabilities,
    check_reduction,
    check_same_shape,
    check_tensor,
    label_checks_enabled,
    shape_str,
)
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .boxes import _upcast

Reduction = Literal["mean", "sum", "none"]

__all__ = ["balanced_l1_loss", "distribution_focal_loss", "gaussian_focal_loss", "ghm_c_loss", "ghm_r_loss"]


def _positive(loss: str, **values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{loss}: {name} must be > 0, got {value}")


@float32_loss
def balanced_l1_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    gamma: float = 1.5,
    beta: float = 1.0,
    weight: Tensor | None = None,
    avg_factor: float | Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Balanced L1 loss (Pang et al., "Libra R-CNN", CVPR 2019), elementwise on ``x = |input - target|``.

    .. math::

        \ell(x) = \begin{cases} \frac{\alpha}{b} (b x + 1) \ln\left(\frac{b x}{\beta} + 1\right) - \alpha x
        & x < \beta \\ \gamma x + \frac{\gamma}{b} - \alpha \beta & x \ge \beta \end{cases},
        \qquad b = e^{\gamma / \alpha} - 1

    Args:
        input: predictions :math:`(*)` (box deltas).
        target: regression targets, same shape.
        alpha: promotes the gradient of inliers (small errors), > 0 (default 0.5).
        gamma: bounds the gradient of outliers, > 0 (default 1.5).
        beta: where the two branches meet, > 0 (default 1.0).
        weight: elementwise weight, broadcastable to the input.
        avg_factor: the mean's divisor instead of the element count (mmdet's).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (shape :math:`(*)`).

    Example:
        >>> balanced_l1_loss(torch.tensor([0.0, 0.5, 2.0]), torch.zeros(3), reduction="none")
        tensor([0.0000, 0.4006, 2.5786])

    Parity: mmdet ``BalancedL1Loss(alpha, gamma, beta, reduction)`` with ``forward(pred, target, weight,
    avg_factor)``.
    """
    name = "balanced_l1"
    check_reduction(name, reduction)
    _positive(name, alpha=alpha, gamma=gamma, beta=beta)
    check_float(name, "input", input)
    check_float(name, "target", target)
    check_same_shape(name, input, target)
    check_broadcast_weight(name, "weight", weight, input)
    x = _upcast(input)
    diff = (x - target.to(x.dtype)).abs()
    b = math.exp(gamma / alpha) - 1.0
    inner = alpha / b * (b * diff + 1.0) * torch.log1p(b * diff / beta) - alpha * diff
    loss = torch.where(diff < beta, inner, gamma * diff + gamma / b - alpha * beta)
    return reduce(loss, reduction, weight=weight, avg_factor=avg_factor)


@float32_loss
def distribution_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    avg_factor: float | Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Distribution focal loss (Li et al., "Generalized Focal Loss", NeurIPS 2020): integral regression of a
    continuous target :math:`y \in [0, n]` over the bins :math:`0 .. n` (``n = reg_max``).

    .. math::

        \ell = -\left((y_{i+1} - y) \log S_i + (y - y_i) \log S_{i+1}\right), \quad
        y_i = \lfloor y \rfloor, \; y_{i+1} = y_i + 1, \; S = \operatorname{softmax}(x)

    ``y = n`` uses the last pair of bins (``i = n - 1``, all weight on bin ``n``), where mmdet's
    ``y_i + 1`` would index past the end (GFL heads clamp targets to ``n - 0.01`` for that reason).

    Args:
        input: logits :math:`(..., n + 1)`, one distribution per box side (mmdet: ``(N, reg_max + 1)``), n >= 1.
        target: distances :math:`(...)` in ``[0, n]`` (range-checked under the label-check switch: one sync).
        weight: elementwise weight, broadcastable to :math:`(...)`.
        avg_factor: the mean's divisor instead of the element count (GFL: 4 x the number of positives).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (shape :math:`(...)`).

    Example:
        >>> logits = torch.tensor([[0.0, 2.0, 0.0, -1.0]])
        >>> distribution_focal_loss(logits, torch.tensor([1.25]))
        tensor(0.7780)

    Parity: mmdet ``DistributionFocalLoss(reduction)`` with ``forward(pred, target, weight, avg_factor)``.
    """
    name = "distribution_focal"
    check_reduction(name, reduction)
    check_float(name, "input", input, "(..., reg_max + 1)")
    check_float(name, "target", target, "(...)")
    if input.dim() == 0 or input.shape[-1] < 2 or target.shape != input.shape[:-1]:
        raise LossInputError(
            f"{name}: expected input (..., reg_max + 1) with reg_max >= 1 and target (...) = the input's leading "
            f"shape, got input {shape_str(input)} and target {shape_str(target)}"
        )
    n = input.shape[-1] - 1
    if label_checks_enabled() and target.numel():
        low, high = torch.stack(torch.aminmax(target)).tolist()  # one host sync, under the switch
        if low < 0 or high > n:
            raise LossInputError(f"{name}: expected target values in [0, reg_max] = [0, {n}], got {low:g}..{high:g}")
    check_broadcast_weight(name, "weight", weight, target)
    logp = F.log_softmax(_upcast(input), dim=-1)
    y = target.to(logp.dtype)
    # bin index from a NaN-free copy (a NaN target still reaches the loss through the weights below)
    left = torch.nan_to_num(y.detach()).floor().clamp(0, n - 1)
    index = torch.stack([left, left + 1], dim=-1).long()
    pair = logp.gather(-1, index)
    loss = -((left + 1.0 - y) * pair[..., 0] + (y - left) * pair[..., 1])
    return reduce(loss, reduction, weight=weight, avg_factor=avg_factor)


@float32_loss
def gaussian_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 2.0,
    gamma: float = 4.0,
    pos_weight: float = 1.0,
    neg_weight: float = 1.0,
    from_logits: bool = True,
    weight: Tensor | None = None,
    avg_factor: float | Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Gaussian focal loss (Law & Deng, CornerNet, ECCV 2018; Zhou et al., CenterNet, 2019) on heat maps.

    .. math::

        \ell = \begin{cases} -w_+ (1 - p)^\alpha \log p & y = 1 \\
        -w_- (1 - y)^\gamma p^\alpha \log(1 - p) & y < 1 \end{cases}

    "mean" divides the sum by the number of positives (``target == 1``) clamped to >= 1, as CenterNet does:
    a heat map without peaks gives the plain sum of its negative terms, an empty input 0.
    With logits every factor is computed in log space (``logsigmoid``), finite at saturated logits.

    Args:
        input: heat-map logits :math:`(*)`, e.g. :math:`(N, C, H, W)`; probabilities with ``from_logits=False``.
        target: Gaussian heat map, same shape, values in [0, 1], 1 at the object centres.
        alpha: focusing power on the prediction, >= 0 (default 2).
        gamma: power of the penalty reduction ``(1 - y)^gamma`` near the centres, >= 0 (default 4).
        pos_weight: weight of the positive terms (default 1).
        neg_weight: weight of the negative terms (default 1).
        from_logits: True (default): ``input`` holds logits; False: probabilities (mmdet's input, with its
            ``log(p + 1e-12)``).
        weight: elementwise weight, broadcastable to the input.
        avg_factor: the mean's divisor instead of the number of positives.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (shape :math:`(*)`).

    Example:
        >>> target = torch.tensor([[1.0, 0.5, 0.0]])
        >>> gaussian_focal_loss(torch.tensor([[2.0, 0.0, -3.0]]), target)
        tensor(0.0127)

    Parity: mmdet ``GaussianFocalLoss(alpha, gamma, pos_weight, neg_weight, reduction)`` on ``sigmoid(input)``
    with ``avg_factor = max(num_pos, 1)`` (what ``CenterNetHead`` passes); ``from_logits=False`` takes mmdet's
    probabilities directly.
    """
    name = "gaussian_focal"
    check_reduction(name, reduction)
    if not (alpha >= 0 and gamma >= 0):
        raise ValueError(f"{name}: alpha and gamma must be >= 0, got alpha={alpha}, gamma={gamma}")
    check_float(name, "input", input)
    check_float(name, "target", target)
    check_same_shape(name, input, target)
    check_probabilities(name, target)
    if not from_logits:
        check_probabilities(name, input, name="input (probabilities, from_logits=False)")
    check_broadcast_weight(name, "weight", weight, input)
    x = _upcast(input)
    y = target.to(x.dtype)
    pos = (y == 1).to(x.dtype)
    if from_logits:
        log_p, log_q = F.logsigmoid(x), F.logsigmoid(-x)
        pos_term = -log_p * torch.exp(alpha * log_q)
        neg_term = -log_q * torch.exp(alpha * log_p)
    else:
        eps = 1e-12  # mmdet's
        pos_term = -(x + eps).log() * (1.0 - x).pow(alpha)
        neg_term = -(1.0 - x + eps).log() * x.pow(alpha)
    loss = pos_weight * pos_term * pos + neg_weight * neg_term * (1.0 - y).pow(gamma)
    if avg_factor is None and reduction == "mean":
        avg_factor = pos.sum(dtype=acc_dtype(pos)).clamp_min(1.0)
    return reduce(loss, reduction, weight=weight, avg_factor=avg_factor)


def _check_ghm(name: str, bins: int, momentum: float, acc_sum: Tensor | None) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"{name}: bins must be an integer >= 1, got {bins!r}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"{name}: momentum must be in [0, 1), got {momentum}")
    if acc_sum is not None:
        check_tensor(name, "acc_sum", acc_sum)
        if acc_sum.shape != (bins,):
            raise LossInputError(f"{name}: expected acc_sum of shape ({bins},) (one per bin), got {shape_str(acc_sum)}")


def _ghm_weights(
    g: Tensor, valid: Tensor, total: Tensor, bins: int, last_edge: float, momentum: float, acc_sum: Tensor | None
) -> Tensor:
    """mmdet's GHM weights ``total / (count of the element's bin) / (number of non-empty bins)``, vectorised.

    ``g`` (detached) in [0, 1]; bin i holds ``edges[i] <= g < edges[i + 1]``, ``edges = i / bins`` with the last
    edge ``last_edge``. With ``momentum`` and ``acc_sum`` the count of a non-empty bin is the moving average
    ``acc_sum[i] <- m acc_sum[i] + (1 - m) count``, updated in place (no sync: one scatter, no loop over bins).
    """
    edges = torch.arange(bins + 1, dtype=g.dtype, device=g.device) / bins
    edges[-1] = last_edge
    # bucketize(right=True) - 1 is the i with edges[i] <= g < edges[i + 1]; outside the edges, invalid or NaN
    # elements go to an extra bin `bins`, which gets no weight and is never counted
    idx = torch.bucketize(g, edges, right=True) - 1
    inside = valid & (idx >= 0) & (idx < bins) & (g == g)
    idx = torch.where(inside, idx, bins)
    counts = torch.zeros(bins + 1, dtype=torch.long, device=g.device).scatter_add_(
        0, idx.flatten(), torch.ones_like(idx.flatten())
    )[:bins]
    filled = counts > 0
    count = counts.to(g.dtype)
    if momentum > 0 and acc_sum is not None:
        with torch.no_grad():
            acc_sum.copy_(torch.where(filled, momentum * acc_sum + (1.0 - momentum) * count.to(acc_sum.dtype), acc_sum))
        count = acc_sum.to(g.dtype)
    per_bin = torch.where(filled, total / count.clamp_min(torch.finfo(g.dtype).tiny), 0.0)
    per_bin = per_bin / filled.sum().clamp_min(1).to(g.dtype)
    return torch.cat([per_bin, per_bin.new_zeros(1)])[idx]


@float32_loss
def ghm_c_loss(
    input: Tensor,
    target: Tensor,
    label_weight: Tensor | None = None,
    *,
    bins: int = 10,
    momentum: float = 0.0,
    acc_sum: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""GHM-C loss (Li, Liu & Wang, "Gradient Harmonized Single-stage Detector", AAAI 2019): sigmoid BCE with
    each element weighted by the inverse density of its gradient norm :math:`g = |\sigma(x) - y|`.

    .. math::

        \ell = \frac{1}{T} \sum_i \frac{T}{n \, c_{b(i)}} \operatorname{BCE}(x_i, y_i)

    with ``bins`` equal bins of g over [0, 1], :math:`c_b` the number of valid elements in bin b (or its moving
    average with ``momentum``), n the number of non-empty bins and T the number of valid elements (>= 1).

    Args:
        input: logits :math:`(N, C)` (or any shape).
        target: binary targets of the input's shape (float), or class indices :math:`(N,)` (any integer dtype)
            expanded to one-hot over C: a value outside [0, C) is background (all zeros), as mmdet.
        label_weight: elements with a weight > 0 are valid (mmdet's ``label_weight``), broadcastable to the
            input; None: all valid. Only the mask is used, as in mmdet.
        bins: number of bins of the gradient norm, >= 1 (default 10).
        momentum: in [0, 1); > 0 with ``acc_sum`` uses the moving-average bin counts (default 0).
        acc_sum: the ``(bins,)`` moving-average counts, **updated in place** (no gradient); None: plain counts.
        reduction: ``"mean"`` (sum / T, mmdet's) | ``"sum"`` | ``"none"`` (the weighted BCE, input's shape).

    Example:
        >>> logits = torch.tensor([[3.0, -2.0], [0.0, 1.0]])
        >>> ghm_c_loss(logits, torch.tensor([[1.0, 0.0], [1.0, 0.0]]), bins=2)
        tensor(0.5455)

    Parity: mmdet ``GHMC(bins, momentum, use_sigmoid=True, reduction)`` with ``forward(pred, target,
    label_weight)``.
    """
    name = "ghm_c"
    check_reduction(name, reduction)
    _check_ghm(name, bins, momentum, acc_sum)
    check_float(name, "input", input)
    x = _upcast(input)
    check_tensor(name, "target", target)
    if target.is_floating_point():
        check_same_shape(name, input, target)
        check_probabilities(name, target)
        y = target.to(x.dtype)
    elif x.dim() == 2 and target.shape == x.shape[:1] and target.dtype != torch.bool:
        labels = target.long()
        classes = torch.arange(x.shape[1], device=x.device)
        y = (labels.unsqueeze(1) == classes).to(x.dtype)  # out-of-range labels match no class: background
        if label_weight is not None and label_weight.shape == target.shape:
            label_weight = label_weight.unsqueeze(1)  # a per-sample weight, expanded over C as mmdet does
    else:
        raise LossInputError(
            f"{name}: expected a float target of the input's shape {shape_str(input)} or integer labels (N,) for "
            f"input (N, C), got {target.dtype} {shape_str(target)}"
        )
    check_broadcast_weight(name, "label_weight", label_weight, input)
    valid = torch.ones_like(x, dtype=torch.bool) if label_weight is None else (label_weight > 0).expand_as(x)
    total = valid.sum(dtype=acc_dtype(x)).clamp_min(1.0)
    g = (torch.sigmoid(x.detach()) - y).abs()
    weights = _ghm_weights(g, valid, total, bins, 1.0 + 1e-6, momentum, acc_sum)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    return reduce(loss, reduction, weight=weights, avg_factor=total)


@float32_loss
def ghm_r_loss(
    input: Tensor,
    target: Tensor,
    label_weight: Tensor | None = None,
    *,
    mu: float = 0.02,
    bins: int = 10,
    momentum: float = 0.0,
    acc_sum: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""GHM-R loss (Li, Liu & Wang, AAAI 2019): the authentic smooth L1 ``ASL1(d) = sqrt(d^2 + mu^2) - mu``
    weighted by the inverse density of its gradient norm :math:`g = |d| / \sqrt{d^2 + \mu^2}`, ``d = input -
    target``.

    Weights and normalisation as in :func:`ghm_c_loss` (``bins`` equal bins over [0, 1), the last one open),
    with T the sum of ``label_weight`` (>= 1), as mmdet.

    Args:
        input: box regression outputs :math:`(*)`, e.g. :math:`(N, 4)`.
        target: regression targets, same shape.
        label_weight: elements with a weight > 0 are valid, broadcastable to the input; None: all valid.
        mu: the ASL1 smoothing, > 0 (default 0.02).
        bins: number of bins of the gradient norm, >= 1 (default 10).
        momentum: in [0, 1); > 0 with ``acc_sum`` uses the moving-average bin counts (default 0).
        acc_sum: the ``(bins,)`` moving-average counts, **updated in place** (no gradient); None: plain counts.
        reduction: ``"mean"`` (sum / T, mmdet's) | ``"sum"`` | ``"none"`` (the weighted ASL1, input's shape).

    Example:
        >>> ghm_r_loss(torch.tensor([[0.1, 0.5]]), torch.zeros(1, 2), bins=2)
        tensor(0.2812)

    Parity: mmdet ``GHMR(mu, bins, momentum, reduction)`` with ``forward(pred, target, label_weight)``.
    """
    name = "ghm_r"
    check_reduction(name, reduction)
    _positive(name, mu=mu)
    _check_ghm(name, bins, momentum, acc_sum)
    check_float(name, "input", input)
    check_float(name, "target", target)
    check_same_shape(name, input, target)
    check_broadcast_weight(name, "label_weight", label_weight, input)
    x = _upcast(input)
    diff = x - target.to(x.dtype)
    root = (diff.square() + mu * mu).sqrt()
    loss = root - mu
    if label_weight is None:
        valid = torch.ones_like(x, dtype=torch.bool)
        total = torch.tensor(float(max(x.numel(), 1)), dtype=acc_dtype(x), device=x.device)
    else:
        valid = (label_weight > 0).expand_as(x)
        total = label_weight.expand_as(x).sum(dtype=acc_dtype(x)).clamp_min(1.0)
    g = (diff / root).abs().detach()
    weights = _ghm_weights(g, valid, total, bins, 1e3, momentum, acc_sum)
    return reduce(loss, reduction, weight=weights, avg_factor=total)
