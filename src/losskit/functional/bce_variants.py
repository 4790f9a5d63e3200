"""Binary cross-entropy variants from segmentation_models_pytorch and pytorch-toolbelt, and toolbelt's soft F1.

``soft_bce`` reuses the sigmoid BCE kernel of :mod:`losskit.functional.cross_entropy` (smp's smoothing is
that kernel's label smoothing with ``ls = 2 * smooth_factor``); ``balanced_bce`` re-weights the two terms of
the same log-sigmoid form per batch; ``soft_f1`` is one micro soft F1 over every non-ignored element.

``ignore_index`` follows the zoo's convention (docs/conventions.md): an ignored element counts nowhere (not in
a sum, a count or a mean) and gets a zero gradient. smp and toolbelt zero the ignored elements but still
divide their mean by every element; losskit's "mean" divides by the non-ignored ones (the two agree when
nothing is ignored).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_float, check_probabilities, check_reduction, check_same_shape, ignored_mask
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .cross_entropy import _bce_with_logits

__all__ = ["soft_bce_loss", "balanced_bce_loss", "soft_f1_loss"]

Reduction = Literal["mean", "sum", "none"]


def _check_pair(name: str, input: Tensor, target: Tensor, ignore_index: int | None) -> Tensor | None:
    """Float logits, a target of the same shape in [0, 1] (``ignore_index`` allowed); the ignored mask."""
    check_float(name, "input", input)
    check_same_shape(name, input, target)
    check_probabilities(name, target, ignore_index)
    return ignored_mask(target, ignore_index)


def _drop(ignored: Tensor, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Input and target with the ignored elements set to 0 before any math. Masking only the result is not
    enough: ``where`` sends a zero gradient into the op below, and 0 times a NaN (or inf) local derivative at
    an ignored NaN logit is NaN; a 0 logit there keeps every local derivative finite."""
    return torch.where(ignored, 0.0, input), torch.where(ignored, 0, target)


def _check_nonnegative(name: str, what: str, value: float) -> float:
    if not value >= 0.0:  # NaN fails too
        raise ValueError(f"{name}: {what} must be >= 0, got {value}")
    return float(value)


@float32_loss
def soft_bce_loss(
    input: Tensor,
    target: Tensor,
    *,
    smooth_factor: float | None = None,
    ignore_index: int | None = None,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Sigmoid binary cross-entropy from logits with label smoothing and ``ignore_index`` (smp's soft BCE).

    .. math::

        \tilde y = (1 - y)\,s + y\,(1 - s), \qquad
        \ell(x, y) = -w\left(p_w\,\tilde y \log\sigma(x) + (1 - \tilde y)\log(1 - \sigma(x))\right)

    with ``s = smooth_factor``, ``w = weight`` and ``p_w = pos_weight``. Computed by the kernel of
    :func:`losskit.functional.bce_with_logits_loss` with ``label_smoothing = 2 s`` (the same targets).

    Args:
        input: logits, shape :math:`(*)`.
        target: targets in [0, 1] of the input's shape; ``ignore_index`` values allowed (a 0/255 mask without
            ``ignore_index=255`` is a ``LossInputError``).
        smooth_factor: ``s`` in [0, 0.5]; None or 0: no smoothing.
        ignore_index: elements whose target equals it count nowhere (zero gradient); None: none.
        weight: elementwise weight broadcastable to the input; None: 1.
        pos_weight: weight of the positive term broadcastable to the input (per class on the last dim); None: 1.
        reduction: ``"mean"`` (over non-ignored elements, 0 when there are none) | ``"sum"`` | ``"none"``.

    Returns:
        a scalar for ``"mean"`` and ``"sum"``, the input's shape for ``"none"`` (0 at ignored elements).

    Example:
        >>> x, y = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 255.0])
        >>> soft_bce_loss(x, y, smooth_factor=0.1, ignore_index=255, reduction="none")
        tensor([0.3269, 0.4133, 0.0000])

    Parity: ``segmentation_models_pytorch.losses.SoftBCEWithLogitsLoss(weight, ignore_index, reduction,
    smooth_factor, pos_weight)`` (file ``segmentation_models_pytorch/losses/soft_bce.py``): identical for
    "sum" and "none", and for "mean" when nothing is ignored; smp's default ``ignore_index`` is -100, losskit's
    None (docs/conventions.md).
    """
    name = "soft_bce"
    check_reduction(name, reduction)
    s = 0.0 if smooth_factor is None else float(smooth_factor)
    if not 0.0 <= s <= 0.5:
        raise ValueError(f"{name}: smooth_factor must be in [0, 0.5] (or None), got {smooth_factor}")
    ignored = _check_pair(name, input, target, ignore_index)
    if ignored is None:
        return reduce(_bce_with_logits(name, input, target, weight, pos_weight, 2.0 * s, "none"), reduction)
    input, y = _drop(ignored, input, target)
    loss = torch.where(ignored, 0.0, _bce_with_logits(name, input, y, weight, pos_weight, 2.0 * s, "none"))
    return reduce(loss, reduction, valid=~ignored)


@float32_loss
def balanced_bce_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 1.0,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Balanced binary cross-entropy from logits (pytorch-toolbelt): each batch re-weights its positive and
    negative terms by the share of the other class.

    .. math::

        w_+ = \left(\frac{n_0}{n_0 + n_1 + 10^{-7}}\right)^{\gamma}, \quad w_- = 1 - w_+, \quad
        \ell(x, y) = -\left(w_+^{\gamma}\, y \log\sigma(x) + w_-^{\gamma}\,(1 - y)\log\sigma(-x)\right)

    ``n_1`` and ``n_0`` count the (non-ignored) targets equal to 1 and to 0 over the whole batch. ``gamma`` is
    applied twice, as in the reference (``gamma = 1``, the default, is the plain balance). The weights are
    statistics of the target: no gradient flows through them.

    Args:
        input: logits, shape :math:`(*)`.
        target: hard targets 0 / 1 (values in [0, 1] accepted; only exact 0 and 1 are counted), the input's
            shape; ``ignore_index`` values allowed.
        gamma: the balancing power, >= 0.
        ignore_index: elements whose target equals it count nowhere (zero gradient); None: none.
        reduction: ``"mean"`` (over non-ignored elements, 0 when there are none) | ``"sum"`` | ``"none"``.

    Returns:
        a scalar for ``"mean"`` and ``"sum"``, the input's shape for ``"none"`` (0 at ignored elements).

    Example:
        >>> x, y = torch.tensor([2.0, -1.0, 0.5, 0.0]), torch.tensor([1.0, 0.0, 0.0, 0.0])
        >>> round(float(balanced_bce_loss(x, y)), 4)
        0.1476

    Parity: ``pytorch_toolbelt.losses.BalancedBCEWithLogitsLoss(gamma, reduction, ignore_index)`` (file
    ``pytorch_toolbelt/losses/balanced_bce.py``): identical for "sum" and "none", and for "mean" when nothing
    is ignored.
    """
    name = "balanced_bce"
    check_reduction(name, reduction)
    gamma = _check_nonnegative(name, "gamma", gamma)
    ignored = _check_pair(name, input, target, ignore_index)
    y = target
    if ignored is not None:
        input, y = _drop(ignored, input, target)
    y = y.to(input.dtype)
    valid = None if ignored is None else ~ignored
    acc = acc_dtype(input)
    pos = y == 1
    neg = y == 0
    if valid is not None:
        pos, neg = pos & valid, neg & valid
    n_pos, n_neg = pos.sum(dtype=acc), neg.sum(dtype=acc)
    w_pos = (n_neg / (n_pos + n_neg + 1e-7)).pow(gamma)
    w_neg = 1.0 - w_pos
    loss = -(
        w_pos.pow(gamma).to(input.dtype) * y * F.logsigmoid(input)
        + w_neg.pow(gamma).to(input.dtype) * (1.0 - y) * F.logsigmoid(-input)
    )
    if ignored is None:
        return reduce(loss, reduction)
    loss = torch.where(ignored, 0.0, loss)
    return reduce(loss, reduction, valid=valid)


@float32_loss
def soft_f1_loss(input: Tensor, target: Tensor, *, ignore_index: int | None = None, eps: float = 1e-6) -> Tensor:
    r"""Soft F1 loss from logits (pytorch-toolbelt's binary soft F1): ``1 - F1`` of the probabilities, one
    micro F1 over every non-ignored element of the batch.

    .. math::

        p = \operatorname{clamp}(\sigma(x), \epsilon, 1 - \epsilon), \quad
        TP = \sum p y, \; FP = \sum p (1 - y), \; FN = \sum (1 - p) y, \quad
        \ell = 1 - \frac{2\,TP}{2\,TP + FP + FN + \epsilon}

    Args:
        input: logits, shape :math:`(*)`.
        target: targets in [0, 1] of the input's shape; ``ignore_index`` values allowed.
        ignore_index: elements whose target equals it count nowhere (zero gradient); None: none.
        eps: the probability clamp and the denominator's smoothing, in (0, 0.5).

    Returns:
        a scalar (a batch statistic: there is no per-element value); 0 for an empty batch or when every
        element is ignored (toolbelt returns 0 there too).

    Example:
        >>> x, y = torch.tensor([4.0, -4.0, 2.0, -1.0]), torch.tensor([1.0, 0.0, 1.0, 1.0])
        >>> round(float(soft_f1_loss(x, y)), 4)
        0.1721

    Parity: ``pytorch_toolbelt.losses.BinarySoftF1Loss(ignore_index, eps)`` (file
    ``pytorch_toolbelt/losses/soft_f1.py``, ``soft_micro_f1`` on the flattened, filtered batch). Its
    multiclass ``SoftF1Loss`` (softmax, one-hot) is not this loss.
    """
    name = "soft_f1"
    if not 0.0 < eps < 0.5:
        raise ValueError(f"{name}: eps must be in (0, 0.5), got {eps}")
    ignored = _check_pair(name, input, target, ignore_index)
    acc = acc_dtype(input)
    y = target
    if ignored is not None:
        input, y = _drop(ignored, input, target)
    p = torch.sigmoid(input).clamp(eps, 1.0 - eps)
    y = y.to(input.dtype)
    if ignored is not None:
        # ignored elements get p = y = 0: they add nothing to TP, FP or FN
        p, y = torch.where(ignored, 0.0, p), torch.where(ignored, 0.0, y)
        count = (~ignored).sum(dtype=acc)
    else:
        count = torch.tensor(float(input.numel()), dtype=acc, device=input.device)
    tp = (p * y).sum(dtype=acc)
    fp = (p * (1.0 - y)).sum(dtype=acc)
    fn = ((1.0 - p) * y).sum(dtype=acc)
    f1 = 2.0 * tp / (2.0 * tp + fp + fn + eps)
    # an empty batch (or one all ignored) has no F1 to lose: 0, still connected to the input's graph
    return (1.0 - f1) * (count > 0).to(acc)
