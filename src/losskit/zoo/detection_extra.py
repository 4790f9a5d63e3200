"""Detection extras (issue 12): the EIoU and SIoU box losses, balanced L1, distribution focal (GFL), Gaussian focal
(CenterNet) and the gradient harmonizing losses GHM-C and GHM-R, with mmdet's class names as aliases.

Each class holds its options and calls its functional form in :mod:`losskit.functional.boxes_extra` or
:mod:`losskit.functional.detection_extra` once. Boxes are xyxy ``(..., 4)`` and share giou's degenerate-box
convention (:mod:`losskit.functional.boxes`).

GHM state: ``ghm_c`` and ``ghm_r`` with ``momentum > 0`` keep the moving-average bin counts in the buffer
``acc_sum`` (bins,), updated in ``forward`` under ``no_grad`` in training mode only (``eval()`` freezes it, the
zoo's rule for state, where mmdet also counts in eval; an eval forward still blends in its own batch), saved in
``state_dict`` and pickled with the module. Under DDP each rank updates its copy from its own batch; with
``broadcast_buffers=True`` (DDP's default) rank 0's buffer overwrites the others at every forward, so the state
that moves on, and that a rank-0 checkpoint saves, is rank 0's. ``losskit.distributed.GatherLoss`` around the
loss (``label_weight`` passed positionally, so that it is gathered too) gives every rank the gathered batch: the
counts, the buffers and the value are then the same on every rank, mmdet's statistics over the global batch.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..functional import boxes_extra as FBX
from ..functional import detection_extra as FDX
from ..functional._checks import check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._examples import logits_and_binary, pair
from .detection import _BOX_DOC, _BOXES, _BoxLoss

Reduction = Literal["mean", "sum", "none"]

__all__ = ["EIoULoss", "SIoULoss", "BalancedL1Loss", "DistributionFocalLoss", "GaussianFocalLoss", "GHMC", "GHMR"]

_WEIGHT = TensorSpec("weight", "broadcastable to the loss", "float", "elementwise weight", optional=True)
_AVG = TensorSpec("avg_factor", "()", "float", "mean divisor, e.g. the number of positives", optional=True)


@register_loss("eiou", aliases=["EIoULoss"], tasks=["detection"], tags=["boxes"], inputs=_BOXES)
class EIoULoss(_BoxLoss):
    """Smooth Extended-IoU loss (Peng & Yu 2021; mmdet ``EIoULoss``): ``u = 1 - I_ext / U_ext`` with the
    extended intersection (negative for disjoint boxes), quadratic ``u^2 / (2 s)`` below ``smooth_point`` s,
    linear ``u - s / 2`` above (:func:`losskit.functional.eiou_loss`).

    Example:
        >>> box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> EIoULoss()(box + 1.0, box)
        tensor(0.8071)

    Parity: mmdet ``EIoULoss(eps, smooth_point, reduction)``, up to O(eps / size).
    """

    def __init__(self, smooth_point: float = 0.1, reduction: Reduction = "mean", eps: float = 1e-7) -> None:
        super().__init__(reduction, eps)
        if not smooth_point > 0:
            raise ValueError(f"{self.loss_name}: smooth_point must be > 0, got {smooth_point}")
        self.smooth_point = float(smooth_point)

    def forward(
        self, input: Tensor, target: Tensor, weight: Tensor | None = None, *, weights: Tensor | None = None
    ) -> Tensor:
        w = weight if weights is None else weights
        return FBX.eiou_loss(
            input, target, smooth_point=self.smooth_point, weight=w, eps=self.eps, reduction=self.reduction
        )


@register_loss("siou", aliases=["SIoULoss"], tasks=["detection"], tags=["boxes"], inputs=_BOXES)
class SIoULoss(_BoxLoss):
    """SIoU loss (Gevorgyan 2022; mmdet ``SIoULoss``, from YOLOv6): ``1 - clamp(IoU - (distance + shape) / 2,
    -1, 1)`` with an angle-aware distance cost (:func:`losskit.functional.siou_loss`).

    Example:
        >>> box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> SIoULoss(neg_gamma=True)(box + 1.0, box)
        tensor(0.9623)

    Parity: mmdet ``SIoULoss(eps, neg_gamma, reduction)``, up to O(eps / size).
    """

    def __init__(self, neg_gamma: bool = False, reduction: Reduction = "mean", eps: float = 1e-7) -> None:
        super().__init__(reduction, eps)
        self.neg_gamma = bool(neg_gamma)

    def forward(
        self, input: Tensor, target: Tensor, weight: Tensor | None = None, *, weights: Tensor | None = None
    ) -> Tensor:
        w = weight if weights is None else weights
        return FBX.siou_loss(input, target, neg_gamma=self.neg_gamma, weight=w, eps=self.eps, reduction=self.reduction)


EIoULoss.__doc__ = (EIoULoss.__doc__ or "") + _BOX_DOC + "        smooth_point: s > 0 (default 0.1).\n"
_NEG_GAMMA = "True: the paper's distance cost ``sum(1 - exp(-(2 - angle) rho))``; False (default): YOLOv6's"
SIoULoss.__doc__ = f"{SIoULoss.__doc__}{_BOX_DOC}        neg_gamma: {_NEG_GAMMA} ``2 - sum(exp((2 - angle) rho))``.\n"


@register_loss(
    "balanced_l1",
    aliases=["BalancedL1Loss"],
    tasks=["detection"],
    tags=["regression"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(*)", "float", "predicted box deltas"),
            TensorSpec("target", "(*) same as input", "float", "target deltas"),
            _WEIGHT,
            _AVG,
        ),
        example=pair((8, 4)),
    ),
)
class BalancedL1Loss(nn.Module):
    """Balanced L1 loss (Pang et al., "Libra R-CNN", CVPR 2019; :func:`losskit.functional.balanced_l1_loss`):
    a log-shaped inlier branch with a larger gradient than L1 below ``beta``, linear ``gamma x`` above.

    Forward: ``(input, target, weight=None, avg_factor=None)``.

    Example:
        >>> BalancedL1Loss()(torch.tensor([0.5, 2.0]), torch.zeros(2))
        tensor(1.4896)

    Parity: mmdet ``BalancedL1Loss(alpha, gamma, beta, reduction)``.

    Args:
        alpha: > 0, promotes the inliers' gradient (default 0.5).
        gamma: > 0, the outliers' gradient bound (default 1.5).
        beta: > 0, where the branches meet (default 1.0).
        reduction: "mean" (default): the mean over the elements (or sum / ``avg_factor``); "sum"; "none": the
            input's shape.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self, alpha: float = 0.5, gamma: float = 1.5, beta: float = 1.0, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        FDX._positive(self.loss_name, alpha=alpha, gamma=gamma, beta=beta)
        self.alpha, self.gamma, self.beta = float(alpha), float(gamma), float(beta)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(
        self, input: Tensor, target: Tensor, weight: Tensor | None = None, avg_factor: float | Tensor | None = None
    ) -> Tensor:
        return FDX.balanced_l1_loss(
            input,
            target,
            alpha=self.alpha,
            gamma=self.gamma,
            beta=self.beta,
            weight=weight,
            avg_factor=avg_factor,
            reduction=self.reduction,
        )


def _dfl_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    reg_max = 7
    return torch.randn(16, reg_max + 1, generator=g), torch.rand(16, generator=g) * reg_max


@register_loss(
    "distribution_focal",
    aliases=["DistributionFocalLoss", "dfl"],
    tasks=["detection"],
    tags=["focal", "gfl"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(..., reg_max + 1)", "float", "logits over the bins of one box side"),
            TensorSpec("target", "(...)", "float", "continuous distances in [0, reg_max]"),
            TensorSpec("weight", "(...)", "float", "elementwise weight", optional=True),
            _AVG,
        ),
        example=_dfl_example,
    ),
)
class DistributionFocalLoss(nn.Module):
    """Distribution focal loss (Li et al., "Generalized Focal Loss", NeurIPS 2020;
    :func:`losskit.functional.distribution_focal_loss`): cross-entropy towards the two bins around a continuous
    target, weighted by the distance to each.

    Forward: ``(input, target, weight=None, avg_factor=None)``; ``reg_max`` is read from the input's last
    dimension. Parity: mmdet ``DistributionFocalLoss(reduction)``.

    Example:
        >>> DistributionFocalLoss()(torch.zeros(2, 5), torch.tensor([0.5, 4.0]))
        tensor(1.6094)

    Args:
        reduction: "mean" (default): the mean over the box sides (or sum / ``avg_factor``); "sum"; "none": the
            target's shape.
    """

    loss_name: str  # set by register_loss

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(
        self, input: Tensor, target: Tensor, weight: Tensor | None = None, avg_factor: float | Tensor | None = None
    ) -> Tensor:
        return FDX.distribution_focal_loss(
            input, target, weight=weight, avg_factor=avg_factor, reduction=self.reduction
        )


def _heatmap_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    heat = torch.rand(2, 3, 8, 8, generator=g).pow(4) * 0.99
    peaks = torch.rand(2, 3, 8, 8, generator=g) < 0.05
    return torch.randn(2, 3, 8, 8, generator=g), torch.where(peaks, 1.0, heat)


@register_loss(
    "gaussian_focal",
    aliases=["GaussianFocalLoss", "centernet_focal"],
    tasks=["detection"],
    tags=["focal", "heatmap"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C, H, W)", "float", "heat-map logits (probabilities with from_logits=False)"),
            TensorSpec("target", "(N, C, H, W)", "float", "Gaussian heat map in [0, 1], 1 at the centres"),
            _WEIGHT,
            _AVG,
        ),
        example=_heatmap_example,
    ),
)
class GaussianFocalLoss(nn.Module):
    """Gaussian focal loss of CornerNet / CenterNet heat maps (:func:`losskit.functional.gaussian_focal_loss`):
    ``-(1 - p)^alpha log p`` at the peaks (``target == 1``), ``-(1 - y)^gamma p^alpha log(1 - p)`` elsewhere;
    "mean" divides by the number of peaks (>= 1).

    Forward: ``(input, target, weight=None, avg_factor=None)``. Parity: mmdet ``GaussianFocalLoss(alpha, gamma,
    pos_weight, neg_weight)`` on ``sigmoid(input)`` with ``avg_factor = max(num_pos, 1)`` (CenterNetHead's).

    Example:
        >>> GaussianFocalLoss()(torch.tensor([[2.0, 0.0, -3.0]]), torch.tensor([[1.0, 0.5, 0.0]]))
        tensor(0.0127)

    Args:
        alpha: >= 0, the focusing power on the prediction (default 2).
        gamma: >= 0, the penalty reduction ``(1 - y)^gamma`` near the peaks (default 4).
        pos_weight: weight of the peak terms (default 1).
        neg_weight: weight of the other terms (default 1).
        from_logits: True (default): the input holds logits; False: probabilities, as mmdet takes them.
        reduction: "mean" (default): the sum over the number of peaks (clamped to >= 1), or over ``avg_factor``;
            "sum"; "none": the input's shape.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        alpha: float = 2.0,
        gamma: float = 4.0,
        pos_weight: float = 1.0,
        neg_weight: float = 1.0,
        from_logits: bool = True,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not (alpha >= 0 and gamma >= 0):
            raise ValueError(f"{self.loss_name}: alpha and gamma must be >= 0, got alpha={alpha}, gamma={gamma}")
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.pos_weight, self.neg_weight = float(pos_weight), float(neg_weight)
        self.from_logits = bool(from_logits)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)

    def forward(
        self, input: Tensor, target: Tensor, weight: Tensor | None = None, avg_factor: float | Tensor | None = None
    ) -> Tensor:
        return FDX.gaussian_focal_loss(
            input,
            target,
            alpha=self.alpha,
            gamma=self.gamma,
            pos_weight=self.pos_weight,
            neg_weight=self.neg_weight,
            from_logits=self.from_logits,
            weight=weight,
            avg_factor=avg_factor,
            reduction=self.reduction,
        )


class _GHM(nn.Module):
    """Shared state of GHM-C and GHM-R: ``bins``, ``momentum`` and the ``acc_sum`` buffer (always registered, so
    the ``state_dict`` keys do not depend on the options; used only when ``momentum > 0``)."""

    loss_name: str  # set on each registered subclass by register_loss
    acc_sum: Tensor

    def __init__(self, bins: int, momentum: float, reduction: Reduction) -> None:
        super().__init__()
        FDX._check_ghm(self.loss_name, bins, momentum, None)
        self.bins, self.momentum = int(bins), float(momentum)
        self.reduction: Reduction = check_reduction(self.loss_name, reduction)
        self.register_buffer("acc_sum", torch.zeros(self.bins))

    def _options(self) -> dict[str, Any]:
        if self.acc_sum.dtype in (torch.float16, torch.bfloat16):
            # after module.half(): the functional form computes in float32 and would update a float32 copy
            self.acc_sum = self.acc_sum.float()
        # eval() freezes the state: the functional form updates in place, so it gets a copy
        acc_sum = self.acc_sum if self.training else self.acc_sum.clone()
        return {"bins": self.bins, "momentum": self.momentum, "acc_sum": acc_sum, "reduction": self.reduction}


_LABEL_WEIGHT = TensorSpec("label_weight", "broadcastable to input", "float", "> 0 marks valid elements", optional=True)
_GHM_DOC = """
        bins: number of equal bins of the gradient norm over [0, 1], >= 1 (default 10).
        momentum: in [0, 1): > 0 replaces each non-empty bin's count by its moving average, kept in the buffer
            ``acc_sum`` (default 0: the batch's own counts).
        reduction: "mean" (default): mmdet's normalisation, the weighted sum over the number of valid elements
            (>= 1); "sum": the weighted sum; "none": the weighted elementwise losses, the input's shape.
"""


@register_loss(
    "ghm_c",
    aliases=["GHMC", "GHMCLoss"],
    tasks=["detection"],
    tags=["imbalanced", "stateful"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C)", "float", "logits"),
            TensorSpec("target", "(N, C) or (N,)", "float", "binary targets, or class indices (background >= C)"),
            _LABEL_WEIGHT,
        ),
        example=logits_and_binary((8, 4)),
    ),
)
class GHMC(_GHM):
    """GHM-C (Li, Liu & Wang, "Gradient Harmonized Single-stage Detector", AAAI 2019;
    :func:`losskit.functional.ghm_c_loss`): sigmoid BCE, each element weighted by the inverse number of elements
    whose gradient norm ``|sigmoid(x) - y|`` falls in its bin.

    Forward: ``(input, target, label_weight=None)``. State: ``acc_sum`` (see the module docstring for DDP).
    Parity: mmdet ``GHMC(bins, momentum, use_sigmoid=True, reduction)``.

    Example:
        >>> GHMC(bins=2)(torch.tensor([[3.0, -2.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
        tensor(0.5455)

    Args:"""

    def __init__(self, bins: int = 10, momentum: float = 0.0, reduction: Reduction = "mean") -> None:
        super().__init__(bins, momentum, reduction)

    def forward(self, input: Tensor, target: Tensor, label_weight: Tensor | None = None) -> Tensor:
        return FDX.ghm_c_loss(input, target, label_weight, **self._options())


@register_loss(
    "ghm_r",
    aliases=["GHMR", "GHMRLoss"],
    tasks=["detection"],
    tags=["regression", "stateful"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(*)", "float", "box regression outputs, e.g. (N, 4)"),
            TensorSpec("target", "(*) same as input", "float", "regression targets"),
            _LABEL_WEIGHT,
        ),
        example=pair((8, 4)),
    ),
)
class GHMR(_GHM):
    """GHM-R (Li, Liu & Wang, AAAI 2019; :func:`losskit.functional.ghm_r_loss`): the authentic smooth L1
    ``sqrt(d^2 + mu^2) - mu``, each element weighted by the inverse density of its gradient norm
    ``|d| / sqrt(d^2 + mu^2)``.

    Forward: ``(input, target, label_weight=None)``. State: ``acc_sum`` (see the module docstring for DDP).
    Parity: mmdet ``GHMR(mu, bins, momentum, reduction)``.

    Example:
        >>> GHMR(bins=2)(torch.tensor([[0.1, 0.5]]), torch.zeros(1, 2))
        tensor(0.2812)

    Args:
        mu: > 0, the smoothing of the authentic smooth L1 (default 0.02)."""

    def __init__(self, mu: float = 0.02, bins: int = 10, momentum: float = 0.0, reduction: Reduction = "mean") -> None:
        super().__init__(bins, momentum, reduction)
        FDX._positive(self.loss_name, mu=mu)
        self.mu = float(mu)

    def forward(self, input: Tensor, target: Tensor, label_weight: Tensor | None = None) -> Tensor:
        return FDX.ghm_r_loss(input, target, label_weight, mu=self.mu, **self._options())


GHMC.__doc__ = (GHMC.__doc__ or "") + _GHM_DOC
GHMR.__doc__ = (GHMR.__doc__ or "") + _GHM_DOC
