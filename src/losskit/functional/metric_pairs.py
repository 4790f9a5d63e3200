"""Pair-based metric-learning losses over a labelled batch: circle and lifted structure.

Same conventions as :mod:`losskit.functional.metric` (whose helpers they use): ``embeddings`` (N, D) float,
``labels`` (N,) integer of any dtype, ordered pairs ``i != j``, one (N, N) similarity or distance matrix and
masks, no Python loop over anchors. No valid pair gives exactly 0 with a zero gradient; an empty batch gives
0 ("none": an empty tensor); a NaN embedding gives a NaN loss. Both are functions of the whole batch whose
rows are treated symmetrically, so :class:`losskit.distributed.GatherLoss` computes them over the global batch.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ._checks import check_reduction
from ._precision import float32_loss
from ._reduce import reduce
from .metric import (
    _empty,
    _masked_logsumexp,
    _upcast,
    check_embeddings,
    cosine_similarity_matrix,
    pair_masks,
    pairwise_distance,
)

__all__ = ["circle_loss", "lifted_structure_loss"]

Reduction = Literal["mean", "sum", "none"]


@float32_loss
def circle_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    m: float = 0.4,
    gamma: float = 80.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Circle loss (Sun et al., CVPR 2020), the pair-wise-label form, on cosine similarities ``s``.

    Per anchor i, with positives P(i) and negatives N(i):

    .. math::

        \ell_i = \operatorname{softplus}\Big(\log \sum_{p \in P(i)} e^{-\gamma\, \alpha_p (s_{ip} - \Delta_p)}
            + \log \sum_{n \in N(i)} e^{\gamma\, \alpha_n (s_{in} - \Delta_n)}\Big)

    with :math:`\alpha_p = [1 + m - s_{ip}]_+`, :math:`\alpha_n = [s_{in} + m]_+` (treated as constants, as in
    the paper and PML: no gradient flows through them), :math:`\Delta_p = 1 - m`, :math:`\Delta_n = m`.

    Args:
        embeddings: (N, D) float.
        labels: (N,) integer class ids (any integer dtype).
        m: the relaxation margin (default 0.4).
        gamma: the scale (> 0, default 80).
        reduction: "mean" over the anchors that have a positive and a negative, "sum", or "none": (N,), 0 for
            anchors without a positive or a negative.

    Returns:
        a scalar for "mean"/"sum" (0 when no anchor has both), (N,) for "none".

    Parity: ≡ PML ``CircleLoss(m, gamma)`` (its defaults ``CosineSimilarity``, ``AvgNonZeroReducer``: the
    softplus is > 0 for every anchor with both pair kinds, so "non-zero" anchors are those anchors).

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> circle_loss(x, torch.tensor([0, 0, 1, 1]), reduction="none").shape
        torch.Size([4])
    """
    check_embeddings("circle", embeddings, labels)
    check_reduction("circle", reduction)
    if not gamma > 0:
        raise ValueError(f"circle: gamma must be > 0, got {gamma!r}")
    if embeddings.shape[0] == 0:
        return _empty(embeddings, (0,), reduction)
    s = cosine_similarity_matrix(_upcast(embeddings))
    pos, neg = pair_masks(labels)
    weight = s.detach()
    pos_logit = -gamma * F.relu(1.0 + m - weight) * (s - (1.0 - m))
    neg_logit = gamma * F.relu(weight + m) * (s - m)
    valid = pos.any(dim=1) & neg.any(dim=1)
    per_anchor = F.softplus(_masked_logsumexp(pos_logit, pos) + _masked_logsumexp(neg_logit, neg))
    loss = torch.where(valid, per_anchor, torch.zeros_like(per_anchor))
    return reduce(loss, reduction, valid)


@float32_loss
def lifted_structure_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    normalize: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Lifted structured loss (Song et al., CVPR 2016, eq. 4 with its smooth upper bound), per positive pair.

    For a positive pair (i, j) with negatives :math:`N(i) = N(j)` (the samples of other labels):

    .. math::

        J_{ij} = \log\Big(\sum_{k \in N(i)} e^{\alpha - D_{ik}} + \sum_{l \in N(j)} e^{\alpha - D_{jl}}\Big)
            + D_{ij} - m_{pos}, \qquad
        L = \frac{1}{2|P|} \sum_{(i, j) \in P} [J_{ij}]_+^2

    with ``D`` the Euclidean distance (of L2-normalised embeddings with ``normalize``), :math:`\alpha` =
    ``neg_margin`` and ``pos_margin`` = 0 in the paper. Computed over ordered pairs, each halved, so "mean"
    (over ordered positive pairs) is the paper's L.

    Args:
        embeddings: (N, D) float.
        labels: (N,) integer class ids (any integer dtype).
        pos_margin: subtracted from the positive distance (default 0.0, the paper's).
        neg_margin: the paper's alpha (default 1.0).
        normalize: L2-normalise the embeddings first (default True, PML's ``LpDistance``).
        reduction: "mean" over ordered positive pairs that have negatives, "sum", or "none": the (N, N)
            per-pair matrix (``[J_ij]_+^2 / 2``), 0 off those pairs.

    Returns:
        a scalar for "mean"/"sum" (0 without a positive pair or without a negative), (N, N) for "none".

    Parity: ≡ PML ``LiftedStructureLoss(neg_margin, pos_margin)`` (defaults ``LpDistance(normalize_embeddings=
    normalize)``, ``MeanReducer``), which is the paper's form; PML's ``GeneralizedLiftedStructureLoss`` (Hermans
    et al. 2017, one log-sum-exp over all positives per anchor) is a different loss and not this one.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> lifted_structure_loss(x, torch.tensor([0, 0, 1, 1]), reduction="none").shape
        torch.Size([4, 4])
    """
    check_embeddings("lifted_structure", embeddings, labels)
    check_reduction("lifted_structure", reduction)
    if embeddings.shape[0] == 0:
        return _empty(embeddings, (0, 0), reduction)
    d = pairwise_distance(_upcast(embeddings), normalize=normalize)
    pos, neg = pair_masks(labels)
    neg_lse = _masked_logsumexp(neg_margin - d, neg)  # (N,): log sum over the negatives of each row
    valid = pos & neg.any(dim=1)[:, None]
    j = torch.logaddexp(neg_lse[:, None], neg_lse[None, :]) + d - pos_margin
    loss = torch.where(valid, F.relu(j).square() * 0.5, torch.zeros_like(j))
    return reduce(loss, reduction, valid)
