"""Functional forms of the wrappers that take any loss: ``masked``, ``multi_scale`` and ``deep_supervision``.

Each takes the wrapped loss as ``loss=``, any callable ``loss(input, target)`` returning a tensor (a losskit
module, a ``torch.nn`` loss, a function). With ``return_terms=True`` they return ``(total, {term: value})``:
the inner loss's own terms (``masked``), or one term per scale / output level with the inner loss's terms
nested under it (``"scale0"``, ``"scale0.dice"``; ``"level1"``, ``"level1.ce"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..compose.calling import CallPlan
from ..compose.terms import accepts_return_terms, with_terms
from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_tensor, is_finite, shape_str
from ._precision import float32_loss
from .lncc import _WindowSum

__all__ = [
    "masked_loss",
    "takes_mask",
    "multi_scale_loss",
    "deep_supervision_loss",
    "smoothing_kernel_1d",
    "deep_supervision_weights",
    "resize_target",
]

Kernel = Literal["gaussian", "cauchy"]
WeightMode = Literal["same", "exp", "two"]
LossFn = Callable[..., Any]
KERNELS: tuple[str, ...] = ("gaussian", "cauchy")
WEIGHT_MODES: tuple[str, ...] = ("same", "exp", "two")
Terms = dict[str, Tensor]


def _call(loss: LossFn, input: Tensor, target: Tensor, nested: bool) -> tuple[Tensor, Terms]:
    """The inner loss's value, and its own terms when ``nested`` (it takes ``return_terms``)."""
    if not nested:
        return loss(input, target), {}
    out = loss(input, target, return_terms=True)
    return out[0], dict(out[1])


def _nest(terms: Terms, key: str, value: Tensor, sub: Terms) -> None:
    terms[key] = value
    terms.update({f"{key}.{k}": v for k, v in sub.items()})


# ---------------------------------------------------------------------------------------------- masked


def check_mask(name: str, input: Tensor, target: Tensor, mask: Tensor) -> None:
    """``mask`` is (N or 1, 1, *spatial) for an input (N, C, *spatial); the target the input's dims (dense) or
    one fewer (class indices)."""
    check_tensor(name, "mask", mask)
    if (
        input.dim() < 2
        or mask.dim() != input.dim()
        or mask.shape[0] not in (1, input.shape[0])
        or mask.shape[1] != 1
        or mask.shape[2:] != input.shape[2:]
    ):  # the message is built only when raising (a traced shape cannot be formatted under torch.compile)
        want = f"(N or 1, 1{', *spatial' if input.dim() > 2 else ''}) for input {shape_str(input)}"
        raise LossInputError(f"{name}: expected mask {want}, got {shape_str(mask)}")
    if target.dim() not in (input.dim(), input.dim() - 1):
        raise LossInputError(
            f"{name}: expected a target of the input's dims or class indices (N, *spatial) for input "
            f"{shape_str(input)}, got {shape_str(target)}"
        )


def takes_mask(loss: LossFn) -> bool:
    """Whether ``loss``'s call names a ``mask`` parameter (a bare ``**kwargs`` does not count)."""
    accepted = CallPlan.of(loss).accepted
    return accepted is not None and "mask" in accepted


@float32_loss
def masked_loss(
    input: Tensor,
    target: Tensor,
    mask: Tensor,
    *,
    loss: LossFn,
    native: bool | None = None,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, Terms]:
    r"""Any dense loss restricted to a spatial mask, as MONAI's ``MaskedLoss``: the mask multiplies input and
    target before the inner loss sees them, unless the inner loss takes the mask itself.

    .. math::

        \ell_{\text{masked}}(x, y; m) = \ell(x \odot m,\; y \odot m)

    A float target is multiplied by the mask as MONAI does; a class-index target (one dim fewer than the input)
    keeps its labels where the mask is non-zero and becomes class 0 elsewhere (``torch.where``, so labels stay
    integers). Outside the mask both sides become equal (0), so a distance-type inner loss (MSE, L1, NCC ...)
    gets no error there, but the masked-out elements still count in its mean. For logits-based losses a
    masked-out logit is 0 (probability 0.5): use the inner loss's own ``ignore_index``/``weight`` where it has
    one. A NaN in the input stays NaN (``NaN * 0`` is NaN).

    An inner loss whose call names a ``mask`` parameter (not a bare ``**kwargs``) supports masks natively: it is
    called as ``loss(input, target, mask=mask)`` with nothing multiplied, after the same shape check.

    Args:
        input: (N, C, \*spatial) prediction.
        target: (N, C, \*spatial) dense target, or (N, \*spatial) class indices.
        mask: (N or 1, 1, \*spatial), float or bool; broadcast over channels.
        loss: the wrapped loss, called as ``loss(input * mask, target * mask)``.
        native: whether ``loss`` takes ``mask=`` itself; ``None``: read from its signature
            (:func:`takes_mask`, an inspection per call: the module form reads it once).
        return_terms: also return the inner loss's terms (empty when it has none).

    Returns:
        what ``loss`` returns (a scalar for a reducing loss).

    Example:
        >>> x, y = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
        >>> m = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
        >>> masked_loss(x, y, m, loss=torch.nn.functional.mse_loss)
        tensor(0.2500)

    Parity: MONAI ``MaskedLoss(loss)(input, target, mask)`` for a dense target; MONAI only warns on a mask of
    another spatial size, which is a ``LossInputError`` here.
    """
    check_mask("masked", input, target, mask)
    nested = return_terms and accepts_return_terms(loss)
    if native or (native is None and takes_mask(loss)):
        out = loss(input, target, mask=mask, return_terms=True) if nested else loss(input, target, mask=mask)
        value, terms = (out[0], dict(out[1])) if nested else (out, {})
        return with_terms(value, terms, return_terms)
    if target.dim() == input.dim():
        masked_target = target * mask
    else:
        masked_target = torch.where(mask[:, 0] != 0, target, torch.zeros_like(target))
    value, terms = _call(loss, input * mask, masked_target, nested)
    return with_terms(value, terms, return_terms)


# ---------------------------------------------------------------------------------------------- multi_scale


def smoothing_kernel_1d(kernel: Kernel, sigma: float) -> tuple[float, ...]:
    """MONAI's multi-scale smoothing taps (``monai.losses.multi_scale``), in float64.

    ``"gaussian"``: the sampled Gaussian ``exp(-x^2 / 2 sigma^2) / (sqrt(2 pi) sigma)`` on
    ``|x| <= int(max(3 sigma, 0.5) + 0.5)``, not renormalised; ``"cauchy"``: ``1 / (1 + (x / sigma)^2)`` on
    ``|x| <= int(5 sigma)``, normalised to sum 1.
    """
    check_choice("multi_scale", "kernel", kernel, KERNELS)
    if not sigma > 0:
        raise ValueError(f"multi_scale: a scale must be > 0 to smooth, got {sigma!r}")
    if kernel == "gaussian":
        tail = int(max(sigma * 3.0, 0.5) + 0.5)
        norm = math.sqrt(2 * math.pi) * sigma
        return tuple(math.exp(-0.5 * (x / sigma) ** 2) / norm for x in range(-tail, tail + 1))
    tail = int(sigma * 5)
    taps = [1.0 / ((x / sigma) ** 2 + 1.0) for x in range(-tail, tail + 1)]
    total = sum(taps)
    return tuple(t / total for t in taps)


def check_multi_scale_options(scales: Sequence[float] | None, kernel: str, reduction: str) -> None:
    check_choice("multi_scale", "kernel", kernel, KERNELS)
    check_reduction("multi_scale", reduction, ("mean", "sum"))
    if scales is None:
        return
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or not scales:
        raise ValueError(f"multi_scale: scales must be a non-empty list of numbers >= 0 or None, got {scales!r}")
    for s in scales:
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not (is_finite(s) and s >= 0):
            raise ValueError(f"multi_scale: every scale must be a finite number >= 0 (0: no smoothing), got {s!r}")


def _smooth(x: Tensor, taps: tuple[float, ...]) -> Tensor:
    """Zero-padded separable filtering over every spatial axis (MONAI's ``separable_filtering``)."""
    out: Tensor = _WindowSum.apply(x, taps, len(taps), tuple(range(2, x.dim())))  # type: ignore[no-untyped-call]
    return out


@float32_loss
def multi_scale_loss(
    input: Tensor,
    target: Tensor,
    *,
    loss: LossFn,
    scales: Sequence[float] | None = None,
    kernel: Kernel = "gaussian",
    reduction: Literal["mean", "sum"] = "mean",
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, Terms]:
    r"""The wrapped loss over copies of input and target smoothed at several scales (DeepReg, MONAI).

    .. math::

        \mathcal{L} = \operatorname{reduce}_{s \in \text{scales}} \ell(k_s * x,\; k_s * y)

    where :math:`k_s` is a separable Gaussian or Cauchy kernel of width :math:`s` applied along every spatial
    axis with zero padding (:func:`smoothing_kernel_1d`), and scale 0 means no smoothing.

    Args:
        input: (N, C, \*spatial) float prediction (1 to 3 spatial dims when a scale is > 0).
        target: (N, C, \*spatial) float target.
        loss: the wrapped loss, called as ``loss(smoothed_input, smoothed_target)``.
        scales: smoothing widths (sigma, in pixels), each >= 0; ``None``: the inner loss alone.
        kernel: ``"gaussian"`` | ``"cauchy"``.
        reduction: ``"mean"`` | ``"sum"`` over the scales.
        return_terms: also return ``{"scale<i>": value}`` (unreduced per scale, inner terms nested).

    Returns:
        a scalar (for a reducing inner loss).

    Example:
        >>> x, y = torch.zeros(1, 1, 8), torch.zeros(1, 1, 8)
        >>> y[..., 4] = 1.0
        >>> multi_scale_loss(x, y, loss=torch.nn.functional.mse_loss, scales=[0, 1], return_terms=True)
        (tensor(0.0801), {'scale0': tensor(0.1250), 'scale1': tensor(0.0353)})

    Parity: MONAI ``MultiScaleLoss(loss, scales, kernel, reduction)(target, input)`` (MONAI's forward takes
    ``(y_true, y_pred)`` and calls ``loss(y_pred, y_true)``); MONAI builds its taps in float32.
    """
    check_multi_scale_options(scales, kernel, reduction)
    nested = return_terms and accepts_return_terms(loss)
    if scales is None:
        value, sub = _call(loss, input, target, nested)
        return with_terms(value, {**sub}, return_terms)
    if any(s > 0 for s in scales):
        for what, t in (("input", input), ("target", target)):
            check_float("multi_scale", what, t, "(N, C, *spatial)")
            if not 3 <= t.dim() <= 5:
                raise LossInputError(
                    f"multi_scale: expected {what} (N, C, *spatial) with 1 to 3 spatial dims to smooth, "
                    f"got {shape_str(t)}"
                )
    values: list[Tensor] = []
    terms: Terms = {}
    for i, s in enumerate(scales):
        if s == 0:
            value, sub = _call(loss, input, target, nested)
        else:
            taps = smoothing_kernel_1d(kernel, float(s))
            value, sub = _call(loss, _smooth(input, taps), _smooth(target, taps), nested)
        values.append(value)
        _nest(terms, f"scale{i}", value, sub)
    stacked = torch.stack(values, 0)
    total = stacked.mean(0) if reduction == "mean" else stacked.sum(0)
    return with_terms(total, terms, return_terms)


# ---------------------------------------------------------------------------------------------- deep supervision


def check_deep_supervision_options(weight_mode: str, weights: Sequence[float] | None) -> None:
    check_choice("deep_supervision", "weight_mode", weight_mode, WEIGHT_MODES)
    if weights is None:
        return
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or not weights:
        raise ValueError(f"deep_supervision: weights must be a non-empty list of numbers or None, got {weights!r}")
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not is_finite(w):
            raise ValueError(f"deep_supervision: every weight must be a finite number, got {w!r}")


def deep_supervision_weights(
    levels: int, weight_mode: WeightMode = "exp", weights: Sequence[float] | None = None
) -> list[float]:
    """One weight per output level, as MONAI's ``DeepSupervisionLoss.get_weights``.

    ``weights`` (its first ``levels`` entries) wins over ``weight_mode``: ``"same"`` all 1, ``"exp"``
    ``max(0.5^l, 1/16)``, ``"two"`` 1 then 0.5. A ``weights`` list shorter than ``levels`` is a
    ``LossInputError`` (MONAI silently falls back to ``weight_mode``).
    """
    check_deep_supervision_options(weight_mode, weights)
    levels = max(1, levels)
    if weights is not None:
        if len(weights) < levels:
            raise LossInputError(f"deep_supervision: {levels} outputs but only {len(weights)} weights {list(weights)}")
        return [float(w) for w in weights[:levels]]
    if weight_mode == "same":
        return [1.0] * levels
    if weight_mode == "exp":
        return [max(0.5**level, 0.0625) for level in range(levels)]
    return [1.0 if level == 0 else 0.5 for level in range(levels)]


def resize_target(target: Tensor, like: Tensor) -> Tensor:
    """``target`` resized to the spatial size of ``like`` (N, C, \\*spatial), by ``"nearest-exact"`` (MONAI's
    mode), for a dense target (N, C', \\*spatial) and for class indices (N, \\*spatial), which keep their dtype."""
    size = like.shape[2:]
    labels = target.dim() == like.dim() - 1
    if labels:
        if target.shape[1:] == size:
            return target
        if not 1 <= len(size) <= 3:
            raise LossInputError(f"deep_supervision: cannot resize a target {shape_str(target)} to {tuple(size)}")
        if target.shape[0] == 0:  # interpolate refuses an empty batch
            return target.new_zeros((0, *size))
        out = F.interpolate(target.unsqueeze(1).float(), size=size, mode="nearest-exact")
        return out.squeeze(1).to(target.dtype)
    if target.dim() != like.dim():
        raise LossInputError(
            f"deep_supervision: expected a target (N, C, *spatial) or class indices (N, *spatial) for output "
            f"{shape_str(like)}, got {shape_str(target)}"
        )
    if target.shape[2:] == size:
        return target
    if not 1 <= len(size) <= 3:
        raise LossInputError(f"deep_supervision: cannot resize a target {shape_str(target)} to {tuple(size)}")
    if target.shape[0] == 0:
        return target.new_zeros((0, target.shape[1], *size))
    if target.is_floating_point():
        return F.interpolate(target, size=size, mode="nearest-exact")
    return F.interpolate(target.float(), size=size, mode="nearest-exact").to(target.dtype)


@float32_loss
def deep_supervision_loss(
    input: Tensor | Sequence[Tensor],
    target: Tensor,
    *,
    loss: LossFn,
    weight_mode: WeightMode = "exp",
    weights: Sequence[float] | None = None,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, Terms]:
    r"""The wrapped loss over the outputs of a deeply supervised network, against one target (MONAI).

    .. math::

        \mathcal{L} = \sum_{l} w_l \, \ell\big(x_l,\; \operatorname{resize}(y, \text{size}(x_l))\big)

    The target is resized to each output's spatial size by nearest neighbour (``"nearest-exact"``, as MONAI),
    which keeps class labels exact; a class-index target (N, \*spatial) is resized as such and keeps its dtype.

    Args:
        input: a list or tuple of outputs (N, C, \*spatial_l), full resolution first, or a single tensor.
        target: (N, C, \*spatial) dense target or (N, \*spatial) class indices, at full resolution.
        loss: the wrapped loss, called as ``loss(output, resized_target)``.
        weight_mode: ``"same"`` | ``"exp"`` | ``"two"`` (see :func:`deep_supervision_weights`).
        weights: explicit per-level weights (wins over ``weight_mode``; at least one per output).
        return_terms: also return ``{"level<l>": unweighted value}`` with the inner terms nested.

    Returns:
        a scalar (for a reducing inner loss).

    Example:
        >>> outs = [torch.ones(1, 1, 4, 4), torch.ones(1, 1, 2, 2)]
        >>> deep_supervision_loss(outs, torch.zeros(1, 1, 4, 4), loss=torch.nn.functional.l1_loss)
        tensor(1.5000)

    Parity: MONAI ``DeepSupervisionLoss(loss, weight_mode, weights)``, whose inputs it upcasts to float32 (as
    :func:`~losskit.functional._precision.float32_loss` does for half inputs here). A ``weights`` list shorter
    than the outputs is an error here.
    """
    check_deep_supervision_options(weight_mode, weights)
    check_tensor("deep_supervision", "target", target)
    outputs = [input] if isinstance(input, Tensor) else list(input)
    if not outputs:
        raise LossInputError("deep_supervision: expected a tensor or a non-empty list of outputs, got an empty list")
    for i, out in enumerate(outputs):
        check_float("deep_supervision", f"input[{i}]", check_tensor("deep_supervision", f"input[{i}]", out))
    level_weights = deep_supervision_weights(len(outputs), weight_mode, weights)
    nested = return_terms and accepts_return_terms(loss)
    terms: Terms = {}
    weighted: list[Tensor] = []
    for level, (out, w) in enumerate(zip(outputs, level_weights, strict=True)):
        value, sub = _call(loss, out, resize_target(target, out), nested)
        _nest(terms, f"level{level}", value, sub)
        weighted.append(value * w)
    total = weighted[0]
    for value in weighted[1:]:
        total = total + value
    return with_terms(total, terms, return_terms)
