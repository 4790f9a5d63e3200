"""coral and corn (functional/ordinal.py): against the papers' formulas written independently here (loops over the
samples and tasks, as coral_pytorch's ``coral_loss`` / ``corn_loss``), check_loss, gradcheck, bad input, empty
batches, integer dtypes, doctests; and their registration outside ``losskit compare --task classification``."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
from torch import Tensor

import losskit
from losskit import LossInputError, build_loss
from losskit.functional import ordinal as FO
from losskit.testing import check_loss


def _data(n: int = 9, k: int = 5, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k - 1, generator=g, dtype=torch.float64) * 2, torch.randint(0, k, (n,), generator=g)


def _log_sigmoid(v: float) -> float:
    return -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v))


def coral_reference(x: Tensor, ranks: Tensor, weights: list[float] | None = None) -> list[float]:
    """Cao et al. 2020, eq. (4) per sample: -sum_k lambda_k [y_k log s(x_k) + (1 - y_k) log(1 - s(x_k))]."""
    out = []
    for row, r in zip(x.tolist(), ranks.tolist(), strict=True):
        total = 0.0
        for k, v in enumerate(row):
            y = 1.0 if r > k else 0.0
            lam = 1.0 if weights is None else weights[k]
            total -= lam * (y * _log_sigmoid(v) + (1 - y) * _log_sigmoid(-v))
        out.append(total)
    return out


def corn_reference(x: Tensor, ranks: Tensor) -> float:
    """Shi et al. 2023, eq. (5): task k on the subset {r >= k} with label [r > k]; averaged over all its terms."""
    total, count = 0.0, 0
    for k in range(x.shape[1]):
        for row, r in zip(x.tolist(), ranks.tolist(), strict=True):
            if r >= k:
                y = 1.0 if r > k else 0.0
                total -= y * _log_sigmoid(row[k]) + (1 - y) * _log_sigmoid(-row[k])
                count += 1
    return total / count if count else 0.0


@pytest.mark.parametrize("name", ["coral", "corn"])
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)
    if name == "coral":
        check_loss({"name": "coral", "importance_weights": [1.0, 0.5, 2.0]}, compile=None)


@pytest.mark.parametrize("weights", [None, [1.0, 0.5, 2.0, 0.0]])
def test_coral_matches_the_paper(weights: list[float] | None) -> None:
    x, y = _data()
    expected = torch.tensor(coral_reference(x, y, weights), dtype=torch.float64)
    loss = build_loss("CoralLoss", importance_weights=weights, reduction="none").double()
    torch.testing.assert_close(loss(x, y), expected)
    torch.testing.assert_close(FO.coral_loss(x, y, importance_weights=weights), expected.mean())
    torch.testing.assert_close(FO.coral_loss(x, y, importance_weights=weights, reduction="sum"), expected.sum())


def test_coral_takes_levels() -> None:
    x, y = _data()
    levels = FO.rank_levels(y, 4, torch.float64)
    assert levels[0].tolist() == [1.0 if y[0] > k else 0.0 for k in range(4)]
    torch.testing.assert_close(FO.coral_loss(x, levels), FO.coral_loss(x, y))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corn_matches_the_paper(seed: int) -> None:
    x, y = _data(seed=seed)
    torch.testing.assert_close(build_loss("CornLoss")(x, y), torch.tensor(corn_reference(x, y), dtype=torch.float64))
    none = FO.corn_loss(x, y, reduction="none")
    assert none.shape == (9,)
    torch.testing.assert_close(none.sum(), FO.corn_loss(x, y, reduction="sum"))


@pytest.mark.parametrize("fn", [FO.coral_loss, FO.corn_loss])
def test_integer_dtypes(fn: object) -> None:
    x, y = _data()
    for dtype in (torch.uint8, torch.int8, torch.int16, torch.int32):
        torch.testing.assert_close(fn(x, y.to(dtype)), fn(x, y))  # type: ignore[operator]


def test_gradcheck() -> None:
    x, y = _data(n=4, k=4)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: FO.coral_loss(t, y, importance_weights=[1.0, 2.0, 0.5]), (x,))
    assert torch.autograd.gradcheck(lambda t: FO.corn_loss(t, y), (x,))


@pytest.mark.parametrize("fn", [FO.coral_loss, FO.corn_loss])
def test_empty_batch_is_zero_with_zero_grad(fn: object) -> None:
    x = torch.randn(0, 4, requires_grad=True)
    for reduction in ("mean", "sum"):
        value = fn(x, torch.zeros(0, dtype=torch.long), reduction=reduction)  # type: ignore[operator]
        (grad,) = torch.autograd.grad(value, x)
        assert value.item() == 0.0 and grad.shape == x.shape


@pytest.mark.parametrize("name", ["coral", "corn"])
def test_bad_input(name: str) -> None:
    fn = getattr(FO, f"{name}_loss")
    with pytest.raises(LossInputError, match=f"{name}: class label 5"):
        fn(torch.randn(3, 4), torch.tensor([0, 5, 1]))  # K = 5 ranks: 0..4
    with pytest.raises(LossInputError, match=f"{name}: expected target ranks of shape"):
        fn(torch.randn(3, 4), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(LossInputError, match=f"{name}: expected input of shape"):
        fn(torch.randn(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(LossInputError, match=f"{name}: .*integer class indices"):
        fn(torch.randn(3, 4), torch.zeros(3))
    with pytest.raises(LossInputError, match="coral: importance_weights has 2 entries"):
        FO.coral_loss(torch.randn(3, 4), torch.zeros(3, dtype=torch.long), importance_weights=[1.0, 2.0])


def test_not_trained_as_classification() -> None:
    """K - 1 task logits: ``losskit compare --task classification`` (K class logits) must not pick them up."""
    assert not {"coral", "corn"} & set(losskit.list_losses(task="classification"))
    assert {"coral", "corn"} <= set(losskit.list_losses(task="ordinal"))


@pytest.mark.parametrize("module", ["losskit.functional.ordinal", "losskit.zoo.ordinal"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert result.attempted and not result.failed
