"""ms_ssim_l1 (kornia MS_SSIMLoss): kornia parity in float64, return_terms, check_loss, gradcheck, bad input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import kornia.losses as KL
import pytest
import torch
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import ms_ssim_l1_loss
from losskit.testing import check_loss

Reduction = Literal["mean", "sum", "none"]
KORNIA_SIGMAS = (0.5, 1.0, 2.0, 4.0, 8.0)


def _rand(*shape: int, seed: int = 0) -> Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _pair(*shape: int) -> tuple[Tensor, Tensor]:
    y = _rand(*shape, seed=1)
    return 0.6 * y + 0.4 * _rand(*shape, seed=2), y


def _kornia(sigmas: Sequence[float], **options: Any) -> KL.MS_SSIMLoss:
    """kornia's module in float64: ``.double()`` would only round its float32 Gaussian masks, so they are
    rebuilt in float64 (the same formula) for a parity at float64 precision."""
    m = KL.MS_SSIMLoss(sigmas=sigmas, **options).double()
    size = 2 * m.pad + 1
    masks = [m._fspecial_gauss_2d(size, s, dtype=torch.float64) for s in sigmas]
    m._g_masks = torch.stack(masks).unsqueeze(1)
    return m


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("sigmas", "options"),
    [
        (KORNIA_SIGMAS, {}),
        ((0.5, 1.0, 3.0), {"data_range": 2.0, "K": (0.02, 0.05), "alpha": 0.84, "compensation": 1.0}),
        ((1.5,), {"alpha": 1.0}),
        ((2.0, 0.7), {"alpha": 0.0, "data_range": 255.0}),  # the last sigma is the coarsest, whatever the order
    ],
)
def test_kornia_parity(
    sigmas: tuple[float, ...], options: dict[str, Any], reduction: Reduction, device: torch.device
) -> None:
    x, y = _pair(2, 3, 20, 23)
    if options.get("data_range") == 255.0:
        x, y = x * 255, y * 255
    want = _kornia(sigmas, reduction=reduction, **options)(x, y)
    ours = dict(options)
    ours["k1"], ours["k2"] = ours.pop("K", (0.01, 0.03))
    got = ms_ssim_l1_loss(x.to(device), y.to(device), sigmas=sigmas, reduction=reduction, **ours)
    assert isinstance(got, Tensor)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-12)
    mod = build_loss({"name": "MS_SSIMLoss", "sigmas": list(sigmas), "reduction": reduction, **ours}).to(device)
    torch.testing.assert_close(mod(x.to(device), y.to(device)).cpu(), want, rtol=1e-10, atol=1e-12)


def test_kornia_gradient_parity(device: torch.device) -> None:
    x, y = _pair(1, 2, 12, 9)
    a, b = x.clone().to(device).requires_grad_(True), x.clone().requires_grad_(True)
    loss = ms_ssim_l1_loss(a, y.to(device))
    assert isinstance(loss, Tensor)
    loss.backward()
    _kornia(KORNIA_SIGMAS)(b, y).backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad.cpu(), b.grad, rtol=1e-9, atol=1e-12)


def test_return_terms_and_identity(device: torch.device) -> None:
    x, y = (t.to(device) for t in _pair(2, 1, 16, 16))
    loss = build_loss({"name": "ms_ssim_l1", "alpha": 0.3, "compensation": 2.0}).to(device)
    total, terms = loss(x, y, return_terms=True)
    assert sorted(terms) == ["l1", "ms_ssim"] and not any(t.requires_grad for t in terms.values())
    torch.testing.assert_close(total, 2.0 * (0.3 * terms["ms_ssim"] + 0.7 * terms["l1"]))
    assert torch.equal(loss(x, y), total)
    # alpha = 1: the MS-SSIM term alone; identical images: 0 (the MS-SSIM of an image with itself is 1)
    assert ms_ssim_l1_loss(x, x, alpha=1.0).abs().max() < 1e-12  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "spec",
    [{"name": "ms_ssim_l1"}, {"name": "ms_ssim_l1", "sigmas": [0.5, 1.0], "alpha": 0.84, "reduction": "none"}],
)
def test_check_loss(spec: dict[str, Any]) -> None:
    check_loss(spec, compile=None)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck(reduction: Reduction, device: torch.device) -> None:
    x, y = (t.to(device).requires_grad_(True) for t in _pair(1, 2, 6, 5))

    def f(a: Tensor, b: Tensor) -> Tensor:
        out = ms_ssim_l1_loss(a, b, sigmas=(0.5, 1.0, 1.5), alpha=0.5, reduction=reduction)
        assert isinstance(out, Tensor)
        return out

    assert torch.autograd.gradcheck(f, (x, y))


def test_empty_batch_and_nan(device: torch.device) -> None:
    e = torch.zeros(0, 3, 8, 8, device=device, requires_grad=True)
    out = ms_ssim_l1_loss(e, e.detach())
    assert isinstance(out, Tensor) and out.item() == 0.0
    out.backward()
    assert e.grad is not None and e.grad.shape == e.shape
    assert ms_ssim_l1_loss(e, e, reduction="none").shape == (0, 8, 8)  # type: ignore[union-attr]
    x, y = (t.to(device) for t in _pair(1, 1, 8, 8))
    x[0, 0, 0, 0] = float("nan")
    assert torch.isnan(ms_ssim_l1_loss(x, y)).all()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("input", "target", "match"),
    [
        (torch.rand(2, 3, 8, 8), torch.rand(1, 3, 8, 8), "shape"),  # no batch broadcasting (kornia's)
        (torch.rand(3, 8, 8), torch.rand(3, 8, 8), r"\(B, C, H, W\)"),
        (torch.rand(1, 1, 4, 4, 4), torch.rand(1, 1, 4, 4, 4), r"\(B, C, H, W\)"),
        (torch.rand(1, 1, 4, 4), torch.randint(0, 2, (1, 1, 4, 4)), "target"),
    ],
)
def test_bad_input(input: Tensor, target: Tensor, match: str) -> None:
    with pytest.raises(LossInputError, match="ms_ssim_l1") as info:
        ms_ssim_l1_loss(input, target)
    assert info.match(match)


@pytest.mark.parametrize(
    "options",
    [{"sigmas": []}, {"sigmas": [1.0, 0.0]}, {"alpha": 1.5}, {"data_range": 0.0}, {"k1": -0.1}, {"compensation": 0}],
)
def test_bad_options(options: dict[str, Any]) -> None:
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises(ValueError, match="ms_ssim_l1"):
        ms_ssim_l1_loss(x, x, **options)
    with pytest.raises(ValueError, match="ms_ssim_l1"):
        build_loss({"name": "ms_ssim_l1", **options})
