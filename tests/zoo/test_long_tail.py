"""Long-tail losses (class_balanced, ldam, aucm): parity with the papers' code (Cui et al.'s weights and its
PyTorch port's sigmoid/focal forms, Cao et al.'s LDAMLoss, both rewritten here) and MONAI ``AUCMLoss``; the DRW
switch, gradcheck, bad input, empty and all-ignored batches, and ``losskit compare`` filling the class counts."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from monai.losses import AUCMLoss as MonaiAUCM
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.compare.specs import fit_spec
from losskit.functional import long_tail as FL
from losskit.testing import check_loss

NAMES = ("class_balanced", "ldam", "aucm")
COUNTS = [500.0, 120.0, 30.0, 4.0]


def _data(n: int = 8, c: int = 4, spatial: tuple[int, ...] = (), seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, c, *spatial), generator=g, dtype=torch.float64) * 2
    return x, torch.randint(0, c, (n, *spatial), generator=g)


def _cb_weights(counts: list[float], beta: float) -> Tensor:
    """Cui et al.'s code: (1 - beta) / (1 - beta^n), normalised to sum to C (float64 here)."""
    n = torch.tensor(counts, dtype=torch.float64)
    w = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), n))
    return w / w.sum() * len(counts)


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "class_balanced", "samples_per_class": [10, 5, 1], "base": "focal"},
        {"name": "class_balanced", "samples_per_class": [10, 5, 1], "base": "sigmoid", "beta": 0.99},
        {"name": "ldam", "samples_per_class": [10, 5, 1], "reweight": True},
        {"name": "aucm", "version": "v2", "imratio": 0.3},
    ],
)
def test_check_loss_options(spec: dict[str, object]) -> None:
    check_loss(spec, compile=None)


# ---------------------------------------------------------------------------------------------- class balanced


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.999, 0.9999])
def test_class_balanced_weights(beta: float) -> None:
    torch.testing.assert_close(FL.class_balanced_weights(COUNTS, beta).double(), _cb_weights(COUNTS, beta))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_balanced_softmax_is_weighted_ce(reduction: str, device: torch.device) -> None:
    x, y = _data(spatial=(3,))
    w = _cb_weights(COUNTS, 0.999)
    want = F.cross_entropy(x, y, reduction="none") * w[y]
    want = want if reduction == "none" else (want.sum() if reduction == "sum" else want.mean())
    got = FL.class_balanced_loss(x.to(device), y.to(device), COUNTS, beta=0.999, reduction=reduction)  # type: ignore[arg-type]
    torch.testing.assert_close(got.cpu(), want, rtol=1e-6, atol=1e-8)  # the weights are float32


def _port_focal(labels: Tensor, logits: Tensor, alpha: Tensor, gamma: float) -> Tensor:
    """The PyTorch port's focal_loss (vandit15/Class-balanced-loss-pytorch), rewritten here."""
    bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    modulator = 1.0 if gamma == 0.0 else torch.exp(-gamma * labels * logits - gamma * torch.log1p(torch.exp(-logits)))
    return torch.sum(alpha * modulator * bce) / torch.sum(labels)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_class_balanced_focal_matches_the_port(gamma: float, device: torch.device) -> None:
    x, y = _data()
    one_hot = F.one_hot(y, 4).double()
    alpha = _cb_weights(COUNTS, 0.9999)[y].unsqueeze(1).expand(-1, 4)
    want = _port_focal(one_hot, x, alpha, gamma)
    got = FL.class_balanced_loss(x.to(device), y.to(device), COUNTS, base="focal", gamma=gamma)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-6, atol=1e-8)


def test_class_balanced_sigmoid_matches_the_port(device: torch.device) -> None:
    x, y = _data()
    weights = _cb_weights(COUNTS, 0.9999)[y].unsqueeze(1).expand(-1, 4)
    want = F.binary_cross_entropy_with_logits(x, F.one_hot(y, 4).double(), weight=weights) * 4  # port: mean / C
    got = FL.class_balanced_loss(x.to(device), y.to(device), COUNTS, base="sigmoid")
    torch.testing.assert_close(got.cpu(), want, rtol=1e-6, atol=1e-8)


def test_class_balanced_without_counts_is_the_base_loss() -> None:
    x, y = _data()
    torch.testing.assert_close(FL.class_balanced_loss(x, y), F.cross_entropy(x, y))


# ---------------------------------------------------------------------------------------------- LDAM


def _ldam_authors(x: Tensor, y: Tensor, cls_num_list: list[float], max_m: float, s: float, weight: Any) -> Tensor:
    """The authors' LDAMLoss (kaidic/LDAM-DRW), rewritten here."""
    m_list = 1.0 / torch.sqrt(torch.sqrt(torch.tensor(cls_num_list, dtype=torch.float64)))
    m_list = m_list * (max_m / m_list.max())
    index = torch.zeros_like(x, dtype=torch.bool).scatter_(1, y.view(-1, 1), True)
    batch_m = torch.matmul(m_list[None, :], index.double().T).view(-1, 1)
    output = torch.where(index, x - batch_m, x)
    return F.cross_entropy(s * output, y, weight=weight)


@pytest.mark.parametrize(("max_m", "s"), [(0.5, 30.0), (0.3, 1.0)])
def test_ldam_matches_the_authors_code(max_m: float, s: float, device: torch.device) -> None:
    x, y = _data()
    x = torch.nn.functional.normalize(x, dim=1)  # cosine logits, as the paper
    want = _ldam_authors(x, y, COUNTS, max_m, s, None)
    got = FL.ldam_loss(x.to(device), y.to(device), COUNTS, max_m=max_m, s=s)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-6, atol=1e-8)


def test_ldam_drw_switch(device: torch.device) -> None:
    x, y = _data()
    loss = build_loss("ldam", samples_per_class=COUNTS).to(device)
    torch.testing.assert_close(loss(x.to(device), y.to(device)).cpu(), _ldam_authors(x, y, COUNTS, 0.5, 30.0, None))
    loss.reweight = True  # the deferred epoch: the authors' DRW weights from then on
    want = _ldam_authors(x, y, COUNTS, 0.5, 30.0, _cb_weights(COUNTS, 0.9999))
    torch.testing.assert_close(loss(x.to(device), y.to(device)).cpu(), want, rtol=1e-6, atol=1e-8)
    assert "reweight=True" in repr(loss)


# ---------------------------------------------------------------------------------------------- AUCM


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("imratio", [None, 0.2])
def test_aucm_matches_monai(version: str, imratio: float | None, device: torch.device) -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.rand(16, 1, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (16, 1, 3), generator=g).double()
    ref = MonaiAUCM(margin=0.7, imratio=imratio, version=version).double()
    ours = build_loss("aucm", margin=0.7, imratio=imratio, version=version).double()
    with torch.no_grad():
        for p, q, v in zip(ref.parameters(), ours.parameters(), (0.3, -0.2, 0.5), strict=True):
            p.fill_(v)
            q.fill_(v)
    want = ref(x, y)
    want.backward()
    got = ours.to(device)(x.to(device), y.to(device).long())
    got.backward()
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-12)
    for p, q in zip(ref.parameters(), ours.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-10, atol=1e-12)


def test_aucm_state_dict_round_trip() -> None:
    loss = build_loss("aucm")
    with torch.no_grad():
        loss.alpha.fill_(0.4)
    fresh = build_loss("aucm")
    fresh.load_state_dict(loss.state_dict())
    x, y = torch.rand(6, 1), torch.tensor([[1.0], [0.0]] * 3)
    torch.testing.assert_close(fresh(x, y), loss(x, y))


# ---------------------------------------------------------------------------------------------- shared


GRAD_CASES: list[tuple[str, dict[str, Any]]] = [
    ("class_balanced", {"samples_per_class": COUNTS, "base": "cross_entropy"}),
    ("class_balanced", {"samples_per_class": COUNTS, "base": "focal", "gamma": 1.5, "ignore_index": 255}),
    ("class_balanced", {"samples_per_class": COUNTS, "base": "sigmoid"}),
    ("ldam", {"samples_per_class": COUNTS, "s": 2.0, "ignore_index": 255}),
]


@pytest.mark.parametrize(("name", "opts"), GRAD_CASES)
def test_gradcheck(name: str, opts: dict[str, Any], device: torch.device) -> None:
    x, y = _data(n=3, c=4, spatial=(2,), seed=2)
    y[0, 0] = 255 if "ignore_index" in opts else y[0, 0]
    x = x.to(device).requires_grad_(True)
    fn = FL.class_balanced_loss if name == "class_balanced" else FL.ldam_loss
    assert torch.autograd.gradcheck(lambda t: fn(t, y.to(device), **opts), (x,))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_aucm_gradcheck(version: str) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, dtype=torch.float64, generator=g)
    y = torch.tensor([1.0, 0.0] * 4).reshape(8, 1)
    abc = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.2, 0.1, 0.3)]
    xr = x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t, a, b, al: FL.aucm_loss(t, y, a, b, al, version=version), (xr, *abc))


@pytest.mark.parametrize("name", ["class_balanced", "ldam"])
def test_bad_input_names_the_loss(name: str) -> None:
    loss = build_loss(name, samples_per_class=[3, 2, 1])
    x = torch.randn(4, 3)
    for bad in (torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2]), torch.rand(4, 3)):
        with pytest.raises(LossInputError, match=name):
            loss(x, bad)
    with pytest.raises(LossInputError, match=name):  # 3 counts for 4 classes
        loss(torch.randn(4, 4), torch.tensor([0, 1, 2, 3]))


def test_bad_input_and_options() -> None:
    with pytest.raises(LossInputError, match="aucm"):
        build_loss("aucm")(torch.rand(4, 1), torch.tensor([[0.0], [1.0], [2.0], [1.0]]))
    with pytest.raises(LossInputError, match="aucm"):
        build_loss("aucm")(torch.rand(4, 1), torch.tensor([0.0, 1.0, 0.0, 1.0]))
    for call in (
        lambda: build_loss("class_balanced", samples_per_class=[3, 0, 1]),
        lambda: build_loss("class_balanced", beta=1.0),
        lambda: build_loss("ldam", s=0.0),
        lambda: build_loss("aucm", imratio=1.5),
    ):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError, match="did you mean 'focal'"):
        build_loss("class_balanced", base="focall")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", ["class_balanced", "ldam"])
def test_empty_and_all_ignored_give_zero_with_zero_grad(name: str, reduction: str) -> None:
    loss = build_loss(name, samples_per_class=[5, 2, 1], ignore_index=255, reduction=reduction)
    for x, y in (
        (torch.randn(0, 3, requires_grad=True), torch.zeros(0, dtype=torch.long)),
        (torch.randn(4, 3, 2, requires_grad=True), torch.full((4, 2), 255, dtype=torch.uint8)),
    ):
        out = loss(x, y)
        assert out.item() == 0.0 and out.requires_grad
        out.backward()
        assert x.grad is not None and bool((x.grad == 0).all())


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_aucm_empty_batch_is_zero_with_zero_grads(version: str) -> None:
    loss = build_loss("aucm", version=version)
    x = torch.rand(0, 1, requires_grad=True)
    out = loss(x, torch.zeros(0, 1))
    assert out.item() == 0.0
    out.backward()
    assert all(p.grad is not None and p.grad.item() == 0.0 for p in loss.parameters())


def test_compare_fills_the_class_counts() -> None:
    for name in ("class_balanced", "ldam"):
        spec = fit_spec(name, num_classes=4, class_counts=[40, 30, 20, 10])
        assert spec["samples_per_class"] == [40, 30, 20, 10] and spec["num_classes"] == 4
        build_loss(spec)


@pytest.mark.parametrize("module", ("losskit.zoo.long_tail", "losskit.functional.long_tail"))
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted, module


def test_aucm_pools_one_vs_rest_scores() -> None:
    """(N, C) scores with one-hot targets (what ``losskit compare`` feeds it) are one binary problem of N x C."""
    x, y = torch.rand(6, 4, dtype=torch.float64), F.one_hot(torch.arange(6) % 4, 4).double()
    loss = build_loss("aucm", version="v2").double()
    torch.testing.assert_close(loss(x, y), loss(x.reshape(-1, 1), y.reshape(-1, 1)))
