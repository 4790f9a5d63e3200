"""Spectral (FFT magnitude) distance of two signals (MONAI's ``JukeboxLoss``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import reduce

__all__ = ["spectral_loss", "check_spectral_options"]

Reduction = Literal["mean", "sum", "none"]
FFTNorm = Literal["ortho", "forward", "backward"]
_NORMS = ("ortho", "forward", "backward")


def check_spectral_options(
    spatial_dims: int | None, fft_signal_size: Sequence[int] | None, fft_norm: str
) -> tuple[int, ...] | None:
    """``spatial_dims`` 1-3 or None; ``fft_signal_size`` None or ints > 0, one per transformed dim (C + spatial)."""
    if spatial_dims is not None and (isinstance(spatial_dims, bool) or spatial_dims not in (1, 2, 3)):
        raise ValueError(
            f"spectral: spatial_dims must be 1, 2, 3 or None (inferred from the input), got {spatial_dims!r}"
        )
    check_choice("spectral", "fft_norm", fft_norm, _NORMS)
    if fft_signal_size is None:
        return None
    size = tuple(fft_signal_size)
    if not size or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        raise ValueError(f"spectral: fft_signal_size must be None or a sequence of ints > 0, got {fft_signal_size!r}")
    if spatial_dims is not None and len(size) != spatial_dims + 1:
        raise ValueError(
            f"spectral: fft_signal_size needs {spatial_dims + 1} sizes (channels + {spatial_dims} spatial), got {size}"
        )
    return size


@float32_loss
def spectral_loss(
    input: Tensor,
    target: Tensor,
    *,
    spatial_dims: int | None = None,
    fft_signal_size: Sequence[int] | None = None,
    fft_norm: FFTNorm = "ortho",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Spectral loss: squared distance of the FFT magnitudes of two signals (Dhariwal et al., "Jukebox: A
    Generative Model for Music", 2020, section 3.3).

    .. math::

        \ell(x, y) = \left(\left|\mathcal{F}(x)\right| - \left|\mathcal{F}(y)\right|\right)^2

    elementwise over the frequencies, with :math:`\mathcal{F}` the n-dimensional FFT over the channel and
    spatial dims (dims ``1 .. spatial_dims + 1``, as MONAI: the channels are transformed too). Insensitive to
    phase (a shifted signal has the same magnitudes).

    Args:
        input: predictions, shape :math:`(N, C, *spatial)`, 1-3 spatial dims.
        target: targets, the input's shape (no broadcasting).
        spatial_dims: 1, 2 or 3; None (default) infers it from the input (``input.dim() - 2``); given, the input
            must have ``spatial_dims + 2`` dims.
        fft_signal_size: None (default: the input's sizes) or the FFT size of each transformed dim,
            ``spatial_dims + 1`` ints (channels first): shorter crops, longer zero-pads (``torch.fft.fftn``'s ``s``).
        fft_norm: ``"ortho"`` (default) | ``"forward"`` | ``"backward"``: the FFT normalisation.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over all frequencies and samples.

    Returns:
        a scalar for ``"mean"`` and ``"sum"`` (0 for an empty batch), for ``"none"`` the per-frequency values
        :math:`(N, C', *spatial')` (the input's shape, or :math:`(N, *\text{fft\_signal\_size})`).

    Example:
        >>> x = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])
        >>> spectral_loss(x, torch.roll(x, 1, -1))  # a shift changes no magnitude
        tensor(0.)

    Parity: ``spectral_loss(x, y, spatial_dims=d, fft_signal_size=s, fft_norm=f, reduction=r)`` ≡ MONAI
    ``JukeboxLoss(spatial_dims=d, fft_signal_size=s, fft_norm=f, reduction=r)(x, y)``, all reductions.
    Magnitudes are ``|z|`` (whose gradient at a zero frequency is 0, where MONAI's ``sqrt(re^2 + im^2)`` gives
    NaN); MONAI cannot take an empty batch (the FFT fails), losskit gives 0.
    """
    loss = "spectral"
    check_float(loss, "input", input)
    check_float(loss, "target", target)
    check_same_shape(loss, input, target)
    check_reduction(loss, reduction)
    size = check_spectral_options(spatial_dims, fft_signal_size, fft_norm)
    nd = input.dim() - 2 if spatial_dims is None else spatial_dims
    if input.dim() != nd + 2 or nd not in (1, 2, 3):
        raise LossInputError(
            f"{loss}: expected (N, C, *spatial) with {spatial_dims or '1-3'} spatial dims, got {shape_str(input)}"
        )
    if size is not None and len(size) != nd + 1:
        raise LossInputError(
            f"{loss}: fft_signal_size {size} needs {nd + 1} sizes (channels + spatial) for {shape_str(input)}"
        )
    dims = tuple(range(1, nd + 2))
    if input.numel() == 0:  # the FFT of an empty tensor fails: the documented empty result, on the graph
        shape = (input.shape[0], *(size if size is not None else input.shape[1:]))
        return reduce((input.sum() + target.sum()).mul(0).expand(shape), reduction)
    mag_x = torch.fft.fftn(input, s=size, dim=dims, norm=fft_norm).abs()
    mag_y = torch.fft.fftn(target, s=size, dim=dims, norm=fft_norm).abs()
    return reduce((mag_x - mag_y).square(), reduction)
