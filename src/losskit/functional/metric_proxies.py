"""Proxy-, centre- and classifier-based metric-learning losses: the learnable vectors are an argument.

Every function takes ``embeddings`` (N, D) float, ``labels`` (N,) integer class ids (any integer dtype, in
[0, C), range-checked under the label-check switch) and the learnable matrix as a tensor (the zoo classes
hold it as an ``nn.Parameter``). They are functions of per-sample terms (or, for ``proxy_anchor``, of the whole
batch against the proxies), so :class:`losskit.distributed.GatherLoss` gives the single-process loss of the
global batch, proxies included (its default ``scale="gradient"``). An empty batch gives 0 connected to the
embeddings and the learnable matrix (zero gradient for both); a NaN embedding gives a NaN loss.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import LossInputError
from ._checks import check_float, check_labels, check_reduction, shape_str
from ._precision import float32_loss
from ._reduce import reduce
from .metric import (
    _empty,
    _masked_logsumexp,
    _upcast,
    angular_margin_logits,
    check_embeddings,
    cosine_similarity_matrix,
)

__all__ = [
    "proxy_anchor_loss",
    "proxy_nca_loss",
    "cosface_loss",
    "sub_center_arcface_loss",
    "center_loss",
    "soft_triple_loss",
]

Reduction = Literal["mean", "sum", "none"]
ProxyReduction = Literal["mean", "sum"]


def _checked(
    loss: str, embeddings: torch.Tensor, labels: torch.Tensor, vectors: torch.Tensor, name: str, per_class: int = 1
) -> int:
    """Validate the batch and the (C * per_class, D) learnable matrix; return C."""
    check_embeddings(loss, embeddings, labels)
    check_float(loss, name, vectors, "(C, D)")
    rows = vectors.shape[0] if vectors.dim() == 2 else 0
    if vectors.dim() != 2 or vectors.shape[1] != embeddings.shape[1] or rows == 0 or rows % per_class:
        layout = "C" if per_class == 1 else f"C * {per_class}"
        raise LossInputError(
            f"{loss}: expected {name} of shape ({layout}, D={embeddings.shape[1]}) for embeddings "
            f"{shape_str(embeddings)}, got {shape_str(vectors)}"
        )
    classes = rows // per_class
    check_labels(loss, labels, classes, name="labels")
    return classes


def _empty_with(embeddings: torch.Tensor, vectors: torch.Tensor, reduction: str) -> torch.Tensor:
    """The empty-batch 0, connected to the learnable matrix too (its gradient is a zero, not None)."""
    return _empty(embeddings, (0,), reduction) + vectors.sum() * 0.0


@float32_loss
def proxy_anchor_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    *,
    margin: float = 0.1,
    alpha: float = 32.0,
    reduction: ProxyReduction = "mean",
) -> torch.Tensor:
    r"""Proxy-Anchor loss (Kim et al., CVPR 2020) on cosine similarities ``s(x, p)`` to one proxy per class:

    .. math::

        L = \frac{1}{|P^+|} \sum_{p \in P^+} \log\Big(1 + \sum_{x \in X_p^+} e^{-\alpha (s(x, p) - \delta)}\Big)
          + \frac{1}{|P|} \sum_{p \in P} \log\Big(1 + \sum_{x \in X_p^-} e^{\alpha (s(x, p) + \delta)}\Big)

    :math:`P^+` the proxies with a positive in the batch, :math:`X_p^\pm` the embeddings of (not of) p's class.

    Args:
        embeddings: (N, D) float.
        labels: (N,) integer class ids in [0, C).
        proxies: (C, D) float, one proxy per class.
        margin: delta (default 0.1).
        alpha: the scale (> 0, default 32).
        reduction: "mean" (the formula) or "sum" (both sums without their divisors). The loss is a sum over
            proxies of terms that mix the whole batch: there is no per-sample "none".

    Returns:
        a scalar; 0 for an empty batch.

    Parity: ≡ PML ``ProxyAnchorLoss(num_classes, embedding_size, margin, alpha)`` with ``pml.proxies = proxies``
    (its defaults ``CosineSimilarity``, ``DivisorReducer``).

    Example:
        >>> proxies = torch.eye(3, 4)
        >>> value = proxy_anchor_loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]), proxies)
    """
    check_reduction("proxy_anchor", reduction, ("mean", "sum"))
    if not alpha > 0:
        raise ValueError(f"proxy_anchor: alpha must be > 0, got {alpha!r}")
    classes = _checked("proxy_anchor", embeddings, labels, proxies, "proxies")
    if embeddings.shape[0] == 0:
        return _empty_with(embeddings, proxies, reduction)
    x = _upcast(embeddings)
    cos = cosine_similarity_matrix(x, proxies.to(x.dtype)).T  # (C, N): one row per proxy
    own = F.one_hot(labels.long(), classes).bool().T
    pos_term = _masked_logsumexp(-alpha * (cos - margin), own, add_one=True)  # exactly 0 for a proxy without positives
    neg_term = _masked_logsumexp(alpha * (cos + margin), ~own, add_one=True)
    if reduction == "sum":
        return pos_term.sum() + neg_term.sum()
    return reduce(pos_term, "mean", own.any(dim=1)) + neg_term.mean()


@float32_loss
def proxy_nca_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    *,
    softmax_scale: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Proxy-NCA (Movshovitz-Attias et al., ICCV 2017): a softmax over the negative squared distances of the
    L2-normalised embedding to the L2-normalised proxies,

    .. math::

        \ell_i = -\log \frac{e^{-t \|\hat x_i - \hat p_{y_i}\|^2}}{\sum_c e^{-t \|\hat x_i - \hat p_c\|^2}}

    (``t`` = ``softmax_scale``), computed as a cross-entropy over ``t (2 cos - 2)``. The true proxy is in the
    denominator (PML's form); the paper leaves it out.

    Args:
        embeddings: (N, D) float.
        labels: (N,) integer class ids in [0, C).
        proxies: (C, D) float.
        softmax_scale: t (> 0, default 1).
        reduction: "mean" over samples, "sum", or "none": (N,).

    Returns:
        a scalar for "mean"/"sum", (N,) for "none".

    Parity: ≡ PML ``ProxyNCALoss(num_classes, embedding_size, softmax_scale)`` with ``pml.proxies = proxies``
    (defaults ``LpDistance(power=2)``, normalised, ``MeanReducer``) wherever PML's probability of the true proxy
    does not underflow to 0 (PML then drops the sample; here it keeps its large finite loss).

    Example:
        >>> value = proxy_nca_loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]), torch.eye(3, 4))
    """
    check_reduction("proxy_nca", reduction)
    if not softmax_scale > 0:
        raise ValueError(f"proxy_nca: softmax_scale must be > 0, got {softmax_scale!r}")
    _checked("proxy_nca", embeddings, labels, proxies, "proxies")
    if embeddings.shape[0] == 0:
        return _empty_with(embeddings, proxies, reduction)
    x = _upcast(embeddings)
    cos = cosine_similarity_matrix(x, proxies.to(x.dtype))
    return F.cross_entropy(softmax_scale * (2.0 * cos - 2.0), labels.long(), reduction=reduction)


@float32_loss
def cosface_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    *,
    margin: float = 0.35,
    scale: float = 64.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""CosFace, large margin cosine loss (Wang et al., CVPR 2018):
    :math:`\ell_i = \mathrm{CE}(s\,[\cos\theta_{i c} - m\,[c = y_i]]_c,\ y_i)`, ``cos theta`` between the
    embedding and the class centre ``weight[c]``.

    Args:
        embeddings: (N, D) float.
        labels: (N,) integer class ids in [0, C).
        weight: (C, D) float class centres.
        margin: m, subtracted from the true class's cosine (default 0.35).
        scale: s (default 64).
        reduction: "mean" over samples, "sum", or "none": (N,).

    Returns:
        a scalar for "mean"/"sum", (N,) for "none".

    Parity: ≡ PML ``CosFaceLoss(num_classes, embedding_size, margin=margin, scale=scale)`` with
    ``pml.W = weight.T``.

    Example:
        >>> value = cosface_loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]), torch.eye(3, 4))
    """
    check_reduction("cosface", reduction)
    classes = _checked("cosface", embeddings, labels, weight, "weight")
    if embeddings.shape[0] == 0:
        return _empty_with(embeddings, weight, reduction)
    x = _upcast(embeddings)
    labels = labels.long()
    cos = cosine_similarity_matrix(x, weight.to(x.dtype))
    logits = scale * (cos - margin * F.one_hot(labels, classes).to(cos.dtype))
    return F.cross_entropy(logits, labels, reduction=reduction)


@float32_loss
def sub_center_arcface_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    *,
    sub_centers: int = 3,
    margin: float = 0.5,
    scale: float = 64.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Sub-center ArcFace (Deng et al., ECCV 2020): ArcFace (:func:`losskit.functional.arcface_loss`) where
    the cosine to class c is the largest over its K sub-centres, :math:`\cos\theta_{ic} = \max_k
    \cos(x_i, w_{c k})`; the true class's angle gets the additive margin.

    Args:
        embeddings: (N, D) float.
        labels: (N,) integer class ids in [0, C).
        weight: (C * K, D) float; row ``c * K + k`` is sub-centre k of class c.
        sub_centers: K (>= 1, default 3).
        margin: the additive angular margin in radians (default 0.5; PML's 28.6 degrees).
        scale: s (default 64).
        reduction: "mean" over samples, "sum", or "none": (N,).

    Returns:
        a scalar for "mean"/"sum", (N,) for "none".

    Parity: ≡ PML ``SubCenterArcFaceLoss(num_classes=C, embedding_size=D, margin=degrees(margin), scale,
    sub_centers=K)`` with ``pml.W = weight.T``.

    Example:
        >>> value = sub_center_arcface_loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]),
        ...                                 torch.randn(6, 4), sub_centers=2)
    """
    check_reduction("sub_center_arcface", reduction)
    if sub_centers < 1:
        raise ValueError(f"sub_center_arcface: sub_centers must be >= 1, got {sub_centers!r}")
    classes = _checked("sub_center_arcface", embeddings, labels, weight, "weight", per_class=sub_centers)
    if embeddings.shape[0] == 0:
        return _empty_with(embeddings, weight, reduction)
    x = _upcast(embeddings)
    labels = labels.long()
    cos = cosine_similarity_matrix(x, weight.to(x.dtype)).view(-1, classes, sub_centers).amax(dim=2)
    return F.cross_entropy(angular_margin_logits(cos, labels, margin, scale), labels, reduction=reduction)


@float32_loss
def center_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, *, reduction: Reduction = "mean"
) -> torch.Tensor:
    r"""Center loss (Wen et al., ECCV 2016): :math:`\ell_i = \tfrac12 \|x_i - c_{y_i}\|_2^2`, the squared
    Euclidean distance of each (raw, not normalised) embedding to its class centre.

    "sum" is the paper's :math:`L_C`; "mean" is :math:`L_C / N`. The paper moves the centres with its own
    update rule (rate alpha); here they are ordinary parameters moved by the optimizer from the gradient of
    this loss, as in common implementations (KaiyangZhou/pytorch-center-loss, whose value is ``2 *`` this
    "mean"). Use it beside a softmax loss, weighted by the paper's lambda.

    Args:
        embeddings: (N, D) float.
        labels: (N,) integer class ids in [0, C).
        centers: (C, D) float class centres.
        reduction: "mean" over samples, "sum", or "none": (N,).

    Returns:
        a scalar for "mean"/"sum", (N,) for "none".

    Parity: the paper's formula (no PML class).

    Example:
        >>> center_loss(torch.ones(2, 3), torch.tensor([0, 1]), torch.zeros(2, 3))
        tensor(1.5000)
    """
    check_reduction("center", reduction)
    _checked("center", embeddings, labels, centers, "centers")
    if embeddings.shape[0] == 0:
        return _empty_with(embeddings, centers, reduction)
    x = _upcast(embeddings)
    diff = x - centers.to(x.dtype)[labels.long()]
    return reduce(0.5 * (diff * diff).sum(dim=1), reduction)


@float32_loss
def soft_triple_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    centers: torch.Tensor,
    *,
    centers_per_class: int = 10,
    la: float = 20.0,
    gamma: float = 0.1,
    margin: float = 0.01,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""SoftTriple loss (Qian et al., ICCV 2019): K centres per class, the similarity to class c a softmax-
    weighted mean of the cosines to its centres, then a scaled cross-entropy with a margin on the true class:

    .. math::

        S_{ic} = \sum_k \frac{e^{s_{ick}/\gamma}}{\sum_{k'} e^{s_{ick'}/\gamma}} s_{ick}, \qquad
        \ell_i = \mathrm{CE}(\lambda\,[S_{ic} - \delta\,[c = y_i]]_c,\ y_i)

    The paper's optional centre regulariser (tau) is not included (PML's default has none either).

    Args:
        embeddings: (N, D) float.
        labels: (N,) integer class ids in [0, C).
        centers: (C * K, D) float; row ``c * K + k`` is centre k of class c.
        centers_per_class: K (>= 1, default 10).
        la: lambda, the scale (default 20).
        gamma: the softmax temperature over a class's centres (> 0, default 0.1).
        margin: delta (default 0.01).
        reduction: "mean" over samples, "sum", or "none": (N,).

    Returns:
        a scalar for "mean"/"sum", (N,) for "none".

    Parity: ≡ PML ``SoftTripleLoss(num_classes, embedding_size, centers_per_class, la, gamma, margin)`` with
    ``pml.fc = centers.T``.

    Example:
        >>> value = soft_triple_loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]), torch.randn(6, 4),
        ...                          centers_per_class=2)
    """
    check_reduction("soft_triple", reduction)
    if centers_per_class < 1:
        raise ValueError(f"soft_triple: centers_per_class must be >= 1, got {centers_per_class!r}")
    if not gamma > 0:
        raise ValueError(f"soft_triple: gamma must be > 0, got {gamma!r}")
    classes = _checked("soft_triple", embeddings, labels, centers, "centers", per_class=centers_per_class)
    if embeddings.shape[0] == 0:
        return _empty_with(embeddings, centers, reduction)
    x = _upcast(embeddings)
    labels = labels.long()
    cos = cosine_similarity_matrix(x, centers.to(x.dtype)).view(-1, classes, centers_per_class)
    sim = (torch.softmax(cos / gamma, dim=2) * cos).sum(dim=2)
    logits = la * (sim - margin * F.one_hot(labels, classes).to(sim.dtype))
    return F.cross_entropy(logits, labels, reduction=reduction)
