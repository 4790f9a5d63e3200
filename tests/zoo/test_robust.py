"""kornia's robust losses (cauchy, geman_mcclure, welsch), wing, total_variation: parity, gradcheck, edges."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import kornia.losses as KL
import pytest
import torch
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import robust as FRB
from losskit.functional.regression import barron_loss
from losskit.testing import check_loss

Reduction = Literal["mean", "sum", "none"]
NAMES = ("cauchy", "geman_mcclure", "welsch", "wing", "total_variation")
ROBUST: dict[str, tuple[Callable[..., Tensor], Callable[..., Tensor], float]] = {
    "cauchy": (FRB.cauchy_loss, KL.cauchy_loss, 0.0),
    "geman_mcclure": (FRB.geman_mcclure_loss, KL.geman_mcclure_loss, -2.0),
    "welsch": (FRB.welsch_loss, KL.welsch_loss, -math.inf),
}


def _pair(shape: tuple[int, ...] = (2, 3, 5, 4), seed: int = 0, spread: float = 2.0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * spread
    return x, torch.randn(shape, generator=g, dtype=torch.float64)


def _wing_reference(x: Tensor, y: Tensor, w: float, eps: float) -> Tensor:
    """The paper's piecewise definition, evaluated element by element in plain Python."""
    c = w - w * math.log(1 + w / eps)
    out = [w * math.log(1 + abs(d) / eps) if abs(d) < w else abs(d) - c for d in (x - y).flatten().tolist()]
    return torch.tensor(out, dtype=torch.float64).reshape(x.shape)


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


@pytest.mark.parametrize(
    "spec", [{"name": "wing", "w": 5.0, "epsilon": 0.5}, {"name": "total_variation", "pixel_reduction": "mean"}]
)
def test_check_loss_options(spec: dict[str, object]) -> None:
    check_loss(spec, compile=None)


@pytest.mark.parametrize("name", list(ROBUST))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_robust_kornia_parity(name: str, reduction: Reduction, device: torch.device) -> None:
    fn, ref, alpha = ROBUST[name]
    x, y = _pair()
    x[0, 0, 0, :] = torch.tensor([0.0, 1e-4, 0.7, 30.0], dtype=torch.float64)  # near 0, both welsch branches, far
    y[0, 0, 0, :] = 0.0
    want = ref(x, y, reduction=reduction)
    got = fn(x.to(device), y.to(device), reduction=reduction).cpu()
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    # one implementation: the same as barron at the loss's alpha (scale 1)
    torch.testing.assert_close(got, barron_loss(x, y, alpha=alpha, reduction=reduction), rtol=0, atol=0)
    module = build_loss(name, reduction=reduction).to(device)
    torch.testing.assert_close(module(x.to(device), y.to(device)).cpu(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(ROBUST))
def test_robust_kornia_parity_float32_gradients(name: str, device: torch.device) -> None:
    fn, ref, _ = ROBUST[name]
    x, y = (t.float() for t in _pair(seed=1))
    a = x.clone().to(device).requires_grad_(True)
    b = x.clone().requires_grad_(True)
    torch.autograd.backward(fn(a, y.to(device)))
    torch.autograd.backward(ref(b, y, reduction="mean"))
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad.cpu(), b.grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("w,eps", [(10.0, 2.0), (5.0, 0.5), (1.0, 3.0)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_wing_closed_form(w: float, eps: float, reduction: Reduction, device: torch.device) -> None:
    x, y = _pair((4, 5, 2), spread=2 * w)
    ref = _wing_reference(x, y, w, eps)
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    got = FRB.wing_loss(x.to(device), y.to(device), w=w, epsilon=eps, reduction=reduction).cpu()
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    mod = build_loss({"name": "wing", "w": w, "epsilon": eps, "reduction": reduction}).to(device)
    torch.testing.assert_close(mod(x.to(device), y.to(device)).cpu(), ref, rtol=1e-12, atol=1e-12)


def test_wing_continuous_at_w_and_known_values() -> None:
    w, eps = 10.0, 2.0
    d = torch.tensor([w - 1e-9, w, w + 1e-9, 0.0, 2.0], dtype=torch.float64)
    out = FRB.wing_loss(d, torch.zeros_like(d), w=w, epsilon=eps, reduction="none")
    torch.testing.assert_close(out[0], out[2], rtol=0, atol=1e-8)
    torch.testing.assert_close(out[1], torch.tensor(w * math.log(1 + w / eps), dtype=torch.float64))
    torch.testing.assert_close(out[3:], torch.tensor([0.0, 10 * math.log(2.0)], dtype=torch.float64))


@pytest.mark.parametrize("pixel_reduction", ["sum", "mean"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 5), (4, 7), (3, 1, 5), (2, 4, 1), (2, 1, 1)])
def test_total_variation_kornia_parity(pixel_reduction: str, shape: tuple[int, ...], device: torch.device) -> None:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    want = KL.total_variation(x, reduction=pixel_reduction)
    for reduction, ref in (("none", want), ("mean", want.mean()), ("sum", want.sum())):
        got = FRB.total_variation_loss(x.to(device), pixel_reduction=pixel_reduction, reduction=reduction)  # type: ignore[arg-type]
        torch.testing.assert_close(got.cpu(), ref, rtol=1e-12, atol=1e-12)
    mod = build_loss({"name": "total_variation", "pixel_reduction": pixel_reduction, "reduction": "none"})
    torch.testing.assert_close(mod.to(device)(x.to(device)).cpu(), want, rtol=1e-12, atol=1e-12)
    assert KL.TotalVariation()(x).shape == want.shape


def test_gradcheck() -> None:
    x, y = _pair((2, 3, 2), seed=5)
    x.requires_grad_(True)
    for fn, _, _ in ROBUST.values():
        assert torch.autograd.gradcheck(lambda a: fn(a, y), (x,))
    for w, eps in ((10.0, 2.0), (1.0, 0.5)):  # both branches of the wing
        assert torch.autograd.gradcheck(lambda a: FRB.wing_loss(a * 3, y, w=w, epsilon=eps), (x,))
    img = torch.randn(2, 2, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(6), requires_grad=True)
    for p in ("sum", "mean"):
        assert torch.autograd.gradcheck(lambda a: FRB.total_variation_loss(a, pixel_reduction=p), (img,))


@pytest.mark.parametrize("name", NAMES)
def test_empty_and_nan(name: str, device: torch.device) -> None:
    loss = build_loss(name).to(device)
    n = 1 if name == "total_variation" else 2
    empty = [torch.zeros(0, 3, 4, 4, device=device) for _ in range(n)]
    empty[0].requires_grad_(True)
    out = loss(*empty)
    torch.autograd.backward(out)
    assert out.item() == 0.0 and empty[0].grad is not None and not empty[0].grad.any()
    full = [torch.rand(2, 3, 4, 4, device=device) for _ in range(n)]
    full[0][1, 2, 3, 0] = float("nan")
    assert torch.isnan(loss(*full))


def test_bad_input_and_options() -> None:
    x = torch.randn(2, 3)
    for fn, _, _ in ROBUST.values():
        with pytest.raises(LossInputError, match=fn.__name__.removesuffix("_loss")):
            fn(x, torch.randn(2, 1))
        with pytest.raises(ValueError, match="did you mean"):
            fn(x, x, reduction="meen")
    with pytest.raises(LossInputError, match="wing"):
        FRB.wing_loss(x, torch.randn(3, 2))
    for bad in ({"w": 0.0}, {"epsilon": -1.0}, {"w": math.inf}, {"epsilon": math.nan}):
        with pytest.raises(ValueError, match="wing"):
            FRB.wing_loss(x, x, **bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="wing"):
            build_loss({"name": "wing", **bad})
    with pytest.raises(LossInputError, match="total_variation"):
        FRB.total_variation_loss(torch.randn(5))
    with pytest.raises(LossInputError, match="total_variation"):
        FRB.total_variation_loss(torch.randint(0, 5, (2, 4, 4)))
    with pytest.raises(ValueError, match="did you mean"):
        FRB.total_variation_loss(x, pixel_reduction="mena")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="did you mean"):
        build_loss({"name": "total_variation", "pixel_reduction": "summ"})
