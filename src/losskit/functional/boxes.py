"""Bounding-box regression losses on paired boxes in (x1, y1, x2, y2) order: IoU, GIoU, DIoU, CIoU.

Every function takes ``input`` (predicted) and ``target`` boxes of the same shape ``(..., 4)`` and returns the
per-box loss reduced over the leading dimensions ``(...)``.

Degenerate boxes, one convention for all four losses (no asserts, no host syncs, finite values and gradients):

* an inverted box (``x2 < x1`` or ``y2 < y1``) is clamped to zero width/height at its ``x1``/``y1``
  (``x2 <- max(x1, x2)``); its ``x2``/``y2`` then get no gradient from the overlap terms;
* every width and height is padded by ``eps``: each box is its ``eps``-neighbourhood, so a zero-area box has
  area ``eps^2`` instead of 0. Nothing divides by zero, ``atan2(w, h)`` of CIoU is finite with ``h = 0``, and
  a zero box compared with itself has IoU 1 (loss 0), where torchvision's ``generalized_box_iou_loss`` gives 1
  (vision#7746). For boxes larger than ``eps`` the padding changes the value by ``O(eps / size)``.

Half-precision boxes, and every box under fp16/bf16 autocast, are computed in float32 (products of coordinates
overflow float16; :func:`~._precision.float32_loss`); float64 stays float64. The result has the computing
dtype. An empty set of boxes gives 0 for "mean" and "sum"; a NaN coordinate gives a NaN loss.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch

from ..errors import LossInputError
from ._checks import check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import reduce

Reduction = Literal["mean", "sum", "none"]

__all__ = [
    "box_iou_loss",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
    "check_boxes",
]

_FOUR_OVER_PI_SQ = 4.0 / math.pi**2


def check_boxes(loss: str, input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> None:
    """Paired float boxes ``(..., 4)`` of one shape; ``weight`` (optional) has the leading shape ``(...)``."""
    check_float(loss, "input", input, "(..., 4)")
    check_float(loss, "target", target, "(..., 4)")
    if input.dim() == 0 or input.shape[-1] != 4:
        raise LossInputError(
            f"{loss}: expected boxes (x1, y1, x2, y2) with last dimension 4, got input {shape_str(input)}"
        )
    check_same_shape(loss, input, target)
    if weight is not None:
        check_float(loss, "weight", weight, "(...)")
        if weight.shape != input.shape[:-1]:
            raise LossInputError(
                f"{loss}: expected a per-box weight of shape ({', '.join(map(str, input.shape[:-1]))}) "
                f"(the boxes' leading shape), got {shape_str(weight)}"
            )


def _upcast(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


class _Geometry(NamedTuple):
    iou: torch.Tensor
    union: torch.Tensor
    enc_w: torch.Tensor  # enclosing box size (padded)
    enc_h: torch.Tensor
    dcx: torch.Tensor  # twice the centre offset, input minus target
    dcy: torch.Tensor
    p_w: torch.Tensor  # padded sizes
    p_h: torch.Tensor
    t_w: torch.Tensor
    t_h: torch.Tensor


def _geometry(input: torch.Tensor, target: torch.Tensor, eps: float, enclosing: bool = True) -> _Geometry:
    """IoU of the clamped, eps-padded boxes and, with ``enclosing``, the enclosing box and centre offset.

    Written per coordinate on strided views: ``torch.prod`` and ``torch.maximum``/``minimum`` have costly
    backward passes (zero handling, tie masks for both operands), ``*`` and ``clamp`` with tensor bounds do not.
    """
    p = _upcast(input)
    t = _upcast(target)
    px1, py1, px2, py2 = p.unbind(-1)
    tx1, ty1, tx2, ty2 = t.unbind(-1)
    # Inverted boxes collapse onto their first corner (documented): x2 <- x1 + max(x2 - x1, 0).
    pw, ph = (px2 - px1).clamp_min(0.0), (py2 - py1).clamp_min(0.0)
    tw, th = (tx2 - tx1).clamp_min(0.0), (ty2 - ty1).clamp_min(0.0)
    px2, py2, tx2, ty2 = px1 + pw, py1 + ph, tx1 + tw, ty1 + th
    # Sizes are padded by eps as differences, never added to coordinates, where float32 would round eps away.
    iw = (torch.clamp(px2, max=tx2) - torch.clamp(px1, min=tx1) + eps).clamp_min(0.0)
    ih = (torch.clamp(py2, max=ty2) - torch.clamp(py1, min=ty1) + eps).clamp_min(0.0)
    inter = iw * ih
    pw, ph, tw, th = pw + eps, ph + eps, tw + eps, th + eps
    union = pw * ph + tw * th - inter
    iou = inter / union
    if not enclosing:
        # Plain IoU reads only iou/union: skip the enclosing-box kernels; the other fields are placeholders.
        return _Geometry(iou, union, *([iou] * 8))
    enc_w = torch.clamp(px2, min=tx2) - torch.clamp(px1, max=tx1) + eps
    enc_h = torch.clamp(py2, min=ty2) - torch.clamp(py1, max=ty1) + eps
    dcx = (px1 + px2) - (tx1 + tx2)
    dcy = (py1 + py2) - (ty1 + ty2)
    return _Geometry(iou, union, enc_w, enc_h, dcx, dcy, pw, ph, tw, th)


def _prepare(
    loss: str, input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, eps: float, reduction: str
) -> None:
    check_reduction(loss, reduction)
    check_boxes(loss, input, target, weight)
    if not eps > 0.0:
        raise ValueError(f"{loss}: eps must be > 0 (it pads degenerate boxes), got {eps}")


@float32_loss
def box_iou_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """``1 - IoU(input, target)`` per box pair (Yu et al. 2016, UnitBox), boxes ``(..., 4)`` xyxy.

    ``weight``: optional per-box weight ``(...)``; with it, ``mean`` is ``sum(w l) / sum(w)``. "none" shape:
    ``(...)``. Range [0, 1]. Degenerate boxes: see the module docstring.

    Example:
        >>> a, b = torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]])
        >>> box_iou_loss(a, b, reduction="none")  # IoU = 2 / 6
        tensor([0.6667])
    """
    _prepare("box_iou", input, target, weight, eps, reduction)
    g = _geometry(input, target, eps, enclosing=False)
    return reduce(1.0 - g.iou, reduction, weight, weight=weight)


@float32_loss
def generalized_box_iou_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """GIoU loss (Rezatofighi et al., CVPR 2019): ``1 - IoU + (|C| - |A u B|) / |C|``, C the smallest
    enclosing box. Range [0, 2). Same arguments as :func:`box_iou_loss`.

    Example:
        >>> a, b = torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]])
        >>> generalized_box_iou_loss(a, b, reduction="none")  # disjoint: 1 - 0 + (3 - 2) / 3
        tensor([1.3333])
    """
    _prepare("giou", input, target, weight, eps, reduction)
    g = _geometry(input, target, eps)
    # 1 - (iou - (C - U) / C) = 2 - iou - U / C
    loss = 2.0 - g.iou - g.union / (g.enc_w * g.enc_h)
    return reduce(loss, reduction, weight, weight=weight)


def _center_distance(g: _Geometry) -> torch.Tensor:
    """``rho^2 / c^2``: squared centre distance over the squared diagonal of the enclosing box."""
    # dcx, dcy are twice the centre offset: rho^2 = (dcx^2 + dcy^2) / 4
    return 0.25 * (g.dcx.square() + g.dcy.square()) / (g.enc_w.square() + g.enc_h.square())


@float32_loss
def distance_box_iou_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """DIoU loss (Zheng et al., AAAI 2020): ``1 - IoU + rho^2(b, b_gt) / c^2``, rho the distance of the box
    centres and c the diagonal of the enclosing box. Range [0, 2). Same arguments as :func:`box_iou_loss`.

    Example:
        >>> a, b = torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]])
        >>> distance_box_iou_loss(a, b, reduction="none")  # 1 - 1/3 + 1 / (3^2 + 2^2)
        tensor([0.7436])
    """
    _prepare("diou", input, target, weight, eps, reduction)
    g = _geometry(input, target, eps)
    loss = 1.0 - g.iou + _center_distance(g)
    return reduce(loss, reduction, weight, weight=weight)


@float32_loss
def complete_box_iou_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """CIoU loss (Zheng et al., AAAI 2020): DIoU loss ``+ a v`` with the aspect-ratio term
    ``v = 4 / pi^2 (atan(w_gt / h_gt) - atan(w / h))^2`` and ``a = v / (1 - IoU + v + eps)`` held constant in
    the backward pass (as the paper and torchvision do). ``atan(w / h)`` is ``atan2(w, h)`` of the padded sizes,
    finite with gradients for zero heights. Same arguments as :func:`box_iou_loss`.

    Example:
        >>> a, b = torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]])
        >>> complete_box_iou_loss(a, b, reduction="none")  # same aspect ratio: v = 0, the DIoU loss
        tensor([0.7436])
        >>> complete_box_iou_loss(a, torch.tensor([[1.0, 0.0, 3.0, 4.0]]), reduction="none")  # 2x4 target: v > 0
        tensor([0.8821])
    """
    _prepare("ciou", input, target, weight, eps, reduction)
    g = _geometry(input, target, eps)
    v = _FOUR_OVER_PI_SQ * (torch.atan2(g.t_w, g.t_h) - torch.atan2(g.p_w, g.p_h)).square()
    with torch.no_grad():
        alpha = v / (1.0 - g.iou + v + eps)
    loss = 1.0 - g.iou + _center_distance(g) + alpha * v
    return reduce(loss, reduction, weight, weight=weight)
