"""MS-SSIM + L1 loss (Zhao, Gallo, Frosio, Kautz 2017), kornia's ``MS_SSIMLoss``: per pixel, a blend of one
minus a multi-scale SSIM (one Gaussian per scale, all at full resolution) and a Gaussian-weighted L1.

The windowed statistics reuse the separable filter of :mod:`losskit.functional.image_quality`: the five maps
``x, y, x^2, y^2, xy`` (and ``|x - y|`` at the coarsest scale) are filtered along each axis with the 1-D
Gaussian of each scale, ``O(k)`` per pixel and scale instead of kornia's ``O(k^2)`` 2-D masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..compose.terms import with_terms
from ..errors import LossInputError
from ._checks import check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import reduce
from .image_quality import _separable_filter, _window_1d

__all__ = ["MS_SSIM_L1_SIGMAS", "ms_ssim_l1_loss", "check_ms_ssim_l1_options"]

Reduction = Literal["mean", "sum", "none"]
#: kornia's (and Zhao et al.'s code's) Gaussian sigmas, finest first; the last is the coarsest scale.
MS_SSIM_L1_SIGMAS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)


def check_ms_ssim_l1_options(
    name: str,
    sigmas: Sequence[float],
    data_range: float,
    k1: float,
    k2: float,
    alpha: float,
    compensation: float,
) -> tuple[float, ...]:
    """Option checks shared by the functional form and the module; returns ``sigmas`` as a tuple of floats."""
    try:
        s = tuple(float(v) for v in sigmas)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: sigmas must be a sequence of numbers > 0, got {sigmas!r}") from None
    if not s or not all(v > 0 for v in s):
        raise ValueError(f"{name}: sigmas must be a non-empty sequence of numbers > 0, got {sigmas!r}")
    for what, value in (("data_range", data_range), ("compensation", compensation)):
        if not float(value) > 0:
            raise ValueError(f"{name}: {what} must be > 0, got {value!r}")
    for what, value in (("k1", k1), ("k2", k2)):
        if not float(value) >= 0:
            raise ValueError(f"{name}: {what} must be >= 0, got {value!r}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"{name}: alpha must be in [0, 1], got {alpha!r}")
    return s


@float32_loss
def ms_ssim_l1_loss(
    input: Tensor,
    target: Tensor,
    *,
    sigmas: Sequence[float] = MS_SSIM_L1_SIGMAS,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
    alpha: float = 0.025,
    compensation: float = 200.0,
    reduction: Reduction = "mean",
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    r"""MS-SSIM + L1 loss: a per-pixel blend of one minus multi-scale SSIM and a Gaussian-weighted L1.

    .. math::

        \ell = c \left(\alpha \left(1 - \operatorname{mean}_c\, l_M \prod_{j=1}^{M} cs_j\right)
        + (1 - \alpha)\, \frac{\operatorname{mean}_c\, G_{\sigma_M} * |x - y|}{L}\right)

    per pixel, where :math:`cs_j` is SSIM's contrast-structure term with the local statistics taken under the
    Gaussian of std ``sigmas[j]`` (all scales at full resolution), :math:`l_M` the luminance term at the last
    (coarsest) scale, :math:`c_1 = (k_1 L)^2`, :math:`c_2 = (k_2 L)^2`, :math:`L` = ``data_range``,
    :math:`c` = ``compensation``. Every window is ``2 * int(2 * sigmas[-1]) + 1`` taps wide per axis and the
    images are zero-padded by ``int(2 * sigmas[-1])`` (kornia's layout; the border band is biased by the zeros).
    Paper: Zhao, Gallo, Frosio, Kautz, "Loss functions for image restoration with neural networks", IEEE TCI
    2017 (their ``alpha`` is 0.84; the defaults here are kornia's). A NaN pixel gives a NaN loss.

    Args:
        input: the predicted (restored) image, (B, C, H, W), any number of channels.
        target: the reference image, the input's shape (no batch broadcasting).
        sigmas: one Gaussian std per scale, in pixels (> 0, default (0.5, 1, 2, 4, 8)); the last is the coarsest.
        data_range: the dynamic range ``L`` (> 0, default 1.0): sets ``c1``, ``c2`` and divides the L1 term.
        k1: the luminance constant (>= 0, default 0.01). k2: the contrast constant (>= 0, default 0.03).
        alpha: the weight of the MS-SSIM term in [0, 1] (default 0.025); the L1 term gets ``1 - alpha``.
        compensation: the overall scale ``c`` (> 0, default 200).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the (B, H, W) loss map.
        return_terms: also return ``{"ms_ssim": 1 - MS-SSIM, "l1": filtered L1 / L}``, each reduced like the
            loss, unweighted (no ``alpha``, no ``compensation``) and detached.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty batch), the map (B, H, W) for ``"none"``; with
        ``return_terms=True``, ``(loss, terms)``.

    Example:
        >>> x = torch.rand(1, 3, 16, 16)
        >>> ms_ssim_l1_loss(x, x).abs() < 1e-4
        tensor(True)
        >>> ms_ssim_l1_loss(x, x.flip(-1), reduction="none").shape
        torch.Size([1, 16, 16])

    Parity (float64, rtol 1e-10): kornia ``MS_SSIMLoss(sigmas, data_range=L, K=(k1, k2), alpha, compensation,
    reduction)(input, target)`` ≡ ``ms_ssim_l1_loss(input, target, sigmas=sigmas, data_range=L, k1=k1, k2=k2,
    alpha=alpha, compensation=compensation, reduction=reduction)``, "none" included. kornia broadcasts a batch of
    one against the other image's batch; here the shapes must match. Half inputs are computed in float32.
    """
    name = "ms_ssim_l1"
    s = check_ms_ssim_l1_options(name, sigmas, data_range, k1, k2, alpha, compensation)
    check_reduction(name, reduction)
    check_float(name, "input", input, "(B, C, H, W)")
    check_float(name, "target", target, "(B, C, H, W)")
    check_same_shape(name, input, target)
    if input.dim() != 4 or input.shape[1:].numel() == 0:
        raise LossInputError(f"{name}: expected input (B, C, H, W) with C, H, W >= 1, got {shape_str(input)}")
    pad = int(2 * s[-1])
    c = input.shape[1]
    # zero padding of every map, as kornia's conv2d(..., padding=pad) of x, y, x^2, y^2 and xy
    maps = F.pad(torch.cat([input, target, input * input, target * target, input * target], dim=1), [pad] * 4)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    window = [_window_1d("gaussian", 2 * pad + 1, sigma, input) for sigma in s]
    cs_prod = torch.ones_like(input)
    for w in window[:-1]:
        cs_prod = cs_prod * _moments(_separable_filter(maps, w), c2)[2]
    # the L1 map is filtered only at the coarsest scale: one more block of channels there
    stats = _separable_filter(torch.cat([maps, F.pad((input - target).abs(), [pad] * 4)], dim=1), window[-1])
    mu_xy, mu_sq, cs = _moments(stats[:, : 5 * c], c2)
    luminance = (2 * mu_xy + c1) / (mu_sq + c1)
    ms_ssim_term = 1 - (luminance * cs_prod * cs).mean(dim=1)
    l1_term = stats[:, 5 * c :].mean(dim=1) / data_range
    loss = compensation * (alpha * ms_ssim_term + (1 - alpha) * l1_term)
    terms = {"ms_ssim": reduce(ms_ssim_term, reduction), "l1": reduce(l1_term, reduction)} if return_terms else {}
    return with_terms(reduce(loss, reduction), terms, return_terms)


def _moments(stats: Tensor, c2: float) -> tuple[Tensor, Tensor, Tensor]:
    """From the filtered (B, 5C, H, W) ``x, y, x^2, y^2, xy``: ``mu_x mu_y``, ``mu_x^2 + mu_y^2`` and the
    contrast-structure map ``(2 cov + c2) / (var_x + var_y + c2)``."""
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.chunk(5, dim=1)
    mu_xy, mu_sq = mu_x * mu_y, mu_x * mu_x + mu_y * mu_y
    return mu_xy, mu_sq, (2 * (e_xy - mu_xy) + c2) / (e_xx + e_yy - mu_sq + c2)
