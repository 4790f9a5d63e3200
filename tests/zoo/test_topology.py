"""Topology losses (cldice, dice_cldice): MONAI parity, gradcheck, check_loss, ignore_index and edge cases."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from monai.losses.cldice import SoftclDiceLoss as MonaiClDice
from monai.losses.cldice import SoftDiceclDiceLoss as MonaiDiceClDice
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import cldice_loss, dice_cldice_loss
from losskit.functional.topology import soft_skeleton
from losskit.testing import check_loss

SHAPES = [(3, 4, 17, 19), (2, 3, 9, 10, 11)]  # 2-D and 3-D


def _case(shape: tuple[int, ...], seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    dense = torch.randint(0, 2, shape, generator=g).double()
    return x, y, dense


def _monai(cls: Any, x: Tensor, y: Tensor, **kw: Any) -> Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out: Tensor = cls(**kw)(x, y)
    return out


@pytest.mark.parametrize("name", ["cldice", "dice_cldice"])
@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
def test_check_loss(name: str, mode: str) -> None:
    check_loss({"name": name, "mode": mode}, compile=None)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cldice_monai_parity_multiclass(
    shape: tuple[int, ...], include_background: bool, reduction: Any, device: torch.device
) -> None:
    x, y, _ = _case(shape)
    opts = dict(iterations=4, smooth_nr=0.5, smooth_dr=2.0, eps=1e-3)
    got = cldice_loss(
        x.to(device),
        y.to(device),
        include_background=include_background,
        reduction=reduction,
        **opts,  # type: ignore[arg-type]
    ).cpu()
    want = _monai(
        MonaiClDice,
        x,
        y[:, None],
        iter_=4,
        smooth_nr=0.5,
        smooth_dr=2.0,
        smooth=1e-3,
        softmax=True,
        to_onehot_y=True,
        include_background=include_background,
        reduction=reduction,
    )
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_cldice_monai_parity_sigmoid_and_probabilities(shape: tuple[int, ...], device: torch.device) -> None:
    x, y, t = _case(shape, seed=1)
    ml = cldice_loss(x.to(device), t.to(device), mode="multilabel", reduction="none").cpu()
    torch.testing.assert_close(ml, _monai(MonaiClDice, x, t, sigmoid=True, reduction="none"), rtol=1e-10, atol=1e-12)
    want = _monai(MonaiClDice, x[:, :1], t[:, :1], sigmoid=True)
    for xb, tb in ((x[:, :1], t[:, :1]), (x[:, 0], t[:, 0])):  # binary with and without the channel dim
        got = cldice_loss(xb.to(device), tb.to(device), mode="binary").cpu()
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    p = torch.softmax(x, 1)
    got = cldice_loss(p.to(device), y.to(device), from_logits=False).cpu()
    torch.testing.assert_close(got, _monai(MonaiClDice, p, y[:, None], to_onehot_y=True), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_dice_cldice_monai_parity(shape: tuple[int, ...], reduction: Any, device: torch.device) -> None:
    x, y, t = _case(shape, seed=2)
    loss = build_loss({"name": "dice_cldice", "alpha": 0.3, "iterations": 5, "reduction": reduction})
    got = loss(x.to(device), y.to(device)).cpu()
    kw: dict[str, Any] = dict(iter_=5, alpha=0.3, reduction=reduction)
    want = _monai(MonaiDiceClDice, x, y[:, None], softmax=True, to_onehot_y=True, **kw)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    got = dice_cldice_loss(x.to(device), t.to(device), mode="multilabel", alpha=0.3, iterations=5, reduction=reduction)
    assert isinstance(got, Tensor)
    torch.testing.assert_close(got.cpu(), _monai(MonaiDiceClDice, x, t, sigmoid=True, **kw), rtol=1e-10, atol=1e-12)


def test_dice_cldice_return_terms(device: torch.device) -> None:
    x, y, _ = _case((2, 3, 12, 12))
    loss = build_loss({"name": "dice_cldice", "alpha": 0.25})
    total, terms = loss(x.to(device), y.to(device), return_terms=True)
    assert sorted(terms) == ["cldice", "dice"]
    torch.testing.assert_close(total, 0.75 * terms["dice"] + 0.25 * terms["cldice"])
    torch.testing.assert_close(terms["cldice"], cldice_loss(x.to(device), y.to(device)))
    torch.testing.assert_close(loss(x.to(device), y.to(device)), total)


@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("spatial", [(5, 6), (4, 4, 5)])
def test_gradcheck(mode: str, spatial: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(3)
    c = 1 if mode == "binary" else 3
    x = torch.randn(2, c, *spatial, generator=g, dtype=torch.float64, requires_grad=True)
    y: Tensor
    if mode == "multiclass":
        y = torch.randint(0, c, (2, *spatial), generator=g)
    else:
        y = torch.randint(0, 2, x.shape, generator=g).double()
    m: Any = mode

    def cl(a: Tensor) -> Tensor:
        return cldice_loss(a, y, mode=m, iterations=2)

    def dc(a: Tensor) -> Tensor:
        out = dice_cldice_loss(a, y, mode=m, iterations=2)
        assert isinstance(out, Tensor)
        return out

    assert torch.autograd.gradcheck(cl, (x,))
    assert torch.autograd.gradcheck(dc, (x,))


def test_perfect_tube_prediction_scores_near_zero(device: torch.device) -> None:
    t = torch.zeros(1, 1, 32, 32, device=device)
    t[..., 14:18, 2:30] = 1.0  # a horizontal tube
    assert soft_skeleton(t).sum() > 0
    loss = cldice_loss(t, t, mode="binary", from_logits=False, smooth_nr=0.0, smooth_dr=0.0, eps=1e-6)
    assert float(loss) < 1e-5
    broken = t.clone()
    broken[..., 14:18, 15:17] = 0.0  # a gap breaks the topology: clDice rises
    assert float(cldice_loss(broken, t, mode="binary", from_logits=False)) > float(loss) + 1e-3


def test_ignore_index(device: torch.device) -> None:
    x, y, _ = _case((2, 3, 10, 12), seed=4)
    x, y = x.to(device).requires_grad_(), y.to(device)
    y_all = torch.full_like(y, 255)
    out = cldice_loss(x, y_all, ignore_index=255)
    (grad,) = torch.autograd.grad(out, x)
    assert float(out.detach()) == 0.0 and float(grad.abs().sum()) == 0.0
    dc = dice_cldice_loss(x.detach(), y_all, ignore_index=255)
    assert isinstance(dc, Tensor) and float(dc) == 0.0
    # one sample fully ignored: "none" gives it 0, "mean" averages the other one only
    y1 = y.clone()
    y1[0] = 255
    none = cldice_loss(x.detach(), y1, ignore_index=255, reduction="none")
    assert float(none[0]) == 0.0
    torch.testing.assert_close(cldice_loss(x.detach(), y1, ignore_index=255), none[1])
    torch.testing.assert_close(none[1], cldice_loss(x.detach()[1:], y[1:], ignore_index=255, reduction="none")[0])


def test_empty_batch_and_nan(device: torch.device) -> None:
    x = torch.randn(0, 3, 8, 8, device=device, requires_grad=True)
    y = torch.zeros(0, 8, 8, dtype=torch.long, device=device)
    for fn in (cldice_loss, dice_cldice_loss):
        out = fn(x, y)
        assert isinstance(out, Tensor)
        (grad,) = torch.autograd.grad(out, x)
        assert float(out.detach()) == 0.0 and grad.shape == x.shape and float(grad.abs().sum()) == 0.0
    xn = torch.randn(1, 3, 8, 8, device=device)
    xn[0, 1, 4, 4] = float("nan")
    yn = torch.zeros(1, 8, 8, dtype=torch.long, device=device)
    assert torch.isnan(cldice_loss(xn, yn))
    assert torch.isnan(cldice_loss(xn, yn, ignore_index=255))


def test_bad_inputs_and_options() -> None:
    x = torch.randn(2, 3, 8)
    with pytest.raises(LossInputError, match="2-D or 3-D"):
        cldice_loss(x, torch.zeros(2, 8, dtype=torch.long))
    x2 = torch.randn(2, 3, 8, 8)
    with pytest.raises(LossInputError):
        cldice_loss(x2, torch.zeros(2, 7, 8, dtype=torch.long))
    with pytest.raises(LossInputError, match="mode='binary'"):
        cldice_loss(torch.randn(2, 1, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="did you mean"):
        cldice_loss(x2, torch.zeros(2, 8, 8, dtype=torch.long), reduction="meen")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="iterations"):
        cldice_loss(x2, torch.zeros(2, 8, 8, dtype=torch.long), iterations=-1)
    with pytest.raises(ValueError, match="eps"):
        build_loss({"name": "cldice", "eps": 0.0})
    with pytest.raises(ValueError, match="alpha"):
        build_loss({"name": "dice_cldice", "alpha": 1.5})
    with pytest.raises(ValueError, match="reduction"):
        build_loss({"name": "dice_cldice", "reduction": "none"})


@pytest.mark.parametrize("spatial", [(17, 19), (9, 10, 11)])
def test_untracked_skeleton_equals_pooled(spatial: tuple[int, ...]) -> None:
    """The target's skeleton (no graph) uses shifted min/max instead of the pools: the same values, exactly, also
    with a NaN (propagated) and at the borders."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand((2, 3, *spatial), generator=g, dtype=torch.float64)
    x[0, 0].view(-1)[5] = float("nan")
    tracked = soft_skeleton(x.clone().requires_grad_(), 3).detach()
    with torch.no_grad():
        untracked = soft_skeleton(x.clone().requires_grad_(), 3)
    assert torch.equal(untracked.isnan(), tracked.isnan()) and untracked.isnan().any()
    torch.testing.assert_close(untracked, tracked, rtol=0, atol=0, equal_nan=True)
    tracked32 = soft_skeleton(x.float().requires_grad_(), 3).detach()
    torch.testing.assert_close(soft_skeleton(x.float(), 3), tracked32, rtol=0, atol=0, equal_nan=True)
