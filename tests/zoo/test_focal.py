"""Focal family: functional sigmoid/softmax focal, FocalLoss, FocalLossPixelwise, AsymmetricLoss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit import LossInputError
from losskit.config.builder import build_loss
from losskit.functional.asymmetric import asymmetric_multilabel_loss, asymmetric_single_label_loss
from losskit.functional.focal import sigmoid_focal_loss, softmax_focal_loss
from losskit.testing import check_loss
from losskit.zoo.focal import AsymmetricLoss, FocalLoss, FocalLossPixelwise

D = torch.float64


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ references written from the papers / libs


def tv_sigmoid_focal(x: torch.Tensor, y: torch.Tensor, alpha: float | None, gamma: float) -> torch.Tensor:
    """torchvision.ops.sigmoid_focal_loss's formula, reduction "none"."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None and alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def ref_softmax_focal(
    x: torch.Tensor, t: torch.Tensor, gamma: float, alpha: torch.Tensor | float | None = None
) -> torch.Tensor:
    logp = torch.log_softmax(x, 1).gather(1, t.unsqueeze(1)).squeeze(1)
    loss = -((1 - logp.exp()) ** gamma) * logp
    if isinstance(alpha, torch.Tensor):
        loss = loss * alpha[t]
    elif alpha is not None:
        loss = loss * alpha
    return loss


def ref_asl_multilabel(
    x: torch.Tensor, y: torch.Tensor, gamma_pos: float, gamma_neg: float, clip: float, eps: float
) -> torch.Tensor:
    """ASL/timm AsymmetricLossMultiLabel written out (elementwise, before its final -sum)."""
    xs_pos = torch.sigmoid(x)
    xs_neg = 1 - xs_pos
    if clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    if gamma_pos > 0 or gamma_neg > 0:
        pt = xs_pos * y + xs_neg * (1 - y)
        loss = loss * torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
    return -loss


def ref_asl_single(x: torch.Tensor, t: torch.Tensor, gamma_pos: float, gamma_neg: float, eps: float) -> torch.Tensor:
    """timm AsymmetricLossSingleLabel written out, per sample."""
    c = x.shape[1]
    log_preds = torch.log_softmax(x, 1)
    targets = F.one_hot(t, c).to(x.dtype)
    anti = 1 - targets
    xs_pos = torch.exp(log_preds) * targets
    xs_neg = (1 - torch.exp(log_preds)) * anti
    w = torch.pow(1 - xs_pos - xs_neg, gamma_pos * targets + gamma_neg * anti)
    y = targets * (1 - eps) + eps / c
    return -(y * log_preds * w).sum(1)


# ------------------------------------------------------------------------------------------------- sigmoid


@pytest.mark.parametrize("alpha", [0.25, 0.6, None, -1.0])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_sigmoid_matches_torchvision_formula(alpha: float | None, gamma: float, device: torch.device) -> None:
    x = (torch.randn(3, 4, 5, dtype=D, generator=_g()) * 3).to(device)
    y = torch.rand(3, 4, 5, dtype=D, generator=_g(1)).to(device)  # soft targets too
    ref = tv_sigmoid_focal(x, y, alpha, gamma)
    torch.testing.assert_close(
        sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction="none"), ref, rtol=1e-5, atol=1e-12
    )
    torch.testing.assert_close(sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma), ref.mean(), rtol=1e-5, atol=0)
    torch.testing.assert_close(
        sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction="sum"), ref.sum(), rtol=1e-5, atol=0
    )


def test_sigmoid_gamma0_no_alpha_is_bce(device: torch.device) -> None:
    x = torch.randn(4, 6, dtype=D, generator=_g()).to(device)
    y = torch.randint(0, 2, (4, 6), generator=_g(1)).to(device, D)
    torch.testing.assert_close(
        sigmoid_focal_loss(x, y, alpha=None, gamma=0.0), F.binary_cross_entropy_with_logits(x, y)
    )


def test_sigmoid_parity_kornia(device: torch.device) -> None:
    kornia = pytest.importorskip("kornia")
    x = torch.randn(2, 3, 4, 4, dtype=D, generator=_g())
    y = torch.randint(0, 2, (2, 3, 4, 4), generator=_g(1)).to(D)
    ref = kornia.losses.binary_focal_loss_with_logits(x, y, alpha=0.25, gamma=2.0, reduction="none")
    torch.testing.assert_close(
        sigmoid_focal_loss(x.to(device), y.to(device), alpha=0.25, gamma=2.0, reduction="none").cpu(),
        ref,
        rtol=1e-5,
        atol=1e-12,
    )


def test_sigmoid_parity_monai(device: torch.device) -> None:
    monai_losses = pytest.importorskip("monai.losses")
    x = torch.randn(2, 3, 4, 4, dtype=D, generator=_g())
    y = torch.randint(0, 2, (2, 3, 4, 4), generator=_g(1)).to(D)
    ref = monai_losses.FocalLoss(gamma=2.0, alpha=0.25, reduction="none")(x, y)
    # MONAI computes in float32 whatever the input dtype
    out = sigmoid_focal_loss(x.to(device), y.to(device), alpha=0.25, gamma=2.0, reduction="none").cpu()
    torch.testing.assert_close(out, ref.to(D), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [0.25, None])
def test_sigmoid_gradcheck(gamma: float, alpha: float | None, device: torch.device) -> None:
    x = (torch.randn(3, 5, dtype=D, generator=_g()) * 4).to(device).requires_grad_()
    y = torch.rand(3, 5, dtype=D, generator=_g(1)).to(device)
    w = torch.rand(5, dtype=D, generator=_g(2)).to(device)
    assert torch.autograd.gradcheck(
        lambda v: sigmoid_focal_loss(v, y, alpha=alpha, gamma=gamma, weight=w, reduction="sum"), (x,)
    )


def test_sigmoid_target_grad_path(device: torch.device) -> None:
    x = torch.randn(3, 4, dtype=D, generator=_g()).to(device).requires_grad_()
    y = torch.rand(3, 4, dtype=D, generator=_g(1)).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: sigmoid_focal_loss(a, b, gamma=1.5), (x, y))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_saturated_gamma_below_one_finite(dtype: torch.dtype, device: torch.device) -> None:
    x = torch.tensor([[1e4, -1e4, 60.0, -60.0, 800.0, -800.0]], dtype=dtype, requires_grad=True, device=device)
    y = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]], dtype=dtype, device=device)
    for gamma in (0.0, 0.3, 0.5):
        x.grad = None
        loss = sigmoid_focal_loss(x, y, gamma=gamma)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # gradcheck on moderately saturated logits, where the analytic (1-p_t)^(g-1) would be huge
    xs = torch.tensor([[25.0, -25.0, 30.0]], dtype=D, requires_grad=True, device=device)
    ys = torch.tensor([[1.0, 0.0, 0.0]], dtype=D, device=device)
    assert torch.autograd.gradcheck(lambda v: sigmoid_focal_loss(v, ys, gamma=0.5, reduction="sum"), (xs,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_sigmoid_half_precision_finite(dtype: torch.dtype, device: torch.device) -> None:
    x = (torch.randn(4, 8, generator=_g()) * 20).to(device, dtype).requires_grad_()
    y = torch.randint(0, 2, (4, 8), generator=_g(1)).to(device, dtype)
    loss = sigmoid_focal_loss(x, y)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss) and torch.isfinite(x.grad).all()
    assert x.grad.dtype == dtype
    torch.testing.assert_close(loss, sigmoid_focal_loss(x.float(), y.float()), rtol=2e-2, atol=1e-3)


# ------------------------------------------------------------------------------------------------- softmax


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("spatial", [(), (5,), (3, 4), (2, 3, 2)])
def test_softmax_matches_reference(gamma: float, spatial: tuple[int, ...], device: torch.device) -> None:
    x = (torch.randn(2, 4, *spatial, dtype=D, generator=_g()) * 3).to(device)
    t = torch.randint(0, 4, (2, *spatial), generator=_g(1)).to(device)
    alpha = torch.rand(4, dtype=D, generator=_g(2)).to(device)
    ref = ref_softmax_focal(x, t, gamma, alpha)
    out = softmax_focal_loss(x, t, gamma=gamma, alpha=alpha, reduction="none")
    assert out.shape == t.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(
        softmax_focal_loss(x, t, gamma=gamma, alpha=0.3), (0.3 * ref_softmax_focal(x, t, gamma)).mean()
    )


def test_softmax_gamma0_is_cross_entropy(device: torch.device) -> None:
    x = torch.randn(3, 5, 4, 4, dtype=D, generator=_g())
    t = torch.randint(0, 5, (3, 4, 4), generator=_g(1))
    t[0, 0] = 255
    w = torch.rand(5, dtype=D, generator=_g(2)) + 0.5
    x, t, w = x.to(device), t.to(device), w.to(device)
    torch.testing.assert_close(
        softmax_focal_loss(x, t, gamma=0.0, ignore_index=255),
        F.cross_entropy(x, t, ignore_index=255),
        rtol=1e-5,
        atol=0,
    )
    torch.testing.assert_close(
        softmax_focal_loss(x, t, gamma=0.0, weight=w, ignore_index=255, reduction="sum"),
        F.cross_entropy(x, t, weight=w, ignore_index=255, reduction="sum"),
        rtol=1e-5,
        atol=0,
    )


def test_softmax_parity_kornia(device: torch.device) -> None:
    kornia = pytest.importorskip("kornia")
    x = torch.randn(2, 4, 5, 6, dtype=D, generator=_g())
    t = torch.randint(0, 4, (2, 5, 6), generator=_g(1))
    xd, td = x.to(device), t.to(device)  # ours on the test device, kornia's reference on CPU
    for gamma in (0.0, 2.0):
        ref = kornia.losses.focal_loss(x, t, alpha=None, gamma=gamma, reduction="mean")
        # kornia's mean runs over C x pixels: ours (mean over pixels) / C
        torch.testing.assert_close(
            softmax_focal_loss(xd, td, gamma=gamma, alpha=None).cpu() / 4, ref, rtol=1e-5, atol=0
        )
        ref_none = kornia.losses.focal_loss(x, t, alpha=None, gamma=gamma, reduction="none")
        torch.testing.assert_close(
            softmax_focal_loss(xd, td, gamma=gamma, reduction="none").cpu(), ref_none.sum(1), rtol=1e-5, atol=1e-12
        )
        # kornia's scalar alpha weighs class 0 by 1 - alpha and every other class by alpha
        ref_a = kornia.losses.focal_loss(x, t, alpha=0.3, gamma=gamma, reduction="sum")
        per_class = torch.tensor([0.7, 0.3, 0.3, 0.3], dtype=D)
        torch.testing.assert_close(
            softmax_focal_loss(xd, td, gamma=gamma, alpha=per_class.to(device), reduction="sum").cpu(),
            ref_a,
            rtol=1e-5,
            atol=0,
        )


def test_softmax_parity_monai(device: torch.device) -> None:
    monai_losses = pytest.importorskip("monai.losses")
    x = torch.randn(2, 3, 4, 5, 2, dtype=D, generator=_g())
    t = torch.randint(0, 3, (2, 4, 5, 2), generator=_g(1))
    m = monai_losses.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0, reduction="none")
    ref = m(x, t.unsqueeze(1))
    torch.testing.assert_close(
        softmax_focal_loss(x.to(device), t.to(device), gamma=2.0, reduction="none").cpu(),
        ref.sum(1).to(D),
        rtol=1e-5,
        atol=1e-7,
    )
    m_mean = monai_losses.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0)
    torch.testing.assert_close(
        softmax_focal_loss(x.to(device), t.to(device), gamma=2.0).cpu() / 3,
        m_mean(x, t.unsqueeze(1)).to(D),
        rtol=1e-5,
        atol=1e-7,
    )


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_gradcheck(gamma: float, device: torch.device) -> None:
    x = (torch.randn(2, 3, 3, 2, dtype=D, generator=_g()) * 3).to(device).requires_grad_()
    t = torch.randint(0, 3, (2, 3, 2), generator=_g(1))
    t[0, 0, 0] = 255
    t = t.to(device)
    alpha = torch.rand(3, dtype=D, generator=_g(2)).to(device)
    assert torch.autograd.gradcheck(
        lambda v: softmax_focal_loss(v, t, gamma=gamma, alpha=alpha, ignore_index=255), (x,)
    )
    assert torch.autograd.gradcheck(
        lambda v: softmax_focal_loss(v, t, gamma=gamma, ignore_index=255, reduction="none"), (x,)
    )


def test_softmax_saturated_gamma_below_one(device: torch.device) -> None:
    x = torch.tensor([[1e4, -1e4, 0.0], [0.0, 0.0, 1e4], [-1e4, 1e4, 0.0]], requires_grad=True, device=device)
    t = torch.tensor([0, 2, 0], device=device)
    for gamma in (0.0, 0.2, 0.5):
        x.grad = None
        loss = softmax_focal_loss(x, t, gamma=gamma)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    xs = torch.tensor([[30.0, -20.0, 0.0], [0.0, 1.0, 28.0]], dtype=D, requires_grad=True, device=device)
    ts = torch.tensor([0, 2], device=device)
    assert torch.autograd.gradcheck(lambda v: softmax_focal_loss(v, ts, gamma=0.5), (xs,))


def test_softmax_all_ignored_is_zero_with_zero_grad(device: torch.device) -> None:
    x = torch.randn(2, 4, 3, 3, generator=_g()).to(device).requires_grad_()
    t = torch.full((2, 3, 3), 255, device=device)
    loss = softmax_focal_loss(x, t, ignore_index=255)
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(x.grad) == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_softmax_half_precision(dtype: torch.dtype, device: torch.device) -> None:
    x = (torch.randn(2, 4, 8, 8, generator=_g()) * 30).to(device, dtype).requires_grad_()
    t = torch.randint(0, 4, (2, 8, 8), generator=_g(1)).to(device)
    loss = softmax_focal_loss(x, t, gamma=0.5)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all() and x.grad.dtype == dtype
    torch.testing.assert_close(loss, softmax_focal_loss(x.float(), t, gamma=0.5), rtol=1e-3, atol=1e-3)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), gamma=st.sampled_from([0.0, 0.5, 1.0, 2.0]), c=st.integers(2, 5))
def test_softmax_class_permutation_invariance(seed: int, gamma: float, c: int, device: torch.device) -> None:
    g = _g(seed)
    x = torch.randn(2, c, 3, 3, dtype=D, generator=g) * 2
    t = torch.randint(0, c, (2, 3, 3), generator=g)
    alpha = torch.rand(c, dtype=D, generator=g)
    perm = torch.randperm(c, generator=g)
    x, t, alpha, perm = x.to(device), t.to(device), alpha.to(device), perm.to(device)
    inv = torch.argsort(perm)
    # new class k is old class perm[k]
    a = softmax_focal_loss(x, t, gamma=gamma, alpha=alpha, reduction="none")
    b = softmax_focal_loss(x[:, perm], inv[t], gamma=gamma, alpha=alpha[perm], reduction="none")
    torch.testing.assert_close(a, b)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), gamma=st.sampled_from([0.0, 0.5, 2.0]))
def test_softmax_ignored_pixels_change_nothing(seed: int, gamma: float, device: torch.device) -> None:
    g = _g(seed)
    x = torch.randn(2, 3, 4, 4, generator=g)
    t = torch.randint(0, 3, (2, 4, 4), generator=g)
    ignored = torch.rand(2, 4, 4, generator=g) < 0.4
    t = torch.where(ignored, torch.full_like(t, 255), t)
    x2 = torch.where(ignored.unsqueeze(1), torch.randn(2, 3, 4, 4, generator=g) * 50, x)
    x, x2, t, ignored = x.to(device), x2.to(device), t.to(device), ignored.to(device)
    grads = []
    values = []
    for xi in (x, x2):
        xi = xi.clone().requires_grad_()
        v = softmax_focal_loss(xi, t, gamma=gamma, ignore_index=255)
        v.backward()
        values.append(v.detach())
        grads.append(xi.grad)
    torch.testing.assert_close(values[0], values[1])
    torch.testing.assert_close(grads[0], grads[1])
    assert torch.count_nonzero(grads[0] * ignored.unsqueeze(1)) == 0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), reduction_gamma=st.sampled_from([0.0, 0.7, 2.0]))
def test_sum_equals_none_sum(seed: int, reduction_gamma: float, device: torch.device) -> None:
    g = _g(seed)
    x = torch.randn(3, 4, 5, generator=g).to(device)
    t = torch.randint(0, 4, (3, 5), generator=g).to(device)
    none = softmax_focal_loss(x, t, gamma=reduction_gamma, reduction="none")
    torch.testing.assert_close(softmax_focal_loss(x, t, gamma=reduction_gamma, reduction="sum"), none.sum())
    y = torch.rand(3, 4, 5, generator=g).to(device)
    none_s = sigmoid_focal_loss(x, y, gamma=reduction_gamma, reduction="none")
    torch.testing.assert_close(sigmoid_focal_loss(x, y, gamma=reduction_gamma, reduction="sum"), none_s.sum())


def test_functional_input_errors() -> None:
    x = torch.randn(2, 3, 4)
    with pytest.raises(LossInputError):
        softmax_focal_loss(x, torch.rand(2, 4))  # float labels
    with pytest.raises(LossInputError):
        softmax_focal_loss(x, torch.zeros(2, 5, dtype=torch.long))  # wrong shape
    with pytest.raises(LossInputError):
        softmax_focal_loss(x, torch.zeros(2, 4, dtype=torch.long), alpha=torch.ones(4))
    with pytest.raises(LossInputError):
        sigmoid_focal_loss(x, torch.rand(2, 3))
    with pytest.raises(ValueError):
        sigmoid_focal_loss(x, torch.rand(2, 3, 4), gamma=-1.0)
    with pytest.raises(ValueError):
        softmax_focal_loss(x, torch.zeros(2, 4, dtype=torch.long), reduction="avg")


# ---------------------------------------------------------------------------------------------- modules


def test_focal_module_index_targets_match_one_hot(device: torch.device) -> None:
    x = torch.randn(5, 4, 3, dtype=D, generator=_g())
    t = torch.randint(0, 4, (5, 3), generator=_g(1))
    t[1, 2] = -1
    t[3, 0] = -5
    x, t = x.to(device), t.to(device)
    valid = t >= 0
    onehot = F.one_hot(t.clamp_min(0), 4).movedim(-1, 1).to(D)
    dense = tv_sigmoid_focal(x, onehot, 0.25, 2.0) * valid.unsqueeze(1)
    m = FocalLoss(alpha=0.25, gamma=2.0, reduction="none")
    torch.testing.assert_close(m(x, t), dense)
    torch.testing.assert_close(FocalLoss(reduction="sum")(x, t), dense.sum())
    torch.testing.assert_close(FocalLoss()(x, t), dense.sum() / (valid.sum() * 4))
    xx = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: FocalLoss(gamma=0.5)(v, t), (xx,))
    # detection layout: (N, C) logits with (N,) labels
    x2 = torch.randn(6, 3, dtype=D, generator=_g(2)).to(device)
    t2 = torch.tensor([0, 2, -1, 1, 1, 0], device=device)
    ref = tv_sigmoid_focal(x2, F.one_hot(t2.clamp_min(0), 3).to(D), 0.25, 2.0)[t2 >= 0]
    torch.testing.assert_close(FocalLoss()(x2, t2), ref.mean())


def test_focal_module_all_ignored_and_errors() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    loss = FocalLoss()(x, torch.full((3,), -1))
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(x.grad) == 0
    with pytest.raises(LossInputError):
        FocalLoss()(x, torch.tensor([0, 4, 1]))  # label out of range
    with pytest.raises(LossInputError):
        FocalLoss(num_classes=5)(x, torch.tensor([0, 1, 1]))
    with pytest.raises(LossInputError):
        FocalLoss()(x, torch.rand(3, 5))
    with pytest.raises(ValueError):
        FocalLoss(alpha=1.5)


def test_autotimm_and_seed_names_build(device: torch.device) -> None:
    f = build_loss("focal", alpha=0.3, gamma=2.5)
    assert isinstance(f, FocalLoss) and f.alpha == 0.3 and f.gamma == 2.5
    for name in ("focal_pixelwise", "FocalLossPixelwise", "focal_loss", "softmax_focal"):
        assert isinstance(build_loss(name), FocalLossPixelwise)
    p = build_loss("focal_pixelwise", alpha=0.25, gamma=2.0, ignore_index=255, reduction="mean")
    assert p.ignore_index == 255
    # seed 000's FocalLoss: alpha * (1 - pt)^gamma * ce, mean
    seed = build_loss({"name": "focal_loss", "alpha": 1.0, "gamma": 2.0})
    x = torch.randn(2, 3, 4, 4, generator=_g())
    t = torch.randint(0, 3, (2, 4, 4), generator=_g(1))
    x, t, seed = x.to(device), t.to(device), seed.to(device)
    ce = F.cross_entropy(x, t, reduction="none")
    torch.testing.assert_close(seed(x, t), (1.0 * (1 - torch.exp(-ce)) ** 2.0 * ce).mean())


def test_focal_pixelwise_module(device: torch.device) -> None:
    x = torch.randn(2, 3, 4, 4, dtype=D, generator=_g())
    t = torch.randint(0, 3, (2, 4, 4), generator=_g(1))
    t[0, :2] = 255
    x, t = x.to(device), t.to(device)
    m = FocalLossPixelwise(alpha=[0.2, 0.3, 0.5])
    assert m.alpha is not None and "alpha" in m.state_dict()
    ref = ref_softmax_focal(x, t.clamp_max(2), 2.0, torch.tensor([0.2, 0.3, 0.5], dtype=D, device=device))
    torch.testing.assert_close(m.double().to(device)(x, t), ref[t != 255].mean())
    assert FocalLossPixelwise(reduction="none")(x, t).shape == (2, 4, 4)
    with pytest.raises(LossInputError):
        FocalLossPixelwise()(x, t.float())
    with pytest.raises(LossInputError):
        FocalLossPixelwise()(x, torch.full((2, 4, 4), 3))
    with pytest.raises(LossInputError):
        FocalLossPixelwise(alpha=[0.5, 0.5])(x, t)
    with pytest.raises(LossInputError):
        FocalLossPixelwise(num_classes=4)(x, t)


@pytest.mark.parametrize("gp,gn,clip", [(0.0, 4.0, 0.05), (1.0, 4.0, 0.05), (0.5, 0.5, 0.0), (0.0, 0.0, 0.0)])
def test_asymmetric_multilabel_reference(gp: float, gn: float, clip: float, device: torch.device) -> None:
    x = (torch.randn(4, 6, dtype=D, generator=_g()) * 3).to(device)
    y = torch.randint(0, 2, (4, 6), generator=_g(1)).to(device, D)
    ref = ref_asl_multilabel(x, y, gp, gn, clip, 1e-8)
    torch.testing.assert_close(
        asymmetric_multilabel_loss(x, y, gamma_pos=gp, gamma_neg=gn, clip=clip, reduction="none"),
        ref,
        rtol=1e-5,
        atol=1e-12,
    )
    m = AsymmetricLoss(gamma_pos=gp, gamma_neg=gn, clip=clip, reduction="sum")
    torch.testing.assert_close(m(x, y), ref.sum(), rtol=1e-5, atol=0)
    xx = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: AsymmetricLoss(gamma_pos=gp, gamma_neg=gn, clip=clip)(v, y), (xx,))


@pytest.mark.parametrize("gp,gn,ls", [(1.0, 4.0, 0.1), (0.0, 4.0, 0.0), (0.5, 0.5, 0.2)])
def test_asymmetric_single_label_reference(gp: float, gn: float, ls: float, device: torch.device) -> None:
    x = (torch.randn(5, 4, dtype=D, generator=_g()) * 2).to(device)
    t = torch.randint(0, 4, (5,), generator=_g(1)).to(device)
    ref = ref_asl_single(x, t, gp, gn, ls)
    m = AsymmetricLoss(mode="multiclass", gamma_pos=gp, gamma_neg=gn, label_smoothing=ls, reduction="none")
    torch.testing.assert_close(m(x, t), ref, rtol=1e-5, atol=1e-12)
    xx = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda v: asymmetric_single_label_loss(v, t, gamma_pos=gp, gamma_neg=gn, label_smoothing=ls), (xx,)
    )
    t2 = t.clone()
    t2[0] = -100
    mm = AsymmetricLoss(mode="multiclass", gamma_pos=gp, gamma_neg=gn, label_smoothing=ls, ignore_index=-100)
    torch.testing.assert_close(mm(x, t2), ref[1:].mean(), rtol=1e-5, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_asymmetric_half_no_nan(dtype: torch.dtype, device: torch.device) -> None:
    x = (torch.randn(4, 8, generator=_g()) * 30).to(device, dtype).requires_grad_()
    y = torch.randint(0, 2, (4, 8), generator=_g(1)).to(device, dtype)
    loss = AsymmetricLoss()(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


def test_asymmetric_multilabel_ignore_index_on_dense_target(device: torch.device) -> None:
    # ignore_index=255 was accepted and then a 255 in the float target failed the [0, 1] check; now those
    # elements count nowhere: the mean is over the others, their "none" entries and gradients are 0
    x = torch.randn(4, 6, generator=_g(), dtype=torch.float64).to(device).requires_grad_()
    y = torch.randint(0, 2, (4, 6), generator=_g(1)).to(device, torch.float64)
    keep = (torch.rand(4, 6, generator=_g(2), dtype=torch.float64) > 0.3).to(device)

    y_ign = torch.where(keep, y, torch.full_like(y, 255.0))
    loss = AsymmetricLoss(ignore_index=255)
    full = asymmetric_multilabel_loss(x, y, reduction="none")
    torch.testing.assert_close(loss(x, y_ign), full[keep].mean())
    none = AsymmetricLoss(ignore_index=255, reduction="none")(x, y_ign)
    torch.testing.assert_close(none, torch.where(keep, full, 0.0))
    none.sum().backward()
    assert x.grad is not None and (x.grad[~keep] == 0).all()
    with pytest.raises(LossInputError, match=r"\[0, 1\]"):  # without ignore_index 255 is still refused
        AsymmetricLoss()(x, y_ign)
    all_ignored = AsymmetricLoss(ignore_index=255)(x, torch.full_like(y, 255.0))
    assert all_ignored.item() == 0.0


def test_asymmetric_errors() -> None:
    with pytest.raises(LossInputError):
        AsymmetricLoss()(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(LossInputError):
        AsymmetricLoss(mode="multiclass")(torch.randn(2, 3), torch.rand(2, 3).round().long())
    with pytest.raises(ValueError):
        AsymmetricLoss(mode="binary")
    with pytest.raises(ValueError):
        AsymmetricLoss(clip=1.5)


@pytest.mark.parametrize("name", ["focal", "FocalLoss", "focal_pixelwise", "focal_loss", "softmax_focal", "asymmetric"])
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


def test_check_loss_multiclass_asl_and_compile() -> None:
    check_loss({"name": "asymmetric", "mode": "multiclass"}, compile=None)
    check_loss("focal_pixelwise")  # includes the torch.compile (aot_eager) check of the custom autograd function
