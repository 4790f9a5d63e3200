"""Image-quality losses: SSIM (MONAI and kornia parity, 2D and 3D) and PSNR (kornia parity)."""

from __future__ import annotations

from typing import Any

import kornia
import pytest
import torch
from monai.losses import SSIMLoss as MonaiSSIMLoss  # type: ignore[attr-defined]
from monai.metrics import MultiScaleSSIMMetric  # type: ignore[attr-defined]

from losskit import LossInputError, build_loss
from losskit.functional import ms_ssim_loss, psnr_loss, ssim_loss
from losskit.functional.image_quality import MS_SSIM_WEIGHTS
from losskit.testing import check_loss
from losskit.zoo.image_quality import MSSSIMLoss, PSNRLoss, SSIMLoss


def _images(shape: tuple[int, ...], seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=dtype)
    return (0.7 * target + 0.3 * torch.rand(shape, generator=g, dtype=dtype)).clamp(0, 1), target


@pytest.mark.parametrize("name", ["ssim", "ms_ssim", "psnr"])
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


def test_check_loss_uniform_same() -> None:
    check_loss({"name": "ssim", "window": "uniform", "window_size": 5, "padding": "same"}, compile=None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("spatial", "window", "size", "sigma", "data_range", "k1", "k2"),
    [
        ((24, 20), "gaussian", 11, 1.5, 1.0, 0.01, 0.03),
        ((24, 20), "uniform", 7, 1.5, 2.0, 0.02, 0.05),
        ((24, 20), "gaussian", 5, 0.8, 1.0, 0.01, 0.03),
        ((12, 14, 13), "gaussian", 7, 1.5, 1.0, 0.01, 0.03),
        ((12, 14, 13), "uniform", 5, 1.5, 1.0, 0.01, 0.03),
    ],
)
def test_ssim_monai_parity(
    reduction: str,
    spatial: tuple[int, ...],
    window: str,
    size: int,
    sigma: float,
    data_range: float,
    k1: float,
    k2: float,
    device: torch.device,
) -> None:
    x, y = _images((3, 2, *spatial))
    ref = MonaiSSIMLoss(
        spatial_dims=len(spatial),
        data_range=data_range,
        kernel_type=window,
        win_size=size,
        kernel_sigma=sigma,
        k1=k1,
        k2=k2,
        reduction=reduction,
    )(x, y)
    got = ssim_loss(
        x.to(device),
        y.to(device),
        window=window,  # type: ignore[arg-type]
        window_size=size,
        sigma=sigma,
        data_range=data_range,
        k1=k1,
        k2=k2,
        reduction=reduction,  # type: ignore[arg-type]
    )
    torch.testing.assert_close(got.cpu(), ref.reshape(got.shape), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize(("size", "max_val"), [(11, 1.0), (5, 2.0)])
def test_ssim_kornia_parity_is_half(padding: str, size: int, max_val: float, device: torch.device) -> None:
    # kornia averages (1 - SSIM) / 2 per pixel (and adds eps to the denominator, switched off here)
    x, y = _images((2, 3, 20, 24), dtype=torch.float64)
    x, y = x * max_val, y * max_val
    ref = kornia.losses.ssim_loss(x, y, size, max_val=max_val, eps=0.0, padding=padding)
    got = ssim_loss(x.to(device), y.to(device), window_size=size, data_range=max_val, padding=padding)  # type: ignore[arg-type]
    torch.testing.assert_close(got.cpu() / 2, ref, rtol=1e-7, atol=1e-10)
    mod = kornia.losses.SSIMLoss(size, max_val=max_val, eps=0.0, padding=padding)(x, y)
    torch.testing.assert_close(SSIMLoss(window_size=size, data_range=max_val, padding=padding)(x, y) / 2, mod)  # type: ignore[arg-type]


def test_ssim_identical_is_zero_and_range(device: torch.device) -> None:
    x, _ = _images((2, 1, 16, 16))
    x = x.to(device)
    assert ssim_loss(x, x).abs().item() < 1e-6
    worst = ssim_loss(x, 1 - x, reduction="none")
    assert worst.shape == (2,) and bool(((worst > 1) & (worst <= 2)).all())  # anti-correlated: SSIM < 0


@pytest.mark.parametrize("spatial", [(7, 6), (5, 6, 5)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_ssim_gradcheck(spatial: tuple[int, ...], padding: str, device: torch.device) -> None:
    x, y = _images((2, 2, *spatial), dtype=torch.float64)
    x = x.to(device).requires_grad_()
    y = y.to(device).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: ssim_loss(a, b, window_size=5, sigma=1.0, padding=padding, reduction="none"),  # type: ignore[arg-type]
        (x, y),
    )


def test_ssim_edges(device: torch.device) -> None:
    x = torch.rand(0, 2, 16, 16, device=device, requires_grad=True)
    loss = ssim_loss(x, torch.rand(0, 2, 16, 16, device=device))
    (grad,) = torch.autograd.grad(loss, x)
    assert loss.item() == 0 and not grad.any()
    y, t = _images((1, 1, 16, 16))
    y[0, 0, 8, 8] = float("nan")
    assert ssim_loss(y.to(device), t.to(device)).isnan()


def test_ssim_half_autocast_is_float32() -> None:
    x, y = _images((1, 1, 64, 64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ssim_loss(x.bfloat16(), y.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ssim_loss(x.bfloat16().float(), y.bfloat16().float()))


def test_ssim_bad_input() -> None:
    x = torch.rand(2, 1, 16, 16)
    with pytest.raises(LossInputError, match="same shape"):
        ssim_loss(x, torch.rand(2, 1, 16, 15))
    with pytest.raises(LossInputError, match=r"\(B, C, H, W\)"):
        ssim_loss(torch.rand(2, 16, 16), torch.rand(2, 16, 16))
    with pytest.raises(LossInputError, match="spatial size must be >= 11"):
        ssim_loss(torch.rand(2, 1, 8, 16), torch.rand(2, 1, 8, 16))
    with pytest.raises(LossInputError, match="floating point"):
        ssim_loss(x.long(), x)
    with pytest.raises(ValueError, match="positive odd"):
        SSIMLoss(window_size=4)
    with pytest.raises(ValueError, match="did you mean"):
        SSIMLoss(window="gausian")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="data_range must be > 0"):
        ssim_loss(x, x, data_range=0.0)
    with pytest.raises(ValueError, match="did you mean"):
        build_loss("ssim", padding="sme")


@pytest.mark.parametrize("max_val", [1.0, 255.0])
def test_psnr_kornia_parity(max_val: float, device: torch.device) -> None:
    x, y = _images((3, 2, 8, 8), dtype=torch.float64)
    x, y = x * max_val, y * max_val
    pooled = kornia.losses.psnr_loss(x, y, max_val)
    flat = psnr_loss(x.reshape(1, -1).to(device), y.reshape(1, -1).to(device), max_val=max_val)
    torch.testing.assert_close(flat.cpu(), pooled, rtol=1e-7, atol=1e-10)
    per_sample = torch.stack([kornia.losses.psnr_loss(a, b, max_val) for a, b in zip(x, y, strict=True)])
    got = PSNRLoss(max_val=max_val, reduction="none")(x.to(device), y.to(device)).cpu()
    torch.testing.assert_close(got, per_sample, rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(psnr_loss(x, y, max_val=max_val), per_sample.mean())
    torch.testing.assert_close(kornia.losses.PSNRLoss(max_val)(x[:1], y[:1]), PSNRLoss(max_val)(x[:1], y[:1]))


def test_psnr_gradcheck_and_edges(device: torch.device) -> None:
    x, y = _images((2, 3, 4), dtype=torch.float64)
    x = x.to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: psnr_loss(a, y.to(device), reduction="none"), (x,))
    e = torch.rand(0, 3, 4, device=device, requires_grad=True)
    loss = psnr_loss(e, e.detach())
    (grad,) = torch.autograd.grad(loss, e)
    assert loss.item() == 0 and not grad.any()
    z = torch.rand(2, 5)
    z[1, 2] = float("nan")
    assert psnr_loss(z, torch.rand(2, 5)).isnan()
    assert psnr_loss(torch.ones(1, 4), torch.ones(1, 4)).item() == float("-inf")  # documented, as kornia


def test_psnr_bad_input() -> None:
    with pytest.raises(LossInputError, match="same shape"):
        psnr_loss(torch.rand(2, 4), torch.rand(2, 5))
    with pytest.raises(LossInputError, match="at least 2 dims"):
        psnr_loss(torch.rand(4), torch.rand(4))
    with pytest.raises(ValueError, match="max_val must be > 0"):
        PSNRLoss(max_val=-1.0)
    with pytest.raises(ValueError, match="did you mean"):
        psnr_loss(torch.rand(2, 4), torch.rand(2, 4), reduction="meen")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "window", "size", "weights"),
    [
        ((2, 2, 180, 176), "gaussian", 11, None),
        ((2, 1, 96, 100), "uniform", 5, None),
        ((2, 1, 48, 64, 56), "gaussian", 3, None),
        ((2, 1, 40, 44), "gaussian", 5, (0.2, 0.3, 0.5)),
    ],
)
def test_ms_ssim_monai_parity(
    shape: tuple[int, ...], window: str, size: int, weights: tuple[float, ...] | None, device: torch.device
) -> None:
    x, y = _images(shape)
    metric = MultiScaleSSIMMetric(
        spatial_dims=len(shape) - 2, kernel_type=window, kernel_size=size, weights=weights or MS_SSIM_WEIGHTS
    )
    # MONAI computes in float32 with full (non-separable) kernels: compare the MS-SSIM itself at rtol 1e-5
    ms = metric._compute_tensor(x, y).reshape(-1)
    got = ms_ssim_loss(x.to(device), y.to(device), window=window, window_size=size, weights=weights, reduction="none")  # type: ignore[arg-type]
    torch.testing.assert_close(1 - got.cpu(), ms, rtol=1e-5, atol=1e-6)
    module = MSSSIMLoss(window=window, window_size=size, weights=weights)(x, y)  # type: ignore[arg-type]
    torch.testing.assert_close(1 - module, ms.mean(), rtol=1e-5, atol=1e-6)


def test_ms_ssim_small_volume_cuts_window_and_edges(device: torch.device) -> None:
    x, y = _images((1, 1, 24, 24, 24))  # 24 // 16 = 1 pixel at the coarsest scale: the window is cut to 1
    value = ms_ssim_loss(x.to(device), y.to(device))
    assert torch.isfinite(value) and 0 < value.item() < 1
    assert ms_ssim_loss(y.to(device), y.to(device)).abs().item() < 1e-5
    e = torch.rand(0, 1, 32, 32, device=device, requires_grad=True)
    loss = ms_ssim_loss(e, e.detach())
    (grad,) = torch.autograd.grad(loss, e)
    assert loss.item() == 0 and not grad.any()
    x[0, 0, 3, 3, 3] = float("nan")
    assert ms_ssim_loss(x.to(device), y.to(device)).isnan()
    with pytest.raises(LossInputError, match="too small for 5 scales"):
        ms_ssim_loss(torch.rand(1, 1, 8, 32), torch.rand(1, 1, 8, 32))
    with pytest.raises(ValueError, match="weights must be"):
        MSSSIMLoss(weights=[])


def test_ms_ssim_gradcheck(device: torch.device) -> None:
    x, y = _images((1, 2, 12, 10), dtype=torch.float64)
    x = x.to(device).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a: ms_ssim_loss(a, y.to(device), window_size=3, weights=(0.4, 0.6), reduction="none"), (x,)
    )


def _ssim_reference(x: torch.Tensor, y: torch.Tensor, size: int, kind: str = "ssim") -> torch.Tensor:
    """The plain autograd formula (the implementation before the custom function): per-sample mean map."""
    from losskit.functional.image_quality import _separable_filter, _window_1d

    stats = _separable_filter(torch.cat([x, y, x * x, y * y, x * y], 1), _window_1d("gaussian", size, 1.5, x))
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.chunk(5, 1)
    c1, c2 = 0.01**2, 0.03**2
    cs = (2 * (e_xy - mu_x * mu_y) + c2) / (e_xx - mu_x**2 + e_yy - mu_y**2 + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (lum * cs if kind == "ssim" else cs).flatten(1).mean(1)


@pytest.mark.parametrize("shape", [(3, 2, 23, 19), (2, 2, 13, 12, 14)])
@pytest.mark.parametrize("kind", ["ssim", "cs"])
@pytest.mark.parametrize("grads", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("path", ["shifts", "conv"])
def test_ssim_function_matches_autograd_formula(
    shape: tuple[int, ...], kind: str, grads: tuple[bool, bool], path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The custom function (values, both inputs' gradients, in float64 for exactness) equals autograd through the
    plain formula, on the CPU path (shifted adds, several batch chunks) and the convolution path of GPUs."""
    from losskit.functional import _ssim_core

    monkeypatch.setattr(_ssim_core, "_use_shifts", lambda t: path == "shifts")
    monkeypatch.setattr(_ssim_core, "CHUNK_BYTES", 1)  # one sample per chunk
    x, y = _images(shape, dtype=torch.float64)
    xa, ya = x.clone().requires_grad_(grads[0]), y.clone().requires_grad_(grads[1])
    xb, yb = x.clone().requires_grad_(grads[0]), y.clone().requires_grad_(grads[1])
    w = torch.rand(shape[0], dtype=torch.float64)
    taps = _ssim_core.window_taps("gaussian", 7, 1.5)
    got = _ssim_core.ssim_mean(xa, ya, taps, 0.01**2, 0.03**2, kind)  # type: ignore[arg-type]
    ref = _ssim_reference(xb, yb, 7, kind)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    (got * w).sum().backward()
    (ref * w).sum().backward()
    for a, b in ((xa, xb), (ya, yb)):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None and b.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)


def test_ms_ssim_gradcheck_3d_both_inputs(device: torch.device) -> None:
    x, y = _images((2, 1, 10, 9, 8), dtype=torch.float64)
    x, y = x.to(device).requires_grad_(), y.to(device).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: ms_ssim_loss(a, b, window_size=3, weights=(0.4, 0.6), reduction="none"), (x, y)
    )


def test_ssim_without_grad_and_float32_large() -> None:
    """No graph: the function skips the derivative maps and gives the same value; float32 at 8x3x64x64 matches
    the plain formula in float64 to 1e-5."""
    x, y = _images((8, 3, 64, 64))
    with torch.no_grad():
        plain = ssim_loss(x, y, reduction="none")
    ref = 1 - _ssim_reference(x.double(), y.double(), 11)
    torch.testing.assert_close(plain.double(), ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ssim_loss(x.requires_grad_(), y, reduction="none").detach(), plain)


@pytest.mark.parametrize("need", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("fn", [ssim_loss, ms_ssim_loss])
def test_compiled_ssim_runs_the_opaque_ops_with_eager_values_and_gradients(need: tuple[bool, bool], fn: Any) -> None:
    """Under torch.compile the SSIM kernel is the custom ops ``losskit::ssim_mean(_backward)``: the same value and
    the same gradient for whichever images need one, and none for the others."""
    torch._dynamo.reset()
    x0, y0 = _images((2, 2, 40, 36), seed=3)
    eager_in = [t.clone().requires_grad_(r) for t, r in zip((x0, y0), need, strict=True)]
    comp_in = [t.clone().requires_grad_(r) for t, r in zip((x0, y0), need, strict=True)]
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
    expected, got = fn(*eager_in, window_size=7), compiled(*comp_in, window_size=7)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    if any(need):
        expected.backward()
        got.backward()
    for e, c in zip(eager_in, comp_in, strict=True):
        assert (e.grad is None) == (c.grad is None)
        if e.grad is not None:
            torch.testing.assert_close(c.grad, e.grad, rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x0, y0, window_size=7), expected.detach(), rtol=1e-5, atol=1e-6)
