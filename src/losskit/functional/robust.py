"""kornia's robust losses (Cauchy, Geman-McClure, Welsch), the wing loss for landmarks, and total variation.

The three robust losses are fixed-``alpha`` cases of Barron's general loss (``scale = 1``), so each checks its
own inputs (errors name the loss) and then calls :func:`losskit.functional.regression.barron_loss`: one
implementation of the formulas. Defaults follow losskit (``reduction="mean"``), where kornia's default is
``"none"``. Every function follows the zoo's autocast rule (``float32_loss``); an empty input gives 0 with a
zero gradient for "mean" and "sum", and a NaN in the input reaches the output.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, is_finite, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .regression import _pair, _residual, barron_loss

__all__ = ["cauchy_loss", "geman_mcclure_loss", "welsch_loss", "wing_loss", "total_variation_loss"]

Reduction = Literal["mean", "sum", "none"]
PixelReduction = Literal["sum", "mean"]


@float32_loss
def cauchy_loss(input: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""Cauchy (Lorentzian) loss of the residual ``d = input - target`` (Black & Anandan, CVIU 1996).

    .. math::

        \ell(x, y) = \log\left(\tfrac{1}{2} (x - y)^2 + 1\right)

    Barron's loss with :math:`\alpha = 0`, scale 1 ("A General and Adaptive Robust Loss Function", CVPR 2019).

    Args:
        input: predictions, shape :math:`(*)`.
        target: targets, the input's shape (no broadcasting).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty input), the input's shape for ``"none"``.

    Example:
        >>> cauchy_loss(torch.tensor([0.0, 1.0, 2.0]), torch.zeros(3), reduction="none")
        tensor([0.0000, 0.4055, 1.0986])

    Parity: ``kornia.losses.cauchy_loss(input, target, reduction=reduction)`` (kornia's default is "none").
    """
    _pair("cauchy", input, target, reduction)
    return barron_loss(input, target, alpha=0.0, reduction=reduction)


@float32_loss
def geman_mcclure_loss(input: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""Geman-McClure loss of the residual ``d = input - target`` (Geman & McClure 1985).

    .. math::

        \ell(x, y) = \frac{2 (x - y)^2}{(x - y)^2 + 4}

    Barron's loss with :math:`\alpha = -2`, scale 1; bounded by 2.

    Args:
        input: predictions, shape :math:`(*)`.
        target: targets, the input's shape (no broadcasting).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty input), the input's shape for ``"none"``.

    Example:
        >>> geman_mcclure_loss(torch.tensor([0.0, 2.0]), torch.zeros(2), reduction="none")
        tensor([0., 1.])

    Parity: ``kornia.losses.geman_mcclure_loss(input, target, reduction=reduction)``.
    """
    _pair("geman_mcclure", input, target, reduction)
    return barron_loss(input, target, alpha=-2.0, reduction=reduction)


@float32_loss
def welsch_loss(input: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""Welsch (Leclerc) loss of the residual ``d = input - target`` (Dennis & Welsch 1978).

    .. math::

        \ell(x, y) = 1 - \exp\left(-\tfrac{1}{2} (x - y)^2\right)

    Barron's loss with :math:`\alpha = -\infty`, scale 1; bounded by 1. Evaluated as ``-expm1(-d^2 / 2)``,
    accurate near ``d = 0`` (kornia uses an equivalent ``tanh`` form there).

    Args:
        input: predictions, shape :math:`(*)`.
        target: targets, the input's shape (no broadcasting).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty input), the input's shape for ``"none"``.

    Example:
        >>> welsch_loss(torch.tensor([0.0, 1.0]), torch.zeros(2), reduction="none")
        tensor([0.0000, 0.3935])

    Parity: ``kornia.losses.welsch_loss(input, target, reduction=reduction)``.
    """
    _pair("welsch", input, target, reduction)
    return barron_loss(input, target, alpha=-math.inf, reduction=reduction)


def check_wing_options(w: float, epsilon: float) -> None:
    """``w`` and ``epsilon`` must be finite and > 0 (else the log branch or its constant is undefined)."""
    for what, v in (("w", w), ("epsilon", epsilon)):
        if not (isinstance(v, (int, float)) and is_finite(v) and v > 0):
            raise ValueError(f"wing: {what} must be a finite number > 0, got {v!r}")


@float32_loss
def wing_loss(
    input: Tensor, target: Tensor, *, w: float = 10.0, epsilon: float = 2.0, reduction: Reduction = "mean"
) -> Tensor:
    r"""Wing loss for landmark regression (Feng et al., "Wing Loss for Robust Facial Landmark Localisation
    with Convolutional Neural Networks", CVPR 2018).

    .. math::

        \operatorname{wing}(d) = \begin{cases} w \ln(1 + |d| / \epsilon) & |d| < w \\
        |d| - C & \text{otherwise} \end{cases}, \qquad C = w - w \ln(1 + w / \epsilon)

    per coordinate of ``d = input - target``: logarithmic (amplifying small and medium errors) inside
    ``(-w, w)``, L1 outside, continuous at ``|d| = w``. The paper sums over the coordinates of a face
    (``reduction="sum"`` per sample is that); ``"mean"`` averages over every coordinate.

    Args:
        input: predicted landmark coordinates, any shape :math:`(*)`, e.g. :math:`(N, L, 2)`.
        target: ground-truth coordinates, the input's shape (no broadcasting).
        w: half-width of the non-linear part (finite, > 0; the paper's default 10, in the coordinates' units).
        epsilon: curvature of the non-linear part (finite, > 0; default 2).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty input), the input's shape for ``"none"``.

    Example:
        >>> wing_loss(torch.tensor([0.0, 2.0, 20.0]), torch.zeros(3), reduction="none")
        tensor([ 0.0000,  6.9315, 27.9176])

    Parity: no kornia/MONAI counterpart; tested against the closed form.
    """
    check_wing_options(w, epsilon)
    a = _residual("wing", input, target, reduction).abs()
    c = w - w * math.log1p(w / epsilon)
    # NaN < w is False: a NaN residual takes the linear branch and stays NaN.
    return reduce(torch.where(a < w, w * torch.log1p(a / epsilon), a - c), reduction)


@float32_loss
def total_variation_loss(
    input: Tensor, *, pixel_reduction: PixelReduction = "sum", reduction: Reduction = "mean"
) -> Tensor:
    r"""Anisotropic total variation of images, a smoothness regulariser of one image (Rudin, Osher & Fatemi,
    "Nonlinear total variation based noise removal algorithms", Physica D 1992).

    .. math::

        \operatorname{TV}(x) = \sum_{i,j} |x_{i+1,j} - x_{i,j}| + \sum_{i,j} |x_{i,j+1} - x_{i,j}|

    per image (every leading index, so per sample and channel: channels are not summed). With
    ``pixel_reduction="mean"`` each of the two terms is averaged over its own count (``(H - 1) W`` vertical,
    ``H (W - 1)`` horizontal differences) and the two means are added; an axis of size 1 contributes 0.
    ``reduction`` then reduces the per-image values ``(*,)``.

    Args:
        input: images, shape :math:`(*, H, W)`, at least 2-D.
        pixel_reduction: ``"sum"`` | ``"mean"``: kornia's ``reduction``, over the pixels of each image.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the images.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty batch), the per-image values :math:`(*)` for
        ``"none"``.

    Example:
        >>> img = torch.tensor([[0.0, 1.0], [1.0, 3.0]])
        >>> total_variation_loss(img)
        tensor(6.)

    Parity: ``total_variation_loss(x, pixel_reduction=p, reduction="none")`` ≡
    ``kornia.losses.total_variation(x, reduction=p)``; "mean" / "sum" are its ``.mean()`` / ``.sum()``.
    """
    loss = "total_variation"
    check_float(loss, "input", input)
    check_choice(loss, "pixel_reduction", pixel_reduction, ("sum", "mean"))
    check_reduction(loss, reduction)
    if input.dim() < 2:
        raise LossInputError(f"{loss}: expected images (*, H, W), got {shape_str(input)}")
    dt = acc_dtype(input)
    dv = (input[..., 1:, :] - input[..., :-1, :]).abs().sum(dim=(-2, -1), dtype=dt)
    dh = (input[..., :, 1:] - input[..., :, :-1]).abs().sum(dim=(-2, -1), dtype=dt)
    if pixel_reduction == "mean":
        h, w = input.shape[-2:]
        # an axis with no adjacent pixels has a zero sum: divide by 1 there (kornia's 0 for that term)
        dv = dv / max((h - 1) * w, 1)
        dh = dh / max(h * (w - 1), 1)
    return reduce(dv + dh, reduction)
