"""soft_bce, balanced_bce, soft_f1: parity with smp / pytorch-toolbelt, gradcheck, edge cases, bad input.

smp and pytorch-toolbelt cannot be imported here (they need torchvision), so the references below are plain
torch transcriptions of the published code, written independently of losskit's implementation:

- ``_smp_soft_bce``: ``segmentation_models_pytorch/losses/soft_bce.py`` ``SoftBCEWithLogitsLoss.forward``
  (smoothing ``(1 - y) s + y (1 - s)``, ``F.binary_cross_entropy_with_logits(weight, pos_weight)``, ignored
  elements multiplied by 0, mean over every element);
- ``_toolbelt_balanced_bce``: ``pytorch_toolbelt/losses/balanced_bce.py``
  ``balanced_binary_cross_entropy_with_logits`` (counts of targets == 1 / == 0, ``pos_weight = (n0 / (n +
  1e-7)) ** gamma``, ``neg_weight = 1 - pos_weight``, both raised to ``gamma`` again, ignored elements filled
  with 0, mean over every element);
- ``_toolbelt_soft_f1``: ``pytorch_toolbelt/losses/soft_f1.py`` ``BinarySoftF1Loss`` + ``soft_micro_f1``
  (flatten, drop ignored, sigmoid, clamp to [eps, 1 - eps], ``1 - 2 tp / (2 tp + fn + fp + eps)``, 0 when
  nothing is left).

losskit's "mean" divides by the non-ignored elements (docs/conventions.md); the references divide by every
element, so with ignored elements the parity is ``losskit * n_valid / n``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import losskit
from losskit import LossInputError, build_loss
from losskit.functional import balanced_bce_loss, soft_bce_loss, soft_f1_loss
from losskit.functional._reduce import Reduction
from losskit.testing import check_loss

from .._references import reference

NAMES = ("soft_bce", "balanced_bce", "soft_f1")


def _smp_soft_bce(
    x: Tensor,
    y: Tensor,
    smooth_factor: float | None = None,
    ignore_index: int | None = -100,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    soft = y if smooth_factor is None else (1 - y) * smooth_factor + y * (1 - smooth_factor)
    loss = F.binary_cross_entropy_with_logits(x, soft.type_as(x), weight, pos_weight=pos_weight, reduction="none")
    if ignore_index is not None:
        loss = loss * (y != ignore_index).type_as(loss)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _toolbelt_balanced_bce(
    x: Tensor, y: Tensor, gamma: float = 1.0, ignore_index: int | None = None, reduction: str = "mean"
) -> Tensor:
    pos_targets = y.eq(1).sum()
    neg_targets = y.eq(0).sum()
    num_targets = pos_targets + neg_targets
    pos_weight = torch.pow(neg_targets / (num_targets + 1e-7), gamma)
    neg_weight = 1.0 - pos_weight
    pos_term = pos_weight.pow(gamma) * y * F.logsigmoid(x)
    neg_term = neg_weight.pow(gamma) * (1 - y) * F.logsigmoid(-x)
    loss = -(pos_term + neg_term)
    if ignore_index is not None:
        loss = torch.masked_fill(loss, y.eq(ignore_index), 0)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _toolbelt_soft_f1(x: Tensor, y: Tensor, ignore_index: int | None = None, eps: float = 1e-6) -> Tensor:
    y, x = y.reshape(-1), x.reshape(-1)
    if ignore_index is not None:
        keep = y != ignore_index
        x, y = x[keep], y[keep]
        if y.numel() == 0:
            return torch.tensor(0, dtype=x.dtype)
    p = x.sigmoid().clamp(eps, 1 - eps).view(-1, 1)
    t = y.view(-1, 1)
    tp = torch.sum(p * t, dim=0)
    fp = torch.sum(p * (1 - t), dim=0)
    fn = torch.sum((1 - p) * t, dim=0)
    return (1 - 2 * tp / (2 * tp + fn + fp + eps)).mean()


def _data(
    device: torch.device, shape: tuple[int, ...] = (2, 3, 5, 4), seed: int = 0, ignore: bool = False
) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 2, shape, generator=g).double()
    if ignore:
        y = torch.where(torch.rand(shape, generator=g) < 0.25, 255.0, y)
    return x.to(device), y.to(device)


def _valid_share(y: Tensor, ignore_index: int) -> float:
    return float((y != ignore_index).sum()) / y.numel()


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name)


def test_lovasz_hinge_is_already_an_alias() -> None:
    assert "lovasz_hinge" in losskit.describe_loss("lovasz").aliases


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smooth", [None, 0.0, 0.1, 0.5])
def test_soft_bce_parity(reduction: Reduction, smooth: float | None, device: torch.device) -> None:
    x, y = _data(device)
    w = torch.rand(x.shape[-1], dtype=torch.float64, device=device) + 0.5
    pw = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64, device=device)
    for weight, pos_weight in ((None, None), (w, pw)):
        got = soft_bce_loss(x, y, smooth_factor=smooth, weight=weight, pos_weight=pos_weight, reduction=reduction)
        ref = _smp_soft_bce(x, y, smooth, None, weight, pos_weight, reduction)
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_soft_bce_ignore_index_parity(reduction: Reduction, device: torch.device) -> None:
    x, y = _data(device, ignore=True)
    got = soft_bce_loss(x, y, smooth_factor=0.05, ignore_index=255, reduction=reduction)
    ref = _smp_soft_bce(x, y, 0.05, 255, reduction=reduction)
    if reduction == "mean":
        got = got * _valid_share(y, 255)  # losskit divides by the non-ignored elements, smp by every element
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)


def test_soft_bce_module_and_builder(device: torch.device) -> None:
    x, y = _data(device)
    pw = torch.full((4,), 2.0, dtype=torch.float64)
    loss = build_loss("SoftBCEWithLogitsLoss", smooth_factor=0.1, pos_weight=pw).to(device)
    torch.testing.assert_close(loss(x, y), _smp_soft_bce(x, y, 0.1, None, None, pw.to(device)))
    assert "pos_weight" in loss.state_dict()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_balanced_bce_parity(reduction: Reduction, gamma: float, device: torch.device) -> None:
    x, y = _data(device, seed=1)
    y[0] = 0.0  # an imbalanced batch, so the two weights differ
    got = balanced_bce_loss(x, y, gamma=gamma, reduction=reduction)
    # rtol 1e-6: toolbelt's weight divides int64 counts, so it is float32 (torch's default dtype) even here
    torch.testing.assert_close(got, _toolbelt_balanced_bce(x, y, gamma, None, reduction), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_balanced_bce_ignore_index_parity(reduction: Reduction, device: torch.device) -> None:
    x, y = _data(device, seed=2, ignore=True)
    got = balanced_bce_loss(x, y, gamma=1.5, ignore_index=255, reduction=reduction)
    ref = _toolbelt_balanced_bce(x, y, 1.5, 255, reduction)
    if reduction == "mean":
        got = got * _valid_share(y, 255)
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-12)  # float32 weight in the reference, as above
    if reduction == "none":
        assert (got[y == 255] == 0).all()


def test_balanced_bce_module(device: torch.device) -> None:
    x, y = _data(device, seed=3)
    loss = build_loss("BalancedBCEWithLogitsLoss", gamma=2.0, reduction="sum")
    torch.testing.assert_close(loss(x, y), _toolbelt_balanced_bce(x, y, 2.0, None, "sum"))


@pytest.mark.parametrize("eps", [1e-6, 1e-3])
@pytest.mark.parametrize("ignore", [False, True])
def test_soft_f1_parity(eps: float, ignore: bool, device: torch.device) -> None:
    x, y = _data(device, seed=4, ignore=ignore)
    ignore_index = 255 if ignore else None
    got = soft_f1_loss(x, y, ignore_index=ignore_index, eps=eps)
    ref = _toolbelt_soft_f1(x.cpu(), y.cpu(), ignore_index, eps)
    torch.testing.assert_close(got.cpu(), ref, rtol=1e-10, atol=1e-12)
    module = build_loss("BinarySoftF1Loss", ignore_index=ignore_index, eps=eps)
    torch.testing.assert_close(module(x, y).cpu(), ref, rtol=1e-10, atol=1e-12)


def test_soft_f1_perfect_and_worst(device: torch.device) -> None:
    y = torch.tensor([1.0, 0.0, 1.0, 0.0], device=device)
    assert float(soft_f1_loss(torch.where(y > 0, 30.0, -30.0), y)) < 1e-5
    assert float(soft_f1_loss(torch.where(y > 0, -30.0, 30.0), y)) > 1 - 1e-5


def test_gradcheck(device: torch.device) -> None:
    x, y = _data(device, shape=(2, 1, 3, 3), seed=5, ignore=True)
    x = x.requires_grad_()
    pw = torch.tensor([1.5, 0.5, 2.0], dtype=torch.float64, device=device)
    assert torch.autograd.gradcheck(lambda a: soft_bce_loss(a, y, smooth_factor=0.1, ignore_index=255), (x,))
    assert torch.autograd.gradcheck(lambda a: soft_bce_loss(a, y.clamp(max=1), pos_weight=pw), (x,))
    assert torch.autograd.gradcheck(lambda a: balanced_bce_loss(a, y, gamma=2.0, ignore_index=255), (x,))
    assert torch.autograd.gradcheck(lambda a: soft_f1_loss(a, y, ignore_index=255, eps=1e-4), (x,))


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_is_zero_with_zero_grad(name: str, device: torch.device) -> None:
    x = torch.zeros(0, 1, 4, 4, device=device, requires_grad=True)
    out = build_loss(name)(x, torch.zeros(0, 1, 4, 4, device=device))
    assert out.shape == () and float(out.detach()) == 0.0
    out.backward()
    assert x.grad is not None and (x.grad == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_all_ignored_is_zero_with_zero_grad(name: str, device: torch.device) -> None:
    x = torch.randn(2, 1, 4, 4, device=device, requires_grad=True)
    out = build_loss(name, ignore_index=255)(x, torch.full((2, 1, 4, 4), 255.0, device=device))
    assert float(out.detach()) == 0.0
    out.backward()
    assert x.grad is not None and (x.grad == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_nan_out(name: str, device: torch.device) -> None:
    x, y = _data(device, seed=6)
    x[0, 0, 0, 0] = float("nan")
    assert torch.isnan(build_loss(name)(x, y))


@pytest.mark.parametrize("name", NAMES)
def test_nan_on_an_ignored_element_stays_out(name: str, device: torch.device) -> None:
    x, y = _data(device, seed=7)
    y[0, 0, 0, 0] = 255.0
    x = x.clone()
    x[0, 0, 0, 0] = float("nan")
    x.requires_grad_()
    out = build_loss(name, ignore_index=255)(x, y)
    assert torch.isfinite(out)
    out.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad[0, 0, 0, 0] == 0


@pytest.mark.parametrize("name", NAMES)
def test_0_255_mask_is_an_error(name: str, device: torch.device) -> None:
    x = torch.randn(2, 1, 4, 4, device=device)
    mask = (torch.rand(2, 1, 4, 4, device=device) > 0.5).to(torch.uint8) * 255
    with pytest.raises(LossInputError, match=r"\[0, 1\]"):
        build_loss(name)(x, mask)


@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_and_dtypes(name: str) -> None:
    loss = build_loss(name)
    with pytest.raises(LossInputError, match=name):
        loss(torch.randn(2, 4), torch.ones(2, 1))  # no broadcasting
    with pytest.raises(LossInputError, match=name):
        loss(torch.ones(2, 4, dtype=torch.long), torch.ones(2, 4))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="smooth_factor"):
        build_loss("soft_bce", smooth_factor=0.7)
    with pytest.raises(ValueError, match="smooth_factor"):
        soft_bce_loss(torch.zeros(2), torch.zeros(2), smooth_factor=-0.1)
    with pytest.raises(ValueError, match="gamma"):
        build_loss("balanced_bce", gamma=-1.0)
    with pytest.raises(ValueError, match="eps"):
        soft_f1_loss(torch.zeros(2), torch.zeros(2), eps=0.0)
    with pytest.raises(ValueError, match="did you mean 'mean'"):
        balanced_bce_loss(torch.zeros(2), torch.zeros(2), reduction="meen")  # type: ignore[arg-type]


def test_integer_targets_match_float(device: torch.device) -> None:
    x, y = _data(device, seed=8)
    x = x.float()
    for name in NAMES:
        loss = build_loss(name)
        ref = loss(x, y.float())
        for dtype in (torch.uint8, torch.int32, torch.int64, torch.bool):
            torch.testing.assert_close(loss(x, y.to(dtype)), ref)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_transcriptions_are_the_peers_own_code(reduction: str) -> None:
    """The references above equal the installed smp / pytorch-toolbelt files (tests/_references.py), so the parity
    tests check against the peers themselves, not only against a reading of them."""
    x, y = _data(torch.device("cpu"), ignore=True)
    smp = reference("segmentation_models_pytorch", "losses.soft_bce").SoftBCEWithLogitsLoss
    pw = torch.tensor([1.5], dtype=torch.float64)
    got = smp(smooth_factor=0.1, ignore_index=255, pos_weight=pw, reduction=reduction)(x, y)
    torch.testing.assert_close(got, _smp_soft_bce(x, y, 0.1, 255, pos_weight=pw, reduction=reduction))
    tb = reference("pytorch_toolbelt", "losses.balanced_bce").BalancedBCEWithLogitsLoss
    got = tb(gamma=2.0, reduction=reduction, ignore_index=255)(x, y)
    torch.testing.assert_close(got, _toolbelt_balanced_bce(x, y, 2.0, 255, reduction))
    f1 = reference("pytorch_toolbelt", "losses.soft_f1").BinarySoftF1Loss
    torch.testing.assert_close(f1(ignore_index=255)(x, y), _toolbelt_soft_f1(x, y, 255))
