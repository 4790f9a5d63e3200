"""Image-quality losses: SSIM (Wang et al. 2004), MS-SSIM (Wang et al. 2003) and PSNR, on (B, C, *spatial) images.

The windowed statistics are computed with one grouped, separable convolution per spatial axis over the five
maps ``x, y, x^2, y^2, xy`` stacked along the channels, so a Gaussian or box window of width ``k`` costs ``O(k)``
per voxel and axis instead of ``O(k^d)``. SSIM and MS-SSIM run them in a custom autograd function
(:mod:`._ssim_core`) that keeps three per-pixel derivative maps for the backward instead of autograd's graph.
``_window_1d`` and ``_separable_filter`` are the plain differentiable versions (``ms_ssim_l1`` and ``nacl`` use them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import reduce
from ._ssim_core import ssim_mean, window_taps

__all__ = ["ssim_loss", "ms_ssim_loss", "psnr_loss", "WINDOWS", "PADDINGS", "MS_SSIM_WEIGHTS"]

Reduction = Literal["mean", "sum", "none"]
Window = Literal["gaussian", "uniform"]
Padding = Literal["valid", "same"]
WINDOWS: tuple[Window, ...] = ("gaussian", "uniform")
PADDINGS: tuple[Padding, ...] = ("valid", "same")


def check_ssim_options(
    name: str, window: str, window_size: int, sigma: float, data_range: float, k1: float, k2: float, padding: str
) -> None:
    """Option checks shared by the functional form and the module (construction time)."""
    check_choice(name, "window", window, WINDOWS)
    check_choice(name, "padding", padding, PADDINGS)
    if isinstance(window_size, bool) or not isinstance(window_size, int) or window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"{name}: window_size must be a positive odd integer (a centred window), got {window_size!r}")
    for what, value in (("sigma", sigma), ("data_range", data_range)):
        if not float(value) > 0:
            raise ValueError(f"{name}: {what} must be > 0, got {value!r}")
    for what, value in (("k1", k1), ("k2", k2)):
        if not float(value) >= 0:
            raise ValueError(f"{name}: {what} must be >= 0, got {value!r}")


def _window_1d(window: str, size: int, sigma: float, like: Tensor) -> Tensor:
    if window == "uniform":
        return torch.full((size,), 1.0 / size, dtype=like.dtype, device=like.device)
    # MONAI's and kornia's sampling: taps at integer offsets from the centre, normalised to sum 1
    dist = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    w = torch.exp(-(dist**2) / (2 * sigma**2))
    return w / w.sum()


def _separable_filter(maps: Tensor, w: Tensor) -> Tensor:
    """Filter (B, M, *spatial) with the 1-D window ``w`` along every spatial axis ("valid" convolution)."""
    nd = maps.dim() - 2
    conv = F.conv2d if nd == 2 else F.conv3d
    m = maps.shape[1]
    for axis in range(nd):
        shape = [1, 1] + [1] * nd
        shape[2 + axis] = w.numel()
        maps = conv(maps, w.reshape(shape).expand(m, *shape[1:]), groups=m)
    return maps


def _check_images(name: str, input: Tensor, target: Tensor, window_size: int, padding: str) -> None:
    check_float(name, "input", input, "(B, C, H, W) or (B, C, D, H, W)")
    check_float(name, "target", target)
    check_same_shape(name, input, target)
    if input.dim() not in (4, 5):
        raise LossInputError(f"{name}: expected input (B, C, H, W) or (B, C, D, H, W), got {shape_str(input)}")
    small = min(input.shape[2:])
    need = window_size if padding == "valid" else window_size // 2 + 1  # reflect padding needs size > pad
    if small < need:
        raise LossInputError(
            f"{name}: every spatial size must be >= {need} for window_size={window_size} with padding={padding!r}, "
            f"got {shape_str(input)}"
        )


@float32_loss
def ssim_loss(
    input: Tensor,
    target: Tensor,
    *,
    window: Window = "gaussian",
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
    padding: Padding = "valid",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""SSIM loss: one minus the mean structural similarity of each sample (2D or 3D from the input's dims).

    .. math::

        \mathrm{SSIM} = \frac{(2\mu_x\mu_y + c_1)(2\sigma_{xy} + c_2)}{(\mu_x^2 + \mu_y^2 + c_1)
        (\sigma_x^2 + \sigma_y^2 + c_2)},\quad c_1 = (k_1 L)^2,\ c_2 = (k_2 L)^2,\qquad
        \ell_b = 1 - \operatorname{mean}_{c, \text{pixels}} \mathrm{SSIM}_b

    with the local means, variances and covariance taken over a window (Gaussian of std ``sigma`` or uniform,
    ``window_size`` taps per axis) and ``L = data_range``. Paper: Wang, Bovik, Sheikh, Simoncelli, "Image
    quality assessment: from error visibility to structural similarity", IEEE TIP 2004. The loss is in
    [0, 2]; 0 for identical images. A NaN pixel gives a NaN loss.

    Args:
        input: the predicted image, (B, C, H, W) (2D) or (B, C, D, H, W) (3D), any number of channels.
        target: the reference image, the input's shape.
        window: ``"gaussian"`` (default) or ``"uniform"`` (a box of ``window_size`` taps per axis).
        window_size: taps per axis, a positive odd integer (default 11).
        sigma: the Gaussian's standard deviation in pixels (default 1.5; unused by ``"uniform"``).
        data_range: the dynamic range ``L`` of the pixel values (default 1.0; 255 for 8-bit images).
        k1: the luminance constant (default 0.01). k2: the contrast constant (default 0.03).
        padding: ``"valid"`` (default, the map only where the window fits, as MONAI and the paper's code) or
            ``"same"`` (reflect padding, the input's size, as kornia's default).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the batch.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty batch), shape (B,) for ``"none"``.

    Example:
        >>> x = torch.linspace(0, 1, 256).reshape(1, 1, 16, 16)
        >>> ssim_loss(x, x).abs() < 1e-6
        tensor(True)
        >>> ssim_loss(x, x.flip(-1), reduction="none").shape
        torch.Size([1])

    Parity (rtol 1e-5):
        - MONAI ``SSIMLoss(spatial_dims=d, data_range=L, kernel_type=window, win_size=k, kernel_sigma=s, k1, k2)``
          ≡ ``ssim_loss(window=window, window_size=k, sigma=s, data_range=L, k1=k1, k2=k2)`` (padding
          ``"valid"``) for 2D and 3D; MONAI's ``"none"`` is (B, 1), ours (B,).
        - kornia ``ssim_loss(x, y, k, max_val=L, eps=0.0, padding=p)`` (and ``SSIMLoss``) ≡
          ``ssim_loss(x, y, window_size=k, data_range=L, padding=p) / 2`` for ``"mean"``: kornia's loss is
          ``(1 - SSIM) / 2`` per pixel, averaged over everything, so it is half of ours, and its ``eps`` (default
          1e-12, added to the denominator) is absent here. kornia's 2D ``"same"`` default is ``padding="same"``.
    """
    name = "ssim"
    check_ssim_options(name, window, window_size, sigma, data_range, k1, k2, padding)
    check_reduction(name, reduction)
    _check_images(name, input, target, window_size, padding)
    x, y = input, target
    if padding == "same":
        pad = [window_size // 2] * (2 * (input.dim() - 2))
        x, y = F.pad(x, pad, mode="reflect"), F.pad(y, pad, mode="reflect")
    taps = window_taps(window, window_size, sigma)
    return reduce(1 - ssim_mean(x, y, taps, (k1 * data_range) ** 2, (k2 * data_range) ** 2), reduction)


#: Wang, Simoncelli, Bovik 2003, Table 1 (the five scales' exponents, finest first), as MONAI.
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@float32_loss
def ms_ssim_loss(
    input: Tensor,
    target: Tensor,
    *,
    window: Window = "gaussian",
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
    weights: Sequence[float] | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Multi-scale SSIM loss: one minus the MS-SSIM of each sample (2D or 3D from the input's dims).

    .. math::

        \mathrm{MS\text{-}SSIM} = \prod_{j=1}^{M-1} \operatorname{relu}(\overline{cs}_j)^{w_j}
        \cdot \operatorname{relu}(\overline{\mathrm{SSIM}}_M)^{w_M},\qquad \ell_b = 1 - \mathrm{MS\text{-}SSIM}_b

    where scale ``j`` is the image average-pooled by 2 ``j - 1`` times, ``cs`` is SSIM without its luminance
    factor and the bars are means over channels and pixels ("valid" windows). Paper: Wang, Simoncelli, Bovik,
    "Multiscale structural similarity for image quality assessment", Asilomar 2003 (5 scales, the weights
    ``MS_SSIM_WEIGHTS``). Where a coarse scale is smaller than the window, the window is cut to the largest odd
    width that fits (MONAI raises there instead), so a 64^3 volume works. A NaN pixel gives a NaN loss.

    Args:
        input: the predicted image, (B, C, H, W) or (B, C, D, H, W).
        target: the reference image, the input's shape.
        window, window_size, sigma, data_range, k1, k2: as :func:`ssim_loss`.
        weights: one exponent per scale, finest first (default the paper's 5; their number sets the scales).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the batch.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty batch), shape (B,) for ``"none"``.

    Example:
        >>> x = torch.rand(1, 1, 64, 64)
        >>> ms_ssim_loss(x, x, window_size=3).abs() < 1e-6
        tensor(True)

    Parity: ``1 - MONAI MultiScaleSSIMMetric(spatial_dims=d, data_range=L, kernel_type=window, kernel_size=k,
    kernel_sigma=s, k1, k2, weights=w)`` ≡ ``ms_ssim_loss(...)`` with the same options (rtol 1e-5), wherever MONAI
    accepts the size (every spatial size // 2^(M-1) >= window_size).
    """
    name = "ms_ssim"
    check_ssim_options(name, window, window_size, sigma, data_range, k1, k2, "valid")
    check_reduction(name, reduction)
    w = check_ms_weights(name, weights)
    _check_images(name, input, target, 1, "valid")
    levels = []
    x, y = input, target
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    for j in range(len(w)):
        if j:
            if min(x.shape[2:]) < 2:
                raise LossInputError(f"{name}: the input {shape_str(input)} is too small for {len(w)} scales")
            x, y = _avg_pool2(x), _avg_pool2(y)
        # int(): the window is a host constant (under torch.compile a guard on the spatial size, not a symbol)
        k = min(window_size, (int(min(x.shape[2:])) - 1) // 2 * 2 + 1)
        kind: Literal["ssim", "cs"] = "ssim" if j == len(w) - 1 else "cs"
        levels.append(torch.relu(ssim_mean(x, y, window_taps(window, k, sigma), c1, c2, kind)))
    exps = torch.tensor(w, dtype=input.dtype, device=input.device).unsqueeze(1)
    return reduce(1 - torch.prod(torch.stack(levels) ** exps, dim=0), reduction)


def check_ms_weights(name: str, weights: Sequence[float] | None) -> tuple[float, ...]:
    w = MS_SSIM_WEIGHTS if weights is None else tuple(float(v) for v in weights)
    if not w or not all(v >= 0 for v in w):
        raise ValueError(f"{name}: weights must be a non-empty sequence of numbers >= 0, got {weights!r}")
    return w


def _avg_pool2(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2) if x.dim() == 4 else F.avg_pool3d(x, 2)


@float32_loss
def psnr_loss(input: Tensor, target: Tensor, *, max_val: float = 1.0, reduction: Reduction = "mean") -> Tensor:
    r"""PSNR loss: the negative peak signal-to-noise ratio of each sample, in dB.

    .. math::

        \ell_b = -10 \log_{10} \frac{L^2}{\operatorname{mean}((x_b - y_b)^2)}

    with ``L = max_val``. Identical samples give ``-inf`` (as kornia; the gradient there is NaN). A NaN pixel
    gives a NaN loss.

    Args:
        input: the predicted images, (B, *) with at least one dim after the batch.
        target: the reference images, the input's shape.
        max_val: the maximum pixel value ``L`` (> 0, default 1.0; 255 for 8-bit images).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the batch.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty batch), shape (B,) for ``"none"``.

    Example:
        >>> x = torch.ones(1, 4)
        >>> psnr_loss(x, 1.2 * x, max_val=2.0)  # -10 log10(4 / 0.04)
        tensor(-20.0000)

    Parity: kornia ``psnr_loss(x, y, max_val)`` (and ``PSNRLoss(max_val)``) pools the MSE over the whole batch;
    it equals ``psnr_loss(x.reshape(1, -1), y.reshape(1, -1), max_val=max_val)``, and ours for a batch of one.
    Here each sample has its own PSNR and ``reduction`` averages (or sums) the per-sample values.
    """
    name = "psnr"
    if not float(max_val) > 0:
        raise ValueError(f"{name}: max_val must be > 0, got {max_val!r}")
    check_reduction(name, reduction)
    check_float(name, "input", input, "(B, *)")
    check_float(name, "target", target)
    check_same_shape(name, input, target)
    if input.dim() < 2:
        raise LossInputError(f"{name}: expected input (B, *) with at least 2 dims, got {shape_str(input)}")
    mse = (input - target).square().flatten(1).mean(dim=1)
    return reduce(-10.0 * torch.log10(max_val**2 / mse), reduction)
