"""Generalized Wasserstein Dice loss (Fidon et al. 2017), MONAI's ``GeneralizedWassersteinDiceLoss``.

The Dice score is generalised with a distance between classes ``M`` (C x C): a voxel whose label is ``l`` and
whose predicted distribution is ``p`` costs the Wasserstein distance ``W_s = sum_c M[l, c] p_c`` (for a one-hot
label the optimal transport is direct). Confusing two close classes therefore costs less than confusing the
background with a tumour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_choice, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .region_stats import flat_logits, safe_ratio
from .segmentation_input import Reduction, prepare_segmentation

__all__ = ["generalized_wasserstein_dice_loss", "as_dist_matrix", "WEIGHTING_MODES"]

WeightingMode = Literal["default", "GDL"]
WEIGHTING_MODES: tuple[WeightingMode, ...] = ("default", "GDL")
DistMatrix = Tensor | Sequence[Sequence[float]]


def as_dist_matrix(loss: str, value: object, *, check_values: bool = True) -> Tensor:
    """A class-distance matrix as a floating (C, C) tensor: square, C >= 2, and (``check_values``) finite, >= 0,
    zero on the diagonal, with a positive entry (MONAI divides by the largest). The value checks read the
    values (a host sync for a device tensor): the constructor runs them once; the functional form runs them
    for a nested list and only the shape check for a tensor."""
    if isinstance(value, Tensor):
        m = value if value.is_floating_point() else value.float()
    elif isinstance(value, (list, tuple)) and all(isinstance(row, (list, tuple)) for row in value):
        try:
            m = torch.tensor(value, dtype=torch.float32)  # as as_class_weight; a float64 tensor stays float64
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{loss}: dist_matrix must be a C x C matrix of numbers, got {value!r:.200}") from exc
        check_values = True
    else:
        raise ValueError(f"{loss}: dist_matrix must be a tensor or a nested list (C x C), got {value!r:.200}")
    if m.dim() != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"{loss}: dist_matrix must be square C x C with C >= 2, got shape {shape_str(m)}")
    if check_values:
        if not bool(torch.isfinite(m).all()) or bool((m < 0).any()):
            raise ValueError(f"{loss}: dist_matrix must hold finite values >= 0, got {m.tolist()!r:.200}")
        if bool((m.diagonal() != 0).any()):
            raise ValueError(f"{loss}: dist_matrix must be 0 on the diagonal (a class is at distance 0 of itself)")
        if not bool((m > 0).any()):
            raise ValueError(f"{loss}: dist_matrix must have a positive entry (it is divided by its largest)")
    return m


def _class_volumes(y: Tensor, valid: Tensor | None, c: int, dt: torch.dtype) -> Tensor:
    """(N, C) count of each label per sample over the valid voxels (a scatter-add, no one-hot)."""
    n, s = y.shape
    src = valid if valid is not None else torch.ones((1, 1), dtype=dt, device=y.device).expand(n, s)
    return torch.zeros((n, c), dtype=dt, device=y.device).scatter_add_(1, y, src)


@float32_loss
def generalized_wasserstein_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    dist_matrix: DistMatrix | None = None,
    weighting_mode: WeightingMode = "default",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Generalized Wasserstein Dice loss: a Dice loss whose errors are class distances, one value per sample.

    .. math::

        W_s = \sum_c \tilde M_{y_s, c}\, p_{c,s},\qquad
        TP = \sum_s \alpha_{y_s} (1 - W_s),\qquad
        \ell = 1 - \frac{2\,TP + s_{nr}}{D + s_{dr}}

    with ``p = softmax(input)``, ``M~ = M / max(M)``, and, for ``weighting_mode="default"`` (Fidon et al.,
    "Generalised Wasserstein Dice Score for Imbalanced Multi-class Segmentation using Holistic Convolutional
    Networks", BrainLes 2017), ``alpha = 0`` for the background (class 0) and 1 otherwise,
    ``D = 2 TP + sum_s W_s``; for ``"GDL"`` (Tilborghs et al. 2020, appendix) ``alpha_c = 1 / (V_c + 1)`` with
    ``V_c`` the sample's voxel count of class ``c``, ``D = sum_s alpha_{y_s} (2 - W_s)``. A 0/0 ratio (no
    valid voxel and no smoothing) is a perfect score (loss 0).

    Args:
        input: logits (N, C, *spatial), C >= 2 (softmax over dim 1).
        target: class indices (N, *spatial) or (N, 1, *spatial), any integer dtype.
        dist_matrix: (C, C) distances between classes (tensor or nested list): square, finite, >= 0, zero
            diagonal; divided by its largest entry. None: the 0/1 distance (every wrong class at 1).
        weighting_mode: ``"default"`` | ``"GDL"``.
        smooth_nr, smooth_dr: smoothing of the numerator and the denominator.
        ignore_index: label that counts nowhere, or None.
        num_classes: checked against C when given.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        a scalar for "mean"/"sum" (0 for an empty batch), the per-sample losses (N,) for "none".

    Example:
        >>> m = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]]
        >>> x = torch.zeros(1, 3, 2, 1)  # uniform predictions
        >>> y = torch.tensor([[[0], [1]]])
        >>> generalized_wasserstein_dice_loss(x, y, dist_matrix=m).round(decimals=4)
        tensor(0.5385)

    Parity: ≡ MONAI ``GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode, reduction, smooth_nr,
    smooth_dr)`` on the same logits and labels ((N, *) or (N, 1, *)). MONAI has no ``ignore_index`` and requires
    ``dist_matrix``.
    """
    name = "generalized_wasserstein_dice_loss"
    check_choice(name, "weighting_mode", weighting_mode, WEIGHTING_MODES)
    prepared, _ = prepare_segmentation(
        name, input, target, mode="multiclass", reduction=reduction, ignore_index=ignore_index, num_classes=num_classes
    )
    if prepared.is_floating_point():
        raise LossInputError(
            f"{name}: expected integer class indices as target, got {prepared.dtype} {shape_str(prepared)}"
        )
    x = flat_logits(input, False)
    n, c, s = x.shape
    dt = acc_dtype(x)
    if dist_matrix is None:
        m = 1.0 - torch.eye(c, dtype=dt, device=x.device)
    else:
        m = as_dist_matrix(name, dist_matrix, check_values=False).to(device=x.device, dtype=dt)
        if m.shape[0] != c:
            raise LossInputError(f"{name}: dist_matrix is {m.shape[0]} x {m.shape[0]} for an input with {c} classes")
    m = m / m.amax()
    y = prepared.reshape(n, s)
    valid = None
    if ignore_index is not None:
        keep = y != ignore_index
        y = torch.where(keep, y, torch.zeros_like(y))  # an ignored 255 never reaches the gathers
        valid = keep.to(dt)
    p = torch.softmax(x, dim=1, dtype=dt)
    # W[b, s] = sum_c M[y_s, c] p[b, c, s]: the row y_s of M p
    wass = torch.matmul(m, p).gather(1, y.unsqueeze(1)).squeeze(1)
    if weighting_mode == "GDL":
        alpha = (1.0 / (_class_volumes(y, valid, c, dt) + 1.0)).gather(1, y)
    else:
        alpha = (y != 0).to(dt)
    if valid is not None:
        alpha = alpha * valid
        wass = wass * valid
    true_pos = (alpha * (1.0 - wass)).sum(-1)
    if weighting_mode == "GDL":
        # contrary to the paper, the GDL weights enter the "all error" term too (MONAI's variant)
        den = (alpha * (2.0 - wass)).sum(-1)
    else:
        den = 2.0 * true_pos + wass.sum(-1)
    loss = 1.0 - safe_ratio(2.0 * true_pos + smooth_nr, den + smooth_dr)
    return reduce(loss, reduction)
