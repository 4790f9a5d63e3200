"""hausdorff_er (erosion-based Hausdorff, Karimi & Salcudean 2019): kornia parity 2-D and 3-D in float64,
check_loss, gradcheck, bad input, empty batch."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from kornia.losses import HausdorffERLoss as KorniaHD
from kornia.losses import HausdorffERLoss3D as KorniaHD3D
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import hausdorff_er_loss
from losskit.testing import check_loss

SHAPES = [(2, 3, 17, 19), (2, 3, 7, 9, 10)]


def _case(shape: tuple[int, ...], seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(shape, generator=g, dtype=torch.float64).softmax(1)
    y = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    return p, y


def _kornia(shape: tuple[int, ...], exact: bool, **kw: Any) -> torch.nn.Module:
    ref = (KorniaHD if len(shape) == 4 else KorniaHD3D)(**kw)
    if exact:  # kornia builds its kernel in float32 (0.2 and 1/7 rounded); the exact float64 weights instead
        cross = ref.get_kernel() != 0
        ref.kernel = cross.double() / cross.sum()
    return ref


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_kornia_parity_exact_kernel(shape: tuple[int, ...], reduction: Any, device: torch.device) -> None:
    p, y = _case(shape)
    got = hausdorff_er_loss(p.to(device), y.to(device), from_logits=False, alpha=1.5, k=6, reduction=reduction)
    want = _kornia(shape, True, alpha=1.5, k=6, reduction=reduction)(p, y[:, None])
    if reduction == "none":  # kornia: (C, N, 1, *spatial); losskit: (N, C, *spatial)
        want = want.squeeze(2).movedim(0, 1)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_kornia_parity_stock_and_gradient(shape: tuple[int, ...]) -> None:
    """Stock kornia (float32-rounded kernel): the mean within 1e-6; with the exact kernel the gradient too."""
    p, y = _case(shape, seed=1)
    got = hausdorff_er_loss(p, y, from_logits=False)
    torch.testing.assert_close(got, _kornia(shape, False)(p, y[:, None]), rtol=1e-6, atol=1e-9)
    a = p.clone().requires_grad_()
    b = p.clone().requires_grad_()
    hausdorff_er_loss(a, y, from_logits=False).backward()
    _kornia(shape, True)(b, y[:, None]).backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-12)


def test_logits_and_modes() -> None:
    p, y = _case((2, 3, 9, 8))
    x = p.log()
    torch.testing.assert_close(hausdorff_er_loss(x, y), hausdorff_er_loss(p, y, from_logits=False))
    # a (N, 1, *) label map is accepted as kornia's layout
    torch.testing.assert_close(hausdorff_er_loss(x, y[:, None]), hausdorff_er_loss(x, y))
    nb = hausdorff_er_loss(x, y, include_background=False, reduction="none")
    torch.testing.assert_close(nb, hausdorff_er_loss(x, y, reduction="none")[:, 1:])
    # binary: the foreground channel alone; the same map as the two-class softmax (the error is symmetric)
    t = (y > 0).double()
    logit = torch.randn(2, 9, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    two = torch.stack([torch.zeros_like(logit), logit], 1)
    got = hausdorff_er_loss(logit, t, mode="binary", reduction="none")
    torch.testing.assert_close(got[:, 0], hausdorff_er_loss(two, (y > 0).long(), reduction="none")[:, 1])
    ml = hausdorff_er_loss(x, (p > 0.3).double(), mode="multilabel")
    assert ml.isfinite()


@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
def test_check_loss(mode: str) -> None:
    check_loss({"name": "hausdorff_er", "mode": mode}, compile=None)


@pytest.mark.parametrize("shape", [(1, 2, 5, 6), (1, 2, 3, 4, 4)])
def test_gradcheck(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(shape, generator=g, dtype=torch.float64).requires_grad_()
    y = torch.randint(0, 2, (shape[0], *shape[2:]), generator=g)
    assert torch.autograd.gradcheck(lambda a: hausdorff_er_loss(a, y, k=3), (x,))


def test_aliases_and_builder() -> None:
    for name in ("hausdorff_er", "HausdorffERLoss", "HausdorffERLoss3D"):
        assert type(build_loss(name)).__name__ == "HausdorffERLoss"
    with pytest.raises(ValueError, match="did you mean"):
        build_loss("hausdorff_er", reduction="meen")
    for bad in ({"k": 0}, {"k": 2.5}, {"alpha": float("nan")}):
        with pytest.raises(ValueError, match="hausdorff_er"):
            build_loss("hausdorff_er", **bad)
        with pytest.raises(ValueError, match="hausdorff_er_loss"):
            hausdorff_er_loss(torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long), **bad)


def test_bad_input() -> None:
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(LossInputError, match="hausdorff_er_loss"):
        hausdorff_er_loss(x, torch.zeros(2, 7, 8, dtype=torch.long))
    with pytest.raises(LossInputError, match="hausdorff_er_loss"):
        hausdorff_er_loss(torch.randn(2, 3, 8), torch.zeros(2, 8, dtype=torch.long))  # 1-D
    with pytest.raises(LossInputError, match="hausdorff_er_loss"):
        hausdorff_er_loss(x, torch.zeros(2, 8, 8, dtype=torch.long).float())  # float labels
    with pytest.raises(LossInputError, match="hausdorff_er_loss"):
        hausdorff_er_loss(x[:, :1], torch.zeros(2, 8, 8, dtype=torch.long))  # one channel, multiclass


def test_empty_batch_and_nan() -> None:
    x = torch.randn(0, 3, 8, 8, requires_grad=True)
    y = torch.zeros(0, 8, 8, dtype=torch.long)
    out = hausdorff_er_loss(x, y)
    out.backward()
    assert out.item() == 0.0 and x.grad is not None and not x.grad.any()
    assert hausdorff_er_loss(x, y, reduction="none").shape == (0, 3, 8, 8)
    z = torch.randn(1, 3, 8, 8)
    z[0, 1, 4, 4] = float("nan")
    assert hausdorff_er_loss(z, torch.zeros(1, 8, 8, dtype=torch.long)).isnan()
