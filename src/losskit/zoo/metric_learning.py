"""Metric-learning and contrastive losses on a labelled batch of embeddings.

Inputs (all losses): ``embeddings`` (N, D) float and ``labels`` (N,) integer class ids; ``info_nce`` and
``supcon`` also take a second view (N, D) in place of the labels (row i of both views is a positive pair).
Pairs are ordered, ``i != j``; positives share a label. Defaults follow pytorch-metric-learning (PML) 2.x, so
``losskit`` and PML agree on the value (the parity mapping is in each docstring). A batch with no valid
pair/triplet gives exactly 0 with a zero gradient. For multi-GPU training wrap a loss in
:class:`losskit.distributed.GatherLoss`.
"""

from __future__ import annotations

import inspect
import math
from typing import Literal

import torch
from torch import nn

from ..errors import LossInputError
from ..functional import metric as M
from ..functional._checks import check_choice, check_reduction, shape_str
from ..functional.metric import MINING, Mining, check_embeddings
from ..functional.tiled_contrastive import check_chunk_size
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

    Inputs: ``embeddings`` (N, D), ``labels`` (N,).

    Parity: ≡ PML ``ContrastiveLoss(pos_margin, neg_margin)`` (``LpDistance(normalize_embeddings=True)``,
    ``AvgNonZeroReducer``).

    Args:
        pos_margin: distance below which a positive pair costs nothing (default 0.0: every positive pair is pulled
            together); in embedding-distance units (in [0, 2] with ``normalize``).
        neg_margin: distance beyond which a negative pair costs nothing (default 1.0): negatives closer than it are
            pushed apart.
        normalize: L2-normalise the embeddings before measuring distances (default True, PML's ``LpDistance``);
            False uses the raw Euclidean distance.
        average_nonzero: True (default, PML's ``AvgNonZeroReducer``): each term is averaged over its pairs with a
            non-zero loss; False: over all pairs of its kind.
        reduction: "mean" (default): the two averaged terms above, added; "sum": the sum over all pairs; "none":
            the (N, N) per-pair matrix, 0 on the diagonal.

    Example:
        >>> loss = ContrastiveLoss(neg_margin=0.5)
        >>> value = loss(torch.randn(8, 16), torch.arange(8) % 3)
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
    embeddings with ``normalize``). Memory is O(N^3) with ``mining="all"``.

    Parity: "all" ≡ PML ``TripletMarginLoss(margin)``; "batch_hard" ≡ PML ``TripletMarginLoss(margin)`` fed
    by ``BatchHardMiner()`` (both ``LpDistance(normalize_embeddings=True)``, ``AvgNonZeroReducer``).

    Args:
        margin: the required gap between the anchor-negative and the anchor-positive distance (default 0.05, in
            embedding-distance units: in [0, 2] with ``normalize``).
        mining: which triplets count. "all" (default): every valid (anchor, positive, negative) triplet of the
            batch; "batch_hard" (Hermans, Beyer & Leibe 2017): one triplet per anchor, its farthest positive and
            its nearest negative.
        normalize: L2-normalise the embeddings before measuring distances (default True); False uses the raw
            Euclidean distance.
        smooth: replace the hinge ``[x]_+`` by ``softplus(x)`` (soft-margin triplet, Hermans et al.; default
            False). Every triplet then has a non-zero loss.
        average_nonzero: True (default): "mean" averages over the triplets with a non-zero loss (PML's
            ``AvgNonZeroReducer``); False: over all valid triplets.
        reduction: "mean" (default, see ``average_nonzero``), "sum" over triplets, or "none": (N, N, N) indexed
            [a, p, n] for "all", (N,) per anchor for "batch_hard", 0 where invalid.

    Example:
        >>> loss = TripletLoss(margin=0.2, mining="batch_hard")
        >>> value = loss(torch.randn(8, 16), torch.arange(8) % 3)
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

    Per positive pair (i, j): ``-log(e^{s_ij/T} / (e^{s_ij/T} + sum_{k neg of i} e^{s_ik/T}))``.

    Inputs: ``forward(embeddings, target)``: ``target`` is either a second view (N, D) float (SimCLR: the 2N
    rows are anchors, row i of each view is the positive, the 2N - 2 others negatives), or labels (N,).

    Parity: labels ≡ PML ``NTXentLoss(temperature)(embeddings, labels)``; two views ≡ PML
    ``NTXentLoss(temperature)(cat([v1, v2]), cat([arange(N), arange(N)]))``.

    Args:
        temperature: T (> 0, default 0.07) dividing the cosine similarities; lower values sharpen the softmax and
            weight hard negatives more.
        reduction: "mean" (default) over positive pairs, "sum", or "none": the (M, M) per-pair matrix (M = N
            with labels, 2N with two views), 0 off positive pairs.
        chunk_size: None (default): the (M, M) similarity matrix at once; an int: walked in blocks of chunk_size
            rows, the gradients formed in the same pass (same value, exact gradients), memory O(chunk_size * M):
            about 9 * chunk_size * M floats plus O(M * D), instead of ~6 * M^2. Not with reduction "none".

    Example:
        >>> view = torch.randn(6, 16)
        >>> value = InfoNCELoss(temperature=0.1)(view, view + 0.1 * torch.randn(6, 16))
    """

    loss_name: str  # set by register_loss

    def __init__(self, temperature: float = 0.07, reduction: Reduction = "mean", chunk_size: int | None = None) -> None:
        super().__init__()
        self.temperature = _check_temperature(self.loss_name, temperature)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.chunk_size = check_chunk_size(self.loss_name, chunk_size, self.reduction, rowwise_none=False)

    def forward(self, embeddings: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return M.info_nce_loss(
            embeddings, target, temperature=self.temperature, reduction=self.reduction, chunk_size=self.chunk_size
        )


@register_loss("supcon", aliases=["SupConLoss", "supervised_contrastive"], tasks=["metric_learning"], inputs=_PAIR_SPEC)
class SupConLoss(nn.Module):
    """Supervised contrastive loss (Khosla et al., NeurIPS 2020, L_out) on cosine similarities ``s``:
    ``l_i = -1/|P(i)| sum_{p in P(i)} [s_ip/T - log sum_{a != i} e^{s_ia/T}]``.

    Inputs: ``embeddings`` (N, D) and ``labels`` (N,) (or a second view (N, D): SimCLR's unsupervised case).

    Parity: ≡ PML ``SupConLoss(temperature)`` when the batch has a negative pair (PML returns 0 for a batch
    with a single class; the paper's loss, kept here, is ``log(N - 1)`` per anchor there).

    Args:
        temperature: T (> 0, default 0.1) dividing the cosine similarities; lower values sharpen the softmax.
        reduction: "mean" (default) over the anchors with at least one positive, "sum", or "none": (M,) per
            anchor (M = N with labels, 2N with two views), 0 for anchors without a positive.
        chunk_size: None (default): the (M, M) similarity matrix at once; an int: walked in blocks of chunk_size
            rows, the gradients formed in the same pass ("none": recomputed in backward; same value, exact
            gradients, every reduction), memory O(chunk_size * M): about 9 * chunk_size * M floats plus O(M * D),
            instead of ~6 * M^2.

    Example:
        >>> value = SupConLoss()(torch.randn(8, 16), torch.arange(8) % 3)
    """

    loss_name: str  # set by register_loss

    def __init__(self, temperature: float = 0.1, reduction: Reduction = "mean", chunk_size: int | None = None) -> None:
        super().__init__()
        self.temperature = _check_temperature(self.loss_name, temperature)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.chunk_size = check_chunk_size(self.loss_name, chunk_size, self.reduction, rowwise_none=True)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return M.supcon_loss(
            embeddings, labels, temperature=self.temperature, reduction=self.reduction, chunk_size=self.chunk_size
        )


@register_loss("multi_similarity", aliases=["MultiSimilarityLoss"], tasks=["metric_learning"], inputs=_PAIR_SPEC)
class MultiSimilarityLoss(nn.Module):
    """Multi-similarity loss (Wang et al., CVPR 2019) on cosine similarities, per anchor i:
    ``1/alpha log(1 + sum_P e^{-alpha (s_ip - base)}) + 1/beta log(1 + sum_N e^{beta (s_in - base)})``.

    Inputs: ``embeddings`` (N, D), ``labels`` (N,). No mining (compose with a miner upstream if wanted).

    Parity: ≡ PML ``MultiSimilarityLoss(alpha, beta, base)`` without a miner.

    Args:
        alpha: the scale of the positive term (> 0, default 2.0); larger values focus on the least similar
            positives.
        beta: the scale of the negative term (> 0, default 50.0); larger values focus on the most similar
            negatives.
        base: the similarity offset lambda (default 0.5, a cosine similarity in [-1, 1]): positives are pushed
            above it, negatives below it.
        reduction: "mean" (default) over all N anchors, "sum", or "none": (N,) per anchor.

    Example:
        >>> value = MultiSimilarityLoss()(torch.randn(8, 16), torch.arange(8) % 3)
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

    Holds ``weight`` (num_classes, embedding_size) as an ``nn.Parameter`` (train it with the model: give it to the
    optimizer via ``loss.parameters()``). Past ``theta > pi - m`` the target logit is ``cos theta - m sin m``
    (monotonic). Inputs: ``embeddings`` (N, embedding_size), ``labels`` (N,) in [0, num_classes).

    Parity: ≡ PML ``ArcFaceLoss(num_classes, embedding_size, margin=degrees(m), scale)`` with
    ``pml.W = weight.T``.

    Args:
        num_classes: the number of classes C, rows of the class-centre matrix (>= 1). The default 10 only makes
            the loss buildable by name: give your problem's value.
        embedding_size: the embedding width D (>= 1; default 128, again only a placeholder); embeddings of
            another width are a ``LossInputError``.
        margin: the additive angular margin m added to the true class's angle (default 0.5), in the unit of
            ``margin_unit``; must be in [0, pi) radians. The ``margin`` attribute holds it in radians.
        scale: s, the factor on the cosine logits before the cross-entropy (default 64.0).
        margin_unit: the unit of ``margin``: "radians" (default) or "degrees" (PML's convention: its 28.6 ≈ 0.5
            rad).
        reduction: "mean" (default) over samples, "sum", or "none": (N,) per sample.

    Example:
        >>> loss = ArcFaceLoss(num_classes=3, embedding_size=16, margin=28.6, margin_unit="degrees")
        >>> value = loss(torch.randn(8, 16), torch.arange(8) % 3)
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
        self._margin_given = float(margin)  # for the repr, in margin_unit
        self.margin = math.radians(margin) if margin_unit == "degrees" else float(margin)
        if not 0 <= self.margin < math.pi:
            raise ValueError(f"{self.loss_name}: margin must be in [0, pi) radians, got {self.margin}")
        self.scale = float(scale)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_size))
        nn.init.normal_(self.weight)

    def extra_repr(self) -> str:
        # ``margin`` is held in radians (forward and callers read it so): the generic repr would pair that value
        # with margin_unit='degrees', a wrong constructor call; show the margin in the unit it was given in
        given: dict[str, object] = {"num_classes": self.num_classes, "embedding_size": self.embedding_size}
        given |= {"margin": self._margin_given, "scale": self.scale, "margin_unit": self.margin_unit}
        given["reduction"] = self.reduction
        defaults = inspect.signature(ArcFaceLoss.__init__).parameters
        unit_changed = self.margin_unit != defaults["margin_unit"].default
        return ", ".join(
            f"{k}={v!r}" for k, v in given.items() if v != defaults[k].default or (k == "margin" and unit_changed)
        )

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
