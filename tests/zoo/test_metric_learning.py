"""Metric-learning losses: PML parity, edge cases (no valid pair), gradcheck, conformance, input errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit
from losskit import LossInputError
from losskit.testing import check_loss

NAMES = ["contrastive", "triplet", "info_nce", "supcon", "multi_similarity", "arcface"]
LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 0, 1, 2, 4])


def _emb(n: int = 12, d: int = 5, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name)


def test_aliases() -> None:
    for alias, name in [
        ("ContrastiveLoss", "contrastive"),
        ("TripletLoss", "triplet"),
        ("NTXentLoss", "info_nce"),
        ("InfoNCELoss", "info_nce"),
        ("SupConLoss", "supcon"),
        ("ArcFaceLoss", "arcface"),
        ("MultiSimilarityLoss", "multi_similarity"),
    ]:
        assert type(losskit.build_loss(alias)) is type(losskit.build_loss(name))
    assert "contrastive" in losskit.list_losses(task="metric_learning")


# ---------------------------------------------------------------- parity with pytorch-metric-learning
pml = pytest.importorskip("pytorch_metric_learning")
from pytorch_metric_learning import losses as PL  # noqa: E402
from pytorch_metric_learning import miners as PM  # noqa: E402


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: losskit.build_loss("contrastive"), lambda: PL.ContrastiveLoss()),
        (
            lambda: losskit.build_loss("contrastive", pos_margin=0.2, neg_margin=0.8),
            lambda: PL.ContrastiveLoss(0.2, 0.8),
        ),
        (lambda: losskit.build_loss("triplet"), lambda: PL.TripletMarginLoss()),
        (
            lambda: losskit.build_loss("triplet", margin=0.3, smooth=True),
            lambda: PL.TripletMarginLoss(0.3, smooth_loss=True),
        ),
        (lambda: losskit.build_loss("info_nce", temperature=0.2), lambda: PL.NTXentLoss(0.2)),
        (lambda: losskit.build_loss("supcon"), lambda: PL.SupConLoss()),
        (lambda: losskit.build_loss("multi_similarity"), lambda: PL.MultiSimilarityLoss()),
        (
            lambda: losskit.build_loss("multi_similarity", alpha=1.0, beta=10.0, base=0.2),
            lambda: PL.MultiSimilarityLoss(1.0, 10.0, 0.2),
        ),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_pml_parity(ours, theirs, seed: int, device: torch.device) -> None:
    x = _emb(seed=seed)
    a, b = x.clone().to(device).requires_grad_(), x.clone().requires_grad_()  # PML's reference on CPU
    got, want = ours().to(device)(a, LABELS.to(device)), theirs()(b, LABELS)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-5, atol=1e-9)
    got.backward()
    want.backward()
    assert a.grad is not None
    torch.testing.assert_close(a.grad.cpu(), b.grad, rtol=1e-5, atol=1e-9)


def test_batch_hard_parity(device: torch.device) -> None:
    x = _emb(seed=3)
    got = losskit.build_loss("triplet", margin=0.2, mining="batch_hard")(x.to(device), LABELS.to(device)).cpu()
    want = PL.TripletMarginLoss(margin=0.2)(x, LABELS, PM.BatchHardMiner()(x, LABELS))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-9)


def test_info_nce_two_views_parity(device: torch.device) -> None:
    v1, v2 = _emb(6, 5, seed=1), _emb(6, 5, seed=2)
    got = losskit.build_loss("info_nce")(v1.to(device), v2.to(device)).cpu()
    want = PL.NTXentLoss()(torch.cat([v1, v2]), torch.cat([torch.arange(6), torch.arange(6)]))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-9)


def test_arcface_parity_degrees(device: torch.device) -> None:
    ours = losskit.build_loss("arcface", num_classes=5, embedding_size=5, margin=28.6, margin_unit="degrees").double()
    theirs = PL.ArcFaceLoss(num_classes=5, embedding_size=5).double()
    with torch.no_grad():
        theirs.W.copy_(ours.weight.T)
    x = _emb(seed=4)
    got = ours.to(device)(x.to(device), LABELS.to(device)).cpu()  # PML's reference on CPU
    torch.testing.assert_close(got, theirs(x, LABELS), rtol=1e-5, atol=1e-9)
    assert math.isclose(ours.margin, math.radians(28.6))
    assert ours.weight.shape == (5, 5) and isinstance(ours.weight, torch.nn.Parameter)


def test_arcface_margin_fallback_and_saturation(device: torch.device) -> None:
    """Embeddings exactly on (or opposite) their class centre: finite value and gradients (no acos at +-1)."""
    loss = losskit.build_loss("arcface", num_classes=3, embedding_size=4).double().to(device)
    x = torch.cat([loss.weight.detach()[:2], -loss.weight.detach()[2:]]).clone().requires_grad_()
    out = loss(x, torch.tensor([0, 1, 2], device=device))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()


@given(n=st.integers(2, 10), classes=st.integers(1, 4), seed=st.integers(0, 1000))
@settings(max_examples=20, deadline=None)
def test_property_parity_supcon_ntxent(n: int, classes: int, seed: int, device: torch.device) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=g)
    xd, yd = x.to(device), y.to(device)  # ours on the test device, PML's reference on CPU
    pos = (y[:, None] == y[None, :]).sum() > n
    neg = (y[:, None] != y[None, :]).any()
    for ours, theirs in [
        ("info_nce", PL.NTXentLoss()),
        ("contrastive", PL.ContrastiveLoss()),
        ("triplet", PL.TripletMarginLoss()),
    ]:
        torch.testing.assert_close(
            losskit.build_loss(ours)(xd, yd).cpu(), theirs(x, y).to(torch.float64), rtol=1e-5, atol=1e-9
        )
    if pos and neg:
        torch.testing.assert_close(
            losskit.build_loss("supcon")(xd, yd).cpu(), PL.SupConLoss()(x, y), rtol=1e-5, atol=1e-9
        )


# ---------------------------------------------------------------- no valid pair / triplet
@pytest.mark.parametrize(
    "name,kwargs", [("triplet", {}), ("triplet", {"mining": "batch_hard"}), ("supcon", {}), ("info_nce", {})]
)
def test_no_valid_pair_gives_zero(name: str, kwargs: dict, device: torch.device) -> None:
    x = _emb(6, 4).to(device).requires_grad_()
    out = losskit.build_loss(name, **kwargs)(x, torch.arange(6, device=device))  # every label distinct: no positive
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("name", NAMES)
def test_single_sample_is_zero_and_finite(name: str, device: torch.device) -> None:
    kwargs = {"num_classes": 3, "embedding_size": 4} if name == "arcface" else {}
    x = _emb(1, 4).to(device).requires_grad_()
    out = losskit.build_loss(name, **kwargs).to(device)(x, torch.tensor([1], device=device))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()
    if name != "arcface":
        assert out.item() == 0.0


def test_contrastive_all_same_label_and_duplicates(device: torch.device) -> None:
    """Duplicated embeddings (distance 0) keep finite gradients; a single-class batch has no negatives."""
    x = torch.ones(4, 3, dtype=torch.float64, requires_grad=True, device=device)
    out = losskit.build_loss("contrastive", pos_margin=0.0)(x, torch.zeros(4, dtype=torch.long, device=device))
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(x.grad).all()


def test_triplet_margin_satisfied_is_zero(device: torch.device) -> None:
    x = torch.tensor(
        [[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0], [-1.0, 0.01]], dtype=torch.float64, requires_grad=True, device=device
    )
    out = losskit.build_loss("triplet", margin=0.1)(x, torch.tensor([0, 0, 1, 1], device=device))
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


def test_reduction_none_shapes(device: torch.device) -> None:
    x, y = _emb(6, 4).to(device), torch.tensor([0, 0, 1, 1, 2, 2], device=device)
    assert losskit.build_loss("contrastive", reduction="none")(x, y).shape == (6, 6)
    assert losskit.build_loss("triplet", reduction="none")(x, y).shape == (6, 6, 6)
    assert losskit.build_loss("triplet", reduction="none", mining="batch_hard")(x, y).shape == (6,)
    assert losskit.build_loss("info_nce", reduction="none")(x, x + 0.1).shape == (12, 12)
    assert losskit.build_loss("supcon", reduction="none")(x, y).shape == (6,)
    assert losskit.build_loss("multi_similarity", reduction="none")(x, y).shape == (6,)
    arcface = losskit.build_loss("arcface", num_classes=3, embedding_size=4, reduction="none").to(device)
    assert arcface(x, y).shape == (6,)


def test_supcon_mean_over_anchors_with_positives(device: torch.device) -> None:
    x, y = _emb(5, 4).to(device), torch.tensor([0, 0, 1, 1, 2], device=device)
    per = losskit.build_loss("supcon", reduction="none")(x, y)
    assert per[4] == 0
    torch.testing.assert_close(losskit.build_loss("supcon")(x, y), per[:4].mean())


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("contrastive", {}),
        ("triplet", {"margin": 0.5}),
        ("triplet", {"mining": "batch_hard", "margin": 0.5}),
        ("info_nce", {}),
        ("supcon", {}),
        ("multi_similarity", {}),
        ("arcface", {"num_classes": 3, "embedding_size": 3}),
    ],
)
def test_gradcheck(name: str, kwargs: dict, device: torch.device) -> None:
    loss = losskit.build_loss(name, **kwargs).double().to(device)
    x = _emb(6, 3, seed=7).to(device).requires_grad_()
    y = torch.tensor([0, 0, 1, 1, 2, 2], device=device)
    assert torch.autograd.gradcheck(lambda e: loss(e, y), (x,))


def test_gradcheck_two_views(device: torch.device) -> None:
    loss = losskit.build_loss("info_nce", temperature=0.5).to(device)
    v1, v2 = _emb(4, 3, seed=1).to(device).requires_grad_(), _emb(4, 3, seed=2).to(device).requires_grad_()
    assert torch.autograd.gradcheck(loss, (v1, v2))


def test_float32_accumulation_under_autocast(device: torch.device) -> None:
    x, y = _emb(8, 16, dtype=torch.float32).to(device), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3], device=device)
    loss = losskit.build_loss("info_nce")
    with torch.autocast(device.type, dtype=torch.bfloat16):
        low = loss(x.bfloat16(), y)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, loss(x.bfloat16().float(), y))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["contrastive", "triplet", "supcon", "multi_similarity", "arcface"])
def test_bad_input(name: str) -> None:
    kwargs = {"num_classes": 3, "embedding_size": 4} if name == "arcface" else {}
    loss = losskit.build_loss(name, **kwargs)
    x = _emb(4, 4, dtype=torch.float32)
    with pytest.raises(LossInputError, match=name):
        loss(x, torch.tensor([0.0, 1.0, 0.0, 1.0]) if name != "supcon" else torch.tensor([0.0, 1.0]))
    with pytest.raises(LossInputError):
        loss(x, torch.tensor([0, 1, 0]))
    with pytest.raises(LossInputError):
        loss(x[None], torch.tensor([0, 1, 0, 1]))
    with pytest.raises(LossInputError):
        loss(torch.ones(4, 4, dtype=torch.long), torch.tensor([0, 1, 0, 1]))


def test_arcface_label_out_of_range_and_size() -> None:
    loss = losskit.build_loss("arcface", num_classes=3, embedding_size=4)
    with pytest.raises(LossInputError, match="out of range"):
        loss(torch.randn(2, 4), torch.tensor([0, 3]))
    with pytest.raises(LossInputError, match="embedding_size"):
        loss(torch.randn(2, 5), torch.tensor([0, 1]))


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        losskit.build_loss("triplet", mining="semi_hard")
    with pytest.raises(ValueError):
        losskit.build_loss("info_nce", temperature=0.0)
