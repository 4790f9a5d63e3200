"""More metric-learning losses (issue 12): pair-based (circle, lifted structure) and proxy/centre-based.

Inputs: ``embeddings`` (N, D) float and ``labels`` (N,) integer class ids. The proxy, centre and classifier
losses hold their learnable matrix as an ``nn.Parameter`` (``num_classes``, ``embedding_size``): give
``loss.parameters()`` to the optimizer; it is saved in the ``state_dict`` and survives pickling. In DDP wrap
the loss in :class:`losskit.distributed.GatherLoss` (default ``scale="gradient"``): every rank computes the
loss over the gathered batch, its parameters get their full single-process gradient on every rank, and DDP's
averaging keeps the replicas identical, so nothing else needs syncing. Defaults follow pytorch-metric-learning
(PML) 2.x; each docstring gives the parity mapping.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..errors import LossInputError
from ..functional import metric_pairs as MPairs
from ..functional import metric_proxies as MProx
from ..functional._checks import check_reduction, shape_str
from ..inputs import InputSpec
from ..registration import register_loss
from .metric_learning import _EMB, _LABELS, _labelled_batch

__all__ = ["CircleLoss", "LiftedStructureLoss", "ProxyAnchorLoss", "ProxyNCALoss", "CosFaceLoss"]
__all__ += ["SubCenterArcFaceLoss", "CenterLoss", "SoftTripleLoss"]

Reduction = Literal["mean", "sum", "none"]
_SPEC = InputSpec(tensors=(_EMB, _LABELS), example=_labelled_batch)
_TASKS = ["metric_learning"]


@register_loss("circle", aliases=["CircleLoss"], tasks=_TASKS, tags=["pair"], inputs=_SPEC)
class CircleLoss(nn.Module):
    """Circle loss (Sun et al., CVPR 2020) on cosine similarities, per anchor
    ``softplus(lse_P(-gamma a_p (s_p - (1 - m))) + lse_N(gamma a_n (s_n - m)))`` with the constant weights
    ``a_p = [1 + m - s_p]_+``, ``a_n = [s_n + m]_+`` (:func:`losskit.functional.circle_loss`).

    Parity: ≡ PML ``CircleLoss(m, gamma)`` (``CosineSimilarity``, ``AvgNonZeroReducer``).

    Args:
        m: the relaxation margin (default 0.4; the paper suggests 0.25 for faces and re-id, 0.4 for fine-grained
            retrieval).
        gamma: the scale (> 0, default 80; 256 faces, 128 re-id).
        reduction: "mean" (default) over anchors with a positive and a negative, "sum", or "none": (N,) per
            anchor, 0 for anchors without both.

    Example:
        >>> value = CircleLoss(m=0.25, gamma=128.0)(torch.randn(8, 16), torch.arange(8) % 3)
    """

    loss_name: str  # set by register_loss

    def __init__(self, m: float = 0.4, gamma: float = 80.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        if not gamma > 0:
            raise ValueError(f"{self.loss_name}: gamma must be > 0, got {gamma!r}")
        self.m, self.gamma = float(m), float(gamma)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return MPairs.circle_loss(embeddings, labels, m=self.m, gamma=self.gamma, reduction=self.reduction)


@register_loss("lifted_structure", aliases=["LiftedStructureLoss"], tasks=_TASKS, tags=["pair"], inputs=_SPEC)
class LiftedStructureLoss(nn.Module):
    """Lifted structured loss (Song et al., CVPR 2016), the paper's form: per positive pair (i, j),
    ``[log(sum_{k neg of i} e^{a - D_ik} + sum_{l neg of j} e^{a - D_jl}) + D_ij - pos_margin]_+^2``, averaged
    and halved (:func:`losskit.functional.lifted_structure_loss`).

    Parity: ≡ PML ``LiftedStructureLoss(neg_margin, pos_margin)`` (``LpDistance``, ``MeanReducer``); PML's
    ``GeneralizedLiftedStructureLoss`` (Hermans et al. 2017) is another loss.

    Args:
        pos_margin: subtracted from the positive pair's distance (default 0.0, as in the paper).
        neg_margin: the paper's alpha, the margin in the negatives' exponent (default 1.0).
        normalize: L2-normalise the embeddings before measuring distances (default True); False uses the raw
            Euclidean distance.
        reduction: "mean" (default) over ordered positive pairs that have negatives, "sum", or "none": the
            (N, N) per-pair matrix, 0 off those pairs.

    Example:
        >>> value = LiftedStructureLoss(neg_margin=0.5)(torch.randn(8, 16), torch.arange(8) % 3)
    """

    loss_name: str  # set by register_loss

    def __init__(
        self, pos_margin: float = 0.0, neg_margin: float = 1.0, normalize: bool = True, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        self.pos_margin, self.neg_margin, self.normalize = float(pos_margin), float(neg_margin), normalize
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return MPairs.lifted_structure_loss(
            embeddings,
            labels,
            pos_margin=self.pos_margin,
            neg_margin=self.neg_margin,
            normalize=self.normalize,
            reduction=self.reduction,
        )


class _Learnable(nn.Module):
    """A loss holding a learnable (num_classes * per_class, embedding_size) matrix."""

    loss_name: str

    def _new_matrix(self, num_classes: int, embedding_size: int, per_class: int = 1) -> nn.Parameter:
        if num_classes < 1 or embedding_size < 1 or per_class < 1:
            raise ValueError(
                f"{self.loss_name}: num_classes, embedding_size (and the per-class count) must be >= 1, got "
                f"{num_classes}, {embedding_size}, {per_class}"
            )
        self.num_classes, self.embedding_size = num_classes, embedding_size
        return nn.Parameter(torch.empty(num_classes * per_class, embedding_size))

    def _check_width(self, embeddings: torch.Tensor) -> None:
        if embeddings.dim() == 2 and embeddings.shape[1] != self.embedding_size:
            raise LossInputError(
                f"{self.loss_name}: configured for embedding_size={self.embedding_size}, "
                f"got embeddings {shape_str(embeddings)}"
            )


@register_loss("proxy_anchor", aliases=["ProxyAnchorLoss"], tasks=_TASKS, tags=["proxy"], inputs=_SPEC)
class ProxyAnchorLoss(_Learnable):
    """Proxy-Anchor loss (Kim et al., CVPR 2020) with one learnable proxy per class, ``proxies`` (C, D), on cosine
    similarities (:func:`losskit.functional.proxy_anchor_loss`). Proxies start kaiming-normal (fan_out), as PML.

    Parity: ≡ PML ``ProxyAnchorLoss(num_classes, embedding_size, margin, alpha)`` with ``pml.proxies = proxies``.

    Args:
        num_classes: the number of classes C (>= 1; the default 10 is a placeholder: give your problem's value).
        embedding_size: the embedding width D (>= 1; default 128, a placeholder); another width is an error.
        margin: delta, the similarity margin (default 0.1).
        alpha: the scale (> 0, default 32).
        reduction: "mean" (default): the paper's loss (positive term averaged over the proxies with a positive in
            the batch, negative term over all proxies); "sum": both sums undivided. No "none": the terms are
            per proxy, over the whole batch.

    Example:
        >>> value = ProxyAnchorLoss(num_classes=3, embedding_size=16)(torch.randn(8, 16), torch.arange(8) % 3)
    """

    def __init__(
        self,
        num_classes: int = 10,
        embedding_size: int = 128,
        margin: float = 0.1,
        alpha: float = 32.0,
        reduction: Literal["mean", "sum"] = "mean",
    ) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"{self.loss_name}: alpha must be > 0, got {alpha!r}")
        self.margin, self.alpha = float(margin), float(alpha)
        self.reduction = check_reduction(self.loss_name, reduction, ("mean", "sum"))
        self.proxies = self._new_matrix(num_classes, embedding_size)
        nn.init.kaiming_normal_(self.proxies, mode="fan_out")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check_width(embeddings)
        return MProx.proxy_anchor_loss(
            embeddings, labels, self.proxies, margin=self.margin, alpha=self.alpha, reduction=self.reduction
        )


@register_loss("proxy_nca", aliases=["ProxyNCALoss"], tasks=_TASKS, tags=["proxy"], inputs=_SPEC)
class ProxyNCALoss(_Learnable):
    """Proxy-NCA (Movshovitz-Attias et al., ICCV 2017): a softmax over ``-softmax_scale * ||x - p_c||^2`` of the
    normalised embedding to one learnable proxy per class, ``proxies`` (C, D), normal-initialised as PML
    (:func:`losskit.functional.proxy_nca_loss`).

    Parity: ≡ PML ``ProxyNCALoss(num_classes, embedding_size, softmax_scale)`` with ``pml.proxies = proxies``.

    Args:
        num_classes: the number of classes C (>= 1; the default 10 is a placeholder: give your problem's value).
        embedding_size: the embedding width D (>= 1; default 128, a placeholder); another width is an error.
        softmax_scale: the factor on the negative squared distances (> 0, default 1.0).
        reduction: "mean" (default) over samples, "sum", or "none": (N,) per sample.

    Example:
        >>> value = ProxyNCALoss(num_classes=3, embedding_size=16)(torch.randn(8, 16), torch.arange(8) % 3)
    """

    def __init__(
        self,
        num_classes: int = 10,
        embedding_size: int = 128,
        softmax_scale: float = 1.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not softmax_scale > 0:
            raise ValueError(f"{self.loss_name}: softmax_scale must be > 0, got {softmax_scale!r}")
        self.softmax_scale = float(softmax_scale)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.proxies = self._new_matrix(num_classes, embedding_size)
        nn.init.normal_(self.proxies)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check_width(embeddings)
        return MProx.proxy_nca_loss(
            embeddings, labels, self.proxies, softmax_scale=self.softmax_scale, reduction=self.reduction
        )


@register_loss("cosface", aliases=["CosFaceLoss"], tasks=[*_TASKS, "classification"], tags=["margin"], inputs=_SPEC)
class CosFaceLoss(_Learnable):
    """CosFace, large margin cosine loss (Wang et al., CVPR 2018): ``CE(scale * (cos - margin [c = y]), y)`` with
    learnable class centres ``weight`` (C, D), normal-initialised (:func:`losskit.functional.cosface_loss`).

    Parity: ≡ PML ``CosFaceLoss(num_classes, embedding_size, margin=margin, scale=scale)`` with
    ``pml.W = weight.T``.

    Args:
        num_classes: the number of classes C (>= 1; the default 10 is a placeholder: give your problem's value).
        embedding_size: the embedding width D (>= 1; default 128, a placeholder); another width is an error.
        margin: the cosine margin m subtracted from the true class's cosine (default 0.35).
        scale: s, the factor on the cosine logits (default 64.0).
        reduction: "mean" (default) over samples, "sum", or "none": (N,) per sample.

    Example:
        >>> value = CosFaceLoss(num_classes=3, embedding_size=16)(torch.randn(8, 16), torch.arange(8) % 3)
    """

    def __init__(
        self,
        num_classes: int = 10,
        embedding_size: int = 128,
        margin: float = 0.35,
        scale: float = 64.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.margin, self.scale = float(margin), float(scale)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.weight = self._new_matrix(num_classes, embedding_size)
        nn.init.normal_(self.weight)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check_width(embeddings)
        return MProx.cosface_loss(
            embeddings, labels, self.weight, margin=self.margin, scale=self.scale, reduction=self.reduction
        )


@register_loss(
    "sub_center_arcface",
    aliases=["SubCenterArcFaceLoss"],
    tasks=[*_TASKS, "classification"],
    tags=["margin"],
    inputs=_SPEC,
)
class SubCenterArcFaceLoss(_Learnable):
    """Sub-center ArcFace (Deng et al., ECCV 2020): ArcFace against the best of ``sub_centers`` learnable centres
    per class, ``weight`` (C * K, D), row ``c * K + k`` (:func:`losskit.functional.sub_center_arcface_loss`).

    Parity: ≡ PML ``SubCenterArcFaceLoss(num_classes, embedding_size, margin=math.degrees(margin), scale,
    sub_centers)`` with ``pml.W = weight.T``.

    Args:
        num_classes: the number of classes C (>= 1; the default 10 is a placeholder: give your problem's value).
        embedding_size: the embedding width D (>= 1; default 128, a placeholder); another width is an error.
        margin: the additive angular margin in radians, in [0, pi) (default 0.5, PML's 28.6 degrees).
        scale: s, the factor on the cosine logits (default 64.0).
        sub_centers: K, the centres per class (>= 1, default 3).
        reduction: "mean" (default) over samples, "sum", or "none": (N,) per sample.

    Example:
        >>> loss = SubCenterArcFaceLoss(num_classes=3, embedding_size=16, sub_centers=2)
        >>> value = loss(torch.randn(8, 16), torch.arange(8) % 3)
    """

    def __init__(
        self,
        num_classes: int = 10,
        embedding_size: int = 128,
        margin: float = 0.5,
        scale: float = 64.0,
        sub_centers: int = 3,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not 0 <= margin < math.pi:
            raise ValueError(f"{self.loss_name}: margin must be in [0, pi) radians, got {margin!r}")
        self.margin, self.scale, self.sub_centers = float(margin), float(scale), int(sub_centers)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.weight = self._new_matrix(num_classes, embedding_size, sub_centers)
        nn.init.normal_(self.weight)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check_width(embeddings)
        return MProx.sub_center_arcface_loss(
            embeddings,
            labels,
            self.weight,
            sub_centers=self.sub_centers,
            margin=self.margin,
            scale=self.scale,
            reduction=self.reduction,
        )


@register_loss("center", aliases=["CenterLoss"], tasks=_TASKS, tags=["proxy"], inputs=_SPEC)
class CenterLoss(_Learnable):
    """Center loss (Wen et al., ECCV 2016): ``1/2 ||x_i - c_{y_i}||^2`` to learnable class centres ``centers``
    (C, D), standard-normal initialised (:func:`losskit.functional.center_loss`). The centres move with the
    optimizer (give it ``loss.parameters()``, usually at the paper's rate alpha), not by the paper's own update.

    Parity: the paper's formula ("sum" is its L_C); KaiyangZhou/pytorch-center-loss gives ``2 *`` the "mean".

    Args:
        num_classes: the number of classes C (>= 1; the default 10 is a placeholder: give your problem's value).
        embedding_size: the embedding width D (>= 1; default 128, a placeholder); another width is an error.
        reduction: "mean" (default) over samples, "sum" (the paper's L_C), or "none": (N,) per sample.

    Example:
        >>> value = CenterLoss(num_classes=3, embedding_size=16)(torch.randn(8, 16), torch.arange(8) % 3)
    """

    def __init__(self, num_classes: int = 10, embedding_size: int = 128, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(self.loss_name, reduction)
        self.centers = self._new_matrix(num_classes, embedding_size)
        nn.init.normal_(self.centers)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check_width(embeddings)
        return MProx.center_loss(embeddings, labels, self.centers, reduction=self.reduction)


@register_loss("soft_triple", aliases=["SoftTripleLoss"], tasks=_TASKS, tags=["proxy"], inputs=_SPEC)
class SoftTripleLoss(_Learnable):
    """SoftTriple loss (Qian et al., ICCV 2019): ``centers_per_class`` learnable centres per class, ``centers``
    (C * K, D), row ``c * K + k`` (:func:`losskit.functional.soft_triple_loss`); no centre regulariser.

    Parity: ≡ PML ``SoftTripleLoss(num_classes, embedding_size, centers_per_class, la, gamma, margin)`` with
    ``pml.fc = centers.T``.

    Args:
        num_classes: the number of classes C (>= 1; the default 10 is a placeholder: give your problem's value).
        embedding_size: the embedding width D (>= 1; default 128, a placeholder); another width is an error.
        centers_per_class: K, the centres per class (>= 1, default 10).
        la: lambda, the scale on the logits (default 20.0).
        gamma: the softmax temperature over a class's centres (> 0, default 0.1).
        margin: delta, subtracted from the true class's similarity (default 0.01).
        reduction: "mean" (default) over samples, "sum", or "none": (N,) per sample.

    Example:
        >>> loss = SoftTripleLoss(num_classes=3, embedding_size=16, centers_per_class=2)
        >>> value = loss(torch.randn(8, 16), torch.arange(8) % 3)
    """

    def __init__(
        self,
        num_classes: int = 10,
        embedding_size: int = 128,
        centers_per_class: int = 10,
        la: float = 20.0,
        gamma: float = 0.1,
        margin: float = 0.01,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not gamma > 0:
            raise ValueError(f"{self.loss_name}: gamma must be > 0, got {gamma!r}")
        self.centers_per_class = int(centers_per_class)
        self.la, self.gamma, self.margin = float(la), float(gamma), float(margin)
        self.reduction = check_reduction(self.loss_name, reduction)
        # PML initialises its (D, C * K) matrix kaiming-uniform; the same on the transposed view
        self.centers = self._new_matrix(num_classes, embedding_size, centers_per_class)
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.centers.T, a=math.sqrt(5))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check_width(embeddings)
        return MProx.soft_triple_loss(
            embeddings,
            labels,
            self.centers,
            centers_per_class=self.centers_per_class,
            la=self.la,
            gamma=self.gamma,
            margin=self.margin,
            reduction=self.reduction,
        )
