"""Noise-robust losses (gce, sce, bi_tempered, ohem_cross_entropy): parity with the papers' formulas and the
authors' code written independently here, pytorch-toolbelt's bi-tempered loss (loaded from its file when a copy
is at hand), PaddleSeg's OHEM rule, gradcheck, bad input, empty and all-ignored batches."""

from __future__ import annotations

import doctest
import importlib.util
import math
from types import ModuleType
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import noisy_labels as FN
from losskit.testing import check_loss

from .._references import reference

NAMES = ("gce", "sce", "bi_tempered", "ohem_cross_entropy")
FUNCTIONAL = {
    "gce": FN.gce_loss,
    "sce": FN.sce_loss,
    "bi_tempered": FN.bi_tempered_loss,
    "ohem_cross_entropy": FN.ohem_cross_entropy_loss,
}


def _data(n: int = 6, c: int = 4, spatial: tuple[int, ...] = (), seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, c, *spatial), generator=g, dtype=torch.float64) * 2
    return x, torch.randint(0, c, (n, *spatial), generator=g)


def _reduce(v: Tensor, reduction: str, count: Tensor | int | None = None) -> Tensor:
    if reduction == "none":
        return v
    if reduction == "sum":
        return v.sum()
    return v.sum() / (v.numel() if count is None else count)


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "bi_tempered", "mode": "binary", "t1": 0.5, "t2": 2.0},
        {"name": "bi_tempered", "t2": 0.7, "label_smoothing": 0.1},
        {"name": "ohem_cross_entropy", "min_kept": 4, "ignore_index": None},
    ],
)
def test_check_loss_options(spec: dict[str, object]) -> None:
    check_loss(spec, compile=None)


# ---------------------------------------------------------------------------------------------- gce / sce


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("q", [0.1, 0.7, 1.0])
def test_gce_is_the_papers_formula(q: float, reduction: str, device: torch.device) -> None:
    x, y = _data(spatial=(3,))
    y[0, 0] = y[2, 1] = -1
    p = torch.softmax(x, 1).gather(1, y.clamp_min(0).unsqueeze(1)).squeeze(1)
    want = torch.where(y >= 0, (1 - p**q) / q, 0.0)
    got = FN.gce_loss(x.to(device), y.to(device), q=q, ignore_index=-1, reduction=reduction)  # type: ignore[arg-type]
    torch.testing.assert_close(got.cpu(), _reduce(want, reduction, (y >= 0).sum()), rtol=1e-10, atol=1e-12)


def test_gce_limits() -> None:
    x, y = _data()
    ce = F.cross_entropy(x, y)
    torch.testing.assert_close(FN.gce_loss(x, y, q=1e-7), ce, rtol=1e-5, atol=1e-6)  # q -> 0: cross-entropy
    mae = (1 - torch.softmax(x, 1).gather(1, y[:, None])).mean()
    torch.testing.assert_close(FN.gce_loss(x, y, q=1.0), mae)


def _sce_authors(x: Tensor, y: Tensor, alpha: float, beta: float, c: int) -> Tensor:
    """The authors' SCELoss.forward (HanxunH/SCELoss-Reproduce), rewritten here."""
    ce = F.cross_entropy(x, y)
    pred = torch.clamp(F.softmax(x, dim=1), min=1e-7, max=1.0)
    one_hot = torch.clamp(F.one_hot(y, c).to(x.dtype), min=1e-4, max=1.0)
    rce = -torch.sum(pred * torch.log(one_hot), dim=1)
    return alpha * ce + beta * rce.mean()


@pytest.mark.parametrize(("alpha", "beta"), [(0.1, 1.0), (1.0, 0.5), (0.0, 1.0)])
def test_sce_matches_the_authors_code(alpha: float, beta: float, device: torch.device) -> None:
    x, y = _data(n=8, c=5)
    x[0] = torch.tensor([30.0, -30.0, 0.0, 1.0, -2.0], dtype=torch.float64)  # a softmax below the 1e-7 clamp
    got = FN.sce_loss(x.to(device), y.to(device), alpha=alpha, beta=beta)
    torch.testing.assert_close(got.cpu(), _sce_authors(x, y, alpha, beta, 5), rtol=1e-10, atol=1e-12)


def test_sce_ignored_targets_count_nowhere() -> None:
    x, y = _data(n=8, c=5)
    y2 = y.clone()
    y2[:3] = 255
    got = FN.sce_loss(x, y2, ignore_index=255)
    torch.testing.assert_close(got, _sce_authors(x[3:], y[3:], 0.1, 1.0, 5))


# ---------------------------------------------------------------------------------------------- bi-tempered


def _toolbelt() -> ModuleType:
    """pytorch-toolbelt's own bitempered_loss.py (installed with --no-deps by make install)."""
    return reference("pytorch_toolbelt", "losses.bitempered_loss")


def _log_t(u: Tensor, t: float) -> Tensor:
    return u.log() if t == 1 else (u ** (1 - t) - 1) / (1 - t)


def _exp_t(u: Tensor, t: float) -> Tensor:
    return u.exp() if t == 1 else torch.clamp(1 + (1 - t) * u, min=0) ** (1 / (1 - t))


def _bi_tempered_exact(a: Tensor, y: Tensor, t1: float, t2: float) -> Tensor:
    """The paper's loss with the normalization solved to machine precision by bisection on lambda, per row
    (independent of the fixed-point / bisection schedules of the implementation)."""
    lo = a.max(-1, keepdim=True).values - 50.0
    hi = a.max(-1, keepdim=True).values + 50.0
    for _ in range(200):
        mid = (lo + hi) / 2
        big = _exp_t(a - mid, t2).sum(-1, keepdim=True) > 1  # the sum decreases in lambda
        lo, hi = torch.where(big, mid, lo), torch.where(big, hi, mid)
    p = _exp_t(a - (lo + hi) / 2, t2)
    yl = torch.where(y > 0, y * _log_t(y.clamp_min(1e-300), t1), 0.0)
    return (yl - y * _log_t(p, t1) - y ** (2 - t1) / (2 - t1) + p ** (2 - t1) / (2 - t1)).sum(-1)


@pytest.mark.parametrize(("t1", "t2"), [(0.8, 1.2), (0.5, 2.0), (0.7, 0.6), (1.0, 1.0)])
def test_bi_tempered_is_the_papers_loss(t1: float, t2: float, device: torch.device) -> None:
    x, y = _data(n=5, c=4)
    want = _bi_tempered_exact(x, F.one_hot(y, 4).double(), t1, t2)
    got = FN.bi_tempered_loss(x.to(device), y.to(device), t1=t1, t2=t2, num_iters=100, reduction="none")
    torch.testing.assert_close(got.cpu(), want, rtol=1e-8, atol=1e-9)


def test_bi_tempered_at_one_is_cross_entropy() -> None:
    x, y = _data(spatial=(2, 3))
    torch.testing.assert_close(FN.bi_tempered_loss(x, y, t1=1.0, t2=1.0), F.cross_entropy(x, y), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize(("t1", "t2"), [(0.8, 1.2), (0.3, 0.8)])
def test_bi_tempered_toolbelt_parity(t1: float, t2: float, smoothing: float) -> None:
    tb = _toolbelt()
    x, y = _data(n=7, c=5)
    for reduction in ("mean", "sum", "none"):
        ref = tb.BiTemperedLogisticLoss(t1, t2, smoothing=smoothing, reduction=reduction)(x, y)
        got = FN.bi_tempered_loss(x, y, t1=t1, t2=t2, label_smoothing=smoothing, reduction=reduction)
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    xb = x[:, :1]
    yb = torch.rand(7, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ref = tb.BinaryBiTemperedLogisticLoss(t1, t2, smoothing=smoothing)(xb, yb)
    got = FN.bi_tempered_loss(xb, yb, t1=t1, t2=t2, label_smoothing=smoothing, mode="binary")
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)


def test_bi_tempered_probability_targets_and_ignore() -> None:
    x, y = _data(n=6, c=3)
    dense = FN.bi_tempered_loss(x, F.one_hot(y, 3).double(), reduction="none")
    torch.testing.assert_close(dense, FN.bi_tempered_loss(x, y, reduction="none"))
    y2 = y.clone()
    y2[:2] = -100
    got = FN.bi_tempered_loss(x, y2, ignore_index=-100)
    torch.testing.assert_close(got, dense[2:].mean())


# ---------------------------------------------------------------------------------------------- OHEM


def _ohem_paddle(x: Tensor, y: Tensor, thresh: float, min_kept: int, ignore: int) -> Tensor:
    """PaddleSeg OhemCrossEntropyLoss.forward (min_kept > 0), rewritten in torch here."""
    n, c = x.shape[:2]
    label = y.reshape(-1)
    valid = (label != ignore).long()
    num_valid = int(valid.sum())
    label = label * valid
    prob = F.softmax(x, dim=1).movedim(1, 0).reshape(c, -1)
    if min_kept < num_valid and num_valid > 0:
        prob = prob + (1 - valid)
        prob = (prob * F.one_hot(label, c).T).sum(0)
        threshold = thresh
        index = prob.argsort()
        threshold_index = int(index[min(len(index), min_kept) - 1])
        if prob[threshold_index] > thresh:
            threshold = float(prob[threshold_index])
        kept = (prob < threshold).long()
        label = label * kept
        valid = valid * kept
    label = label + (1 - valid) * ignore
    loss = F.cross_entropy(x, label.reshape(y.shape), ignore_index=ignore, reduction="none")
    v = valid.reshape(y.shape).to(x.dtype)
    return (loss * v).mean() / (v.mean() + 1e-8)


@pytest.mark.parametrize(("thresh", "min_kept"), [(0.7, 10), (0.7, 1), (0.3, 40), (0.9, 500), (0.05, 3)])
def test_ohem_matches_paddleseg(thresh: float, min_kept: int, device: torch.device) -> None:
    x, y = _data(n=2, c=3, spatial=(5, 6), seed=1)
    y[0, :2] = 255
    want = _ohem_paddle(x, y, thresh, min_kept, 255)
    got = FN.ohem_cross_entropy_loss(x.to(device), y.to(device), thresh=thresh, min_kept=min_kept)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-6, atol=1e-8)  # PaddleSeg's 1e-8 in the mean's divisor


def test_ohem_samples_and_zero_min_kept() -> None:
    x, y = _data(n=20, c=4)
    p = torch.softmax(x, 1).gather(1, y[:, None]).squeeze(1)
    keep = p < 0.6
    want = F.cross_entropy(x, y, reduction="none")[keep].mean()
    torch.testing.assert_close(FN.ohem_cross_entropy_loss(x, y, thresh=0.6, min_kept=0), want)
    none = FN.ohem_cross_entropy_loss(x, y, thresh=0.6, min_kept=0, reduction="none")
    assert none.shape == (20,) and bool((none[~keep] == 0).all())


def test_ohem_no_gradient_through_the_selection() -> None:
    x, y = _data(n=10, c=3)
    x.requires_grad_(True)
    FN.ohem_cross_entropy_loss(x, y, thresh=0.5, min_kept=2).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


# ---------------------------------------------------------------------------------------------- shared


GRAD_CASES: list[tuple[str, dict[str, Any]]] = [
    ("gce", {"q": 0.7}),
    ("sce", {"alpha": 0.3, "beta": 1.0}),
    ("bi_tempered", {"t1": 0.7, "t2": 1.5, "num_iters": 60}),
    ("bi_tempered", {"t1": 0.7, "t2": 0.7, "num_iters": 80, "label_smoothing": 0.1}),
    ("ohem_cross_entropy", {"thresh": 0.6, "min_kept": 3, "ignore_index": 255}),
]


@pytest.mark.parametrize(("name", "opts"), GRAD_CASES)
def test_gradcheck(name: str, opts: dict[str, Any], device: torch.device) -> None:
    x, y = _data(n=4, c=3, spatial=(2,), seed=2)
    y[0, 0] = 255 if name == "ohem_cross_entropy" else y[0, 0]
    x = x.to(device).requires_grad_(True)
    fn = FUNCTIONAL[name]
    assert torch.autograd.gradcheck(lambda t: fn(t, y.to(device), **opts), (x,))


def test_bi_tempered_binary_gradcheck() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, 1, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    y = torch.rand(5, 1, 3, dtype=torch.float64, generator=g)
    fn = FN.bi_tempered_loss
    assert torch.autograd.gradcheck(lambda t: fn(t, y, t1=0.6, t2=1.4, num_iters=60, mode="binary"), (x,))


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_names_the_loss(name: str) -> None:
    fn = FUNCTIONAL[name]
    x = torch.randn(4, 3)
    with pytest.raises(LossInputError, match=name):
        fn(x, torch.tensor([0, 1, 2, 3]))  # label out of range
    with pytest.raises(LossInputError, match=name):
        fn(x, torch.tensor([0, 1, 2]))  # wrong shape
    if name != "bi_tempered":  # bi_tempered takes class probabilities of the input's shape
        with pytest.raises(LossInputError, match=name):
            fn(x, torch.rand(4, 3))
    with pytest.raises(LossInputError, match=name):
        fn(x, torch.tensor([0, 1, 2, 0]), num_classes=5)


def test_bad_options() -> None:
    x, y = torch.randn(2, 3), torch.tensor([0, 1])
    for call in (
        lambda: FN.gce_loss(x, y, q=0.0),
        lambda: FN.sce_loss(x, y, alpha=-1.0),
        lambda: FN.bi_tempered_loss(x, y, t1=1.5),
        lambda: FN.bi_tempered_loss(x, y, num_iters=0),
        lambda: FN.bi_tempered_loss(x, y, label_smoothing=1.0),
        lambda: FN.ohem_cross_entropy_loss(x, y, thresh=0.0),
        lambda: FN.ohem_cross_entropy_loss(x, y, min_kept=-1),
    ):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError, match="did you mean 'binary'"):
        build_loss("bi_tempered", mode="binari")
    with pytest.raises(ValueError, match="q must be"):
        build_loss("gce", q=2.0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", NAMES)
def test_empty_and_all_ignored_give_zero_with_zero_grad(name: str, reduction: str) -> None:
    loss = build_loss(name, ignore_index=255, reduction=reduction)
    for x, y in (
        (torch.randn(0, 3, requires_grad=True), torch.zeros(0, dtype=torch.long)),
        (torch.randn(4, 3, 2, requires_grad=True), torch.full((4, 2), 255, dtype=torch.uint8)),
    ):
        out = loss(x, y)
        assert out.item() == 0.0 and out.requires_grad
        out.backward()
        assert x.grad is not None and bool((x.grad == 0).all())


def test_saturated_logits_are_finite() -> None:
    x = torch.tensor([[200.0, -200.0, 0.0], [-200.0, 200.0, 0.0]], requires_grad=True)
    y = torch.tensor([1, 1])
    for name in NAMES:
        x.grad = None
        out = build_loss(name)(x, y)
        out.backward()
        assert torch.isfinite(out) and x.grad is not None and torch.isfinite(x.grad).all(), name
    assert math.isclose(float(FN.gce_loss(x, y, q=1.0)), 0.5, abs_tol=1e-6)


@pytest.mark.parametrize("module", ("losskit.zoo.noisy_labels", "losskit.functional.noisy_labels"))
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted, module
