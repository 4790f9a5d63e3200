"""Detection extras (issue 12): eiou, siou, balanced_l1, distribution_focal, gaussian_focal, ghm_c, ghm_r.

Parity is against mmdet's formulas, written out independently below in float64 (mmdet needs mmcv and does not
import here): ``eiou_loss``/``siou_loss`` (mmdet/models/losses/iou_loss.py), ``balanced_l1_loss``,
``distribution_focal_loss`` (gfocal_loss.py), ``gaussian_focal_loss``, and the loops of ``GHMC``/``GHMR``
(ghm_loss.py) with their ``.item()`` per bin and their momentum update.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit import LossInputError, build_loss
from losskit import functional as LF
from losskit.testing import check_loss

NAMES = ("eiou", "siou", "balanced_l1", "distribution_focal", "gaussian_focal", "ghm_c", "ghm_r")
DT = torch.float64


# ------------------------------------------------------------------ references (mmdet's formulas)
def ref_eiou(pred: torch.Tensor, target: torch.Tensor, smooth_point: float = 0.1, eps: float = 0.0) -> torch.Tensor:
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    ex1, ey1 = torch.min(px1, tx1), torch.min(py1, ty1)
    ix1, iy1, ix2, iy2 = torch.max(px1, tx1), torch.max(py1, ty1), torch.min(px2, tx2), torch.min(py2, ty2)
    xmin, ymin, xmax, ymax = torch.min(ix1, ix2), torch.min(iy1, iy2), torch.max(ix1, ix2), torch.max(iy1, iy2)
    inter = (ix2 - ex1) * (iy2 - ey1) + (xmin - ex1) * (ymin - ey1) - (ix1 - ex1) * (ymax - ey1)
    inter = inter - (xmax - ex1) * (iy1 - ey1)
    union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter + eps
    u = 1 - inter / union
    sign = (u < smooth_point).detach().to(u.dtype)
    return 0.5 * sign * u**2 / smooth_point + (1 - sign) * (u - 0.5 * smooth_point)


def ref_siou(pred: torch.Tensor, target: torch.Tensor, neg_gamma: bool = False) -> torch.Tensor:
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    ap = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    ag = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    ious = overlap / (ap + ag - overlap)
    enclose = torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])
    cw, ch = enclose[:, 0], enclose[:, 1]
    w1, h1 = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1]
    w2, h2 = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1]
    s_cw = (target[:, 0] + target[:, 2] - pred[:, 0] - pred[:, 2]) * 0.5
    s_ch = (target[:, 1] + target[:, 3] - pred[:, 1] - pred[:, 3]) * 0.5
    sigma = torch.pow(s_cw**2 + s_ch**2, 0.5)
    sin1, sin2 = torch.abs(s_cw) / sigma, torch.abs(s_ch) / sigma
    sin_alpha = torch.where(sin1 > math.sqrt(2) / 2, sin2, sin1)
    angle = torch.cos(torch.asin(sin_alpha) * 2 - math.pi / 2)
    rho_x, rho_y = (s_cw / cw) ** 2, (s_ch / ch) ** 2
    gamma = angle - 2 if neg_gamma else 2 - angle
    distance = 2 - torch.exp(gamma * rho_x) - torch.exp(gamma * rho_y)
    ow, oh = torch.abs(w1 - w2) / torch.max(w1, w2), torch.abs(h1 - h2) / torch.max(h1, h2)
    shape = torch.pow(1 - torch.exp(-ow), 4) + torch.pow(1 - torch.exp(-oh), 4)
    return 1 - (ious - 0.5 * (distance + shape)).clamp(min=-1.0, max=1.0)


def ref_balanced_l1(
    pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0, alpha: float = 0.5, gamma: float = 1.5
) -> torch.Tensor:
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    return torch.where(
        diff < beta,
        alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
        gamma * diff + gamma / b - alpha * beta,
    )


def ref_dfl(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    left = label.long()
    right = left + 1
    w_left, w_right = right.to(label.dtype) - label, label - left.to(label.dtype)
    return (
        F.cross_entropy(pred, left, reduction="none") * w_left
        + F.cross_entropy(pred, right, reduction="none") * w_right
    )


def ref_gaussian_focal(
    pred: torch.Tensor,
    gaussian: torch.Tensor,
    alpha: float = 2.0,
    gamma: float = 4.0,
    pw: float = 1.0,
    nw: float = 1.0,
) -> torch.Tensor:
    eps = 1e-12
    pos_weights = gaussian.eq(1)
    neg_weights = (1 - gaussian).pow(gamma)
    pos_loss = -(pred + eps).log() * (1 - pred).pow(alpha) * pos_weights
    neg_loss = -(1 - pred + eps).log() * pred.pow(alpha) * neg_weights
    out: torch.Tensor = pw * pos_loss + nw * neg_loss
    return out


class RefGHM:
    """mmdet's GHMC / GHMR forward: a Python loop over the bins with a host sync per bin."""

    def __init__(self, kind: str, bins: int = 10, momentum: float = 0.0, mu: float = 0.02) -> None:
        self.kind, self.bins, self.momentum, self.mu = kind, bins, momentum, mu
        self.edges = torch.arange(bins + 1, dtype=DT) / bins
        if kind == "c":
            self.edges[-1] += 1e-6
        else:
            self.edges[-1] = 1e3
        self.acc_sum = torch.zeros(bins, dtype=DT)

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, label_weight: torch.Tensor) -> torch.Tensor:
        if self.kind == "c":
            g = torch.abs(pred.sigmoid().detach() - target)
            tot = max(float((label_weight > 0).to(DT).sum()), 1.0)
            loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
        else:
            diff = pred - target
            loss = torch.sqrt(diff * diff + self.mu * self.mu) - self.mu
            g = torch.abs(diff / torch.sqrt(self.mu * self.mu + diff * diff)).detach()
            tot = max(float(label_weight.sum()), 1.0)
        valid = label_weight > 0
        weights = torch.zeros_like(g)
        n = 0
        for i in range(self.bins):
            inds = (g >= self.edges[i]) & (g < self.edges[i + 1]) & valid
            num = int(inds.sum())
            if num > 0:
                if self.momentum > 0:
                    self.acc_sum[i] = self.momentum * self.acc_sum[i] + (1 - self.momentum) * num
                    weights[inds] = tot / self.acc_sum[i]
                else:
                    weights[inds] = tot / num
                n += 1
        if n > 0:
            weights = weights / n
        return (loss * weights).sum() / tot


# ------------------------------------------------------------------ inputs
def boxes(n: int, g: torch.Generator, min_size: float = 0.5) -> torch.Tensor:
    corner = torch.rand(n, 2, generator=g, dtype=DT) * 10
    size = torch.rand(n, 2, generator=g, dtype=DT) * 6 + min_size
    return torch.cat([corner, corner + size], dim=-1)


def box_pair(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlapping, disjoint and nested pairs."""
    g = torch.Generator().manual_seed(seed)
    target = boxes(n, g)
    scale = torch.logspace(-2, 0.5, n, dtype=DT).unsqueeze(1)  # from near-perfect to disjoint
    pred = target + torch.randn(n, 4, generator=g, dtype=DT) * scale
    pred = torch.cat([pred[:, :2], torch.maximum(pred[:, 2:], pred[:, :2] + 0.3)], dim=1)
    pred[-3:, 0::2] += 20.0  # disjoint pairs
    return pred, target


DEGENERATE = torch.tensor(
    [
        [1.0, 1.0, 1.0, 1.0],  # zero box
        [2.0, 2.0, 2.0, 5.0],  # zero width
        [3.0, 3.0, 1.0, 1.0],  # inverted
        [0.0, 0.0, 4.0, 4.0],
    ],
    dtype=DT,
)


# ------------------------------------------------------------------ box losses
@pytest.mark.parametrize("smooth_point", [0.1, 0.5])
def test_eiou_matches_mmdet(smooth_point: float) -> None:
    pred, target = box_pair()
    pred.requires_grad_(True)
    ours = LF.eiou_loss(pred, target, smooth_point=smooth_point, eps=1e-12, reduction="none")
    ref = ref_eiou(pred, target, smooth_point)
    assert (ref > 1.0).any() and (ref < 0.5 * smooth_point).any()  # both branches, disjoint boxes too
    torch.testing.assert_close(ours, ref, rtol=1e-8, atol=1e-9)
    (g_ours,) = torch.autograd.grad(ours.sum(), pred)
    (g_ref,) = torch.autograd.grad(ref.sum(), pred)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-6, atol=1e-8)


def test_eiou_disjoint_boxes_get_a_gradient() -> None:
    pred = torch.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=DT, requires_grad=True)
    target = torch.tensor([[3.0, 0.5, 4.0, 2.0]], dtype=DT)
    loss = LF.eiou_loss(pred, target)
    (grad,) = torch.autograd.grad(loss, pred)
    assert loss > 1.0 - 0.05 and grad.abs().sum() > 0
    torch.testing.assert_close(loss, ref_eiou(pred.detach(), target).mean(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("neg_gamma", [False, True])
def test_siou_matches_mmdet(neg_gamma: bool) -> None:
    pred, target = box_pair(seed=1)
    pred.requires_grad_(True)
    ours = LF.siou_loss(pred, target, neg_gamma=neg_gamma, eps=1e-12, reduction="none")
    ref = ref_siou(pred, target, neg_gamma)
    torch.testing.assert_close(ours, ref, rtol=1e-8, atol=1e-9)
    (g_ours,) = torch.autograd.grad(ours.sum(), pred)
    (g_ref,) = torch.autograd.grad(ref.sum(), pred)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["eiou", "siou"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_degenerate_boxes_are_finite(name: str, dtype: torch.dtype) -> None:
    fns: dict[str, Callable[..., torch.Tensor]] = {"eiou": LF.eiou_loss, "siou": LF.siou_loss}
    fn = fns[name]
    pred = DEGENERATE.to(dtype).clone().requires_grad_(True)
    target = DEGENERATE.to(dtype).flip(0).contiguous()
    for t in (target, DEGENERATE.to(dtype)):
        loss = fn(pred, t, reduction="none")
        assert torch.isfinite(loss).all(), (name, loss)
        (grad,) = torch.autograd.grad(loss.sum(), pred)
        assert torch.isfinite(grad).all(), (name, grad)
    # a box against itself, zero-area and inverted ones included, is a perfect prediction
    same = fn(DEGENERATE.to(dtype), DEGENERATE.to(dtype), reduction="none")
    torch.testing.assert_close(same, torch.zeros_like(same), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["eiou", "siou"])
def test_box_weight_and_module(name: str) -> None:
    pred, target = box_pair(8)
    w = torch.rand(8, dtype=DT, generator=torch.Generator().manual_seed(3))
    loss = build_loss(name)
    per_box = build_loss(name, reduction="none")(pred, target)
    torch.testing.assert_close(loss(pred, target, w), (per_box * w).sum() / w.sum())
    torch.testing.assert_close(loss(pred, target, weights=w), loss(pred, target, w))
    assert type(loss).__name__ == {"eiou": "EIoULoss", "siou": "SIoULoss"}[name]
    assert losskit.build_loss({"eiou": "EIoULoss", "siou": "SIoULoss"}[name]).loss_name == name


# ------------------------------------------------------------------ balanced L1
@pytest.mark.parametrize("opts", [{}, {"alpha": 0.3, "gamma": 2.0, "beta": 0.5}])
def test_balanced_l1_matches_mmdet(opts: dict[str, Any]) -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(16, 4, generator=g, dtype=DT) * 2, torch.randn(16, 4, generator=g, dtype=DT)
    w = torch.rand(16, 4, generator=g, dtype=DT)
    ref = ref_balanced_l1(pred, target, **opts)
    torch.testing.assert_close(LF.balanced_l1_loss(pred, target, reduction="none", **opts), ref)
    torch.testing.assert_close(LF.balanced_l1_loss(pred, target, **opts), ref.mean())
    torch.testing.assert_close(build_loss("balanced_l1", **opts)(pred, target, w, 7.0), (ref * w).sum() / 7.0)


# ------------------------------------------------------------------ distribution focal
def test_distribution_focal_matches_mmdet() -> None:
    g = torch.Generator().manual_seed(0)
    reg_max = 7
    pred = torch.randn(40, reg_max + 1, generator=g, dtype=DT, requires_grad=True)
    label = torch.rand(40, generator=g, dtype=DT) * (reg_max - 0.01)  # GFL's clamp: mmdet needs < reg_max
    w = torch.rand(40, generator=g, dtype=DT)
    ref = ref_dfl(pred, label)
    ours = LF.distribution_focal_loss(pred, label, reduction="none")
    torch.testing.assert_close(ours, ref)
    (g1,) = torch.autograd.grad(ours.sum(), pred)
    (g2,) = torch.autograd.grad(ref.sum(), pred)
    torch.testing.assert_close(g1, g2)
    module = build_loss("DistributionFocalLoss")
    torch.testing.assert_close(module(pred, label, w, 4.0), (ref * w).sum() / 4.0)
    # (N, 4, reg_max + 1) per side, as GFL heads hold it before the reshape
    torch.testing.assert_close(module(pred.view(10, 4, 8), label.view(10, 4)), ref.mean())


def test_distribution_focal_target_at_reg_max() -> None:
    """y = reg_max (where mmdet indexes past the end) is the cross-entropy of the last bin."""
    pred = torch.randn(3, 5, dtype=DT)
    label = torch.tensor([4.0, 0.0, 2.0], dtype=DT)
    ours = LF.distribution_focal_loss(pred, label, reduction="none")
    torch.testing.assert_close(ours, F.cross_entropy(pred, label.long(), reduction="none"))


# ------------------------------------------------------------------ gaussian focal
def _heatmap(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    heat = torch.rand(2, 3, 6, 6, generator=g, dtype=DT).pow(3) * 0.99
    return torch.randn(2, 3, 6, 6, generator=g, dtype=DT), torch.where(
        torch.rand(heat.shape, generator=g) < 0.1, 1.0, heat
    )


@pytest.mark.parametrize("opts", [{}, {"alpha": 1.5, "gamma": 3.0, "pos_weight": 2.0, "neg_weight": 0.5}])
def test_gaussian_focal_matches_mmdet(opts: dict[str, Any]) -> None:
    logits, heat = _heatmap()
    names = {"pos_weight": "pw", "neg_weight": "nw"}
    ref = ref_gaussian_focal(logits.sigmoid(), heat, **{names.get(k, k): v for k, v in opts.items()})
    num_pos = max(int((heat == 1).sum()), 1)
    assert num_pos > 1
    torch.testing.assert_close(LF.gaussian_focal_loss(logits, heat, **opts), ref.sum() / num_pos, rtol=1e-9, atol=0)
    probs = logits.sigmoid()
    ours = LF.gaussian_focal_loss(probs, heat, from_logits=False, reduction="none", **opts)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(build_loss("GaussianFocalLoss", **opts)(logits, heat, None, 5.0), ref.sum() / 5.0)


def test_gaussian_focal_without_peaks_and_saturated() -> None:
    logits, heat = _heatmap(1)
    heat = heat.clamp(max=0.9)
    ref = ref_gaussian_focal(logits.sigmoid(), heat)
    torch.testing.assert_close(LF.gaussian_focal_loss(logits, heat), ref.sum())  # 0 positives: divided by 1
    x = torch.tensor([100.0, -100.0, 100.0, -100.0], requires_grad=True)
    y = torch.tensor([1.0, 1.0, 0.0, 0.0])
    loss = LF.gaussian_focal_loss(x, y, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    assert loss[1] > 99 and loss[2] > 99 and loss[0] < 1e-6 and loss[3] < 1e-6


# ------------------------------------------------------------------ GHM
def _ghm_inputs(kind: str, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(32, 4, generator=g, dtype=DT) * 2
    if kind == "c":
        target = torch.randint(0, 2, (32, 4), generator=g).to(DT)
    else:
        target = pred + torch.randn(32, 4, generator=g, dtype=DT) * 0.3
    label_weight = (torch.rand(32, 4, generator=g) < 0.8).to(DT)
    return pred, target, label_weight


@pytest.mark.parametrize("momentum", [0.0, 0.75])
@pytest.mark.parametrize("kind", ["c", "r"])
def test_ghm_matches_mmdet_over_steps(kind: str, momentum: float) -> None:
    ref = RefGHM(kind, bins=10, momentum=momentum)
    loss = build_loss(f"ghm_{kind}", momentum=momentum)
    for step in range(3):
        pred, target, lw = _ghm_inputs(kind, step)
        pred.requires_grad_(True)
        ours = loss(pred, target, lw)
        expected = ref(pred, target, lw)
        torch.testing.assert_close(ours, expected.to(ours.dtype), rtol=1e-6, atol=0)
        (g1,) = torch.autograd.grad(ours, pred)
        (g2,) = torch.autograd.grad(expected, pred)
        torch.testing.assert_close(g1, g2.to(g1.dtype), rtol=1e-6, atol=1e-12)
    acc_sum = loss.get_buffer("acc_sum")
    torch.testing.assert_close(acc_sum, ref.acc_sum.to(acc_sum.dtype), rtol=1e-6, atol=0)


def test_ghm_c_class_indices_are_one_hot() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 3, generator=g, dtype=DT)
    labels = torch.tensor([0, 1, 2, 3, -1, 2, 1, 0, 3, 1])  # 3 and -1: background (mmdet: outside [0, C))
    onehot = torch.zeros(10, 3, dtype=DT)
    keep = (labels >= 0) & (labels < 3)
    onehot[keep, labels[keep]] = 1.0
    lw = torch.tensor([1.0, 1, 0, 1, 1, 1, 1, 1, 0, 1], dtype=DT)
    expected = LF.ghm_c_loss(x, onehot, lw[:, None].expand(10, 3))
    torch.testing.assert_close(LF.ghm_c_loss(x, labels, lw), expected)
    torch.testing.assert_close(LF.ghm_c_loss(x, labels.to(torch.uint8), lw), expected)  # -1 -> 255: background


@pytest.mark.parametrize("name", ["ghm_c", "ghm_r"])
def test_ghm_state_survives_state_dict_and_pickle(name: str) -> None:
    """Train two steps, save the state_dict, restore into a fresh build: the same next value."""
    kind = name[-1]
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 4).double()
    loss = build_loss(name, momentum=0.9)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(2):
        pred, target, lw = _ghm_inputs(kind, step)
        opt.zero_grad()
        loss(model(pred), target, lw).backward()
        opt.step()
    assert set(loss.state_dict()) == {"acc_sum"} and loss.get_buffer("acc_sum").sum() > 0
    buffer = io.BytesIO()
    torch.save(loss.state_dict(), buffer)
    buffer.seek(0)
    fresh = build_loss(name, momentum=0.9)
    fresh.load_state_dict(torch.load(buffer))
    pickled = pickle.loads(pickle.dumps(loss))
    pred, target, lw = _ghm_inputs(kind, 5)
    with torch.no_grad():
        out = model(pred)
    expected = loss(out, target, lw)
    torch.testing.assert_close(fresh(out, target, lw), expected)
    torch.testing.assert_close(pickled(out, target, lw), expected)
    torch.testing.assert_close(fresh.get_buffer("acc_sum"), loss.get_buffer("acc_sum"))
    # a fresh build without the state gives another value: the state matters
    assert not torch.allclose(build_loss(name, momentum=0.9)(out, target, lw), expected)


@pytest.mark.parametrize("name", ["ghm_c", "ghm_r"])
def test_ghm_state_of_a_half_module_is_updated(name: str) -> None:
    """After ``loss.half()`` the functional form computes in float32: the buffer still takes the update."""
    half, full = build_loss(name, momentum=0.5).half(), build_loss(name, momentum=0.5)
    for step in range(2):
        pred, target, lw = (t.half() for t in _ghm_inputs(name[-1], step))
        torch.testing.assert_close(half(pred, target, lw), full(pred.float(), target.float(), lw.float()))
    assert half.get_buffer("acc_sum").sum() > 0
    torch.testing.assert_close(half.get_buffer("acc_sum"), full.get_buffer("acc_sum"))


# ------------------------------------------------------------------ every loss
def _inputs(name: str, dtype: torch.dtype = DT) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    if name in ("eiou", "siou"):
        pred, target = box_pair(3)
        return pred.to(dtype), target.to(dtype)
    if name == "distribution_focal":
        return torch.randn(3, 5, generator=g, dtype=dtype), torch.tensor([0.3, 2.5, 3.9], dtype=dtype)
    if name == "gaussian_focal":
        return torch.randn(2, 3, generator=g, dtype=dtype), torch.tensor(
            [[1.0, 0.3, 0.0], [0.8, 1.0, 0.1]], dtype=dtype
        )
    if name == "ghm_c":
        return torch.randn(3, 2, generator=g, dtype=dtype), torch.tensor(
            [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=dtype
        )
    return torch.randn(3, 2, generator=g, dtype=dtype), torch.randn(3, 2, generator=g, dtype=dtype)


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name: str) -> None:
    pred, target = _inputs(name)
    pred.requires_grad_(True)
    loss = build_loss(name, reduction="sum")
    assert torch.autograd.gradcheck(lambda p: loss(p, target), (pred,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_is_zero_with_zero_grad(name: str) -> None:
    pred, target = (t[:0] for t in _inputs(name))
    pred.requires_grad_(True)
    for reduction in ("mean", "sum"):
        out = build_loss(name, reduction=reduction)(pred, target)
        assert out == 0 and out.requires_grad
        (grad,) = torch.autograd.grad(out, pred)
        assert grad.shape == pred.shape and (grad == 0).all()
    none_shape = target.shape[:-1] if name in ("eiou", "siou") else target.shape
    assert build_loss(name, reduction="none")(pred, target).shape == none_shape


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_names_the_loss(name: str) -> None:
    pred, target = _inputs(name, torch.float32)
    loss = build_loss(name)
    with pytest.raises(LossInputError, match=name):
        loss(pred, target[..., :1].contiguous() if name != "distribution_focal" else target[:2])
    with pytest.raises(LossInputError, match=name):
        loss(pred.long(), target)
    with pytest.raises(ValueError, match="did you mean"):
        build_loss(name, reduction="meann")


def test_bad_values_and_options() -> None:
    with pytest.raises(LossInputError, match="distribution_focal.*reg_max"):
        LF.distribution_focal_loss(torch.zeros(2, 5), torch.tensor([1.0, 4.5]))
    with pytest.raises(LossInputError, match="gaussian_focal"):
        LF.gaussian_focal_loss(torch.zeros(2), torch.tensor([1.0, 255.0]))
    with pytest.raises(LossInputError, match="ghm_c"):
        LF.ghm_c_loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="eiou: smooth_point"):
        build_loss("eiou", smooth_point=0.0)
    with pytest.raises(ValueError, match="balanced_l1: beta"):
        build_loss("balanced_l1", beta=0.0)
    with pytest.raises(ValueError, match="ghm_c: bins"):
        build_loss("ghm_c", bins=0)
    with pytest.raises(ValueError, match="ghm_r: momentum"):
        build_loss("ghm_r", momentum=1.0)
    with pytest.raises(ValueError, match="ghm_r: mu"):
        build_loss("ghm_r", mu=0.0)


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_nan_out(name: str) -> None:
    pred, target = _inputs(name, torch.float32)
    pred = pred.clone()
    pred.view(-1)[0] = float("nan")
    assert torch.isnan(build_loss(name)(pred, target))


def test_registered_for_detection_with_mmdet_aliases() -> None:
    aliases = {
        "eiou": "EIoULoss",
        "siou": "SIoULoss",
        "balanced_l1": "BalancedL1Loss",
        "distribution_focal": "DistributionFocalLoss",
        "gaussian_focal": "GaussianFocalLoss",
        "ghm_c": "GHMC",
        "ghm_r": "GHMR",
    }
    detection = set(losskit.list_losses(task="detection"))
    for name, alias in aliases.items():
        assert name in detection
        assert build_loss(alias).loss_name == name


@pytest.mark.parametrize("name", ["ghm_c", "ghm_r"])
def test_ghm_state_moves_in_training_only(name: str) -> None:
    """The zoo's rule for state (docs/conventions.md): eval() freezes it, like BatchNorm's running statistics."""
    loss = build_loss(name, momentum=0.75)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, generator=g)
    y = torch.randint(0, 2, (16, 3), generator=g).float() if name == "ghm_c" else torch.randn(16, 3, generator=g)
    loss(x, y)
    moved = loss.acc_sum.clone()
    assert moved.abs().sum() > 0
    loss.eval()
    value = loss(x, y)
    assert torch.equal(loss.acc_sum, moved) and torch.isfinite(value)
    loss.train()
    loss(x, y)
    assert not torch.equal(loss.acc_sum, moved)
