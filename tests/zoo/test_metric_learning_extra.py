"""Issue 12 metric-learning losses: PML parity (float64, values and gradients), gradcheck, edge cases, bad input,
learnable-state round trips."""

from __future__ import annotations

import io
import math
import pickle
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit import LossInputError
from losskit.testing import check_loss

PAIR = ["circle", "lifted_structure"]
LEARNABLE = {
    "proxy_anchor": ("proxies", 1),
    "proxy_nca": ("proxies", 1),
    "cosface": ("weight", 1),
    "sub_center_arcface": ("weight", 2),
    "center": ("centers", 1),
    "soft_triple": ("centers", 2),
}
NAMES = PAIR + list(LEARNABLE)
LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 0, 1, 2, 4])
C, D = 5, 5


def _emb(n: int = 12, d: int = D, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _opts(name: str, classes: int = C, width: int = D) -> dict[str, Any]:
    if name not in LEARNABLE:
        return {}
    opts: dict[str, Any] = {"num_classes": classes, "embedding_size": width}
    per_class = LEARNABLE[name][1]
    if name == "sub_center_arcface":
        opts["sub_centers"] = per_class
    elif name == "soft_triple":
        opts["centers_per_class"] = per_class
    return opts


def _build(name: str, device: torch.device, **extra: Any) -> torch.nn.Module:
    return losskit.build_loss(name, **{**_opts(name), **extra}).double().to(device)


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name)


def test_aliases_and_task() -> None:
    for alias, name in [
        ("CircleLoss", "circle"),
        ("LiftedStructureLoss", "lifted_structure"),
        ("ProxyAnchorLoss", "proxy_anchor"),
        ("ProxyNCALoss", "proxy_nca"),
        ("CosFaceLoss", "cosface"),
        ("SubCenterArcFaceLoss", "sub_center_arcface"),
        ("CenterLoss", "center"),
        ("SoftTripleLoss", "soft_triple"),
    ]:
        assert type(losskit.build_loss(alias)) is type(losskit.build_loss(name))
        assert name in losskit.list_losses(task="metric_learning")


# ---------------------------------------------------------------- parity with pytorch-metric-learning
pytest.importorskip("pytorch_metric_learning")
from pytorch_metric_learning import losses as PL  # noqa: E402


def _pml(name: str, opts: dict[str, Any]) -> tuple[torch.nn.Module, str, bool]:
    """PML's class for ``name`` with the mapped options: (module, attribute of its matrix, stored transposed)."""
    if name == "proxy_anchor":
        return PL.ProxyAnchorLoss(C, D, **opts), "proxies", False
    if name == "proxy_nca":
        return PL.ProxyNCALoss(C, D, **opts), "proxies", False
    if name == "cosface":
        return PL.CosFaceLoss(num_classes=C, embedding_size=D, **opts), "W", True
    if name == "sub_center_arcface":
        mapped = {**opts, "margin": math.degrees(opts.get("margin", 0.5))}
        return PL.SubCenterArcFaceLoss(num_classes=C, embedding_size=D, sub_centers=2, **mapped), "W", True
    if name == "soft_triple":
        return PL.SoftTripleLoss(C, D, centers_per_class=2, **opts), "fc", True
    if name == "circle":
        return PL.CircleLoss(**opts), "", False
    return PL.LiftedStructureLoss(**opts), "", False


PARITY = [
    ("circle", {}),
    ("circle", {"m": 0.25, "gamma": 128.0}),
    ("lifted_structure", {}),
    ("lifted_structure", {"pos_margin": 0.1, "neg_margin": 0.7}),
    ("proxy_anchor", {}),
    ("proxy_anchor", {"margin": 0.2, "alpha": 16.0}),
    ("proxy_nca", {}),
    ("proxy_nca", {"softmax_scale": 4.0}),
    ("cosface", {}),
    ("cosface", {"margin": 0.2, "scale": 30.0}),
    ("sub_center_arcface", {}),
    ("sub_center_arcface", {"margin": 0.3, "scale": 16.0}),
    ("soft_triple", {}),
    ("soft_triple", {"la": 10.0, "gamma": 0.2, "margin": 0.05}),
]


@pytest.mark.parametrize("name,opts", PARITY)
@pytest.mark.parametrize("seed", [0, 1])
def test_pml_parity(name: str, opts: dict[str, Any], seed: int, device: torch.device) -> None:
    """Value, embedding gradient and matrix gradient equal PML's in float64 (PML on CPU as the reference)."""
    torch.manual_seed(seed)
    theirs, attr, transposed = _pml(name, opts)
    theirs = theirs.double()
    ours = _build(name, torch.device("cpu"), **opts)
    if attr:
        matrix = getattr(theirs, attr)
        with torch.no_grad():
            getattr(ours, LEARNABLE[name][0]).copy_(matrix.T if transposed else matrix)
    ours = ours.to(device)
    x = _emb(seed=seed)
    a, b = x.clone().to(device).requires_grad_(), x.clone().requires_grad_()
    got, want = ours(a, LABELS.to(device)), theirs(b, LABELS)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-7, atol=1e-10)
    got.backward()
    want.backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad.cpu(), b.grad, rtol=1e-7, atol=1e-10)
    if attr:
        ours_grad = getattr(ours, LEARNABLE[name][0]).grad.cpu()
        their_grad = getattr(theirs, attr).grad
        torch.testing.assert_close(ours_grad, their_grad.T if transposed else their_grad, rtol=1e-7, atol=1e-10)


def test_center_matches_paper_formula(device: torch.device) -> None:
    loss = _build("center", device, reduction="sum")
    x = _emb().to(device)
    c = loss.centers.detach()
    want = 0.5 * sum(float(((x[i] - c[int(LABELS[i])]) ** 2).sum()) for i in range(len(x)))
    got = loss(x, LABELS.to(device)).detach()
    assert math.isclose(float(got), want, rel_tol=1e-12)
    mean = _build("center", device)
    with torch.no_grad():
        mean.centers.copy_(c)
    assert math.isclose(float(mean(x, LABELS.to(device)).detach()), want / len(x), rel_tol=1e-12)


def test_lifted_structure_is_the_paper_not_the_generalized_form() -> None:
    x = _emb(seed=5)
    ours = losskit.build_loss("lifted_structure")(x, LABELS)
    assert not torch.allclose(ours, PL.GeneralizedLiftedStructureLoss()(x, LABELS))


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name: str, device: torch.device) -> None:
    loss = losskit.build_loss(name, **_opts(name, classes=3, width=3)).double().to(device)
    x = _emb(6, 3, seed=7).to(device).requires_grad_()
    y = torch.tensor([0, 0, 1, 1, 2, 2], device=device)
    if name == "circle":
        _check_circle_gradient(loss, x, y)
        return
    if name in LEARNABLE:
        w = getattr(loss, LEARNABLE[name][0]).detach().clone().requires_grad_()
        fn = getattr(losskit.functional, f"{name}_loss")
        kwargs = {k: v for k, v in _opts(name, 3, 3).items() if k in ("sub_centers", "centers_per_class")}
        assert torch.autograd.gradcheck(lambda e, m: fn(e, y, m, **kwargs), (x, w))
    else:
        assert torch.autograd.gradcheck(lambda e: loss(e, y), (x,))


def _check_circle_gradient(loss: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """Circle loss treats its weights alpha_p, alpha_n as constants (paper, PML), so its gradient is not the
    derivative of its value: gradcheck the paper's surrogate with alpha frozen at x, then compare gradients."""
    m, gamma = loss.m, loss.gamma
    pos = (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool, device=y.device)
    neg = y[:, None] != y[None, :]
    s0 = F.normalize(x.detach(), dim=1) @ F.normalize(x.detach(), dim=1).T
    a_p, a_n = (1 + m - s0).clamp_min(0), (s0 + m).clamp_min(0)

    def surrogate(e: torch.Tensor) -> torch.Tensor:
        s = F.normalize(e, dim=1) @ F.normalize(e, dim=1).T
        lp = (-gamma * a_p * (s - (1 - m))).masked_fill(~pos, -math.inf).logsumexp(1)
        ln = (gamma * a_n * (s - m)).masked_fill(~neg, -math.inf).logsumexp(1)
        return F.softplus(lp + ln).mean()

    assert torch.autograd.gradcheck(surrogate, (x,))
    (want,) = torch.autograd.grad(surrogate(x), x)
    (got,) = torch.autograd.grad(loss(x, y), x)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(loss(x, y), surrogate(x), rtol=1e-12, atol=0)


# ---------------------------------------------------------------- no valid pair / positive
@pytest.mark.parametrize("name", PAIR)
@pytest.mark.parametrize("labels", [[0, 1, 2, 3, 4, 5], [2, 2, 2, 2, 2, 2]], ids=["no_positive", "no_negative"])
def test_no_valid_pair_gives_zero(name: str, labels: list[int], device: torch.device) -> None:
    x = _emb(6, 4).to(device).requires_grad_()
    out = losskit.build_loss(name)(x, torch.tensor(labels, device=device))
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


def test_proxy_anchor_no_positive_proxy_term_is_zero(device: torch.device) -> None:
    """Proxies without a positive in the batch add nothing to the positive term (its mean is over P+)."""
    loss = _build("proxy_anchor", device)
    x = _emb(4).to(device)
    y = torch.tensor([0, 0, 1, 1], device=device)
    cos = F.normalize(x, dim=1) @ F.normalize(loss.proxies.detach(), dim=1).T
    own = F.one_hot(y, C).bool()
    pos = torch.stack([torch.log1p(torch.exp(-32 * (cos[own[:, c], c] - 0.1)).sum()) for c in range(2)]).mean()
    negs = torch.stack([torch.log1p(torch.exp(32 * (cos[~own[:, c], c] + 0.1)).sum()) for c in range(C)]).mean()
    torch.testing.assert_close(loss(x, y), pos + negs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_single_sample_and_reduction_none(name: str, device: torch.device) -> None:
    x = _emb(1).to(device).requires_grad_()
    out = _build(name, device)(x, torch.tensor([1], device=device))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()
    if name in PAIR:
        assert out.item() == 0.0
    if name == "proxy_anchor":
        return  # no "none": per-proxy terms over the whole batch
    none = _build(name, device, reduction="none")(_emb().to(device), LABELS.to(device))
    assert none.shape == ((12, 12) if name == "lifted_structure" else (12,))


# ---------------------------------------------------------------- learnable state
@pytest.mark.parametrize("name", list(LEARNABLE))
def test_state_dict_round_trip_after_training(name: str, device: torch.device) -> None:
    """Two SGD steps on embeddings and the loss's matrix, save, restore into a fresh build: same next value."""
    torch.manual_seed(0)
    loss = _build(name, device)
    x = _emb().to(device).requires_grad_()
    y = LABELS.to(device)
    opt = torch.optim.SGD([x, *loss.parameters()], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        loss(x, y).backward()
        opt.step()
    attr = LEARNABLE[name][0]
    assert isinstance(getattr(loss, attr), torch.nn.Parameter) and list(loss.state_dict()) == [attr]
    buf = io.BytesIO()
    torch.save(loss.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(123)  # the fresh build draws other initial values
    fresh = _build(name, device)
    assert not torch.equal(getattr(fresh, attr), getattr(loss, attr))
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    x = x.detach()
    torch.testing.assert_close(fresh(x, y), loss(x, y), rtol=0, atol=0)
    unpickled = pickle.loads(pickle.dumps(loss))
    torch.testing.assert_close(unpickled(x, y), loss(x, y), rtol=0, atol=0)


# ---------------------------------------------------------------- bad input and options
@pytest.mark.parametrize("name", NAMES)
def test_bad_input(name: str) -> None:
    loss = losskit.build_loss(name, **_opts(name, width=4))
    x = torch.randn(4, 4)
    with pytest.raises(LossInputError, match=name):
        loss(x, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(LossInputError, match=name):
        loss(x, torch.tensor([0, 1, 0]))
    with pytest.raises(LossInputError, match=name):
        loss(x[None], torch.tensor([0, 1, 0, 1]))
    with pytest.raises(LossInputError, match=name):
        loss(torch.ones(4, 4, dtype=torch.long), torch.tensor([0, 1, 0, 1]))
    if name in LEARNABLE:
        with pytest.raises(LossInputError, match="embedding_size"):
            loss(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))
        with pytest.raises(LossInputError, match="out of range"):
            loss(x, torch.tensor([0, 1, 0, C]))


def test_functional_matrix_shape_is_checked() -> None:
    x, y = torch.randn(4, 4), torch.tensor([0, 1, 0, 1])
    with pytest.raises(LossInputError, match="cosface"):
        losskit.functional.cosface_loss(x, y, torch.randn(3, 5))
    with pytest.raises(LossInputError, match="soft_triple"):
        losskit.functional.soft_triple_loss(x, y, torch.randn(5, 4), centers_per_class=2)


@pytest.mark.parametrize(
    "name,opts",
    [
        ("circle", {"gamma": 0.0}),
        ("proxy_anchor", {"alpha": -1.0}),
        ("proxy_anchor", {"reduction": "none"}),
        ("proxy_nca", {"softmax_scale": 0.0}),
        ("sub_center_arcface", {"sub_centers": 0}),
        ("sub_center_arcface", {"margin": 4.0}),
        ("soft_triple", {"gamma": 0.0}),
        ("center", {"num_classes": 0}),
    ],
)
def test_bad_options(name: str, opts: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=name):
        losskit.build_loss(name, **opts)
