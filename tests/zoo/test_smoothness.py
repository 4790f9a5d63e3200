"""inverse_depth_smoothness (kornia) and spectral (MONAI JukeboxLoss): parity, check_loss, gradcheck, bad input."""

from __future__ import annotations

from typing import Literal

import kornia.losses as KL
import pytest
import torch
from monai.losses import JukeboxLoss
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import inverse_depth_smoothness_loss, spectral_loss
from losskit.testing import check_loss

Reduction = Literal["mean", "sum", "none"]


def _rand(*shape: int, seed: int = 0) -> Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("name", ["inverse_depth_smoothness", "spectral"])
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "spectral", "spatial_dims": 3, "fft_norm": "forward"},
        {"name": "spectral", "spatial_dims": 2, "fft_signal_size": [4, 6, 6]},
    ],
)
def test_check_loss_options(spec: dict[str, object]) -> None:
    check_loss(spec, compile=None)


@pytest.mark.parametrize("shape", [(2, 5, 6), (3, 4, 4), (1, 7, 3)])
def test_inverse_depth_smoothness_kornia_parity(shape: tuple[int, int, int], device: torch.device) -> None:
    n, h, w = shape
    d, img = _rand(n, 1, h, w, seed=1) * 3, _rand(n, 3, h, w, seed=2)
    want = KL.inverse_depth_smoothness_loss(d, img)
    per = torch.stack([KL.inverse_depth_smoothness_loss(d[i : i + 1], img[i : i + 1]) for i in range(n)])
    for reduction, ref in (("mean", want), ("sum", per.sum()), ("none", per)):
        got = inverse_depth_smoothness_loss(d.to(device), img.to(device), reduction=reduction)  # type: ignore[arg-type]
        torch.testing.assert_close(got.cpu(), ref, rtol=1e-12, atol=1e-12)
    mod = build_loss("InverseDepthSmoothnessLoss").to(device)
    torch.testing.assert_close(mod(d.to(device), img.to(device)).cpu(), want, rtol=1e-12, atol=1e-12)
    # float32 gradients match kornia's
    a, b = (d.float().clone().to(device).requires_grad_(True), d.float().clone().requires_grad_(True))
    inverse_depth_smoothness_loss(a, img.float().to(device)).backward()
    KL.inverse_depth_smoothness_loss(b, img.float()).backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad.cpu(), b.grad, rtol=1e-5, atol=1e-7)


def test_inverse_depth_smoothness_known_values_and_single_row() -> None:
    d = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    assert inverse_depth_smoothness_loss(d, torch.zeros(1, 3, 2, 2)).item() == 1.0
    assert inverse_depth_smoothness_loss(torch.ones(1, 1, 3, 3), torch.rand(1, 3, 3, 3)).item() == 0.0
    # H = 1: kornia's y-mean is NaN; losskit's y-term is 0, the x-term kornia's
    d1, i1 = _rand(2, 1, 1, 5), _rand(2, 3, 1, 5, seed=4)
    x_only = inverse_depth_smoothness_loss(d1, i1)
    assert torch.isnan(KL.inverse_depth_smoothness_loss(d1, i1))
    want = (d1[..., :-1] - d1[..., 1:]).abs() * torch.exp(-(i1[..., :-1] - i1[..., 1:]).abs().mean(1, keepdim=True))
    torch.testing.assert_close(x_only, want.mean(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "shape,dims,size,norm",
    [
        ((2, 3, 6, 5), 2, None, "ortho"),
        ((2, 1, 9), 1, None, "backward"),
        ((2, 2, 4, 5, 3), 3, None, "forward"),
        ((2, 3, 6, 5), 2, (4, 8, 3), "ortho"),
    ],
)
def test_spectral_monai_parity(
    shape: tuple[int, ...],
    dims: int,
    size: tuple[int, ...] | None,
    norm: str,
    reduction: Reduction,
    device: torch.device,
) -> None:
    x, y = _rand(*shape, seed=5), _rand(*shape, seed=6)
    want = JukeboxLoss(spatial_dims=dims, fft_signal_size=size, fft_norm=norm, reduction=reduction)(x, y)  # type: ignore[arg-type]
    for nd in (dims, None):
        got = spectral_loss(
            x.to(device), y.to(device), spatial_dims=nd, fft_signal_size=size, fft_norm=norm, reduction=reduction
        )  # type: ignore[arg-type]
        torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-12)
    spec = {
        "name": "JukeboxLoss",
        "spatial_dims": dims,
        "fft_signal_size": size,
        "fft_norm": norm,
        "reduction": reduction,
    }
    torch.testing.assert_close(
        build_loss(spec).to(device)(x.to(device), y.to(device)).cpu(), want, rtol=1e-10, atol=1e-12
    )


def test_spectral_shift_invariant_and_zero_frequency_gradient() -> None:
    x = _rand(1, 2, 8, 8)
    assert spectral_loss(x, torch.roll(x, (2, 3), (-2, -1))).abs().item() < 1e-24
    z = torch.zeros(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)  # every magnitude 0: MONAI's grad is NaN
    spectral_loss(z, _rand(1, 1, 4, 4)).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


def test_gradcheck() -> None:
    d = _rand(2, 1, 4, 5).requires_grad_(True)
    img = _rand(2, 3, 4, 5, seed=1).requires_grad_(True)
    for r in ("mean", "sum", "none"):
        assert torch.autograd.gradcheck(lambda a, b: inverse_depth_smoothness_loss(a, b, reduction=r), (d, img))
    x = _rand(2, 2, 4, 3, seed=2).requires_grad_(True)
    y = _rand(2, 2, 4, 3, seed=3)
    for norm in ("ortho", "backward"):
        assert torch.autograd.gradcheck(lambda a: spectral_loss(a, y, fft_norm=norm), (x,))
    assert torch.autograd.gradcheck(lambda a: spectral_loss(a, y, fft_signal_size=(3, 5, 2), reduction="none"), (x,))


@pytest.mark.parametrize("name", ["inverse_depth_smoothness", "spectral"])
def test_empty_batch(name: str, device: torch.device) -> None:
    shapes = [(0, 1, 4, 4), (0, 3, 4, 4)] if name == "inverse_depth_smoothness" else [(0, 3, 4, 4)] * 2
    a, b = (torch.zeros(s, device=device) for s in shapes)
    a.requires_grad_(True)
    out = build_loss(name).to(device)(a, b)
    out.backward()
    assert out.item() == 0.0 and a.grad is not None and not a.grad.any()
    none = build_loss(name, reduction="none").to(device)(a, b)
    assert none.shape == ((0,) if name == "inverse_depth_smoothness" else (0, 3, 4, 4))
    if name == "spectral":
        assert spectral_loss(a, b, fft_signal_size=(2, 5, 5), reduction="none").shape == (0, 2, 5, 5)


def test_bad_input_and_options() -> None:
    d, img = torch.rand(2, 1, 4, 5), torch.rand(2, 3, 4, 5)
    for bad_d, bad_img in (
        (torch.rand(2, 3, 4, 5), img),  # idepth with 3 channels
        (torch.rand(1, 4, 5), img),  # 3-D idepth
        (d, torch.rand(2, 3, 4, 6)),  # other W
        (d, torch.rand(1, 3, 4, 5)),  # other N: no broadcasting
        (d, torch.randint(0, 255, (2, 3, 4, 5))),  # integer image
    ):
        with pytest.raises(LossInputError, match="inverse_depth_smoothness"):
            inverse_depth_smoothness_loss(bad_d, bad_img)
    with pytest.raises(ValueError, match="did you mean"):
        inverse_depth_smoothness_loss(d, img, reduction="meen")  # type: ignore[arg-type]
    x = torch.rand(2, 3, 4, 5)
    with pytest.raises(LossInputError, match="spectral"):
        spectral_loss(x, torch.rand(2, 3, 4, 4))
    with pytest.raises(LossInputError, match="spectral"):
        spectral_loss(x, x, spatial_dims=3)
    with pytest.raises(LossInputError, match="spectral"):
        spectral_loss(torch.rand(2, 3), torch.rand(2, 3))
    with pytest.raises(LossInputError, match="spectral"):
        spectral_loss(x, x, fft_signal_size=(4, 5))
    with pytest.raises(ValueError, match="did you mean"):
        spectral_loss(x, x, fft_norm="orto")  # type: ignore[arg-type]
    for bad in ({"spatial_dims": 4}, {"spatial_dims": True}, {"fft_signal_size": [3, 0, 2]}, {"fft_signal_size": []}):
        with pytest.raises(ValueError, match="spectral"):
            build_loss({"name": "spectral", **bad})
    with pytest.raises(ValueError, match="spectral"):
        build_loss({"name": "spectral", "spatial_dims": 2, "fft_signal_size": [4, 4]})
