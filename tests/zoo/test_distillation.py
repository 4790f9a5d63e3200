"""Distillation losses: kd (temperature, T^2, CE mix) and feature_distillation (projection, detached teacher)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit import LossInputError
from losskit.testing import check_loss


def _logits(*shape: int, seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(device)


@pytest.mark.parametrize("name", ["kd", "feature_distillation", "kl_div"])
def test_check_loss(name: str) -> None:
    check_loss(name)


def test_check_loss_projection() -> None:
    check_loss({"name": "feature_distillation", "student_dim": 6, "teacher_dim": 8})


def test_kd_t1_matches_kl_div(device: torch.device) -> None:
    s, t = _logits(5, 7, device=device), _logits(5, 7, seed=1, device=device)
    want = F.kl_div(F.log_softmax(s, 1), F.softmax(t, 1), reduction="batchmean")
    torch.testing.assert_close(losskit.build_loss("kd", temperature=1.0)(s, t), want)
    assert type(losskit.build_loss("KDLoss")).__name__ == "KDLoss"


def test_kd_temperature_scaling_and_teacher_detached(device: torch.device) -> None:
    s, t = _logits(4, 5, device=device).requires_grad_(), _logits(4, 5, seed=1, device=device).requires_grad_()
    T = 3.0
    out = losskit.build_loss("kd", temperature=T)(s, t)
    want = T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
    torch.testing.assert_close(out, want)
    out.backward()
    assert t.grad is None and torch.isfinite(s.grad).all()
    assert losskit.build_loss("kd")(t.detach(), t.detach()).abs().item() < 1e-12


def test_kd_with_labels_and_dense(device: torch.device) -> None:
    s, t = _logits(4, 5, device=device), _logits(4, 5, seed=1, device=device)
    y = torch.tensor([0, 4, 2, -100], device=device)
    kd = losskit.build_loss("kd", temperature=2.0, alpha=0.3)
    want = 0.3 * kd(s, t) + 0.7 * F.cross_entropy(s, y)
    torch.testing.assert_close(kd(s, t, y), want)
    # dense logits (N, C, H, W): KL summed over classes, averaged over samples and pixels
    s2, t2 = _logits(2, 3, 4, 4, device=device), _logits(2, 3, 4, 4, seed=2, device=device)
    per = losskit.build_loss("kd", temperature=1.0, reduction="none")(s2, t2)
    assert per.shape == (2, 4, 4)
    ref = F.kl_div(F.log_softmax(s2, 1), F.softmax(t2, 1), reduction="none").sum(1)
    torch.testing.assert_close(per, ref)
    torch.testing.assert_close(losskit.build_loss("kd", temperature=1.0)(s2, t2), ref.mean())


def test_kd_saturated_teacher_finite(device: torch.device) -> None:
    s = torch.randn(3, 4, requires_grad=True, device=device)
    t = torch.tensor([[1e4, -1e4, 0.0, 0.0]] * 3, device=device)
    out = losskit.build_loss("kd", temperature=1.0)(s, t)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(s.grad).all()


def test_kd_bad_input() -> None:
    kd = losskit.build_loss("kd")
    with pytest.raises(LossInputError):
        kd(torch.randn(4, 5), torch.randn(4, 6))
    with pytest.raises(LossInputError):
        kd(torch.randn(4), torch.randn(4))
    with pytest.raises(LossInputError, match="out of range"):
        kd(torch.randn(4, 5), torch.randn(4, 5), torch.tensor([0, 1, 2, 5]))
    with pytest.raises(ValueError):
        losskit.build_loss("kd", alpha=1.5)


def test_feature_distillation_projection(device: torch.device) -> None:
    loss = losskit.build_loss("feature_distillation", student_dim=3, teacher_dim=5).double().to(device)
    s = _logits(2, 3, 4, 4, device=device).requires_grad_()
    t = _logits(2, 5, 4, 4, seed=1, device=device).requires_grad_()
    out = loss(s, t)
    lin = loss.projection
    conv = F.conv2d(s, lin.weight[:, :, None, None], lin.bias)  # the projection is a 1x1 conv on maps
    torch.testing.assert_close(out, F.mse_loss(conv, t))
    out.backward()
    assert t.grad is None and lin.weight.grad is not None
    tokens = losskit.build_loss("feature_distillation", student_dim=3, teacher_dim=5, channel_dim=-1)
    tokens = tokens.double().to(device)
    a, b = _logits(2, 7, 3, device=device), _logits(2, 7, 5, seed=1, device=device)
    torch.testing.assert_close(tokens(a, b), F.mse_loss(tokens.projection(a), b))
    with pytest.raises(LossInputError, match="student_dim"):
        loss(_logits(2, 4, 4, 4, device=device), t)
    with pytest.raises(LossInputError, match="projection"):
        losskit.build_loss("feature_distillation")(_logits(2, 3), _logits(2, 5))


def test_feature_distillation_normalize(device: torch.device) -> None:
    s, t = _logits(3, 4, device=device), _logits(3, 4, seed=1, device=device)
    out = losskit.build_loss("feature_distillation", normalize=True)(s, t)
    torch.testing.assert_close(out, F.mse_loss(F.normalize(s, dim=1), F.normalize(t, dim=1)))


def test_gradcheck(device: torch.device) -> None:
    t = _logits(3, 4, seed=1, device=device)
    for T in (1.0, 2.5):
        kd = losskit.build_loss("kd", temperature=T)
        assert torch.autograd.gradcheck(lambda s: kd(s, t), (_logits(3, 4, device=device).requires_grad_(),))
    kd = losskit.build_loss("kd", alpha=0.4)
    y = torch.tensor([0, 3, 1], device=device)
    assert torch.autograd.gradcheck(lambda s: kd(s, t, y), (_logits(3, 4, device=device).requires_grad_(),))
    fd = losskit.build_loss("feature_distillation", student_dim=2, teacher_dim=4, normalize=True).double().to(device)
    assert torch.autograd.gradcheck(lambda s: fd(s, t), (_logits(3, 2, device=device).requires_grad_(),))
