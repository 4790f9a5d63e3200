"""Robust and probabilistic regression losses on a residual ``d = input - target``.

Inputs are ``input`` and ``target`` of the same shape (no broadcasting: a shape mismatch is a
``LossInputError``); "none" keeps that shape unless stated. Every function follows the zoo's autocast rule
(``float32_loss``): autocast off, half precision computed in float32, float64 stays float64. An empty input
gives 0 with a zero gradient for "mean" and "sum" (torch's own mean of nothing is NaN).

The torch losses (``mse``, ``l1``, ``smooth_l1``, ``huber``, ``gaussian_nll``, ``poisson_nll``) have their own
functional forms here (``mse_loss``, ...): ``torch.nn.functional``'s elementwise loss plus losskit's checks
(same shape, no silent broadcasting), option validation, the empty-batch policy and the autocast rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ..signatures import AllowInf
from ._checks import (
    check_broadcast_weight,
    check_float,
    check_reduction,
    check_same_shape,
    label_checks_enabled,
    shape_str,
)
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

__all__ = [
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "gaussian_nll_loss",
    "poisson_nll_loss",
    "weighted_mse_loss",
    "log_cosh_loss",
    "charbonnier_loss",
    "quantile_loss",
    "barron_loss",
]

Reduction = Literal["mean", "sum", "none"]

_LOG2 = math.log(2.0)


def _pair(loss: str, input: Tensor, target: Tensor, reduction: str) -> None:
    check_float(loss, "input", input)
    check_float(loss, "target", target)
    check_same_shape(loss, input, target)
    check_reduction(loss, reduction)


def _residual(loss: str, input: Tensor, target: Tensor, reduction: str) -> Tensor:
    _pair(loss, input, target, reduction)
    d = input - target
    return d if d.dtype in (torch.float32, torch.float64) else d.float()


@float32_loss
def mse_loss(input: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """Mean squared error ``(input - target)^2`` (``F.mse_loss`` with losskit's checks). "none": the input's shape.

    Example:
        >>> mse_loss(torch.tensor([0.0, 1.0, 3.0]), torch.zeros(3))  # (0 + 1 + 9) / 3
        tensor(3.3333)
    """
    _pair("mse", input, target, reduction)
    if reduction == "mean" and input.numel():
        return F.mse_loss(input, target)  # torch's fused mean; an empty input takes the policy's 0 below
    return reduce(F.mse_loss(input, target, reduction="none"), reduction)


@float32_loss
def l1_loss(input: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """Mean absolute error ``|input - target|`` (``F.l1_loss`` with losskit's checks).

    Example:
        >>> l1_loss(torch.tensor([0.0, 1.0, -3.0]), torch.zeros(3))  # (0 + 1 + 3) / 3
        tensor(1.3333)
    """
    _pair("l1", input, target, reduction)
    if reduction == "mean" and input.numel():
        return F.l1_loss(input, target)
    return reduce(F.l1_loss(input, target, reduction="none"), reduction)


@float32_loss
def smooth_l1_loss(input: Tensor, target: Tensor, *, beta: float = 1.0, reduction: Reduction = "mean") -> Tensor:
    """Smooth L1 (Girshick 2015): ``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``
    (``F.smooth_l1_loss``).

    Example:
        >>> smooth_l1_loss(torch.tensor([0.0, 1.0, 3.0]), torch.zeros(3), beta=2.0, reduction="none")
        tensor([0.0000, 0.2500, 2.0000])
    """
    _pair("smooth_l1", input, target, reduction)
    if not beta >= 0:
        raise ValueError(f"smooth_l1: beta must be >= 0, got {beta!r}")
    if reduction == "mean" and input.numel():
        return F.smooth_l1_loss(input, target, beta=beta)
    return reduce(F.smooth_l1_loss(input, target, reduction="none", beta=beta), reduction)


@float32_loss
def huber_loss(input: Tensor, target: Tensor, *, delta: float = 1.0, reduction: Reduction = "mean") -> Tensor:
    """Huber (1964): ``0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)`` (``F.huber_loss``).

    Example:
        >>> huber_loss(torch.tensor([0.0, 1.0, 3.0]), torch.zeros(3), delta=2.0, reduction="none")
        tensor([0.0000, 0.5000, 4.0000])
    """
    _pair("huber", input, target, reduction)
    if not delta > 0:
        raise ValueError(f"huber: delta must be > 0, got {delta!r}")
    if reduction == "mean" and input.numel():
        return F.huber_loss(input, target, delta=delta)
    return reduce(F.huber_loss(input, target, reduction="none", delta=delta), reduction)


@float32_loss
def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor,
    *,
    full: bool = False,
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> Tensor:
    """Gaussian negative log-likelihood ``0.5 (log max(var, eps) + (input - target)^2 / max(var, eps))``
    (+ ``0.5 log 2 pi`` with ``full``), ``F.gaussian_nll_loss``; ``var`` as there (same shape, or one fewer
    trailing dim / a trailing 1 for a homoscedastic variance). "none": torch's shape.

    Example:
        >>> x, y = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0])
        >>> gaussian_nll_loss(x, y, torch.ones(2), reduction="none")  # 0.5 * (log 1 + d^2)
        tensor([0., 2.])
    """
    _pair("gaussian_nll", input, target, reduction)
    var = _gaussian_var(input, var)
    # torch clamps a clone of var under no_grad: the clamp is invisible to the gradient, which flows to var as is
    clamped = var + (var.clamp_min(eps) - var).detach()
    loss = 0.5 * (torch.log(clamped) + (input - target).square() / clamped)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return reduce(loss, reduction)


def _gaussian_var(input: Tensor, var: Tensor) -> Tensor:
    """``var`` checked and shaped as ``F.gaussian_nll_loss`` takes it: the input's shape, one fewer trailing dim
    (unsqueezed), or the input's rank with one size-1 dim (homoscedastic). Entries must be >= 0: a value check,
    so it follows the label-check switch (:func:`~losskit.functional.set_label_checks`; skipped under
    ``torch.compile``, where ``F.gaussian_nll_loss``'s own check breaks the graph)."""
    check_float("gaussian_nll", "var", var)
    if var.shape != input.shape:
        if var.shape == input.shape[:-1]:
            var = var.unsqueeze(-1)
        elif not (
            var.dim() == input.dim()
            and sum(1 for a, b in zip(input.shape, var.shape, strict=True) if a != b) == 1
            and all(b in (a, 1) for a, b in zip(input.shape, var.shape, strict=True))
        ):
            raise LossInputError(
                f"gaussian_nll: expected var of the input's shape {shape_str(input)}, of {tuple(input.shape[:-1])} "
                f"(one variance per row), or with one dim of size 1, got {shape_str(var)}"
            )
    if label_checks_enabled() and var.numel() and bool((var < 0).any()):
        raise LossInputError("gaussian_nll: expected var >= 0 everywhere, got a negative entry")
    return var


@float32_loss
def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> Tensor:
    """Poisson negative log-likelihood ``exp(input) - target * input`` (``log_input``), ``F.poisson_nll_loss``.

    Example:
        >>> log_rate = torch.zeros(3)  # rate 1
        >>> poisson_nll_loss(log_rate, torch.tensor([0.0, 1.0, 2.0]), reduction="none")  # 1 - k * 0
        tensor([1., 1., 1.])
    """
    _pair("poisson_nll", input, target, reduction)
    if reduction == "mean" and input.numel():
        return F.poisson_nll_loss(input, target, log_input=log_input, full=full, eps=eps)
    out = F.poisson_nll_loss(input, target, log_input=log_input, full=full, eps=eps, reduction="none")
    return reduce(out, reduction)


@float32_loss
def weighted_mse_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: float | Tensor = 1.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """Weighted squared error ``w (input - target)^2``.

    ``weight``: a scalar, or a tensor broadcastable to the input's shape (per element, per sample ...).
    ``mean`` divides by the number of elements (not by ``sum(w)``), so a scalar weight scales the MSE.
    "none" shape: the input's.

    Example:
        >>> x, y = torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3)
        >>> weighted_mse_loss(x, y, weight=torch.tensor([1.0, 0.0, 2.0]))  # (1 + 0 + 18) / 3
        tensor(6.3333)
    """
    d = _residual("weighted_mse", input, target, reduction)
    if isinstance(weight, Tensor):
        check_broadcast_weight("weighted_mse", "weight", weight, input)
        weight = weight.to(d.dtype)
    return reduce(weight * d.square(), reduction)


@float32_loss
def log_cosh_loss(input: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """Log-cosh ``log(cosh(d))``, evaluated as ``|d| + softplus(-2 |d|) - log 2``: no overflow of ``cosh`` for
    large residuals (the loss is ``|d| - log 2`` there, gradient ``sign(d)``), ``d^2 / 2`` near 0.

    Example:
        >>> log_cosh_loss(torch.tensor([0.0, 100.0]), torch.zeros(2), reduction="none")  # 100 - log 2, no overflow
        tensor([ 0.0000, 99.3069])
    """
    d = _residual("log_cosh", input, target, reduction)
    a = d.abs()
    return reduce(a + F.softplus(-2.0 * a) - _LOG2, reduction)


@float32_loss
def charbonnier_loss(input: Tensor, target: Tensor, *, eps: float = 1e-3, reduction: Reduction = "mean") -> Tensor:
    """Charbonnier (a differentiable L1, Charbonnier et al. 1994; LapSRN's form) ``sqrt(d^2 + eps^2)``.

    Minimum ``eps`` at ``d = 0`` (not 0: this is the image-restoration convention). kornia's
    ``charbonnier_loss`` is Barron's ``sqrt(d^2 + 1) - 1``: ``charbonnier(d, eps) = eps (kornia(d / eps) + 1)``.

    Example:
        >>> charbonnier_loss(torch.tensor([0.0, 4.0]), torch.zeros(2), eps=3.0, reduction="none")  # eps at d = 0
        tensor([3., 5.])
    """
    if not eps > 0:
        raise ValueError(f"charbonnier: eps must be > 0, got {eps}")
    d = _residual("charbonnier", input, target, reduction)
    return reduce((d.square() + eps * eps).sqrt(), reduction)


@float32_loss
def quantile_loss(
    input: Tensor,
    target: Tensor,
    *,
    quantiles: float | Sequence[float] | Tensor = 0.5,
    reduction: Reduction = "mean",
) -> Tensor:
    """Quantile (pinball) loss (Koenker & Bassett 1978): ``max(q u, (q - 1) u)`` with ``u = target - input``.

    One quantile (a float): ``input`` and ``target`` of the same shape (*). Several (a sequence or a 1-D
    tensor of Q levels): ``input`` (*, Q), one prediction per quantile, and ``target`` (*) (or (*, 1)),
    shared by the Q predictions. ``mean`` averages over every element and quantile; "none" keeps (*) or
    (*, Q). ``q = 0.5`` gives half the L1 loss.

    Example:
        >>> y = torch.zeros(2)
        >>> quantile_loss(torch.tensor([-1.0, 1.0]), y, quantiles=0.9, reduction="none")  # under-prediction costs 9x
        tensor([0.9000, 0.1000])
        >>> quantile_loss(torch.zeros(2, 3), y, quantiles=[0.1, 0.5, 0.9], reduction="none").shape
        torch.Size([2, 3])
    """
    loss = "quantile"
    check_float(loss, "input", input)
    check_float(loss, "target", target)
    check_reduction(loss, reduction)
    if isinstance(quantiles, (int, float)):
        check_same_shape(loss, input, target)
        q: float | Tensor = float(quantiles)
        u = target - input
    else:
        q = torch.as_tensor(quantiles, dtype=acc_dtype(input), device=input.device)
        n = q.numel()
        if q.dim() != 1 or input.dim() == 0 or input.shape[-1] != n:
            raise LossInputError(f"{loss}: {n} quantiles need predictions (*, {n}), got input {shape_str(input)}")
        if target.shape == input.shape[:-1]:
            target = target.unsqueeze(-1)
        elif target.shape != (*input.shape[:-1], 1):
            raise LossInputError(
                f"{loss}: expected target ({', '.join(map(str, input.shape[:-1]))}) shared by the {n} quantile "
                f"predictions {shape_str(input)}, got {shape_str(target)}"
            )
        u = target - input
    if u.dtype not in (torch.float32, torch.float64):
        u = u.float()
    return reduce(torch.maximum(q * u, (q - 1.0) * u), reduction)


@float32_loss
def barron_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: Annotated[float, AllowInf] | Tensor = 1.0,
    scale: float | Tensor = 1.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """Barron's general robust loss ("A General and Adaptive Robust Loss Function", CVPR 2019).

    ``rho(d, alpha, c) = |alpha - 2| / alpha * (((d / c)^2 / |alpha - 2| + 1)^(alpha / 2) - 1)``, with its
    limits: ``alpha = 2`` L2 ``(d/c)^2 / 2``; ``alpha = 0`` Cauchy ``log(1 + (d/c)^2 / 2)``; ``alpha = -inf``
    Welsch ``1 - exp(-(d/c)^2 / 2)``; ``alpha = +inf`` ``exp((d/c)^2 / 2) - 1``. ``alpha = 1`` is
    Charbonnier/pseudo-Huber ``sqrt((d/c)^2 + 1) - 1``, ``alpha = -2`` Geman-McClure.
    The general case is ``|alpha - 2| / alpha * expm1(alpha / 2 * log1p(z / |alpha - 2|))``, accurate near
    ``d = 0`` and for ``alpha`` close to 0 and 2.

    ``alpha`` and ``scale`` (> 0) are floats (fixed) or tensors broadcastable to the residual (then
    differentiable, e.g. per-channel; alpha exactly 0 or 2 in a tensor take the limit form). This is the
    loss ``rho``, not the adaptive negative log-likelihood: minimising it over ``alpha`` alone drives alpha to
    -inf. "none" shape: the input's (broadcast with tensor alpha/scale). Parity (``scale=1``): kornia
    ``charbonnier_loss`` (alpha=1), ``cauchy_loss`` (0), ``geman_mcclure_loss`` (-2), ``welsch_loss`` (-inf).

    Example:
        >>> x, y = torch.tensor([0.0, 1.0, 3.0]), torch.zeros(3)
        >>> barron_loss(x, y, alpha=2.0, reduction="none")  # L2: d^2 / 2
        tensor([0.0000, 0.5000, 4.5000])
        >>> barron_loss(x, y, alpha=-math.inf, reduction="none")  # Welsch: bounded by 1
        tensor([0.0000, 0.3935, 0.9889])
    """
    d = _residual("barron", input, target, reduction)
    if isinstance(scale, Tensor):
        scale = scale.to(d.dtype)
    elif not scale > 0:
        raise ValueError(f"barron: scale must be > 0, got {scale}")
    z = (d / scale).square()
    if isinstance(alpha, Tensor):
        return reduce(_barron_tensor_alpha(z, alpha.to(d.dtype)), reduction)
    a = float(alpha)
    if a != a:  # NaN (math.isnan breaks a dynamic=True graph)
        raise ValueError("barron: alpha must not be NaN")
    if a == 2.0:
        out = 0.5 * z
    elif a == 0.0:
        out = torch.log1p(0.5 * z)
    elif a == -math.inf:
        out = -torch.expm1(-0.5 * z)
    elif a == math.inf:
        out = torch.expm1(0.5 * z)
    else:
        b = abs(a - 2.0)
        out = (b / a) * torch.expm1(0.5 * a * torch.log1p(z / b))
    return reduce(out, reduction)


def _barron_tensor_alpha(z: Tensor, alpha: Tensor) -> Tensor:
    """The general form with alpha a tensor: the limits are selected with ``where``, and the general branch
    is fed a safe alpha (1) there, so no NaN reaches the values or the gradients."""
    is_l2 = alpha == 2.0
    is_cauchy = alpha == 0.0
    is_welsch = torch.isneginf(alpha)
    is_exp = torch.isposinf(alpha)
    special = is_l2 | is_cauchy | is_welsch | is_exp
    safe = torch.where(special, torch.ones_like(alpha), alpha)
    b = (safe - 2.0).abs()
    general = (b / safe) * torch.expm1(0.5 * safe * torch.log1p(z / b))
    out = torch.where(is_l2, 0.5 * z, general)
    out = torch.where(is_cauchy, torch.log1p(0.5 * z), out)
    out = torch.where(is_welsch, -torch.expm1(-0.5 * z), out)
    # exp grows without bound: evaluate it only where selected, or its inf would reach the other gradients.
    return torch.where(is_exp, torch.expm1(0.5 * torch.where(is_exp, z, 0.0)), out)
