"""Generalized Dice + focal (MONAI's ``GeneralizedDiceFocalLoss``), composed from
:func:`~losskit.functional.region.generalized_dice_loss` and
:func:`~losskit.functional.focal.sigmoid_focal_loss`.

``reduction`` is "mean" | "sum" only, as the other two-term segmentation losses: the terms have different
natural "none" shapes. ``return_terms=True`` returns ``(total, {term: detached value})`` (:func:`with_terms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..compose.terms import with_terms
from ._checks import check_choice
from ._precision import float32_loss
from .focal import kept_sigmoid_focal
from .region import generalized_dice_loss
from .segmentation_input import DEFAULT_MODE, Mode, PairReduction, prepare_segmentation

__all__ = ["generalized_dice_focal_loss"]

Weight = Tensor | Sequence[float] | None
Result = Tensor | tuple[Tensor, dict[str, Tensor]]


def _focal_term(
    input: Tensor,
    target: Tensor,
    mode: str,
    gamma: float,
    weight: Tensor | None,
    ignore_index: int | None,
    include_background: bool,
    reduction: str,
) -> Tensor:
    """MONAI's focal term: a sigmoid focal per channel (no alpha) against the one-hot target in multiclass mode,
    class ``weight`` per channel, mean over the kept elements."""
    keep = None
    if mode == "multiclass" and not target.is_floating_point():
        y = target.long()  # any integer dtype
        if ignore_index is not None:
            keep = (y != ignore_index).unsqueeze(1).expand_as(input)
            y = torch.where(y == ignore_index, torch.zeros_like(y), y)
        t = F.one_hot(y, input.shape[1]).movedim(-1, 1).to(input.dtype)
    else:
        t = target.to(input.dtype)
        if ignore_index is not None:
            keep = t != ignore_index
            t = torch.where(keep, t, torch.zeros_like(t))
    wt = None if weight is None or mode == "binary" else weight.to(input.dtype).view(1, -1, *([1] * (input.dim() - 2)))
    if not include_background and mode != "binary" and input.shape[1] > 1:
        # MONAI drops channel 0 from the focal term too
        input, t = input[:, 1:], t[:, 1:]
        wt = None if wt is None else wt[:, 1:]
        keep = None if keep is None else keep[:, 1:]
    return kept_sigmoid_focal(input, t, gamma=gamma, alpha=None, weight=wt, keep=keep, reduction=reduction)


@float32_loss
def generalized_dice_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    lambda_gdl: float = 1.0,
    lambda_focal: float = 1.0,
    gamma: float = 2.0,
    w_type: Literal["square", "simple", "uniform"] = "square",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    weight: Weight = None,
    ignore_index: int | None = None,
    batch: bool = False,
    include_background: bool = True,
    num_classes: int | None = None,
    reduction: PairReduction = "mean",
    return_terms: bool = False,
) -> Result:
    r"""Generalized Dice + focal: ``lambda_gdl * GDL + lambda_focal * focal`` (MONAI's recipe).

    .. math::

        \mathcal{L} = \lambda_{gdl}\left(1 - \frac{2\sum_c w_c I_c + s_{nr}}{\sum_c w_c (P_c + T_c) + s_{dr}}
        \right) + \lambda_{focal}\,\operatorname{mean}\left(\omega_c (1 - p_t)^\gamma\,
        \mathrm{BCE}(x, y)\right)

    The generalized Dice (Sudre et al. 2017) is :func:`generalized_dice_loss` (softmax in "multiclass",
    sigmoid otherwise; ``w_c`` from ``w_type``). The focal term (Lin et al. 2017) is, as in MONAI, a sigmoid
    focal per channel (:func:`sigmoid_focal_loss`, no alpha) against the one-hot target in "multiclass" mode,
    with the class ``weight`` ``omega_c`` (the Dice term is unweighted, its weights come from ``w_type``);
    ``include_background=False`` drops channel 0 from both terms.

    Args:
        input: logits (N, C, *) ("binary": (N, *) or (N, 1, *)).
        target: class indices (N, *) of any integer dtype or probabilities (N, C, *) ("multiclass"); the
            input's shape in [0, 1] ("multilabel", "binary").
        mode: "multiclass" | "multilabel" | "binary".
        lambda_gdl, lambda_focal: the weights of the two terms.
        gamma: focusing exponent >= 0.
        w_type: "square" | "simple" | "uniform".
        smooth_nr, smooth_dr: smoothing of the Dice ratio.
        weight: (C,) per-class weight of the focal term, or None.
        ignore_index: target value counted in neither term, or None.
        batch: pool the Dice sums over the batch.
        include_background: False drops channel 0.
        num_classes: checked against the input's channels when given.
        reduction: "mean": GDL mean over samples + focal mean over kept elements; "sum": both summed.
        return_terms: also return ``{"generalized_dice": ..., "focal": ...}`` (unweighted, detached).

    Returns:
        a scalar (0 for an empty batch), or ``(total, terms)`` with ``return_terms=True``.

    Example:
        >>> x = torch.zeros(1, 2, 2, 2)
        >>> y = torch.tensor([[[0, 1], [1, 0]]])
        >>> generalized_dice_focal_loss(x, y).round(decimals=4)
        tensor(0.6733)

    Parity: ≡ MONAI ``GeneralizedDiceFocalLoss(softmax=True, to_onehot_y=True, w_type, gamma, weight, lambda_gdl,
    lambda_focal, batch)`` in "multiclass" mode (hard labels) and ``sigmoid=True`` in "multilabel" mode.
    """
    name = "generalized_dice_focal_loss"
    check_choice(name, "w_type", w_type, ("square", "simple", "uniform"))
    prepared, w = prepare_segmentation(
        name,
        input,
        target,
        mode=mode,
        reduction=reduction,
        weight=weight,
        ignore_index=ignore_index,
        num_classes=num_classes,
        reductions=("mean", "sum"),
    )
    gdl = generalized_dice_loss(
        input,
        target,
        w_type=w_type,
        mode=mode,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        ignore_index=ignore_index,
        batch=batch,
        include_background=include_background,
        num_classes=num_classes,
        reduction=reduction,
    )
    if input.numel() == 0:
        focal = input.sum() * 0.0  # empty batch: 0, still connected to the input's graph
    else:
        focal = _focal_term(input, prepared, mode, gamma, w, ignore_index, include_background, reduction)
    total = lambda_gdl * gdl + lambda_focal * focal
    return with_terms(total, {"generalized_dice": gdl, "focal": focal}, return_terms)
