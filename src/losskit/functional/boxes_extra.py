"""More box regression losses on paired xyxy boxes: Extended-IoU (EIoU, smooth) and SIoU.

Both are built on the geometry of :mod:`losskit.functional.boxes` (its clamped, ``eps``-padded boxes), so they
share its degenerate-box convention: an inverted box collapses onto its first corner, a zero-area box is its
``eps``-neighbourhood, a zero box against itself gives 0, values and gradients stay finite (no asserts, no
host syncs). Inputs ``(..., 4)``; "none" keeps the leading shape ``(...)``; a per-box ``weight`` makes "mean"
``sum(w l) / sum(w)`` as for giou. An empty set of boxes gives 0; a NaN coordinate gives NaN.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ._precision import float32_loss
from ._reduce import reduce
from .boxes import _Geometry, _geometry, _prepare

Reduction = Literal["mean", "sum", "none"]

__all__ = ["eiou_loss", "siou_loss"]

_HALF_SQRT2 = math.sqrt(2.0) / 2.0


def _extended_intersection(g: _Geometry) -> torch.Tensor:
    """mmdet's extended intersection (Peng & Yu 2021): the overlap area where the boxes overlap, a negative
    area growing with the gap where they do not, so disjoint boxes still get a gradient.

    Per axis, with ``e`` the enclosing box's low corner: ``a = max(x1) - e`` and ``b = min(x2) - e`` (padded);
    ``a = |x1 - x1_gt| = |dcx - (w - w_gt)| / 2`` and ``b - a`` is the signed overlap ``w + w_gt - C_w``, so the
    geometry of :func:`~.boxes._geometry` gives both without the coordinates.
    """
    a = (g.dcx - (g.p_w - g.t_w)).abs() * 0.5
    sx = g.p_w + g.t_w - g.enc_w
    c = (g.dcy - (g.p_h - g.t_h)).abs() * 0.5
    sy = g.p_h + g.t_h - g.enc_h
    b, d = a + sx, c + sy
    # (ix2-e)(iy2-e) + (xmin-e)(ymin-e) - (ix1-e)(ymax-e) - (xmax-e)(iy1-e), xmin = min(ix1, ix2) = a + min(sx, 0)
    return (
        b * d
        + (a + sx.clamp(max=0.0)) * (c + sy.clamp(max=0.0))
        - a * (c + sy.clamp(min=0.0))
        - (a + sx.clamp(min=0.0)) * c
    )


@float32_loss
def eiou_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    smooth_point: float = 0.1,
    weight: torch.Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Smooth Extended-IoU loss (Peng & Yu, "Extended-IoU Loss: A Systematic IoU-Related Method", 2021).

    .. math::

        u = 1 - \frac{I_{ext}}{|A| + |B| - I_{ext}}, \qquad
        \ell = \begin{cases} \tfrac12 u^2 / s & u < s \\ u - \tfrac12 s & u \ge s \end{cases}

    with :math:`I_{ext}` the extended intersection (the overlap area for overlapping boxes, negative for
    disjoint ones, so they still get a gradient) and :math:`s` the ``smooth_point``.

    Args:
        input: predicted boxes :math:`(..., 4)`, (x1, y1, x2, y2).
        target: target boxes, same shape.
        smooth_point: :math:`s > 0`, where the quadratic part turns linear (default 0.1).
        weight: optional per-box weight :math:`(...)`; "mean" is then ``sum(w l) / sum(w)``.
        eps: padding of every width and height (> 0), see :mod:`losskit.functional.boxes`.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (shape :math:`(...)`).

    Example:
        >>> box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> eiou_loss(box, box)
        tensor(0.)
        >>> eiou_loss(box + 1.0, box)
        tensor(0.8071)

    Parity: mmdet ``EIoULoss(eps, smooth_point, reduction)`` (``eiou_loss``), up to O(eps / size): mmdet adds
    ``eps`` to the union, losskit pads the boxes; mmdet's weighted mean is over all boxes, losskit's over
    ``sum(weight)``.
    """
    _prepare("eiou", input, target, weight, eps, reduction)
    if not smooth_point > 0.0:
        raise ValueError(f"eiou: smooth_point must be > 0, got {smooth_point}")
    g = _geometry(input, target, eps)
    inter = _extended_intersection(g)
    u = 1.0 - inter / (g.p_w * g.p_h + g.t_w * g.t_h - inter)
    loss = torch.where(u < smooth_point, 0.5 * u.square() / smooth_point, u - 0.5 * smooth_point)
    return reduce(loss, reduction, weight, weight=weight)


@float32_loss
def siou_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    neg_gamma: bool = False,
    weight: torch.Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""SIoU loss (Gevorgyan, "SIoU Loss: More Powerful Learning for Bounding Box Regression", 2022).

    .. math::

        \ell = 1 - \operatorname{clamp}\left(IoU - \tfrac12 (\Delta + \Omega), -1, 1\right)

    angle cost :math:`\Lambda = \sin(2 \arcsin(\min(\sin\alpha, \cos\alpha)))` of the centre offset,
    distance cost :math:`\Delta = \sum_{t \in x, y} (1 - e^{-\gamma \rho_t})` with
    :math:`\rho_x = (d_x / C_w)^2` and :math:`\gamma = 2 - \Lambda` (the paper, ``neg_gamma=True``; mmdet's and
    YOLOv6's default ``neg_gamma=False`` is :math:`\Delta = 2 - \sum_t e^{(2 - \Lambda) \rho_t}`), shape cost
    :math:`\Omega = \sum_{t \in w, h} (1 - e^{-\omega_t})^4`, :math:`\omega_w = |w - w^{gt}| / \max(w, w^{gt})`.

    Args:
        input: predicted boxes :math:`(..., 4)`, (x1, y1, x2, y2).
        target: target boxes, same shape.
        neg_gamma: True: the paper's distance cost; False (default): mmdet's and YOLOv6's.
        weight: optional per-box weight :math:`(...)`; "mean" is then ``sum(w l) / sum(w)``.
        eps: padding of every width and height (> 0), see :mod:`losskit.functional.boxes`.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (shape :math:`(...)`).

    Example:
        >>> box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> siou_loss(box, box)
        tensor(0.)
        >>> siou_loss(box + 1.0, box, neg_gamma=True)
        tensor(0.9623)

    Parity: mmdet ``SIoULoss(eps, neg_gamma, reduction)`` (``siou_loss``), up to O(eps / size) (mmdet adds eps
    to the union, the heights and the centre offsets, losskit pads the boxes); mmdet's weighted mean is over all
    boxes, losskit's over ``sum(weight)``.
    """
    _prepare("siou", input, target, weight, eps, reduction)
    g = _geometry(input, target, eps)
    # target centre minus input centre (dcx is twice input minus target). mmdet adds eps to both offsets, which
    # against the eps-wide enclosing box of two equal zero boxes is a distance cost of order 1: not added here.
    s_cw = -0.5 * g.dcx
    s_ch = -0.5 * g.dcy
    # the clamp keeps sqrt's gradient finite when both offsets are exactly 0
    sigma = (s_cw.square() + s_ch.square()).clamp_min(torch.finfo(s_cw.dtype).tiny).sqrt()
    sin_1, sin_2 = s_cw.abs() / sigma, s_ch.abs() / sigma
    # the smaller of the two angles: asin stays away from 1, where its derivative is infinite
    sin_alpha = torch.where(sin_1 > _HALF_SQRT2, sin_2, sin_1)
    angle = torch.cos(torch.asin(sin_alpha) * 2.0 - math.pi / 2.0)
    gamma = angle - 2.0 if neg_gamma else 2.0 - angle
    distance = 2.0 - torch.exp(gamma * (s_cw / g.enc_w).square()) - torch.exp(gamma * (s_ch / g.enc_h).square())
    omega_w = (g.p_w - g.t_w).abs() / torch.maximum(g.p_w, g.t_w)
    omega_h = (g.p_h - g.t_h).abs() / torch.maximum(g.p_h, g.t_h)
    shape = (1.0 - torch.exp(-omega_w)).pow(4) + (1.0 - torch.exp(-omega_h)).pow(4)
    loss = 1.0 - (g.iou - 0.5 * (distance + shape)).clamp(-1.0, 1.0)
    return reduce(loss, reduction, weight, weight=weight)
