"""Asymmetric unified focal loss (Yeung et al. 2022), MONAI's ``AsymmetricUnifiedFocalLoss``.

Two terms, both asymmetric: the background (channel 0) is focused (suppressed), the foreground is not.

* asymmetric focal: ``(1 - delta) (1 - p_0)^gamma CE_0`` on the background, ``delta CE_c`` on each foreground
  class, a mean over (sample, channel, voxel) entries;
* asymmetric focal Tversky: ``TI_c = (TP + eps) / (TP + delta FN + (1 - delta) FP + eps)`` per (sample,
  class), ``1 - TI_0`` on the background and ``(1 - TI_c)^(1 - gamma)`` on the foreground, a mean over entries.

MONAI (and the paper's code) is binary: background channel 0, foreground channel 1. Here every channel
``c >= 1`` is a foreground class, which is MONAI's loss for C = 2 (MONAI silently ignores channels >= 2).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..compose.terms import with_terms
from ._checks import check_choice, is_finite
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .region import tversky_index
from .region_stats import RegionStats, flat_logits
from .segmentation_input import PairReduction, prepare_segmentation

__all__ = ["unified_focal_loss", "check_unified_focal_options", "UNIFIED_MODES"]

UnifiedMode = Literal["binary", "multiclass"]
UNIFIED_MODES: tuple[UnifiedMode, ...] = ("binary", "multiclass")
Result = Tensor | tuple[Tensor, dict[str, Tensor]]


def check_unified_focal_options(loss: str, lambda_focal: float, gamma: float, delta: float, epsilon: float) -> None:
    """The numeric options, checked by the functional form and the constructor (ValueError naming the loss)."""
    for what, value in (("lambda_focal", lambda_focal), ("delta", delta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{loss}: {what} must be in [0, 1], got {value!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 <= gamma <= 1.0:
        # gamma > 1 would raise (1 - TI)^(1 - gamma) to a negative power: an infinite loss at a perfect class
        raise ValueError(f"{loss}: gamma must be in [0, 1], got {gamma!r}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (is_finite(epsilon) and epsilon >= 0):
        raise ValueError(f"{loss}: epsilon must be a finite number >= 0, got {epsilon!r}")


def _safe_pow(base: Tensor, exponent: float) -> Tensor:
    """``base ** exponent`` for an exponent in [0, 1], whose slope is infinite at 0: a zero base gives exactly 0
    (1 for exponent 0) and a zero gradient. The test is ``base <= tiny``, False for NaN: NaN stays NaN."""
    tiny = torch.finfo(base.dtype).tiny
    at_zero = torch.zeros_like(base) if exponent > 0 else torch.ones_like(base)
    return torch.where(base <= tiny, at_zero, base.clamp_min(tiny).pow(exponent))


def _probabilities(
    input: Tensor, target: Tensor, mode: str, from_logits: bool, epsilon: float, ignore_index: int | None
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """(N, K, S) probabilities, log-probabilities and dense target (K = 2 in binary mode: background, foreground),
    and the (N, 1, S) or (N, K, S) validity mask (None when nothing is ignored)."""
    binary = mode == "binary"
    x = flat_logits(input, binary)
    dt = acc_dtype(x)
    n, c, s = x.shape
    if binary:
        x = x.to(dt)
        if from_logits:
            p1, logp1, logp0 = torch.sigmoid(x), F.logsigmoid(x), F.logsigmoid(-x)
            p, logp = torch.cat([1.0 - p1, p1], 1), torch.cat([logp0, logp1], 1)
        else:
            p1 = x.clamp(epsilon, 1.0 - epsilon)  # MONAI's clamp, on the probabilities it is given
            p = torch.cat([1.0 - p1, p1], 1)
            logp = p.log()
    elif from_logits:
        p, logp = torch.softmax(x, 1, dtype=dt), torch.log_softmax(x, 1, dtype=dt)
    else:
        p = x.to(dt).clamp(epsilon, 1.0 - epsilon)
        logp = p.log()
    valid = None
    if mode == "multiclass" and not target.is_floating_point():
        y = target.reshape(n, s)
        if ignore_index is not None:
            keep = y != ignore_index
            y = torch.where(keep, y, torch.zeros_like(y))  # an ignored 255 never reaches the one-hot
            valid = keep.to(dt).unsqueeze(1)
        t = torch.zeros_like(p).scatter_(1, y.unsqueeze(1), 1.0)
    else:
        t = target.reshape(n, c, s).detach().to(dt)
        if ignore_index is not None and binary:
            keep = t != ignore_index
            t = torch.where(keep, t, torch.zeros_like(t))
            valid = keep.to(dt)
        if binary:
            t = torch.cat([1.0 - t, t], 1)
    return p, logp, t, valid


@float32_loss
def unified_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: UnifiedMode = "multiclass",
    from_logits: bool = True,
    lambda_focal: float = 0.5,
    gamma: float = 0.5,
    delta: float = 0.7,
    epsilon: float = 1e-7,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: PairReduction = "mean",
    return_terms: bool = False,
) -> Result:
    r"""Asymmetric unified focal loss: ``lambda_focal * focal + (1 - lambda_focal) * focal_tversky``.

    .. math::

        \mathcal{L}_{aF} = \operatorname{mean}\big[(1-\delta)(1-p_0)^\gamma(-t_0\log p_0),\
        \delta(-t_c\log p_c)\big],\qquad
        \mathcal{L}_{aFT} = \operatorname{mean}\big[1 - TI_0,\ (1 - TI_c)^{1-\gamma}\big]

    ``TI_c = (TP_c + eps) / (TP_c + delta FN_c + (1 - delta) FP_c + eps)`` per (sample, class), ``c >= 1`` the
    foreground classes (Yeung, Sala, Schönlieb, Rundo, "Unified Focal loss: Generalising Dice and cross
    entropy-based losses to handle class imbalanced medical image segmentation", CMIG 2022). ``TP`` is the
    soft intersection ``sum min(p, t)`` (``sum p t`` for hard labels, the zoo's soft-label form).

    Args:
        input: logits (N, C, *spatial), C >= 2, softmax ("multiclass"); (N, 1, *spatial) or (N, *spatial), a
            sigmoid foreground ("binary"). Probabilities with ``from_logits=False``.
        target: class indices (N, *spatial) / (N, 1, *spatial) or probabilities (N, C, *spatial)
            ("multiclass"); the input's shape in [0, 1] ("binary").
        mode: ``"multiclass"`` | ``"binary"``.
        from_logits: False: ``input`` holds probabilities, clamped to ``[epsilon, 1 - epsilon]`` as in MONAI.
        lambda_focal: weight of the focal term in [0, 1]; the Tversky term gets ``1 - lambda_focal``.
        gamma: focusing exponent in [0, 1] (background focal term ``gamma``, foreground Tversky ``1 - gamma``).
        delta: foreground weight in [0, 1] (false negatives in the Tversky index, foreground cross-entropy).
        epsilon: smoothing of the Tversky index, and the probability clamp with ``from_logits=False``.
        ignore_index: label (or, in binary mode, target value) that counts nowhere, or None.
        num_classes: checked against C when given.
        reduction: ``"mean"`` (MONAI's) | ``"sum"`` (both terms summed over their entries).
        return_terms: also return ``{"focal": ..., "focal_tversky": ...}`` (unweighted, detached).

    Returns:
        a scalar (0 for an empty batch), or ``(total, terms)`` with ``return_terms=True``.

    Example:
        >>> x = torch.tensor([[[2.0, -1.0]], [[-2.0, 1.0]]]).reshape(1, 2, 1, 2)
        >>> y = torch.tensor([[[0, 1]]])
        >>> unified_focal_loss(x, y).round(decimals=4)
        tensor(0.0986)

    Parity: MONAI ``AsymmetricUnifiedFocalLoss(weight=lambda_focal, gamma, delta)`` takes **probabilities**
    (it clamps, it does not apply a sigmoid whatever its docstring says) and is binary: ≡
    ``unified_focal(mode="binary", from_logits=False)`` on (N, 1, *) probabilities and a {0, 1} target (MONAI
    adds the background channel ``1 - p``), and ≡ ``unified_focal(from_logits=False)`` on (N, 2, *)
    probabilities with MONAI's ``to_onehot_y=True, num_classes=2`` and an (N, 1, *) label map. With logits,
    ``unified_focal(x)`` equals MONAI on ``softmax(x)`` (``sigmoid(x)`` in binary mode) wherever the
    probabilities lie in ``[epsilon, 1 - epsilon]``; outside, the log-space cross-entropy keeps its gradient
    where MONAI's clamp cuts it. MONAI's "none" returns the same scalar as "mean"; its ``ignore_index`` zeroes
    the ignored voxels but still counts them in the means (here they count nowhere).
    """
    name = "unified_focal_loss"
    check_choice(name, "mode", mode, UNIFIED_MODES)
    check_unified_focal_options(name, lambda_focal, gamma, delta, epsilon)
    prepared, _ = prepare_segmentation(
        name,
        input,
        target,
        mode=mode,
        reduction=reduction,
        ignore_index=ignore_index,
        num_classes=num_classes,
        reductions=("mean", "sum"),
    )
    p, logp, t, valid = _probabilities(input, prepared, mode, from_logits, epsilon, ignore_index)
    # asymmetric focal: the background's cross-entropy is focused, the foreground's is not
    ce = -t * logp
    focal = torch.cat([(1.0 - delta) * _safe_pow(1.0 - p[:, :1], gamma) * ce[:, :1], delta * ce[:, 1:]], 1)
    if valid is not None:
        keep = valid > 0  # masked with where, so an ignored voxel's value never reaches the sums
        focal = torch.where(keep, focal, 0.0)
        p, t = torch.where(keep, p, 0.0), torch.where(keep, t, 0.0)
        focal_term = reduce(focal, reduction, valid.expand_as(focal))
    else:
        focal_term = reduce(focal, reduction)
    # asymmetric focal Tversky: delta weighs false negatives, 1 - delta false positives
    inter = torch.minimum(p, t).sum(-1)
    stats = RegionStats(inter, p.sum(-1), t.sum(-1), inter)  # count is unused by the Tversky index
    ti = tversky_index(stats, 1.0 - delta, delta, epsilon, epsilon)
    tversky = torch.cat([1.0 - ti[:, :1], _safe_pow(1.0 - ti[:, 1:], 1.0 - gamma)], 1)
    tversky_term = reduce(tversky, reduction)
    total = lambda_focal * focal_term + (1.0 - lambda_focal) * tversky_term
    return with_terms(total, {"focal": focal_term, "focal_tversky": tversky_term}, return_terms)
