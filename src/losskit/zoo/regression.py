"""Regression losses.

The PyTorch ones are subclasses of their ``torch.nn`` classes (``isinstance`` keeps working) whose forward is
losskit's functional form (:func:`losskit.functional.mse_loss`, ...), with three differences from PyTorch: a
target whose shape differs from the input's is a :class:`~losskit.LossInputError` (PyTorch only warns and
broadcasts, a silent wrong result); an empty batch gives 0, not NaN; the loss is float32 under autocast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

import torch
from torch import nn

from ..functional import regression as FR
from ..functional._checks import check_float, check_reduction
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ..signatures import AllowInf
from ._examples import pair

__all__ = [
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "GaussianNLLLoss",
    "PoissonNLLLoss",
    "WeightedMSELoss",
    "LogCoshLoss",
    "CharbonnierLoss",
    "QuantileLoss",
    "BarronLoss",
]

_PAIR = InputSpec(
    tensors=(
        TensorSpec("input", "(*)", "float", "predictions"),
        TensorSpec("target", "(*) same as input", "float", "targets"),
    ),
    example=pair(),
)


Reduction = Literal["mean", "sum", "none"]


@register_loss("mse", aliases=["MSELoss", "l2"], tasks=["regression", "classification", "registration"], inputs=_PAIR)
class MSELoss(nn.MSELoss):
    """Mean squared error: ``mean((input - target)^2)``.

    Inputs: ``input`` (*) and ``target`` of the same shape (no broadcasting: a mismatch is a ``LossInputError``).

    Args:
        reduction: "mean" (default) over all elements, "sum", or "none" (the elementwise losses, input's shape).
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__(reduction=check_reduction("mse", reduction))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.mse_loss(input, target, reduction=self.reduction)  # type: ignore[arg-type]


@register_loss("l1", aliases=["L1Loss", "mae"], tasks=["regression"], inputs=_PAIR)
class L1Loss(nn.L1Loss):
    """Mean absolute error: ``mean(|input - target|)``. Same layouts as ``mse``.

    Args:
        reduction: "mean" (default) over all elements, "sum", or "none" (the elementwise losses, input's shape).
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__(reduction=check_reduction("l1", reduction))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.l1_loss(input, target, reduction=self.reduction)  # type: ignore[arg-type]


@register_loss("smooth_l1", aliases=["SmoothL1Loss"], tasks=["regression", "detection"], inputs=_PAIR)
class SmoothL1Loss(nn.SmoothL1Loss):
    """Smooth L1 (Girshick, Fast R-CNN 2015): ``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``,
    ``d = input - target``. Same layouts as ``mse``.

    Args:
        reduction: "mean" (default) over all elements, "sum", or "none" (the elementwise losses, input's shape).
        beta: the residual size (in the target's units, >= 0; default 1.0) where the loss switches from quadratic to
            linear. ``beta=0`` is exactly the L1 loss.
    """

    def __init__(self, reduction: Reduction = "mean", beta: float = 1.0) -> None:
        if beta < 0:
            raise ValueError(f"smooth_l1: beta must be >= 0, got {beta}")
        super().__init__(reduction=check_reduction("smooth_l1", reduction), beta=beta)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.smooth_l1_loss(input, target, beta=self.beta, reduction=self.reduction)  # type: ignore[arg-type]


@register_loss("huber", aliases=["HuberLoss"], tasks=["regression", "detection"], inputs=_PAIR)
class HuberLoss(nn.HuberLoss):
    """Huber (1964): ``0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``, ``d = input - target``.
    Same layouts as ``mse``; equals ``delta * smooth_l1(beta=delta)``.

    Args:
        reduction: "mean" (default) over all elements, "sum", or "none" (the elementwise losses, input's shape).
        delta: the residual size (in the target's units, > 0; default 1.0) where the loss switches from quadratic to
            linear; the slope of the linear part.
    """

    def __init__(self, reduction: Reduction = "mean", delta: float = 1.0) -> None:
        if delta <= 0:
            raise ValueError(f"huber: delta must be > 0, got {delta}")
        super().__init__(reduction=check_reduction("huber", reduction), delta=delta)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.huber_loss(input, target, delta=self.delta, reduction=self.reduction)  # type: ignore[arg-type]


def _gaussian_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    return torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g), torch.rand(4, 8, generator=g) + 0.1


@register_loss(
    "gaussian_nll",
    aliases=["GaussianNLLLoss"],
    tasks=["regression"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, *)", "float", "predicted mean"),
            TensorSpec("target", "(N, *)", "float", "observations"),
            TensorSpec("var", "(N, *) or broadcastable", "float", "predicted variance (> 0)"),
        ),
        example=_gaussian_example,
    ),
)
class GaussianNLLLoss(nn.GaussianNLLLoss):
    """Gaussian negative log-likelihood: ``0.5 (log max(var, eps) + (input - target)^2 / max(var, eps))``
    (+ ``0.5 log 2 pi`` with ``full=True``).

    Inputs: ``forward(input, target, var)``: predicted mean and observations of the same shape (N, *), and the
    predicted variance ``var`` (> 0), of the same shape or with one fewer trailing dim / a trailing 1 (one
    variance shared over the last dim), as ``torch.nn.GaussianNLLLoss``.

    Args:
        full: add the constant ``0.5 log(2 pi)`` per element, giving the exact negative log-likelihood (default
            False: it is left out, which does not change the gradients).
        eps: lower clamp on ``var`` for stability (default 1e-6, in the target's squared units); the clamp does not
            pass gradients to ``var`` where it applies.
        reduction: "mean" (default) over all elements, "sum", or "none" (the per-element losses, torch's shape).
    """

    def __init__(self, full: bool = False, eps: float = 1e-6, reduction: Reduction = "mean") -> None:
        super().__init__(full=full, eps=eps, reduction=check_reduction("gaussian_nll", reduction))

    # var is a tensor here (torch also takes a float): the functional form validates and broadcasts tensors
    def forward(self, input: torch.Tensor, target: torch.Tensor, var: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return FR.gaussian_nll_loss(
            input,
            target,
            var,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,  # type: ignore[arg-type]
        )


def _poisson_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(4, 8, generator=g), torch.poisson(torch.full((4, 8), 3.0), generator=g)


@register_loss(
    "poisson_nll",
    aliases=["PoissonNLLLoss"],
    tasks=["regression"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(*)", "float", "log-rate (log_input=True) or rate"),
            TensorSpec("target", "(*)", "float", "counts"),
        ),
        example=_poisson_example,
    ),
)
class PoissonNLLLoss(nn.PoissonNLLLoss):
    """Poisson negative log-likelihood of counts ``target`` under a rate ``lambda``:
    ``exp(input) - target * input`` with ``log_input=True`` (``input = log lambda``), ``input - target *
    log(input + eps)`` with ``log_input=False``. ``input`` and ``target`` (*) of the same shape.

    Args:
        log_input: True (default): ``input`` is the log-rate; False: ``input`` is the rate itself (>= 0).
        full: add Stirling's approximation of ``log(target!)``, ``target log target - target + 0.5 log(2 pi
            target)`` (for targets > 1), giving the full negative log-likelihood (default False: left out, a
            constant for the model).
        eps: added to the rate inside the log when ``log_input=False`` to avoid ``log 0`` (default 1e-8; unused
            with ``log_input=True``).
        reduction: "mean" (default) over all elements, "sum", or "none" (the input's shape).
    """

    def __init__(
        self, log_input: bool = True, full: bool = False, eps: float = 1e-8, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(log_input=log_input, full=full, eps=eps, reduction=check_reduction("poisson_nll", reduction))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.poisson_nll_loss(
            input,
            target,
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,  # type: ignore[arg-type]
        )


_WEIGHTED_PAIR = InputSpec(
    tensors=(
        TensorSpec("input", "(*)", "float", "predictions"),
        TensorSpec("target", "(*) same as input", "float", "targets"),
        TensorSpec("weight", "broadcastable to (*)", "float", "per-element weight", optional=True),
    ),
    example=pair(),
)


@register_loss(
    "weighted_mse",
    aliases=["WeightedMSELoss", "weighted_mse_loss"],
    tasks=["regression"],
    inputs=_WEIGHTED_PAIR,
)
class WeightedMSELoss(nn.Module):
    """Weighted mean squared error: ``mean(weight * w * (input - target)^2)``.

    Forward: ``(input, target, weight=None)`` with an optional per-element weight tensor ``w`` broadcastable to
    the input (e.g. (N, 1) per sample); ``mean`` divides by the number of elements, not by ``sum(w)``.
    Parity: ``weight * F.mse_loss(input, target)`` without ``w``.

    Args:
        weight: a global factor on the loss (finite float, default 1.0); seed 000's ``WeightedMSELoss(weight)``,
            i.e. ``weight * MSE``. It multiplies the per-element weight ``w`` of ``forward`` when one is given.
        reduction: "mean" (default) over all elements, "sum", or "none" (the input's shape).
    """

    def __init__(self, weight: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        if not math.isfinite(weight):
            raise ValueError(f"weighted_mse: weight must be finite, got {weight}")
        self.weight = float(weight)
        self.reduction = check_reduction("weighted_mse", reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        w: float | torch.Tensor = self.weight
        if weight is not None:
            check_float("weighted_mse", "weight", weight)
            w = weight * self.weight
        return FR.weighted_mse_loss(input, target, weight=w, reduction=self.reduction)


@register_loss("log_cosh", aliases=["LogCoshLoss", "logcosh"], tasks=["regression"], tags=["robust"], inputs=_PAIR)
class LogCoshLoss(nn.Module):
    """Log-cosh loss ``log(cosh(input - target))``: ``d^2 / 2`` for small residuals, ``|d| - log 2`` for
    large ones. Computed as ``|d| + softplus(-2 |d|) - log 2``, finite for any finite residual (``cosh``
    overflows float32 past 89). Same layouts as ``mse``. Parity: pytorch-toolbelt
    ``LogCoshLoss`` / ``torch.log(torch.cosh(d))`` where that does not overflow.

    Args:
        reduction: "mean" (default) over all elements, "sum", or "none" (the elementwise losses, input's shape).
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction("log_cosh", reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.log_cosh_loss(input, target, reduction=self.reduction)


@register_loss(
    "charbonnier", aliases=["CharbonnierLoss"], tasks=["regression"], tags=["robust", "restoration"], inputs=_PAIR
)
class CharbonnierLoss(nn.Module):
    """Charbonnier loss ``sqrt((input - target)^2 + eps^2)`` (Charbonnier et al., ICIP 1994; LapSRN, EDVR),
    a differentiable L1 with minimum ``eps`` at a perfect prediction. Same layouts as ``mse``. Parity: kornia
    ``charbonnier_loss`` is Barron's ``sqrt(d^2 + 1) - 1``, so ``charbonnier(d, eps) =
    eps * (kornia.losses.charbonnier_loss(d / eps, 0) + 1)``; ``barron(alpha=1, scale=eps) * eps + eps`` likewise.

    Args:
        eps: the smoothing constant (> 0, default 1e-3, in the target's units): the loss is quadratic for
            ``|d| << eps`` and ``~|d|`` beyond; it is also the loss's value at ``d = 0``.
        reduction: "mean" (default) over all elements, "sum", or "none" (the elementwise losses, input's shape).
    """

    def __init__(self, eps: float = 1e-3, reduction: Reduction = "mean") -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"charbonnier: eps must be > 0, got {eps}")
        self.eps = float(eps)
        self.reduction = check_reduction("charbonnier", reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.charbonnier_loss(input, target, eps=self.eps, reduction=self.reduction)


def _quantile_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    q = getattr(loss, "quantiles", 0.5)
    if isinstance(q, torch.Tensor):
        return torch.randn(4, 8, q.numel(), generator=g), torch.randn(4, 8, generator=g)
    return torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)


@register_loss(
    "quantile",
    aliases=["QuantileLoss", "pinball", "PinballLoss"],
    tasks=["regression"],
    tags=["probabilistic"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(*) or (*, Q)", "float", "predictions, one per quantile level"),
            TensorSpec("target", "(*)", "float", "observations"),
        ),
        example=_quantile_example,
    ),
)
class QuantileLoss(nn.Module):
    """Quantile (pinball) loss (Koenker & Bassett 1978): ``max(q u, (q - 1) u)``, ``u = target - input``.

    Parity: the pinball loss of pytorch-forecasting's ``QuantileLoss`` (which sums over the levels instead of
    averaging).

    Args:
        quantiles: the quantile level(s) q, each in (0, 1). One number (default 0.5, half the L1 loss): ``input``
            and ``target`` share one shape (*). A list of Q levels: ``input`` is (*, Q), one prediction per level
            (the levels are kept as a buffer), and ``target`` (*) or (*, 1). q > 0.5 penalises under-prediction
            more.
        reduction: "mean" (default) over all elements and levels, "sum", or "none" ((*) for one level, (*, Q)
            for several).
    """

    def __init__(self, quantiles: float | Sequence[float] = 0.5, reduction: Reduction = "mean") -> None:
        super().__init__()
        levels = [quantiles] if isinstance(quantiles, (int, float)) else list(quantiles)
        if not levels or not all(isinstance(q, (int, float)) and 0.0 < q < 1.0 for q in levels):
            raise ValueError(f"quantile: quantiles must be numbers in (0, 1), got {quantiles!r}")
        self.quantiles: float | torch.Tensor
        if isinstance(quantiles, (int, float)):
            self.quantiles = float(quantiles)
        else:
            self.register_buffer("quantiles", torch.tensor([float(q) for q in levels]))
        self.reduction = check_reduction("quantile", reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.quantile_loss(input, target, quantiles=self.quantiles, reduction=self.reduction)


@register_loss(
    "barron",
    aliases=["BarronLoss", "general_robust", "adaptive_robust"],
    tasks=["regression"],
    tags=["robust"],
    inputs=_PAIR,
)
class BarronLoss(nn.Module):
    """Barron's general robust loss (Barron, "A General and Adaptive Robust Loss Function", CVPR 2019):
    ``rho(d, alpha, c) = |alpha - 2| / alpha * (((d / c)^2 / |alpha - 2| + 1)^(alpha / 2) - 1)``.

    For learnable, per-channel alpha or scale call :func:`losskit.functional.regression.barron_loss` with tensors.
    Parity (scale=1): kornia ``charbonnier_loss`` (alpha=1), ``cauchy_loss`` (0), ``geman_mcclure_loss``
    (-2), ``welsch_loss`` (-inf); ``mse / 2`` at alpha=2.

    Args:
        alpha: the fixed shape parameter (any float but NaN, infinities allowed; default 1). 2: L2 ``(d/c)^2 / 2``;
            1: pseudo-Huber/Charbonnier ``sqrt((d/c)^2 + 1) - 1``; 0: Cauchy ``log(0.5 (d/c)^2 + 1)``; -2:
            Geman-McClure; ``float("-inf")``: Welsch ``1 - exp(-(d/c)^2 / 2)``; ``float("inf")``:
            ``exp((d/c)^2 / 2) - 1``. Lower alpha is more robust to outliers. The limits are evaluated in closed
            form, the rest with ``expm1``/``log1p``.
        scale: c, the residual size (finite, > 0, default 1.0, in the target's units) below which the loss is
            roughly quadratic.
        reduction: "mean" (default) over all elements, "sum", or "none" (the input's shape).
    """

    def __init__(
        self, alpha: Annotated[float, AllowInf] = 1.0, scale: float = 1.0, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if math.isnan(alpha):
            raise ValueError("barron: alpha must not be NaN")
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"barron: scale must be a finite number > 0, got {scale}")
        self.alpha, self.scale = float(alpha), float(scale)
        self.reduction = check_reduction("barron", reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return FR.barron_loss(input, target, alpha=self.alpha, scale=self.scale, reduction=self.reduction)
