"""Topology losses: soft clDice and Dice + clDice (Shit et al., CVPR 2021), 2-D and 3-D.

clDice compares the *soft skeletons* of the prediction and the target with the other mask: topology precision
``Tprec = |S(p) * t| / |S(p)|`` (how much of the predicted centreline lies in the target) and topology
sensitivity ``Tsens = |S(t) * p| / |S(t)|`` (how much of the true centreline is covered), combined by a
harmonic mean. The soft skeleton ``S`` is the paper's iterated morphology: min-pooling (soft erosion with a
cross, one 3-tap pool per axis) and max-pooling (soft dilation with a full 3^d box).

Inputs are prepared as in the region family (:func:`~losskit.functional.segmentation_input.prepare_segmentation`,
one default ``mode="multiclass"``): logits (or probabilities with ``from_logits=False``) of shape
(N, C, H, W) or (N, C, D, H, W); in binary mode also (N, H, W) / (N, D, H, W) without the channel.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..compose.terms import with_terms
from ..errors import LossInputError
from ._checks import shape_str
from ._numerics import check_smoothing
from ._precision import float32_loss
from ._reduce import reduce
from .region import dice_from_stats, region_terms
from .region_stats import safe_ratio
from .segmentation_input import DEFAULT_MODE, Mode, PairReduction, Reduction, prepare_segmentation

__all__ = ["soft_skeleton", "check_topology_options", "cldice_loss", "dice_cldice_loss"]

Result = Tensor | tuple[Tensor, dict[str, Tensor]]


def _untracked(x: Tensor) -> bool:
    """No graph to record (the target's skeleton): the pools can skip their argmax indices."""
    return not (x.requires_grad and torch.is_grad_enabled())


def _shifted(x: Tensor, dim: int, fn: Callable[[Tensor, Tensor], Tensor], fill: float) -> Tensor:
    """``fn`` (torch.minimum / torch.maximum) over 3 taps along ``dim``, padded with ``fill``: the values of a 3-tap
    pool, ~10x faster on CPU than a pool that also records its argmax indices (unused without a graph)."""
    n = x.shape[dim]
    p = F.pad(x, [0, 0] * (x.dim() - 1 - dim) + [1, 1], value=fill)
    return fn(fn(p.narrow(dim, 0, n), p.narrow(dim, 1, n)), p.narrow(dim, 2, n))


def _erode(x: Tensor) -> Tensor:
    """Soft erosion: the minimum over a cross (one 3-tap min-pool per spatial axis), as the paper's code."""
    d = x.dim() - 2
    if _untracked(x):
        out = _shifted(x, 2, torch.minimum, float("inf"))
        for dim in range(3, x.dim()):
            out = torch.minimum(out, _shifted(x, dim, torch.minimum, float("inf")))
        return out
    pool = F.max_pool2d if d == 2 else F.max_pool3d
    taps = [tuple(3 if i == axis else 1 for i in range(d)) for axis in range(d)]
    pads = [tuple(1 if i == axis else 0 for i in range(d)) for axis in range(d)]
    out = -pool(-x, taps[0], 1, pads[0])
    for k, pad in zip(taps[1:], pads[1:], strict=True):
        out = torch.minimum(out, -pool(-x, k, 1, pad))
    return out


def _dilate(x: Tensor) -> Tensor:
    """Soft dilation: the maximum over the full 3^d box, as one 3-tap max-pool per axis (the max is separable:
    the same values with 3d taps instead of 3^d)."""
    d = x.dim() - 2
    if _untracked(x):
        for dim in range(2, x.dim()):
            x = _shifted(x, dim, torch.maximum, float("-inf"))
        return x
    pool = F.max_pool2d if d == 2 else F.max_pool3d
    for axis in range(d):
        x = pool(x, tuple(3 if i == axis else 1 for i in range(d)), 1, tuple(1 if i == axis else 0 for i in range(d)))
    return x


def soft_skeleton(x: Tensor, iterations: int = 3) -> Tensor:
    """The soft skeleton of a (N, C, H, W) or (N, C, D, H, W) map in [0, 1] (Shit et al. 2021, Alg. 1):
    ``skel = relu(x - open(x))``, then ``iterations`` times ``x = erode(x)``, ``delta = relu(x - open(x))``,
    ``skel += relu(delta - skel * delta)``, with ``open = dilate(erode(.))``.

    The erosion inside ``open(x)`` is the next step's ``x``: computed once (MONAI and the paper's code compute
    it twice), which saves a third of the pooling."""
    eroded = _erode(x)
    skel = F.relu(x - _dilate(eroded))
    for _ in range(iterations):
        x = eroded
        eroded = _erode(x)
        delta = F.relu(x - _dilate(eroded))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def _maps(
    loss: str,
    input: Tensor,
    target: Tensor,
    mode: str,
    from_logits: bool,
    ignore_index: int | None,
    include_background: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Prediction and target as (N, C, *spatial) probability maps and the valid mask (None: all valid)."""
    x, t = input, target
    if mode == "binary" and not (x.dim() in (4, 5) and x.shape[1] == 1):
        x, t = x.unsqueeze(1), t.unsqueeze(1)
    if x.dim() not in (4, 5):
        raise LossInputError(
            f"{loss}: expected a 2-D or 3-D input (N, C, H, W) or (N, C, D, H, W), got {shape_str(input)}"
        )
    if from_logits:
        p = torch.softmax(x, 1) if mode == "multiclass" else torch.sigmoid(x)
    else:
        p = x
    valid: Tensor | None = None
    if not t.is_floating_point():  # multiclass class indices (N, *spatial): one-hot, ignored voxels all-zero
        y = t
        if ignore_index is not None:
            keep = y != ignore_index
            y = torch.where(keep, y, torch.zeros_like(y))
            valid = keep.unsqueeze(1).to(p.dtype)
        # a scatter into p's (contiguous) layout: F.one_hot(...).movedim would give channels-last strides, which
        # the pools and products then run ~1.5x slower on
        t = torch.zeros_like(p, memory_format=torch.contiguous_format).scatter_(1, y.unsqueeze(1), 1.0)
        if valid is not None:
            t = t * valid
    else:
        t = t.to(p.dtype)
        if ignore_index is not None and mode != "multiclass":
            keep = t != ignore_index
            t = torch.where(keep, t, torch.zeros_like(t))
            valid = keep.to(p.dtype)
    if not include_background and p.shape[1] > 1:
        p, t = p[:, 1:], t[:, 1:]
        valid = valid[:, 1:] if valid is not None and valid.shape[1] > 1 else valid
    return p, t.detach(), valid


def _cldice(
    p: Tensor, t: Tensor, valid: Tensor | None, iterations: int, nr: float, dr: float, eps: float
) -> tuple[Tensor, Tensor | None]:
    """Per-sample clDice (N,), pooled over classes and space, and the per-sample "has a valid voxel" mask."""
    skel_p = soft_skeleton(p, iterations)
    with torch.no_grad():
        skel_t = soft_skeleton(t, iterations)
    if valid is not None:
        skel_p, skel_t = skel_p * valid, skel_t * valid
    dims = list(range(1, p.dim()))
    tprec = safe_ratio((skel_p * t).sum(dims) + nr, skel_p.sum(dims) + dr)
    tsens = safe_ratio((skel_t * p).sum(dims) + nr, skel_t.sum(dims) + dr)
    loss = 1.0 - 2.0 * tprec * tsens / (tprec + tsens + eps)
    if valid is None:
        return loss, None
    # a sample with no valid voxel counts nowhere: 0 (times, so a NaN input still gives NaN) and out of the mean
    has_valid = valid.flatten(1).amax(1) > 0
    return loss * has_valid.to(loss.dtype), has_valid


def check_topology_options(loss: str, iterations: int, smooth_nr: float, smooth_dr: float, eps: float) -> None:
    """The option checks of the clDice losses (functional forms and module constructors): ValueError naming
    the loss."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"{loss}: iterations must be an int >= 0, got {iterations!r}")
    check_smoothing(loss, smooth_nr, smooth_dr)
    if isinstance(eps, bool) or not (isinstance(eps, (int, float)) and 0 < eps < float("inf")):
        raise ValueError(f"{loss}: eps must be a finite number > 0, got {eps!r}")


@float32_loss
def cldice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    iterations: int = 3,
    smooth_nr: float = 1.0,
    smooth_dr: float = 1.0,
    eps: float = 1e-4,
    ignore_index: int | None = None,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Soft clDice loss (Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular
    Structure Segmentation", CVPR 2021), per sample, over all (kept) classes and voxels at once.

    .. math::

        T_{prec} = \frac{\sum S(p)\, t + s_{nr}}{\sum S(p) + s_{dr}},\quad
        T_{sens} = \frac{\sum S(t)\, p + s_{nr}}{\sum S(t) + s_{dr}},\quad
        \ell = 1 - \frac{2\, T_{prec} T_{sens}}{T_{prec} + T_{sens} + \epsilon}

    with ``S`` the soft skeleton (:func:`soft_skeleton`, ``iterations`` erosions). Ignored voxels
    (``ignore_index``) are left out of every sum (the target is 0 there); a sample with no valid voxel gives 0
    and is left out of the mean (so an all-ignored batch gives 0).

    Args:
        input: logits (probabilities with ``from_logits=False``), (N, C, H, W) or (N, C, D, H, W); binary mode
            also (N, H, W) / (N, D, H, W).
        target: class indices (N, *spatial) (multiclass), class probabilities or {0, 1} masks of the input's
            shape.
        mode, from_logits, ignore_index, include_background, num_classes: as :func:`dice_loss`.
        iterations: number of soft-erosion steps of the skeleton (>= 0; about the largest radius of a tube).
        smooth_nr, smooth_dr: smoothing of the numerator and denominator of ``Tprec`` and ``Tsens``.
        eps: added to the harmonic mean's denominator (> 0).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (shape (N,)).

    Example:
        >>> x = torch.randn(2, 3, 16, 16)
        >>> y = torch.randint(0, 3, (2, 16, 16))
        >>> cldice_loss(x, y).shape
        torch.Size([])

    Parity: ``cldice_loss(x, y, iterations=k, smooth_nr=a, smooth_dr=b, eps=e)`` ≡ MONAI
    ``SoftclDiceLoss(iter_=k, smooth_nr=a, smooth_dr=b, smooth=e, softmax=True, to_onehot_y=True)(x, y[:, None])``
    ("multilabel"/"binary": ``sigmoid=True`` and a float target; ``from_logits=False``: no activation;
    ``include_background`` the same). MONAI's ``smooth`` is losskit's ``eps``; MONAI has no ``ignore_index``.
    """
    target, _ = prepare_segmentation(
        "cldice_loss", input, target, mode=mode, reduction=reduction, ignore_index=ignore_index, num_classes=num_classes
    )
    check_topology_options("cldice_loss", iterations, smooth_nr, smooth_dr, eps)
    p, t, valid = _maps("cldice_loss", input, target, mode, from_logits, ignore_index, include_background)
    loss, has_valid = _cldice(p, t, valid, iterations, smooth_nr, smooth_dr, eps)
    return reduce(loss, reduction, has_valid)


@float32_loss
def dice_cldice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    alpha: float = 0.5,
    iterations: int = 3,
    smooth_nr: float = 1.0,
    smooth_dr: float = 1.0,
    eps: float = 1e-4,
    ignore_index: int | None = None,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: PairReduction = "mean",
    return_terms: bool = False,
) -> Result:
    r"""Dice + clDice: :math:`(1 - \alpha)\,\text{Dice} + \alpha\,\text{clDice}` (Shit et al., CVPR 2021).

    The Dice term is :func:`dice_loss` per (sample, class) with the same smoothing; the clDice term is
    :func:`cldice_loss` per sample. "mean" combines the two means, "sum" the two sums (no "none": the terms
    have different natural shapes). Terms (``return_terms=True``): ``"dice"``, ``"cldice"``, unweighted.

    Args:
        input, target, mode, from_logits, iterations, smooth_nr, smooth_dr, eps, ignore_index,
            include_background, num_classes: as :func:`cldice_loss`.
        alpha: weight of the clDice term, in [0, 1].
        reduction: ``"mean"`` | ``"sum"``.
        return_terms: also return ``{"dice": ..., "cldice": ...}``, detached.

    Example:
        >>> x = torch.randn(2, 1, 16, 16)
        >>> y = torch.randint(0, 2, (2, 1, 16, 16)).float()
        >>> dice_cldice_loss(x, y, mode="binary").shape
        torch.Size([])

    Parity: ≡ MONAI ``SoftDiceclDiceLoss(iter_=k, alpha=alpha, smooth_nr=a, smooth_dr=b, smooth=eps,
    softmax=True, to_onehot_y=True)`` (``sigmoid=True`` for "binary"/"multilabel"), same mapping as
    :func:`cldice_loss`.
    """
    target, _ = prepare_segmentation(
        "dice_cldice_loss",
        input,
        target,
        mode=mode,
        reduction=reduction,
        ignore_index=ignore_index,
        num_classes=num_classes,
        reductions=("mean", "sum"),
    )
    check_topology_options("dice_cldice_loss", iterations, smooth_nr, smooth_dr, eps)
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"dice_cldice_loss: alpha must be in [0, 1], got {alpha!r}")
    s = region_terms(input, target, mode, from_logits, ignore_index, False, include_background)
    dice = reduce(dice_from_stats(s, smooth_nr, smooth_dr), reduction)
    p, t, valid = _maps("dice_cldice_loss", input, target, mode, from_logits, ignore_index, include_background)
    cl, has_valid = _cldice(p, t, valid, iterations, smooth_nr, smooth_dr, eps)
    cldice = reduce(cl, reduction, has_valid)
    return with_terms((1.0 - alpha) * dice + alpha * cldice, {"dice": dice, "cldice": cldice}, return_terms)
