"""Regression losses.

The PyTorch ones are subclasses of their ``torch.nn`` classes (``isinstance`` keeps working) with one
difference: a target whose shape differs from the input's is a :class:`~losskit.LossInputError`, where
PyTorch only warns and broadcasts (a silent wrong result).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..functional._checks import check_float, check_reduction, check_same_shape
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ._examples import pair

__all__ = ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "GaussianNLLLoss", "PoissonNLLLoss"]

_PAIR = InputSpec(
    tensors=(
        TensorSpec("input", "(*)", "float", "predictions"),
        TensorSpec("target", "(*) same as input", "float", "targets"),
    ),
    example=pair(),
)


def _checked(name: str, input: torch.Tensor, target: torch.Tensor) -> None:
    check_float(name, "input", input)
    check_same_shape(name, input, target)


@register_loss("mse", aliases=["MSELoss", "l2"], tasks=["regression", "classification", "registration"], inputs=_PAIR)
class MSELoss(nn.MSELoss):
    """Mean squared error: ``mean((input - target)^2)``.

    Inputs: ``input`` (*) and ``target`` of the same shape (no broadcasting). ``reduction``: mean | sum | none
    ("none" keeps the input's shape).
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=check_reduction("mse", reduction))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _checked("mse", input, target)
        return F.mse_loss(input, target, reduction=self.reduction)


@register_loss("l1", aliases=["L1Loss", "mae"], tasks=["regression"], inputs=_PAIR)
class L1Loss(nn.L1Loss):
    """Mean absolute error: ``mean(|input - target|)``. Same layouts and reductions as ``mse``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=check_reduction("l1", reduction))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _checked("l1", input, target)
        return F.l1_loss(input, target, reduction=self.reduction)


@register_loss("smooth_l1", aliases=["SmoothL1Loss"], tasks=["regression", "detection"], inputs=_PAIR)
class SmoothL1Loss(nn.SmoothL1Loss):
    """Smooth L1 (Girshick, Fast R-CNN 2015): ``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        if beta < 0:
            raise ValueError(f"smooth_l1: beta must be >= 0, got {beta}")
        super().__init__(reduction=check_reduction("smooth_l1", reduction), beta=beta)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _checked("smooth_l1", input, target)
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


@register_loss("huber", aliases=["HuberLoss"], tasks=["regression", "detection"], inputs=_PAIR)
class HuberLoss(nn.HuberLoss):
    """Huber (1964): ``0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        if delta <= 0:
            raise ValueError(f"huber: delta must be > 0, got {delta}")
        super().__init__(reduction=check_reduction("huber", reduction), delta=delta)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _checked("huber", input, target)
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


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
    (+ ``0.5 log 2 pi`` with ``full=True``)."""

    def __init__(self, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(full=full, eps=eps, reduction=check_reduction("gaussian_nll", reduction))

    def forward(self, input: torch.Tensor, target: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        _checked("gaussian_nll", input, target)
        check_float("gaussian_nll", "var", var)
        return super().forward(input, target, var)


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
    """Poisson negative log-likelihood: ``exp(input) - target * input`` with ``log_input=True``."""

    def __init__(self, log_input: bool = True, full: bool = False, eps: float = 1e-8, reduction: str = "mean") -> None:
        super().__init__(log_input=log_input, full=full, eps=eps, reduction=check_reduction("poisson_nll", reduction))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _checked("poisson_nll", input, target)
        return super().forward(input, target)
