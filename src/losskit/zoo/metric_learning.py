"""Metric-learning and contrastive losses on a labelled batch of embeddings.

Inputs (all losses): ``embeddings`` (N, D) float and ``labels`` (N,) integer class ids; ``info_nce`` and
``supcon`` also take a second view (N, D) in place of the labels (row i of both views is a positive pair).
Pairs are ordered, ``i != j``; positives share a label. Defaults follow pytorch-metric-learning (PML) 2.x, so
``losskit`` and PML agree on the value (the parity mapping is in each docstring). A batch with no valid
pair/triplet gives exactly 0 with a zero gradient. For multi-GPU training wrap a loss in
:class:`losskit.distributed.GatherLoss`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..errors import LossInputError
from ..functional import metric as M
from ..functional._checks import check_choice, check_reduction, shape_str
from ..functional.metric import MINING, Mining, check_embeddings
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = [
    "ContrastiveLoss",
    "TripletLoss",
    "InfoNCELoss",
    "SupConLoss",
    "ArcFaceLoss",
    "MultiSimilarityLoss",
    "check_embeddings",
]

Reduction = Literal["mean", "sum", "none"]

_EMB = TensorSpec("embeddings", "(N, D)", "float", "embeddings (one row per sample)")
_LABELS = TensorSpec("labels", "(N,)", "long", "class ids; equal ids make a positive pair")


def _labelled_batch(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    n = getattr(loss, "num_classes", None)
    classes = int(n) if isinstance(n, int) else 3
    d = int(getattr(loss, "embedding_size", 8))
    return torch.randn(8, d, generator=g), torch.arange(8) % classes


def _two_views(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.randn(6, 8, generator=g)
    return a, a + 0.3 * torch.randn(6, 8, generator=g)


_PAIR_SPEC = InputSpec(tensors=(_EMB, _LABELS), example=_labelled_batch)
_VIEWS_SPEC = InputSpec(
    tensors=(_EMB, TensorSpec("target", "(N,) or (N, D)", "long | float", "labels, or a second view of the batch")),
    example=_two_views,
)


@register_loss("contrastive", aliases=["ContrastiveLoss"], tasks=["metric_learning"], inputs=_PAIR_SPEC)
class ContrastiveLoss(nn.Module):
    """Pair contrastive loss (Hadsell, Chopra & LeCun, CVPR 2006) over all pairs of a labelled batch.

    ``L = avg_{pos (i,j)} [d_ij - pos_margin]_+ + avg_{neg (i,j)} [neg_margin - d_ij]_+`` with ``d`` the
    Euclidean distance of the (L2-normalised, with ``normalize``) embeddings.

    Inputs: ``embeddings`` (N, D), ``labels`` (N,). Options: ``pos_margin``, ``neg_margin``, ``normalize``;
    ``average_nonzero`` averages each term over its pairs with a non-zero loss (PML's ``AvgNonZeroReducer``),
    else over all pairs of its kind. ``reduction``: "mean" (above), "sum" (all pairs), "none" (the (N, N)
    per-pair matrix, 0 on the diagonal).

    Parity: ≡ PML ``ContrastiveLoss(pos_margin, neg_margin)`` (``LpDistance(normalize_embeddings=True)``,
    ``AvgNonZeroReducer``).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
        normalize: bool = True,
        average_nonzero: bool = True,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.pos_margin, self.neg_margin = float(pos_margin), float(neg_margin)
        self.normalize, self.average_nonzero = normalize, average_nonzero
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return M.contrastive_loss(
            embeddings,
            labels,
            pos_margin=self.pos_margin,
            neg_margin=self.neg_margin,
            normalize=self.normalize,
            average_nonzero=self.average_nonzero,
            reduction=self.reduction,
        )


@register_loss("triplet", aliases=["TripletLoss", "triplet_margin"], tasks=["metric_learning"], inputs=_PAIR_SPEC)
class TripletLoss(nn.Module):
    """Triplet margin loss (Weinberger & Saul 2009; Schroff et al., FaceNet 2015) over a labelled batch:
    ``[d(a, p) - d(a, n) + margin]_+`` (``softplus`` with ``smooth``; Euclidean ``d`` of L2-normalised
    embeddings with ``normalize``).

    ``mining="all"``: every valid triplet; ``mining="batch_hard"`` (Hermans, Beyer & Leibe 2017): one triplet
    per anchor, its farthest positive and nearest negative. "mean" averages over triplets with a non-zero loss
    (``average_nonzero``) or over all valid ones. "none": (N, N, N) [a, p, n] for "all", (N,) for
    "batch_hard", 0 where invalid. Memory is O(N^3) with "all".

    Parity: "all" ≡ PML ``TripletMarginLoss(margin)``; "batch_hard" ≡ PML ``TripletMarginLoss(margin)`` fed
    by ``BatchHardMiner()`` (both ``LpDistance(normalize_embeddings=True)``, ``AvgNonZeroReducer``).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        margin: float = 0.05,
        mining: Mining = "all",
        normalize: bool = True,
        smooth: bool = False,
        average_nonzero: bool = True,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.margin = float(margin)
        self.mining = check_choice(self.loss_name, "mining", mining, MINING)
        self.normalize, self.smooth, self.average_nonzero = normalize, smooth, average_nonzero
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return M.triplet_loss(
            embeddings,
            labels,
            margin=self.margin,
            mining=self.mining,
            normalize=self.normalize,
            smooth=self.smooth,
            average_nonzero=self.average_nonzero,
            reduction=self.reduction,
        )


def _check_temperature(loss: str, temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"{loss}: temperature must be > 0, got {temperature}")
    return float(temperature)


@register_loss(
    "info_nce", aliases=["InfoNCELoss", "NTXentLoss", "nt_xent"], tasks=["metric_learning"], inputs=_VIEWS_SPEC
)
class InfoNCELoss(nn.Module):
    """NT-Xent / InfoNCE (van den Oord et al. 2018; Chen et al., SimCLR 2020) on cosine similarities ``s``.

    Per positive pair (i, j): ``-log(e^{s_ij/T} / (e^{s_ij/T} + sum_{k neg of i} e^{s_ik/T}))``, averaged over
    positive pairs ("none": the (M, M) per-pair matrix, 0 off positive pairs).

    Inputs: ``forward(embeddings, target)``: ``target`` is either a second view (N, D) float (SimCLR: the 2N
    rows are anchors, row i of each view is the positive, the 2N - 2 others negatives), or labels (N,).

    Parity: labels ≡ PML ``NTXentLoss(temperature)(embeddings, labels)``; two views ≡ PML
    ``NTXentLoss(temperature)(cat([v1, v2]), cat([arange(N), arange(N)]))``.
    """

    loss_name: str  # set by register_loss

    def __init__(self, temperature: float = 0.07, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.temperature = _check_temperature(self.loss_name, temperature)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, embeddings: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return M.info_nce_loss(embeddings, target, temperature=self.temperature, reduction=self.reduction)


@register_loss("supcon", aliases=["SupConLoss", "supervised_contrastive"], tasks=["metric_learning"], inputs=_PAIR_SPEC)
class SupConLoss(nn.Module):
    """Supervised contrastive loss (Khosla et al., NeurIPS 2020, L_out) on cosine similarities ``s``:
    ``l_i = -1/|P(i)| sum_{p in P(i)} [s_ip/T - log sum_{a != i} e^{s_ia/T}]``.

    Inputs: ``embeddings`` (N, D) and ``labels`` (N,) (or a second view (N, D): SimCLR's unsupervised case).
    "mean" averages over anchors with at least one positive; "none" gives (M,) with 0 for the others.

    Parity: ≡ PML ``SupConLoss(temperature)`` when the batch has a negative pair (PML returns 0 for a batch
    with a single class; the paper's loss, kept here, is ``log(N - 1)`` per anchor there).
    """

    loss_name: str  # set by register_loss

    def __init__(self, temperature: float = 0.1, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.temperature = _check_temperature(self.loss_name, temperature)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return M.supcon_loss(embeddings, labels, temperature=self.temperature, reduction=self.reduction)


@register_loss("multi_similarity", aliases=["MultiSimilarityLoss"], tasks=["metric_learning"], inputs=_PAIR_SPEC)
class MultiSimilarityLoss(nn.Module):
    """Multi-similarity loss (Wang et al., CVPR 2019) on cosine similarities, per anchor i:
    ``1/alpha log(1 + sum_P e^{-alpha (s_ip - base)}) + 1/beta log(1 + sum_N e^{beta (s_in - base)})``.

    Inputs: ``embeddings`` (N, D), ``labels`` (N,). "mean" over all N anchors; "none": (N,). No mining
    (compose with a miner upstream if wanted).

    Parity: ≡ PML ``MultiSimilarityLoss(alpha, beta, base)`` without a miner.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if alpha <= 0 or beta <= 0:
            raise ValueError(f"{self.loss_name}: alpha and beta must be > 0, got {alpha}, {beta}")
        self.alpha, self.beta, self.base = float(alpha), float(beta), float(base)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return M.multi_similarity_loss(
            embeddings, labels, alpha=self.alpha, beta=self.beta, base=self.base, reduction=self.reduction
        )


@register_loss("arcface", aliases=["ArcFaceLoss"], tasks=["metric_learning", "classification"], inputs=_PAIR_SPEC)
class ArcFaceLoss(nn.Module):
    """ArcFace, additive angular margin (Deng et al., CVPR 2019):
    ``CE(s * [cos(theta_y + m) for the true class, cos(theta_c) otherwise], y)``, ``theta_c`` the angle
    between the embedding and the learnable class centre ``weight[c]``.

    Holds ``weight`` (num_classes, embedding_size) as an ``nn.Parameter`` (train it with the model; give both
    sizes for your problem, the defaults 10 and 128 only make the loss buildable by name).
    ``margin`` is in radians by default (0.5); ``margin_unit="degrees"`` reads it in degrees (PML's 28.6 ≈ 0.5
    rad). ``scale`` = 64. Past ``theta > pi - m`` the target logit is ``cos theta - m sin m`` (monotonic).
    Inputs: ``embeddings`` (N, embedding_size), ``labels`` (N,) in [0, num_classes). "none": (N,).

    Parity: ≡ PML ``ArcFaceLoss(num_classes, embedding_size, margin=degrees(m), scale)`` with
    ``pml.W = weight.T``.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        num_classes: int = 10,
        embedding_size: int = 128,
        margin: float = 0.5,
        scale: float = 64.0,
        margin_unit: Literal["radians", "degrees"] = "radians",
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if num_classes < 1 or embedding_size < 1:
            raise ValueError(
                f"{self.loss_name}: num_classes and embedding_size must be >= 1, got {num_classes}, {embedding_size}"
            )
        check_choice(self.loss_name, "margin_unit", margin_unit, ("radians", "degrees"))
        self.num_classes, self.embedding_size = num_classes, embedding_size
        self.margin_unit = margin_unit
        self.margin = math.radians(margin) if margin_unit == "degrees" else float(margin)
        if not 0 <= self.margin < math.pi:
            raise ValueError(f"{self.loss_name}: margin must be in [0, pi) radians, got {self.margin}")
        self.scale = float(scale)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_size))
        nn.init.normal_(self.weight)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_embeddings(self.loss_name, embeddings, labels)
        if embeddings.shape[1] != self.embedding_size:
            raise LossInputError(
                f"{self.loss_name}: configured for embedding_size={self.embedding_size}, "
                f"got embeddings {shape_str(embeddings)}"
            )
        return M.arcface_loss(
            embeddings, labels, self.weight, margin=self.margin, scale=self.scale, reduction=self.reduction
        )
