"""Detection losses: box regression (IoU, GIoU, DIoU, CIoU), FCOS (centerness and the composite loss),
varifocal and quality focal classification.

Boxes are (x1, y1, x2, y2) along the last dimension, paired one to one: ``input`` and ``target`` (..., 4)
of the same shape; "none" keeps the leading shape (...). Degenerate boxes (zero or negative width/height)
give finite values and gradients: widths are clamped at 0 and padded by ``eps`` (see
:mod:`losskit.functional.boxes`), no asserts, no host syncs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..compose.terms import with_terms
from ..errors import LossInputError
from ..functional import boxes as FB
from ..functional import dense_detection as FD
from ..functional._checks import check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._arg_docs import FCOS_ARGS, QUALITY_ARGS, document_args
from ._examples import num_classes_of

Reduction = Literal["mean", "sum", "none"]

__all__ = [
    "BoxIoULoss",
    "GIoULoss",
    "DIoULoss",
    "CIoULoss",
    "CenternessLoss",
    "VarifocalLoss",
    "QualityFocalLoss",
    "FCOSLoss",
]


def _box_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    corner = torch.rand(6, 2, generator=g) * 10
    size = torch.rand(6, 2, generator=g) * 5 + 1
    target = torch.cat([corner, corner + size], dim=1)
    return target + torch.randn(6, 4, generator=g), target


_BOXES = InputSpec(
    tensors=(
        TensorSpec("input", "(..., 4)", "float", "predicted boxes (x1, y1, x2, y2)"),
        TensorSpec("target", "(..., 4)", "float", "target boxes (x1, y1, x2, y2), same shape"),
        TensorSpec("weight", "(...)", "float", "per-box weight", optional=True),
    ),
    example=_box_example,
)


class _BoxLoss(nn.Module):
    loss_name: str  # set on each registered subclass by register_loss
    _fn: Callable[..., Tensor]

    def __init__(self, reduction: Reduction = "mean", eps: float = 1e-7) -> None:
        super().__init__()
        self.reduction = check_reduction(self.loss_name, reduction)
        if not eps > 0.0:
            raise ValueError(f"{self.loss_name}: eps must be > 0, got {eps}")
        self.eps = float(eps)

    def forward(
        self, input: Tensor, target: Tensor, weight: Tensor | None = None, *, weights: Tensor | None = None
    ) -> Tensor:
        if weights is not None:
            if weight is not None:
                raise LossInputError(f"{self.loss_name}: pass the per-box weight once, as 'weight' or 'weights'")
            weight = weights
        return self._fn(input, target, weight=weight, eps=self.eps, reduction=self.reduction)


_BOX_DOC = """

    Inputs: ``input`` predicted and ``target`` boxes (..., 4) xyxy, same shape; optional ``weight`` (...) per
    box (AutoTimm spells it ``weights``). Degenerate boxes: inverted ones are clamped to zero size at (x1,
    y1), no error (that check needs a host sync); a zero box against itself gives 0; gradients stay finite.

    Args:
        reduction: "mean" (default): the mean over the boxes, ``sum(w l) / sum(w)`` with a per-box weight (0 when
            all weights are 0); "sum": the (weighted) sum; "none": the per-box losses, shape (...).
        eps: padding added to every box width and height (default 1e-7), > 0; keeps degenerate boxes finite.
"""


@register_loss("box_iou", aliases=["BoxIoULoss"], tasks=["detection"], tags=["boxes"], inputs=_BOXES)
class BoxIoULoss(_BoxLoss):
    """IoU loss ``1 - IoU`` of paired boxes (Yu et al., "UnitBox", ACM MM 2016), range [0, 1].

    Parity: ``1 - torchvision.ops.box_iou(a, b).diagonal()`` (eps-padded sizes: differences O(eps / size)).
    """

    _fn = staticmethod(FB.box_iou_loss)


@register_loss(
    "giou",
    aliases=["GIoULoss", "generalized_iou", "generalized_box_iou", "BoxGIoULoss"],
    tasks=["detection"],
    tags=["boxes"],
    inputs=_BOXES,
)
class GIoULoss(_BoxLoss):
    """Generalized IoU loss (Rezatofighi et al., CVPR 2019): ``1 - IoU + (|C| - |A u B|) / |C|``, C the
    smallest box enclosing both; range [0, 2).

    Parity: torchvision ``generalized_box_iou_loss(a, b, reduction, eps)``; MONAI ``BoxGIoULoss(reduction)``
    (MONAI adds no padding: equal up to O(eps / size)); AutoTimm ``GIoULoss(reduction)`` with
    ``forward(pred, target, weights)``. Unlike torchvision, the zero box against itself gives 0, not 1
    (vision#7746).
    """

    _fn = staticmethod(FB.generalized_box_iou_loss)


@register_loss(
    "diou", aliases=["DIoULoss", "distance_iou", "distance_box_iou"], tasks=["detection"], tags=["boxes"], inputs=_BOXES
)
class DIoULoss(_BoxLoss):
    """Distance IoU loss (Zheng et al., AAAI 2020): ``1 - IoU + rho^2 / c^2``, rho the distance between the
    box centres, c the diagonal of the enclosing box; range [0, 2).

    Parity: torchvision ``distance_box_iou_loss(a, b, reduction, eps)``.
    """

    _fn = staticmethod(FB.distance_box_iou_loss)


@register_loss(
    "ciou", aliases=["CIoULoss", "complete_iou", "complete_box_iou"], tasks=["detection"], tags=["boxes"], inputs=_BOXES
)
class CIoULoss(_BoxLoss):
    """Complete IoU loss (Zheng et al., AAAI 2020): DIoU loss ``+ a v``,
    ``v = 4 / pi^2 (atan(w_gt / h_gt) - atan(w / h))^2``, ``a = v / (1 - IoU + v + eps)`` (no gradient).

    Parity: torchvision ``complete_box_iou_loss(a, b, reduction, eps)``, which gives NaN gradients for a
    zero-height box; here ``atan2`` of the padded sizes keeps them finite.
    """

    _fn = staticmethod(FB.complete_box_iou_loss)


for _cls in (BoxIoULoss, GIoULoss, DIoULoss, CIoULoss):
    _cls.__doc__ = (_cls.__doc__ or "") + _BOX_DOC


def _centerness_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    return torch.randn(16, generator=g), FD.centerness_targets(torch.rand(16, 4, generator=g) * 8 + 0.1)


@register_loss(
    "centerness",
    aliases=["CenternessLoss"],
    tasks=["detection"],
    tags=["fcos"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(*)", "float", "centerness logits"),
            TensorSpec("target", "(*) or (*, 4)", "float", "centerness targets in [0, 1], or (l, t, r, b) distances"),
            TensorSpec("weight", "(*)", "float", "per-location weight or positive mask", optional=True),
        ),
        example=_centerness_example,
    ),
)
class CenternessLoss(nn.Module):
    """FCOS centerness loss (Tian et al., ICCV 2019): BCE with logits against
    ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))``.

    Inputs: ``input`` logits (*); ``target`` centerness values (*) in [0, 1], or the regression targets
    (l, t, r, b) as (*, 4), converted with :func:`losskit.functional.dense_detection.centerness_targets`
    (all-zero distances give 0). ``weight`` (optional, broadcastable): a positive mask averages over the
    positives. Parity: AutoTimm ``CenternessLoss(reduction)``; ``F.binary_cross_entropy_with_logits`` on the targets.

    Args:
        reduction: "mean" (default): the mean over the locations, ``sum(w l) / sum(w)`` with a ``weight``
            (0 when all weights are 0); "sum": the (weighted) sum; "none": the per-location losses, shape (*).
    """

    loss_name: str  # set by register_loss

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return FD.centerness_loss(input, target, weight=weight, reduction=self.reduction)


def _quality_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    n, c = 8, num_classes_of(loss, 4)
    labels = torch.randint(0, c, (n,), generator=g)
    iou = torch.rand(n, generator=g) * (torch.rand(n, generator=g) < 0.5)
    return torch.randn(n, c, generator=g), torch.zeros(n, c).scatter_(1, labels.unsqueeze(1), iou.unsqueeze(1))


_QUALITY_TENSORS = (
    TensorSpec("input", "(N, C) or (*)", "float", "classification logits"),
    TensorSpec("target", "same as input", "float", "IoU-aware targets in [0, 1] (0 for negatives)"),
    TensorSpec("weight", "broadcastable to input", "float", "elementwise weight", optional=True),
    TensorSpec("avg_factor", "()", "float", "mean divisor, e.g. the number of positives", optional=True),
)


@register_loss(
    "varifocal",
    aliases=["VarifocalLoss", "vfl"],
    tasks=["detection"],
    tags=["focal", "imbalanced"],
    inputs=InputSpec(tensors=_QUALITY_TENSORS, example=_quality_example),
)
@document_args(QUALITY_ARGS)
class VarifocalLoss(nn.Module):
    """Varifocal loss (Zhang et al., "VarifocalNet: An IoU-aware Dense Object Detector", CVPR 2021).

    ``-q (q log p + (1 - q) log(1 - p))`` where ``q > 0`` (IoU target at the ground-truth class),
    ``-alpha p^gamma log(1 - p)`` where ``q = 0``, ``p = sigmoid(input)``.

    Forward: ``(input, target, weight=None, avg_factor=None)``: ``avg_factor`` replaces the element count in
    the mean (the number of positives, as mmdet does). Parity: mmdet ``VarifocalLoss(use_sigmoid=True,
    alpha, gamma, iou_weighted)``.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self, alpha: float = 0.75, gamma: float = 2.0, iou_weighted: bool = True, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if alpha < 0 or gamma < 0:
            raise ValueError(f"{self.loss_name}: alpha and gamma must be >= 0, got alpha={alpha}, gamma={gamma}")
        self.alpha, self.gamma, self.iou_weighted = float(alpha), float(gamma), bool(iou_weighted)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(
        self, input: Tensor, target: Tensor, weight: Tensor | None = None, avg_factor: float | Tensor | None = None
    ) -> Tensor:
        return FD.varifocal_loss(
            input,
            target,
            alpha=self.alpha,
            gamma=self.gamma,
            iou_weighted=self.iou_weighted,
            weight=weight,
            avg_factor=avg_factor,
            reduction=self.reduction,
        )


@register_loss(
    "quality_focal",
    aliases=["QualityFocalLoss", "qfl"],
    tasks=["detection"],
    tags=["focal", "imbalanced"],
    inputs=InputSpec(tensors=_QUALITY_TENSORS, example=_quality_example),
)
@document_args(QUALITY_ARGS)
class QualityFocalLoss(nn.Module):
    """Quality focal loss (Li et al., "Generalized Focal Loss", NeurIPS 2020):
    ``-|y - s|^beta ((1 - y) log(1 - s) + y log s)``, ``s = sigmoid(input)``, ``y`` the soft IoU target.

    Inputs: ``input`` logits (N, C); ``target`` dense (N, C) soft targets, or the pair ``(labels, scores)``
    with labels (N,) in [0, C) for positives and any other value (-1, or C as in mmdet) for background.
    Forward ``avg_factor`` as in ``varifocal``.
    Parity: mmdet ``QualityFocalLoss(use_sigmoid=True, beta)``.
    """

    loss_name: str  # set by register_loss

    def __init__(self, beta: float = 2.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        if beta < 0:
            raise ValueError(f"{self.loss_name}: beta must be >= 0, got {beta}")
        self.beta = float(beta)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(
        self,
        input: Tensor,
        target: Tensor | tuple[Tensor, Tensor],
        weight: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
    ) -> Tensor:
        return FD.quality_focal_loss(
            input, target, beta=self.beta, weight=weight, avg_factor=avg_factor, reduction=self.reduction
        )


def fcos_example(
    loss: nn.Module, g: torch.Generator, sizes: Sequence[tuple[int, int]] = ((8, 8), (4, 4))
) -> tuple[Any, ...]:
    """A valid FCOS input set: lists over levels of (B, C, H, W) logits, (B, 4, H, W) distances,
    (B, 1, H, W) logits, (B, H, W) labels (-1 background) and (B, 4, H, W) targets, with B = 2."""
    b, c = 2, num_classes_of(loss, 3)
    cls, box, ctr, labels, reg = [], [], [], [], []
    for h, w in sizes:
        cls.append(torch.randn(b, c, h, w, generator=g))
        box.append(torch.rand(b, 4, h, w, generator=g) * 6 + 0.5)
        ctr.append(torch.randn(b, 1, h, w, generator=g))
        cls_id = torch.randint(0, c, (b, h, w), generator=g)
        labels.append(torch.where(torch.rand(b, h, w, generator=g) < 0.3, cls_id, -1))
        reg.append(torch.rand(b, 4, h, w, generator=g) * 6 + 0.5)
    return cls, box, ctr, labels, reg


@register_loss(
    "fcos",
    aliases=["FCOSLoss"],
    tasks=["detection"],
    tags=["composite", "fcos"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("cls_scores", "list of (B, C, H_l, W_l)", "list", "class logits per level"),
            TensorSpec("bbox_preds", "list of (B, 4, H_l, W_l)", "list", "predicted (l, t, r, b) distances, >= 0"),
            TensorSpec("centernesses", "list of (B, 1, H_l, W_l)", "list", "centerness logits"),
            TensorSpec("labels", "list of (B, H_l, W_l)", "list", "class in [0, C) at positives, -1 background"),
            TensorSpec("reg_targets", "list of (B, 4, H_l, W_l)", "list", "target (l, t, r, b) distances"),
        ),
        example=fcos_example,
    ),
)
@document_args(FCOS_ARGS)
class FCOSLoss(nn.Module):
    """FCOS loss (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection", ICCV 2019): sigmoid
    focal classification + GIoU box regression + centerness BCE, over feature levels.

    ``total = cls_weight * cls + reg_weight * reg + centerness_weight * centerness``, each normalised by the
    number of positives P (clamped to >= 1, a tensor: no host sync). Layouts and formulas:
    :func:`losskit.functional.dense_detection.fcos_loss`. Forward: ``(cls_scores, bbox_preds, centernesses,
    labels, reg_targets, return_terms=False)``: a scalar tensor (no "none" reduction), or ``(total, {"cls",
    "reg", "centerness"})`` with detached terms (like ``CombinedLoss``).
    Parity: AutoTimm ``FCOSLoss(num_classes, focal_alpha, focal_gamma, cls_weight, reg_weight,
    centerness_weight)``, except that the regression term really is GIoU (AutoTimm's is plain IoU).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        num_classes: int | None = None,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        cls_weight: float = 1.0,
        reg_weight: float = 1.0,
        centerness_weight: float = 1.0,
        centerness_weighted_reg: bool = True,
    ) -> None:
        super().__init__()
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"{self.loss_name}: num_classes must be >= 1, got {num_classes}")
        if focal_gamma < 0 or not 0 <= focal_alpha <= 1:
            raise ValueError(
                f"{self.loss_name}: need 0 <= focal_alpha <= 1 and focal_gamma >= 0, got {focal_alpha}, {focal_gamma}"
            )
        self.num_classes = num_classes
        self.focal_alpha, self.focal_gamma = float(focal_alpha), float(focal_gamma)
        self.cls_weight, self.reg_weight, self.centerness_weight = (
            float(cls_weight),
            float(reg_weight),
            float(centerness_weight),
        )
        self.centerness_weighted_reg = bool(centerness_weighted_reg)

    def forward(
        self,
        cls_scores: Tensor | Sequence[Tensor],
        bbox_preds: Tensor | Sequence[Tensor],
        centernesses: Tensor | Sequence[Tensor],
        labels: Tensor | Sequence[Tensor],
        reg_targets: Tensor | Sequence[Tensor],
        return_terms: bool = False,
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        if self.num_classes is not None:
            for i, cls in enumerate([cls_scores] if isinstance(cls_scores, Tensor) else cls_scores):
                if isinstance(cls, Tensor) and cls.dim() >= 2 and cls.shape[1] != self.num_classes:
                    raise LossInputError(
                        f"{self.loss_name}: configured for num_classes={self.num_classes}, got cls_scores[{i}] with "
                        f"{cls.shape[1]} classes"
                    )
        total, terms = FD.fcos_loss(
            cls_scores,
            bbox_preds,
            centernesses,
            labels,
            reg_targets,
            focal_alpha=self.focal_alpha,
            focal_gamma=self.focal_gamma,
            cls_weight=self.cls_weight,
            reg_weight=self.reg_weight,
            centerness_weight=self.centerness_weight,
            centerness_weighted_reg=self.centerness_weighted_reg,
        )
        return with_terms(total, terms, return_terms)
