"""Metric-learning losses on a labelled batch of embeddings: the functional core of ``zoo.metric_learning``.

Every function takes ``embeddings`` (N, D) float and ``labels`` (N,) integer (any integer dtype), builds the
(N, N) similarity or distance matrix once and works on masks, so nothing loops over anchors in Python. Pairs
``(i, j)`` are ordered and ``i != j``: a positive pair has equal labels, a negative pair different ones
(pytorch-metric-learning's "all pairs"). Every function follows the zoo's autocast rule (``float32_loss``):
autocast off, float32 (float64 stays float64), because ``exp(s / T)`` with ``T = 0.07`` loses too much in
bfloat16.

No valid pair (or triplet) gives exactly 0 with a zero gradient, never NaN (PML#107) or a huge value (PML#98):
means divide by ``count.clamp_min(1)`` and every masked log-sum-exp stays finite. An empty batch (N = 0) gives
0 ("none": an empty tensor of the documented shape). A NaN embedding gives a NaN loss.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_labels, check_reduction, check_tensor, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .tiled_contrastive import INFO_NCE, SUPCON, check_chunk_size, masked_logsumexp, tiled_row_losses

__all__ = [
    "check_embeddings",
    "pair_masks",
    "pairwise_distance",
    "cosine_similarity_matrix",
    "contrastive_loss",
    "triplet_loss",
    "info_nce_loss",
    "supcon_loss",
    "multi_similarity_loss",
    "arcface_loss",
    "angular_margin_logits",
]

Reduction = Literal["mean", "sum", "none"]
Mining = Literal["all", "batch_hard"]
MINING: tuple[Mining, ...] = ("all", "batch_hard")


def check_embeddings(loss: str, embeddings: torch.Tensor, labels: torch.Tensor, *, views: bool = False) -> None:
    """(N, D) float embeddings and (N,) integer labels (or, with ``views``, a float (N, D) second view)."""
    check_float(loss, "embeddings", embeddings, "(N, D)")
    if embeddings.dim() != 2:
        raise LossInputError(f"{loss}: expected embeddings of shape (N, D), got {shape_str(embeddings)}")
    check_tensor(loss, "labels", labels)
    if views and labels.is_floating_point():
        if labels.shape != embeddings.shape:
            raise LossInputError(
                f"{loss}: a floating-point target is a second view and must have the embeddings' shape "
                f"{shape_str(embeddings)}, got {shape_str(labels)}; labels must be integers"
            )
        return
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise LossInputError(f"{loss}: expected labels to be integer class ids (any integer dtype), got {labels.dtype}")
    if labels.shape != (embeddings.shape[0],):
        raise LossInputError(
            f"{loss}: expected labels of shape ({embeddings.shape[0]},) for embeddings {shape_str(embeddings)}, "
            f"got {shape_str(labels)}"
        )


def _empty(x: torch.Tensor, none_shape: tuple[int, ...], reduction: str) -> torch.Tensor:
    """The empty-batch result: 0 connected to ``x``'s graph (zero gradient), or an empty "none" tensor."""
    zero = x.sum(dtype=acc_dtype(x)) * 0.0
    return zero.expand(none_shape) if reduction == "none" else zero


def _upcast(t: torch.Tensor) -> torch.Tensor:
    return t.to(acc_dtype(t))


def pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) boolean masks (N, N) of ordered pairs ``i != j``."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _safe_sqrt(sq: torch.Tensor) -> torch.Tensor:
    """``sqrt`` with a zero (sub)gradient at 0 instead of inf (the diagonal, duplicated embeddings).

    ``sq * 0`` rather than a zero constant where ``sq > 0`` is False: it is 0 for ``sq = 0`` and NaN for a
    NaN, so a NaN embedding is never masked into a distance of 0."""
    positive = sq > 0
    return torch.where(positive, torch.where(positive, sq, torch.ones_like(sq)).sqrt(), sq * 0.0)


def pairwise_distance(x: torch.Tensor, *, normalize: bool = True) -> torch.Tensor:
    """Euclidean distances (N, N); ``normalize`` L2-normalises the rows first (PML's ``LpDistance``)."""
    if normalize:
        x = F.normalize(x, dim=-1)
    sq_norm = (x * x).sum(-1)
    sq = (sq_norm[:, None] + sq_norm[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)
    return _safe_sqrt(sq)


def cosine_similarity_matrix(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarities of the rows of ``x`` against the rows of ``y`` (default ``x``)."""
    x = F.normalize(x, dim=-1)
    y = x if y is None else F.normalize(y, dim=-1)
    return x @ y.T


_masked_logsumexp = masked_logsumexp  # its home was here: metric_pairs and metric_proxies import it from this module


def _counted(loss: torch.Tensor, valid: torch.Tensor, average_nonzero: bool) -> torch.Tensor:
    """What a mean divides by: the valid entries, or only those with a positive loss (PML's AvgNonZeroReducer)."""
    return valid & (loss > 0) if average_nonzero else valid


def _check_temperature(loss: str, temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"{loss}: temperature must be > 0, got {temperature!r}")


@float32_loss
def contrastive_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    normalize: bool = True,
    average_nonzero: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Pair contrastive loss (Hadsell et al. 2006): ``[d_ij - m_pos]_+`` on positive pairs plus
    ``[m_neg - d_ij]_+`` on negative pairs.

    "mean" averages the positive and the negative terms separately (over the pairs with a non-zero loss with
    ``average_nonzero``, else over all pairs of that kind) and adds them; "sum" sums every pair; "none" gives
    the (N, N) matrix of per-pair losses (0 on the diagonal).
    """
    check_embeddings("contrastive", embeddings, labels)
    check_reduction("contrastive", reduction)
    n = embeddings.shape[0]
    if n == 0:
        return _empty(embeddings, (0, 0), reduction)
    d = pairwise_distance(_upcast(embeddings), normalize=normalize)
    pos, neg = pair_masks(labels)
    zero = torch.zeros_like(d)
    pos_loss = torch.where(pos, F.relu(d - pos_margin), zero)
    neg_loss = torch.where(neg, F.relu(neg_margin - d), zero)
    if reduction == "none":
        return pos_loss + neg_loss
    if reduction == "sum":
        return pos_loss.sum() + neg_loss.sum()
    pos_mean = reduce(pos_loss, "mean", _counted(pos_loss, pos, average_nonzero))
    return pos_mean + reduce(neg_loss, "mean", _counted(neg_loss, neg, average_nonzero))


@float32_loss
def triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 0.05,
    mining: Mining = "all",
    normalize: bool = True,
    smooth: bool = False,
    average_nonzero: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Triplet margin loss ``[d(a, p) - d(a, n) + margin]_+`` (``softplus`` with ``smooth``).

    ``mining="all"``: every valid triplet (a, p, n), an (N, N, N) tensor ("none" returns it, zeros on invalid
    triplets). ``mining="batch_hard"`` (Hermans et al. 2017): per anchor the farthest positive and the nearest
    negative; anchors lacking either count nowhere ("none" gives (N,)).
    """
    check_embeddings("triplet", embeddings, labels)
    check_reduction("triplet", reduction)
    check_choice("triplet", "mining", mining, MINING)
    n = embeddings.shape[0]
    if n == 0:
        return _empty(embeddings, (0, 0, 0) if mining == "all" else (0,), reduction)
    d = pairwise_distance(_upcast(embeddings), normalize=normalize)
    pos, neg = pair_masks(labels)
    hinge = F.softplus if smooth else F.relu
    if mining == "all":
        valid = pos[:, :, None] & neg[:, None, :]
        violation = d[:, :, None] - d[:, None, :] + margin
    else:
        big = torch.finfo(d.dtype).max
        # Distances are >= 0, so a masked max with 0 as filler is the hardest positive.
        hardest_pos = torch.where(pos, d, torch.zeros_like(d)).amax(dim=1)
        hardest_neg = torch.where(neg, d, torch.full_like(d, big)).amin(dim=1)
        valid = pos.any(dim=1) & neg.any(dim=1)
        violation = hardest_pos - torch.where(valid, hardest_neg, hardest_pos) + margin
    loss = torch.where(valid, hinge(violation), torch.zeros_like(violation))
    return reduce(loss, reduction, _counted(loss, valid, average_nonzero))


def _views_or_labels(embeddings: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two views (N, D) + (N, D) become 2N embeddings whose labels pair row i of each view."""
    if target.is_floating_point():
        n = embeddings.shape[0]
        ids = torch.arange(n, device=embeddings.device)
        return torch.cat([embeddings, target], dim=0), torch.cat([ids, ids])
    return embeddings, target


@float32_loss
def info_nce_loss(
    embeddings: torch.Tensor,
    target: torch.Tensor,
    *,
    temperature: float = 0.07,
    reduction: Reduction = "mean",
    chunk_size: int | None = None,
) -> torch.Tensor:
    """NT-Xent / InfoNCE (Chen et al. 2020, SimCLR; van den Oord et al. 2018) on cosine similarities.

    For each positive pair (i, j): ``-log(exp(s_ij / T) / (exp(s_ij / T) + sum_{k neg of i} exp(s_ik / T)))``
    (other positives are left out of the denominator, as PML). ``target`` is a second view (N, D) (row i of
    each view is a positive pair; 2N anchors, 2N - 2 negatives each) or labels (N,). "mean" averages over
    positive pairs; "none" gives the (M, M) matrix of per-pair losses, M = 2N for two views.

    ``chunk_size``: None (default) builds the (M, M) similarity matrix at once. An int walks it in blocks of
    ``chunk_size`` rows (``functional.tiled_contrastive``): same value, exact gradients, memory
    ``O(chunk_size * M)``: about ``9 * chunk_size * M`` floats of working space plus ``O(M * D)`` (the normalised
    embeddings and their gradient), instead of ``~6 * M**2`` floats unchunked.
    Not with ``reduction="none"`` (its output is the (M, M) matrix itself: ValueError).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> view = torch.randn(6, 16, generator=g)
        >>> other = view + 0.1 * torch.randn(6, 16, generator=g)
        >>> full = info_nce_loss(view, other, temperature=0.1)
        >>> torch.allclose(info_nce_loss(view, other, temperature=0.1, chunk_size=4), full)
        True
    """
    check_embeddings("info_nce", embeddings, target, views=True)
    check_reduction("info_nce", reduction)
    _check_temperature("info_nce", temperature)
    chunk = check_chunk_size("info_nce", chunk_size, reduction, rowwise_none=False)
    x, labels = _views_or_labels(embeddings, target)
    if x.shape[0] == 0:
        return _empty(x, (0, 0), reduction)
    if chunk is not None:
        xn = F.normalize(_upcast(x), dim=-1)
        total, n_pos = tiled_row_losses(INFO_NCE, xn, None, (labels, None), chunk, 1.0 / temperature, total=True)
        return total if reduction == "sum" else total / n_pos.sum().clamp_min(1).to(total.dtype)
    s = cosine_similarity_matrix(_upcast(x)) / temperature
    pos, neg = pair_masks(labels)
    neg_lse = _masked_logsumexp(s, neg)
    # -log(e^s / (e^s + e^lse)) = softplus(lse - s)
    loss = torch.where(pos, F.softplus(neg_lse[:, None] - s), torch.zeros_like(s))
    return reduce(loss, reduction, pos)


@float32_loss
def supcon_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 0.1,
    reduction: Reduction = "mean",
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, the L_out form):
    ``l_i = -1/|P(i)| sum_{p in P(i)} log(exp(s_ip / T) / sum_{a != i} exp(s_ia / T))``.

    "mean" averages over the anchors that have at least one positive (the reference code divides by zero for
    the others); "none" gives (N,) with 0 for anchors without positives.

    ``chunk_size``: None (default) builds the (M, M) similarity matrix at once. An int walks it in blocks of
    ``chunk_size`` rows (``functional.tiled_contrastive``): same value, exact gradients, every reduction,
    memory ``O(chunk_size * M)``: about ``9 * chunk_size * M`` floats of working space plus ``O(M * D)`` (the
    normalised embeddings and their gradient), instead of ``~6 * M**2`` floats unchunked.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, labels = torch.randn(8, 16, generator=g), torch.arange(8) % 3
        >>> torch.allclose(supcon_loss(x, labels, chunk_size=3), supcon_loss(x, labels))
        True
    """
    check_embeddings("supcon", embeddings, labels, views=True)
    check_reduction("supcon", reduction)
    _check_temperature("supcon", temperature)
    chunk = check_chunk_size("supcon", chunk_size, reduction, rowwise_none=True)
    x, labels = _views_or_labels(embeddings, labels)
    if x.shape[0] == 0:
        return _empty(x, (0,), reduction)
    if chunk is not None:
        xn = F.normalize(_upcast(x), dim=-1)
        summed = reduction != "none"
        loss, n_pos = tiled_row_losses(SUPCON, xn, None, (labels, None), chunk, 1.0 / temperature, total=summed)
        if reduction == "mean":  # the mean over the anchors with a positive, as reduce(loss, "mean", n_pos > 0)
            return loss / (n_pos > 0).sum().clamp_min(1).to(loss.dtype)
        return loss
    s = cosine_similarity_matrix(_upcast(x)) / temperature
    pos, neg = pair_masks(labels)
    log_prob = s - _masked_logsumexp(s, pos | neg)[:, None]
    n_pos = pos.sum(dim=1)
    mean_log_prob = torch.where(pos, log_prob, torch.zeros_like(s)).sum(dim=1) / n_pos.to(s.dtype).clamp_min(1)
    has_pos = n_pos > 0
    loss = torch.where(has_pos, -mean_log_prob, torch.zeros_like(mean_log_prob))
    return reduce(loss, reduction, has_pos)


@float32_loss
def multi_similarity_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float = 2.0,
    beta: float = 50.0,
    base: float = 0.5,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Multi-similarity loss (Wang et al. 2019) on cosine similarities, per anchor i:
    ``1/alpha log(1 + sum_P exp(-alpha (s_ip - base))) + 1/beta log(1 + sum_N exp(beta (s_in - base)))``.

    No pair mining (PML keeps it in ``MultiSimilarityMiner``). "mean" averages over all N anchors (an anchor
    without pairs contributes exactly 0); "none" gives (N,).
    """
    check_embeddings("multi_similarity", embeddings, labels)
    check_reduction("multi_similarity", reduction)
    if not (alpha > 0 and beta > 0):
        raise ValueError(f"multi_similarity: alpha and beta must be > 0, got {alpha!r}, {beta!r}")
    if embeddings.shape[0] == 0:
        return _empty(embeddings, (0,), reduction)
    s = cosine_similarity_matrix(_upcast(embeddings))
    pos, neg = pair_masks(labels)
    pos_term = _masked_logsumexp(-alpha * (s - base), pos, add_one=True) / alpha
    neg_term = _masked_logsumexp(beta * (s - base), neg, add_one=True) / beta
    loss = pos_term + neg_term
    return reduce(loss, reduction)


@float32_loss
def arcface_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    *,
    margin: float = 0.5,
    scale: float = 64.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """ArcFace (Deng et al. 2019): cross-entropy over ``scale * cos(theta_y + margin)`` for the true class and
    ``scale * cos(theta_c)`` for the others, ``cos theta_c`` the cosine between the embedding and the class
    centre ``weight[c]`` (C, D). ``margin`` in radians. Past ``theta > pi - margin`` the target logit becomes
    ``cos theta - margin sin(margin)`` so it stays monotonic (insightface, PML). ``cos(theta + m)`` is computed
    as ``cos theta cos m - sin theta sin m`` without ``acos``, whose gradient is infinite at +-1.
    ``labels`` of any integer dtype, in [0, C) (checked under the label-check switch). "none": (N,).
    """
    check_embeddings("arcface", embeddings, labels)
    check_reduction("arcface", reduction)
    check_float("arcface", "weight", weight, "(C, D)")
    if weight.dim() != 2 or weight.shape[1] != embeddings.shape[1]:
        raise LossInputError(
            f"arcface: expected class centres weight (C, D={embeddings.shape[1]}) for embeddings "
            f"{shape_str(embeddings)}, got {shape_str(weight)}"
        )
    check_labels("arcface", labels, weight.shape[0], name="labels")
    if embeddings.shape[0] == 0:
        return _empty(embeddings, (0,), reduction) + weight.sum() * 0.0
    labels = labels.long()  # gather, one_hot and cross_entropy index with int64 only
    x = _upcast(embeddings)
    cos = cosine_similarity_matrix(x, weight.to(x.dtype))
    return F.cross_entropy(angular_margin_logits(cos, labels, margin, scale), labels, reduction=reduction)


def angular_margin_logits(cos: torch.Tensor, labels: torch.Tensor, margin: float, scale: float) -> torch.Tensor:
    """ArcFace's logits ``scale * cos`` (N, C) with the true class's ``cos(theta + margin)`` (``labels`` int64);
    shared with ``sub_center_arcface``, whose ``cos`` is the best sub-centre's per class."""
    target_cos = cos.gather(1, labels[:, None]).squeeze(1).clamp(-1.0, 1.0)
    sin = _safe_sqrt(1.0 - target_cos * target_cos)
    with_margin = target_cos * math.cos(margin) - sin * math.sin(margin)
    fallback = target_cos - margin * math.sin(margin)
    target_logit = torch.where(target_cos >= -math.cos(margin), with_margin, fallback)
    onehot = F.one_hot(labels, cos.shape[1]).bool()
    return scale * torch.where(onehot, target_logit[:, None], cos)
