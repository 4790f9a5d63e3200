"""Robust and probabilistic regression losses on a residual ``d = input - target``.

Inputs are ``input`` and ``target`` of the same shape (no broadcasting: a shape mismatch is a
``LossInputError``); "none" keeps that shape unless stated. Half precision is computed in float32, float64
stays float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_reduction, check_same_shape, shape_str
from ._reduce import acc_dtype, reduce

__all__ = ["weighted_mse_loss", "log_cosh_loss", "charbonnier_loss", "quantile_loss", "barron_loss"]

_LOG2 = math.log(2.0)


def _residual(loss: str, input: Tensor, target: Tensor, reduction: str) -> Tensor:
    check_float(loss, "input", input)
    check_float(loss, "target", target)
    check_same_shape(loss, input, target)
    check_reduction(loss, reduction)
    d = input - target
    return d if d.dtype in (torch.float32, torch.float64) else d.float()


def weighted_mse_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: float | Tensor = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Weighted squared error ``w (input - target)^2``.

    ``weight``: a scalar, or a tensor broadcastable to the input's shape (per element, per sample ...).
    ``mean`` divides by the number of elements (not by ``sum(w)``), so a scalar weight scales the MSE.
    "none" shape: the input's.
    """
    d = _residual("weighted_mse", input, target, reduction)
    if isinstance(weight, Tensor):
        check_float("weighted_mse", "weight", weight)
        try:
            shape = torch.broadcast_shapes(weight.shape, input.shape)
        except RuntimeError:
            shape = None
        if shape != input.shape:
            raise LossInputError(f"weighted_mse: weight {shape_str(weight)} does not broadcast to the input {shape_str(input)}")
        weight = weight.to(d.dtype)
    return reduce(weight * d.square(), reduction)


def log_cosh_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """Log-cosh ``log(cosh(d))``, evaluated as ``|d| + softplus(-2 |d|) - log 2``: no overflow of ``cosh`` for
    large residuals (the loss is ``|d| - log 2`` there, gradient ``sign(d)``), ``d^2 / 2`` near 0."""
    d = _residual("log_cosh", input, target, reduction)
    a = d.abs()
    return reduce(a + F.softplus(-2.0 * a) - _LOG2, reduction)


def charbonnier_loss(input: Tensor, target: Tensor, *, eps: float = 1e-3, reduction: str = "mean") -> Tensor:
    """Charbonnier (a differentiable L1, Charbonnier et al. 1994; LapSRN's form) ``sqrt(d^2 + eps^2)``.

    Minimum ``eps`` at ``d = 0`` (not 0: this is the image-restoration convention). kornia's
    ``charbonnier_loss`` is Barron's ``sqrt(d^2 + 1) - 1``: ``charbonnier(d, eps) = eps (kornia(d / eps) + 1)``.
    """
    if not eps > 0:
        raise ValueError(f"charbonnier: eps must be > 0, got {eps}")
    d = _residual("charbonnier", input, target, reduction)
    return reduce((d.square() + eps * eps).sqrt(), reduction)


def quantile_loss(
    input: Tensor,
    target: Tensor,
    *,
    quantiles: float | Sequence[float] | Tensor = 0.5,
    reduction: str = "mean",
) -> Tensor:
    """Quantile (pinball) loss (Koenker & Bassett 1978): ``max(q u, (q - 1) u)`` with ``u = target - input``.

    One quantile (a float): ``input`` and ``target`` of the same shape (*). Several (a sequence or a 1-D
    tensor of Q levels): ``input`` (*, Q), one prediction per quantile, and ``target`` (*) (or (*, 1)),
    shared by the Q predictions. ``mean`` averages over every element and quantile; "none" keeps (*) or
    (*, Q). ``q = 0.5`` gives half the L1 loss.
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


def barron_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float | Tensor = 1.0,
    scale: float | Tensor = 1.0,
    reduction: str = "mean",
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
    if math.isnan(a):
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
