"""Dense (one-stage) detection losses: FCOS centerness and its composite loss, varifocal, quality focal.

All classification-style terms take logits and are evaluated in log space in float32 (float64 stays
float64); no host syncs except the documented label-range check of :func:`fcos_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import (
    check_broadcast_weight,
    check_float,
    check_labels,
    check_probabilities,
    check_reduction,
    check_same_shape,
    check_tensor,
    shape_str,
)
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .boxes import generalized_box_iou_loss
from .focal import _SigmoidFocal

__all__ = [
    "centerness_targets",
    "centerness_loss",
    "varifocal_loss",
    "quality_focal_loss",
    "fcos_loss",
]

Reduction = Literal["mean", "sum", "none"]

# (-l, -t, r, b): ltrb distances from a point become a box around the point at the origin.
_LTRB_SIGN = (-1.0, -1.0, 1.0, 1.0)


def _upcast(x: Tensor) -> Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


@float32_loss
def centerness_targets(ltrb: Tensor, dim: int = -1) -> Tensor:
    """FCOS centerness targets ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` (Tian et al. 2019).

    ``ltrb``: regression targets (l, t, r, b) along ``dim`` (size 4), distances from a location to the sides
    of its box. Returns the tensor without ``dim``, values in [0, 1]. Non-positive or all-zero distances
    (background locations) give 0, never NaN; no gradient flows (targets are constants).
    """
    check_float("centerness_targets", "ltrb", ltrb)
    if ltrb.dim() == 0 or ltrb.shape[dim] != 4:
        raise LossInputError(f"centerness_targets: expected size 4 (l, t, r, b) along dim {dim}, got {shape_str(ltrb)}")
    with torch.no_grad():
        d = _upcast(ltrb).clamp_min(0.0)
        l, t, r, b = d.unbind(dim)  # noqa: E741 (FCOS's own names for the four distances)
        tiny = torch.finfo(d.dtype).tiny
        ratio = (torch.minimum(l, r) / torch.maximum(l, r).clamp_min(tiny)) * (
            torch.minimum(t, b) / torch.maximum(t, b).clamp_min(tiny)
        )
        return ratio.sqrt()


@float32_loss
def centerness_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Binary cross-entropy with logits between centerness logits and FCOS centerness targets.

    ``input``: logits (*). ``target``: centerness values in [0, 1] of the same shape, or regression targets
    (l, t, r, b) of shape (*, 4), converted with :func:`centerness_targets`. ``weight`` (broadcastable to
    (*)): a per-location weight or positive mask; with it ``mean`` is ``sum(w l) / sum(w)`` (0 when the
    weights are all 0), so a mask averages over the positives. "none" shape: (*).

    Example:
        >>> ltrb = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 3.0, 3.0]])  # centerness targets 1 and 1/3
        >>> centerness_loss(torch.tensor([5.0, 0.0]), ltrb, reduction="none")  # softplus(-5), log 2
        tensor([0.0067, 0.6931])
    """
    check_reduction("centerness", reduction)
    check_float("centerness", "input", input)
    check_float("centerness", "target", target)
    if target.shape == (*input.shape, 4):
        target = centerness_targets(target)
    else:
        check_same_shape("centerness", input, target)
        check_probabilities("centerness", target)
    check_broadcast_weight("centerness", "weight", weight, input)
    x = _upcast(input)
    loss = F.binary_cross_entropy_with_logits(x, target.to(x.dtype), reduction="none")
    # with a weight the mean is sum(w l) / sum(w), the weight expanded so a broadcast mask counts per location
    w = None if weight is None else weight.to(loss.dtype).expand_as(loss)
    return reduce(loss, reduction, w, weight=w)


@float32_loss
def varifocal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.75,
    gamma: float = 2.0,
    iou_weighted: bool = True,
    weight: Tensor | None = None,
    avg_factor: float | Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Varifocal loss (Zhang et al., "VarifocalNet", CVPR 2021), IoU-aware classification.

    ``VFL(p, q) = -q (q log p + (1 - q) log(1 - p))`` where ``q > 0`` (the IoU of the predicted box with its
    ground truth, at the ground-truth class), ``-alpha p^gamma log(1 - p)`` where ``q = 0``; ``p = sigmoid(x)``.
    ``iou_weighted=False`` weights positives by 1 instead of ``q``. ``p^gamma`` is ``exp(gamma logsigmoid(x))``,
    finite with gradients at saturated logits.

    Inputs: ``input`` logits (*) (usually (N, C)); ``target`` q in [0, 1] of the same shape. ``weight``:
    elementwise, broadcastable. ``mean`` divides by ``avg_factor`` when given (e.g. the number of positives),
    else by the element count. "none" shape: (*). Parity: mmdet ``varifocal_loss`` (same options).

    Example:
        >>> varifocal_loss(torch.zeros(2), torch.tensor([0.8, 0.0]), reduction="none")  # 0.8 log 2, 0.75 p^2 log 2
        tensor([0.5545, 0.1300])
    """
    loss_name = "varifocal"
    check_reduction(loss_name, reduction)
    if not alpha >= 0 or not gamma >= 0:
        raise ValueError(f"{loss_name}: alpha and gamma must be >= 0, got alpha={alpha}, gamma={gamma}")
    check_float(loss_name, "input", input)
    check_float(loss_name, "target", target)
    check_same_shape(loss_name, input, target)
    check_probabilities(loss_name, target)
    check_broadcast_weight(loss_name, "weight", weight, input)
    x = _upcast(input)
    q = target.to(x.dtype)
    bce = F.binary_cross_entropy_with_logits(x, q, reduction="none")
    negative = alpha * torch.exp(gamma * F.logsigmoid(x))
    positive = q if iou_weighted else torch.ones_like(q)
    loss = bce * torch.where(q > 0, positive, negative)
    return reduce(loss, reduction, weight=weight, avg_factor=avg_factor)


@float32_loss
def quality_focal_loss(
    input: Tensor,
    target: Tensor | tuple[Tensor, Tensor],
    *,
    beta: float = 2.0,
    weight: Tensor | None = None,
    avg_factor: float | Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Quality focal loss (Li et al., "Generalized Focal Loss", NeurIPS 2020).

    ``QFL(s) = -|y - s|^beta ((1 - y) log(1 - s) + y log s)``, ``s = sigmoid(x)``, ``y`` the soft IoU target
    (0 for negatives and for every class but the ground truth).

    Inputs: ``input`` logits (N, C); ``target`` either dense soft targets (N, C) in [0, 1], or GFL's pair
    ``(labels, scores)``: ``labels`` (N,) long, a class in [0, C) for positives and any other value (-1, or C
    as in mmdet) for background, ``scores`` (N,) the IoU targets of the positives. ``weight``: elementwise,
    broadcastable to (N, C). ``mean`` divides by ``avg_factor`` when given, else by N * C. "none" shape: (N, C).
    Parity: mmdet ``quality_focal_loss`` (pair form) and its ``use_sigmoid`` dense equivalent.

    Example:
        >>> labels, scores = torch.tensor([1, -1]), torch.tensor([0.9, 0.0])  # a positive of class 1 (IoU 0.9)
        >>> quality_focal_loss(torch.zeros(2, 3), (labels, scores), reduction="none")  # |y - 0.5|^2 log 2
        tensor([[0.1733, 0.1109, 0.1733],
                [0.1733, 0.1733, 0.1733]])
    """
    loss_name = "quality_focal"
    check_reduction(loss_name, reduction)
    if not beta >= 0:
        raise ValueError(f"{loss_name}: beta must be >= 0, got {beta}")
    check_float(loss_name, "input", input)
    x = _upcast(input)
    if isinstance(target, (tuple, list)):
        if len(target) != 2:
            raise LossInputError(f"{loss_name}: the pair target form is (labels, scores), got {len(target)} items")
        y = _dense_quality_target(loss_name, x, *target)
    else:
        check_float(loss_name, "target", target)
        check_same_shape(loss_name, input, target)
        check_probabilities(loss_name, target)
        y = target.to(x.dtype)
    check_broadcast_weight(loss_name, "weight", weight, input)
    bce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    gap = (y - torch.sigmoid(x)).abs()
    # |y - s|^beta: at beta < 1 the derivative is infinite at y == s; the clamp keeps it finite.
    scale = gap.square() if beta == 2.0 else gap.clamp_min(torch.finfo(gap.dtype).tiny).pow(beta)
    return reduce(bce * scale, reduction, weight=weight, avg_factor=avg_factor)


def _dense_quality_target(loss: str, x: Tensor, labels: Tensor, scores: Tensor) -> Tensor:
    if x.dim() != 2:
        raise LossInputError(f"{loss}: the (labels, scores) target form needs input (N, C), got {shape_str(x)}")
    check_tensor(loss, "labels", labels)
    if labels.is_floating_point() or labels.shape != x.shape[:1]:
        raise LossInputError(
            f"{loss}: expected labels (N,) = ({x.shape[0]},) of integers, got {labels.dtype} {shape_str(labels)}"
        )
    check_float(loss, "scores", scores)
    if scores.shape != labels.shape:
        raise LossInputError(
            f"{loss}: expected scores with the labels' shape {shape_str(labels)}, got {shape_str(scores)}"
        )
    check_probabilities(loss, scores, name="scores")
    c = x.shape[1]
    positive = (labels >= 0) & (labels < c)
    # Background labels never reach the scatter: they write a 0 into column 0, which holds 0 anyway.
    index = torch.where(positive, labels, 0).long().unsqueeze(1)
    value = torch.where(positive, scores.to(x.dtype), 0.0).unsqueeze(1)
    return torch.zeros_like(x).scatter_(1, index, value)


def _as_levels(loss: str, name: str, value: Tensor | Sequence[Tensor]) -> list[Tensor]:
    levels = [value] if isinstance(value, Tensor) else list(value)
    if not levels:
        raise LossInputError(f"{loss}: {name} is empty; expected one tensor per feature level")
    for i, t in enumerate(levels):
        check_tensor(loss, f"{name}[{i}]", t)
    return levels


@float32_loss
def fcos_loss(
    cls_scores: Tensor | Sequence[Tensor],
    bbox_preds: Tensor | Sequence[Tensor],
    centernesses: Tensor | Sequence[Tensor],
    labels: Tensor | Sequence[Tensor],
    reg_targets: Tensor | Sequence[Tensor],
    *,
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
    cls_weight: float = 1.0,
    reg_weight: float = 1.0,
    centerness_weight: float = 1.0,
    centerness_weighted_reg: bool = True,
    eps: float = 1e-7,
) -> tuple[Tensor, dict[str, Tensor]]:
    """FCOS loss (Tian et al., ICCV 2019) over feature levels; returns ``(total, {"cls", "reg", "centerness"})``.

    Per level l (any number of levels, each a tensor or a one-element list works too):
        ``cls_scores[l]`` (B, C, H, W) logits; ``bbox_preds[l]`` (B, 4, H, W) predicted (l, t, r, b) distances
        (non-negative, e.g. after ``exp``/``relu``; negative ones are clamped like inverted boxes);
        ``centernesses[l]`` (B, 1, H, W) logits; ``labels[l]`` (B, H, W) integer (any dtype), the class in [0, C) of a
        positive location, -1 for background; ``reg_targets[l]`` (B, 4, H, W) the (l, t, r, b) distances of
        the assigned box (read at positives only; any finite value elsewhere).

    Terms, with ``P`` the number of positives over all levels clamped to >= 1 (a tensor: no sync):
        ``cls`` = sigmoid focal (alpha, gamma) summed over all locations and classes / P;
        ``reg`` = GIoU loss of the boxes (-l, -t, r, b) at positives, weighted by the centerness targets and
        divided by their sum (FCOS's official recipe; ``centerness_weighted_reg=False``: plain sum / P);
        ``centerness`` = BCE with logits against the centerness targets at positives / P.
    ``total = cls_weight cls + reg_weight reg + centerness_weight centerness``, always a scalar (there is no
    "none" reduction: the terms are normalised sums; a batch without locations gives 0); the terms come back
    detached. Under fp16/bf16 autocast everything runs in float32. Half-precision inputs
    are computed in float32, every level in the dtype of its ``cls_scores`` (upcast).
    Labels are range-checked (one host sync, switchable with ``losskit.functional.set_label_checks``).

    Example:
        >>> cls, ltrb, ctr = torch.zeros(1, 2, 2, 2), torch.ones(1, 4, 2, 2), torch.zeros(1, 1, 2, 2)
        >>> labels = torch.tensor([[[0, -1], [-1, 1]]])  # two positive locations, boxes predicted exactly
        >>> fcos_loss(cls, ltrb, ctr, labels, torch.ones(1, 4, 2, 2))[1]
        {'cls': tensor(0.4332), 'reg': tensor(0.), 'centerness': tensor(0.6931)}
    """
    name = "fcos"
    if not (0 <= focal_alpha <= 1 and focal_gamma >= 0):
        raise ValueError(f"{name}: need 0 <= focal_alpha <= 1 and focal_gamma >= 0, got {focal_alpha}, {focal_gamma}")
    if not eps > 0:
        raise ValueError(f"{name}: eps must be > 0, got {eps}")
    cls_l = _as_levels(name, "cls_scores", cls_scores)
    box_l = _as_levels(name, "bbox_preds", bbox_preds)
    ctr_l = _as_levels(name, "centernesses", centernesses)
    lab_l = _as_levels(name, "labels", labels)
    reg_l = _as_levels(name, "reg_targets", reg_targets)
    if not len(cls_l) == len(box_l) == len(ctr_l) == len(lab_l) == len(reg_l):
        counts = ", ".join(str(len(v)) for v in (cls_l, box_l, ctr_l, lab_l, reg_l))
        raise LossInputError(f"{name}: every input needs one tensor per level, got {counts} levels")
    # float32_loss has switched autocast off and upcast the levels (it looks into lists)
    return _fcos_levels(
        name,
        cls_l,
        box_l,
        ctr_l,
        lab_l,
        reg_l,
        focal_alpha,
        focal_gamma,
        cls_weight,
        reg_weight,
        centerness_weight,
        centerness_weighted_reg,
        eps,
    )


def _fcos_levels(
    name: str,
    cls_l: list[Tensor],
    box_l: list[Tensor],
    ctr_l: list[Tensor],
    lab_l: list[Tensor],
    reg_l: list[Tensor],
    focal_alpha: float,
    focal_gamma: float,
    cls_weight: float,
    reg_weight: float,
    centerness_weight: float,
    centerness_weighted_reg: bool,
    eps: float,
) -> tuple[Tensor, dict[str, Tensor]]:
    sums: dict[str, list[Tensor]] = {"cls": [], "reg": [], "ctr": [], "reg_norm": [], "pos": []}
    for i, (cls, box, ctr, lab, reg) in enumerate(zip(cls_l, box_l, ctr_l, lab_l, reg_l, strict=True)):
        if not (lab.is_floating_point() or lab.is_complex() or lab.dtype in (torch.bool, torch.long)):
            lab = lab.long()  # any integer dtype; compared in int64 (`uint8 == -1` would wrap to 255)
        _check_level(name, i, cls, box, ctr, lab, reg)
        x = _upcast(cls)
        acc = acc_dtype(x)
        c = x.shape[1]
        positive = lab >= 0
        onehot = (lab.unsqueeze(1) == torch.arange(c, device=lab.device).view(1, c, 1, 1)).to(x.dtype)
        # the focal core directly: the one-hot is valid by construction (no [0, 1] value check, no sync)
        focal: Tensor = _SigmoidFocal.apply(x, onehot, float(focal_alpha), float(focal_gamma))  # type: ignore[no-untyped-call]
        sums["cls"].append(focal.sum(dtype=acc))
        sign = torch.tensor(_LTRB_SIGN, dtype=x.dtype, device=x.device)
        # Background reg targets are arbitrary (maybe inf): replace them by a unit box before any formula.
        target_ltrb = torch.where(positive.unsqueeze(-1), reg.to(x.dtype).movedim(1, -1), 1.0)
        ctr_target = torch.where(positive, centerness_targets(target_ltrb), 0.0)
        giou = generalized_box_iou_loss(
            box.to(x.dtype).movedim(1, -1) * sign, target_ltrb * sign, eps=eps, reduction="none"
        )
        reg_w = ctr_target if centerness_weighted_reg else positive.to(giou.dtype)
        sums["reg"].append(torch.where(positive, giou * reg_w, 0.0).sum(dtype=acc))
        sums["reg_norm"].append(reg_w.sum(dtype=acc))
        bce = F.binary_cross_entropy_with_logits(ctr.to(x.dtype)[:, 0], ctr_target.to(x.dtype), reduction="none")
        sums["ctr"].append(torch.where(positive, bce, 0.0).sum(dtype=acc))
        sums["pos"].append(positive.sum(dtype=acc))
    cls_sum, reg_sum, ctr_sum, reg_norm, num_pos = (torch.stack(v).sum() for v in sums.values())
    positives = num_pos.clamp_min(1.0)
    cls_term = cls_sum / positives
    reg_term = reg_sum / (reg_norm.clamp_min(torch.finfo(reg_norm.dtype).eps) if centerness_weighted_reg else positives)
    ctr_term = ctr_sum / positives
    total = cls_weight * cls_term + reg_weight * reg_term + centerness_weight * ctr_term
    return total, {"cls": cls_term.detach(), "reg": reg_term.detach(), "centerness": ctr_term.detach()}


def _check_level(name: str, i: int, cls: Tensor, box: Tensor, ctr: Tensor, lab: Tensor, reg: Tensor) -> None:
    check_float(name, f"cls_scores[{i}]", cls, "(B, C, H, W)")
    if cls.dim() != 4:
        raise LossInputError(f"{name}: expected cls_scores[{i}] of shape (B, C, H, W), got {shape_str(cls)}")
    b, c, h, w = cls.shape
    for what, t, shape, is_float in (
        ("bbox_preds", box, (b, 4, h, w), True),
        ("centernesses", ctr, (b, 1, h, w), True),
        ("labels", lab, (b, h, w), False),
        ("reg_targets", reg, (b, 4, h, w), True),
    ):
        if is_float:
            check_float(name, f"{what}[{i}]", t)
        if tuple(t.shape) != shape:
            expected = "(" + ", ".join(map(str, shape)) + ")"
            raise LossInputError(
                f"{name}: expected {what}[{i}] of shape {expected} for cls_scores {shape_str(cls)}, got {shape_str(t)}"
            )
    check_labels(name, lab, c, ignore_index=-1, name=f"labels[{i}]")
