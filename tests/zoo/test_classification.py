"""Classification losses: CE/NLL/BCE wrappers, soft-target CE, Poly-1, logit-adjusted CE."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit import LossInputError
from losskit.config.builder import build_loss
from losskit.testing import check_loss
from losskit.zoo.classification import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    LogitAdjustedCrossEntropy,
    NLLLoss,
    PolyLoss,
    SoftTargetCrossEntropy,
)

D = torch.float64


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data(spatial: tuple[int, ...] = (), c: int = 4, n: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = _g(seed)
    return torch.randn(n, c, *spatial, dtype=D, generator=g) * 2, torch.randint(0, c, (n, *spatial), generator=g)


# ------------------------------------------------------------------------------------------ cross_entropy


@pytest.mark.parametrize("spatial", [(), (3, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_parity(spatial: tuple[int, ...], reduction: str, device: torch.device) -> None:
    x, t = _data(spatial)
    t.view(-1)[0] = 255
    w = torch.rand(4, dtype=D, generator=_g(3)) + 0.5
    x, t, w = x.to(device), t.to(device), w.to(device)
    m = CrossEntropyLoss(weight=w, ignore_index=255, label_smoothing=0.1, reduction=reduction).to(device)
    ref = F.cross_entropy(x, t, weight=w, ignore_index=255, label_smoothing=0.1, reduction=reduction)
    torch.testing.assert_close(m(x, t), ref)
    # dense targets (mixup)
    y = torch.softmax(torch.randn(x.shape, dtype=D, generator=_g(4)), 1).to(device)
    torch.testing.assert_close(CrossEntropyLoss(reduction=reduction)(x, y), F.cross_entropy(x, y, reduction=reduction))


def test_cross_entropy_gradcheck(device: torch.device) -> None:
    x, t = _data((2,))
    t[0, 0] = -100
    x, t = x.to(device), t.to(device)
    xx = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: CrossEntropyLoss(label_smoothing=0.2)(v, t), (xx,))


def test_cross_entropy_errors() -> None:
    x, t = _data((3,))
    with pytest.raises(LossInputError, match="cross_entropy"):
        CrossEntropyLoss()(x, t[:, :2])
    with pytest.raises(LossInputError, match="probabilities"):
        CrossEntropyLoss()(x, t.to(D))
    with pytest.raises(LossInputError, match="out of range"):
        CrossEntropyLoss()(x, torch.full_like(t, 4))
    with pytest.raises(LossInputError, match="num_classes"):
        CrossEntropyLoss(num_classes=5)(x, t)
    with pytest.raises(LossInputError, match="weight"):
        CrossEntropyLoss(weight=torch.ones(3, dtype=D))(x, t)
    with pytest.raises(LossInputError):
        CrossEntropyLoss()(torch.arange(3), t)
    with pytest.raises(ValueError):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError):
        CrossEntropyLoss(reduction="avg")


def test_nll_parity_and_errors(device: torch.device) -> None:
    x, t = _data((2,))
    x, t = x.to(device), t.to(device)
    logp = torch.log_softmax(x, 1)
    torch.testing.assert_close(NLLLoss()(logp, t), F.nll_loss(logp, t))
    with pytest.raises(LossInputError):
        NLLLoss()(logp, torch.softmax(x, 1))


def test_bce_parity_and_errors(device: torch.device) -> None:
    g = _g()
    p = (torch.rand(4, 5, dtype=D, generator=g) * 0.98 + 0.01).to(device)
    y = torch.randint(0, 2, (4, 5), generator=g).to(device, D)
    torch.testing.assert_close(BCELoss()(p, y).double(), F.binary_cross_entropy(p, y))
    with pytest.raises(LossInputError, match="bce_with_logits"):
        BCELoss()(p * 4 - 2, y)
    with pytest.raises(LossInputError):
        BCELoss()(p, y[:, :3])


def test_bce_with_logits_parity(device: torch.device) -> None:
    g = _g()
    x = torch.randn(4, 5, dtype=D, generator=g)
    y = torch.randint(0, 2, (4, 5), generator=g).to(D)
    pw = torch.rand(5, dtype=D, generator=g) + 0.5
    x, y, pw = x.to(device), y.to(device), pw.to(device)
    torch.testing.assert_close(
        BCEWithLogitsLoss(pos_weight=pw)(x, y), F.binary_cross_entropy_with_logits(x, y, pos_weight=pw)
    )
    ys = y * 0.8 + 0.1
    torch.testing.assert_close(BCEWithLogitsLoss(label_smoothing=0.2)(x, y), F.binary_cross_entropy_with_logits(x, ys))
    with pytest.raises(LossInputError):
        BCEWithLogitsLoss()(x, y[:2])
    xx = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: BCEWithLogitsLoss(pos_weight=pw, label_smoothing=0.1)(v, y), (xx,))


# ------------------------------------------------------------------------------- soft_target_cross_entropy


def test_soft_target_cross_entropy(device: torch.device) -> None:
    x, _ = _data((2, 2))
    y = torch.softmax(torch.randn(x.shape, dtype=D, generator=_g(5)), 1)
    x, y = x.to(device), y.to(device)
    m = SoftTargetCrossEntropy()
    timm_ref = torch.sum(-y * F.log_softmax(x, dim=1), dim=1).mean()
    torch.testing.assert_close(m(x, y), timm_ref)
    torch.testing.assert_close(m(x, y), F.cross_entropy(x, y))
    assert SoftTargetCrossEntropy(reduction="none")(x, y).shape == (3, 2, 2)
    xx = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: m(v, y), (xx,))
    with pytest.raises(LossInputError):
        m(x, torch.randint(0, 4, (3, 2, 2), device=device))
    with pytest.raises(LossInputError):
        m(x, y[:, :3])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_soft_target_half(dtype: torch.dtype, device: torch.device) -> None:
    x = (torch.randn(4, 6, generator=_g()) * 30).to(device, dtype)
    y = torch.softmax(torch.randn(4, 6, generator=_g(1)), 1).to(device, dtype)
    assert torch.isfinite(SoftTargetCrossEntropy()(x, y))


# ------------------------------------------------------------------------------------------------- poly


@pytest.mark.parametrize("spatial", [(), (2, 3)])
@pytest.mark.parametrize("ls", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_poly_epsilon0_is_cross_entropy(
    spatial: tuple[int, ...], ls: float, reduction: str, device: torch.device
) -> None:
    x, t = _data(spatial)
    t.view(-1)[1] = -100
    w = torch.rand(4, dtype=D, generator=_g(3)) + 0.5
    x, t, w = x.to(device), t.to(device), w.to(device)
    m = PolyLoss(epsilon=0.0, weight=w, label_smoothing=ls, reduction=reduction).to(device)
    ref = F.cross_entropy(x, t, weight=w, label_smoothing=ls, reduction=reduction)
    torch.testing.assert_close(m(x, t), ref, rtol=1e-5, atol=1e-12)


def test_poly_formula(device: torch.device) -> None:
    x, t = _data((3,))
    t[0, 0] = 255
    x, t = x.to(device), t.to(device)
    valid = t != 255
    ts = t.clamp_max(3)
    ce = F.cross_entropy(x, ts, reduction="none")
    pt = torch.softmax(x, 1).gather(1, ts.unsqueeze(1)).squeeze(1)
    ref = (ce + 2.0 * (1 - pt))[valid].mean()
    torch.testing.assert_close(PolyLoss(epsilon=2.0, ignore_index=255)(x, t), ref)
    # label smoothing: p_t of the smoothed target, (1 - ls) p_t + ls / C
    ce_s = F.cross_entropy(x, ts, reduction="none", label_smoothing=0.2)
    ref_s = (ce_s + (1 - (0.8 * pt + 0.2 / 4)))[valid].mean()
    torch.testing.assert_close(PolyLoss(label_smoothing=0.2, ignore_index=255)(x, t), ref_s)
    # dense targets
    y = torch.softmax(torch.randn(x.shape, dtype=D, generator=_g(9)), 1).to(device)
    ref_d = (F.cross_entropy(x, y, reduction="none") + (1 - (y * torch.softmax(x, 1)).sum(1))).mean()
    torch.testing.assert_close(PolyLoss()(x, y), ref_d)
    xx = x.clone().requires_grad_()
    w = (torch.rand(4, dtype=D, generator=_g(3)) + 0.5).to(device)
    assert torch.autograd.gradcheck(lambda v: PolyLoss(weight=w, ignore_index=255, label_smoothing=0.1)(v, t), (xx,))
    assert torch.autograd.gradcheck(lambda v: PolyLoss()(v, y), (xx,))


def test_poly_all_ignored_and_errors(device: torch.device) -> None:
    x = torch.randn(2, 3, 4, requires_grad=True, device=device)
    t = torch.full((2, 4), -100, device=device)
    loss = PolyLoss()(x, t)
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(x.grad) == 0
    with pytest.raises(LossInputError):
        PolyLoss()(x, torch.full((2, 4), 3, device=device))
    with pytest.raises(ValueError):
        PolyLoss(label_smoothing=-0.1)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), eps=st.floats(-1.0, 3.0))
def test_poly_sum_equals_none_sum(seed: int, eps: float, device: torch.device) -> None:
    x, t = _data((4,), seed=seed)
    t[0, 0] = -100
    x, t = x.to(device), t.to(device)
    torch.testing.assert_close(
        PolyLoss(epsilon=eps, reduction="sum")(x, t), PolyLoss(epsilon=eps, reduction="none")(x, t).sum()
    )


# ------------------------------------------------------------------------------- logit-adjusted CE


def test_logit_adjusted_tau0_and_no_prior_are_ce(device: torch.device) -> None:
    x, t = _data((2,))
    x, t = x.to(device), t.to(device)
    torch.testing.assert_close(
        LogitAdjustedCrossEntropy(prior=[10, 5, 2, 1], tau=0.0).to(device)(x, t), F.cross_entropy(x, t)
    )
    torch.testing.assert_close(LogitAdjustedCrossEntropy()(x, t), F.cross_entropy(x, t))


def test_logit_adjusted_formula(device: torch.device) -> None:
    x, t = _data((2,))
    t[1, 1] = -100
    counts = torch.tensor([100.0, 30.0, 5.0, 1.0], dtype=D)
    prior = counts / counts.sum()
    w = torch.rand(4, dtype=D, generator=_g(3)) + 0.5
    x, t, counts, prior, w = x.to(device), t.to(device), counts.to(device), prior.to(device), w.to(device)
    adjusted = x + 1.5 * prior.log().view(1, 4, 1)
    ref = F.cross_entropy(adjusted, t, weight=w, label_smoothing=0.1)
    out_counts = LogitAdjustedCrossEntropy(prior=counts.tolist(), tau=1.5, weight=w, label_smoothing=0.1).to(device)(
        x, t
    )
    out_probs = LogitAdjustedCrossEntropy(prior=prior, tau=1.5, weight=w, label_smoothing=0.1).to(device)(x, t)
    torch.testing.assert_close(out_counts, ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(out_probs, ref, rtol=1e-5, atol=0)
    m = LogitAdjustedCrossEntropy(prior=counts, reduction="none").to(device)
    assert m.num_classes == 4 and "log_prior" in m.state_dict()
    assert m(x, t).shape == t.shape
    xx = x.clone().requires_grad_()
    la = LogitAdjustedCrossEntropy(prior=counts, weight=w).to(device)
    assert torch.autograd.gradcheck(lambda v: la(v, t), (xx,))


def test_logit_adjusted_errors() -> None:
    x, t = _data()
    with pytest.raises(ValueError, match="positive"):
        LogitAdjustedCrossEntropy(prior=[1.0, 0.0, 2.0, 1.0])
    with pytest.raises(ValueError):
        LogitAdjustedCrossEntropy(prior=[1.0, 2.0], num_classes=3)
    with pytest.raises(LossInputError, match="num_classes"):
        LogitAdjustedCrossEntropy(prior=[1.0, 2.0, 3.0])(x, t)


# ----------------------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    "name",
    [
        "cross_entropy",
        "nll",
        "bce",
        "bce_with_logits",
        "soft_target_cross_entropy",
        "poly",
        "logit_adjusted_cross_entropy",
    ],
)
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


def test_aliases_and_configured_builds() -> None:
    assert isinstance(build_loss("CrossEntropyLoss", label_smoothing=0.1), CrossEntropyLoss)
    assert isinstance(build_loss("SoftTargetCrossEntropy"), SoftTargetCrossEntropy)
    assert isinstance(build_loss("PolyLoss", epsilon=2.0), PolyLoss)
    la = build_loss({"name": "LogitAdjustedCrossEntropy", "prior": [3, 2, 1], "tau": 1.0})
    assert isinstance(la, LogitAdjustedCrossEntropy)
    check_loss(la, compile=None)
    check_loss({"name": "poly", "label_smoothing": 0.1, "num_classes": 5}, compile=None)
