"""Distance-transform losses: Hausdorff DT (Karimi & Salcudean, TMI 2019) and boundary (Kervadec et al., MIDL 2019).

Both weight the prediction by Euclidean distance maps of masks: the Hausdorff loss by the distance of every
voxel to the other class in the thresholded prediction and in the target, the boundary (surface) loss by
the signed distance to the target's surface. The maps come from :func:`~losskit.functional.distance_transform`
(exact, in its two-sided mode, batched over every sample, class and mask at once, on the input's device, where
MONAI runs scipy twice per sample, class and mask on the host). The Hausdorff weights ``d^alpha`` are read from
the integer squared distances by a table (no float power per voxel). The maps carry no gradient.

Inputs are prepared as in the region family (:func:`~losskit.functional.segmentation_input.prepare_segmentation`,
``mode``/``from_logits``): logits (N, C, H, W) or (N, C, D, H, W); in binary mode also (N, H, W) / (N, D, H, W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ._precision import float32_loss
from ._reduce import reduce
from .distance import _distance, check_sampling
from .segmentation_input import DEFAULT_MODE, Mode, Reduction, prepare_segmentation
from .topology import _maps

__all__ = ["hausdorff_dt_loss", "log_hausdorff_dt_loss", "boundary_loss", "check_alpha"]

Sampling = float | Sequence[float] | None


def check_alpha(loss: str, alpha: object) -> float:
    """The Hausdorff exponent: a finite number > 0, or a ValueError naming the loss."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < math.inf:
        raise ValueError(f"{loss}: alpha must be a finite number > 0, got {alpha!r}")
    return float(alpha)


def _probabilities(
    loss: str,
    input: Tensor,
    target: Tensor,
    mode: str,
    from_logits: bool,
    include_background: bool,
    num_classes: int | None,
    reduction: str,
    sampling: Sampling,
) -> tuple[Tensor, Tensor, tuple[float, ...]]:
    """Validated (N, C, *spatial) probabilities and target (channel 0 dropped without the background), and the
    spacing per spatial dim."""
    target, _ = prepare_segmentation(loss, input, target, mode=mode, reduction=reduction, num_classes=num_classes)
    p, t, _ = _maps(loss, input, target, mode, from_logits, None, include_background)
    return p, t, check_sampling(loss, sampling, p.dim() - 2)


def _per_map(values: Tensor, batch: bool) -> Tensor:
    """Mean over the spatial dims, (N, C); with ``batch`` also over the samples, (C,)."""
    per = values.flatten(2).mean(2)
    return per.mean(0) if batch else per


def _hausdorff(p: Tensor, t: Tensor, alpha: float, batch: bool, spacing: tuple[float, ...]) -> Tensor:
    with torch.no_grad():
        # two-sided: edt(m) + edt(~m) of MONAI's distance_field, to the power alpha; 0 on a map with one class.
        # Both masks' terms are added into one buffer, chunk by chunk (the peak memory of one map set)
        weight = torch.zeros(p.shape, dtype=p.dtype, device=p.device)
        for mask in (p.detach() > 0.5, t > 0.5):
            _distance(mask, spacing, p.dim() - 2, p.dtype, True, alpha, out=weight)
    diff = p - t
    return _per_map((diff * diff).mul_(weight), batch)  # the square is not saved for backward: in place


@float32_loss
def hausdorff_dt_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    alpha: float = 2.0,
    include_background: bool = True,
    num_classes: int | None = None,
    batch: bool = False,
    sampling: Sampling = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Hausdorff distance-transform loss (Karimi & Salcudean, "Reducing the Hausdorff Distance in Medical Image
    Segmentation with Convolutional Neural Networks", IEEE TMI 39(2), 2019), per sample and class.

    .. math::

        \ell_{n,c} = \frac{1}{|\Omega|} \sum_{x \in \Omega} \big(p(x) - t(x)\big)^2
        \big(d_p(x)^\alpha + d_t(x)^\alpha\big)

    with ``d_p`` (``d_t``) the distance of ``x`` to the nearest voxel of the other class in the mask
    ``p > 0.5`` (``t > 0.5``) of that sample and class (:func:`distance_transform`, two-sided), 0 on a mask
    with one class only (no boundary, as MONAI). The maps carry no gradient; they are computed for every
    sample and class at once on the input's device.

    Args:
        input: logits (probabilities with ``from_logits=False``), (N, C, H, W) or (N, C, D, H, W); binary mode
            also (N, H, W) / (N, D, H, W).
        target: class indices (N, *spatial) (multiclass), class probabilities or {0, 1} masks of the input's
            shape.
        mode, from_logits, include_background, num_classes: as :func:`dice_loss`.
        alpha: exponent of the distances (> 0; default 2, the paper's).
        batch: False: one value per (sample, class); True: averaged over the batch too, one per class.
        sampling: voxel spacing (one number, or one per spatial dim), as
            :func:`distance_transform`; default 1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` ((N, C), or (C,) with ``batch``).

    Example:
        >>> x = torch.randn(2, 3, 16, 16)
        >>> y = torch.randint(0, 3, (2, 16, 16))
        >>> hausdorff_dt_loss(x, y).shape
        torch.Size([])

    Parity: ``hausdorff_dt_loss(x, y, alpha=a, include_background=b, batch=k, reduction=r)`` ≡ MONAI
    ``HausdorffDTLoss(alpha=a, include_background=b, batch=k, reduction=r, softmax=True, to_onehot_y=True)(x,
    y[:, None])`` ("multilabel"/"binary": ``sigmoid=True`` and a float target; ``from_logits=False``: no
    activation). MONAI's "none" has shape (N, C, 1, 1[, 1]) where losskit's is (N, C); MONAI's default is
    ``include_background=False``, losskit's True (the region family's); MONAI computes the maps in float32.
    """
    p, t, spacing = _probabilities(
        "hausdorff_dt_loss", input, target, mode, from_logits, include_background, num_classes, reduction, sampling
    )
    a = check_alpha("hausdorff_dt_loss", alpha)
    return reduce(_hausdorff(p, t, a, bool(batch), spacing), reduction)


@float32_loss
def log_hausdorff_dt_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    alpha: float = 2.0,
    include_background: bool = True,
    num_classes: int | None = None,
    batch: bool = False,
    sampling: Sampling = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r""":math:`\log(1 + \ell)` of the reduced :func:`hausdorff_dt_loss` ``\ell`` (elementwise for "none"),
    which tames the loss's large early values.

    Args:
        input, target, mode, from_logits, alpha, include_background, num_classes, batch, sampling, reduction:
            as :func:`hausdorff_dt_loss`.

    Example:
        >>> x = torch.randn(2, 1, 16, 16)
        >>> y = torch.randint(0, 2, (2, 1, 16, 16)).float()
        >>> log_hausdorff_dt_loss(x, y, mode="binary").shape
        torch.Size([])

    Parity: ≡ MONAI ``LogHausdorffDTLoss`` with the mapping of :func:`hausdorff_dt_loss` (MONAI: ``log(l + 1)``).
    """
    p, t, spacing = _probabilities(
        "log_hausdorff_dt_loss", input, target, mode, from_logits, include_background, num_classes, reduction, sampling
    )
    a = check_alpha("log_hausdorff_dt_loss", alpha)
    return torch.log1p(reduce(_hausdorff(p, t, a, bool(batch), spacing), reduction))


@float32_loss
def boundary_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = DEFAULT_MODE,
    from_logits: bool = True,
    include_background: bool = True,
    num_classes: int | None = None,
    batch: bool = False,
    sampling: Sampling = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Boundary (surface) loss (Kervadec et al., "Boundary loss for highly unbalanced segmentation", MIDL 2019),
    per sample and class.

    .. math::

        \ell_{n,c} = \frac{1}{|\Omega|} \sum_{x \in \Omega} p(x)\, \phi(x),\qquad
        \phi(x) = \begin{cases} d(x) & t(x) \le 0.5 \\ 1 - d(x) & t(x) > 0.5 \end{cases}

    with ``d`` the distance of ``x`` to the nearest voxel of the other class in the target mask ``t > 0.5``
    (:func:`distance_transform`, two-sided): positive outside the object, 0 on its inner boundary and
    negative inside (MONAI's map). ``phi`` is 0 on a mask with one class only (no surface). The loss is
    linear in ``p``; it is usually added to a region loss (e.g. Dice) with a weight that grows in training.

    Args:
        input: logits (probabilities with ``from_logits=False``), (N, C, H, W) or (N, C, D, H, W); binary mode
            also (N, H, W) / (N, D, H, W).
        target: class indices (N, *spatial) (multiclass), class probabilities or {0, 1} masks of the input's
            shape.
        mode, from_logits, include_background, num_classes: as :func:`dice_loss`.
        batch: False: one value per (sample, class); True: averaged over the batch too, one per class.
        sampling: voxel spacing (one number, or one per spatial dim), as :func:`distance_transform`; default 1
            (``phi`` is then in those units; the ``1`` inside the object stays 1).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` ((N, C), or (C,) with ``batch``).

    Example:
        >>> x = torch.randn(2, 3, 16, 16)
        >>> y = torch.randint(0, 3, (2, 16, 16))
        >>> boundary_loss(x, y).shape
        torch.Size([])

    Parity: ``boundary_loss(x, y, include_background=b, batch=k, reduction=r)`` ≡ MONAI
    ``BoundaryLoss(include_background=b, batch=k, reduction=r, softmax=True, to_onehot_y=True)(x, y[:, None])``
    ("multilabel"/"binary": ``sigmoid=True`` and a float target; ``from_logits=False``: no activation);
    MONAI computes the map in float32.
    """
    p, t, spacing = _probabilities(
        "boundary_loss", input, target, mode, from_logits, include_background, num_classes, reduction, sampling
    )
    with torch.no_grad():  # phi: 0 on a map with one class (no surface), as MONAI
        phi = _distance(t > 0.5, spacing, p.dim() - 2, p.dtype, True, 1.0, signed=True)
    # the per-map mean of p * phi as a batched dot product: no (N, C, *spatial) product in memory
    per = torch.einsum("ncx,ncx->nc", p.flatten(2), phi.flatten(2)) / math.prod(p.shape[2:])
    return reduce(per.mean(0) if batch else per, reduction)
