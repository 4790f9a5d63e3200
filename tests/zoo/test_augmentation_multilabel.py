"""jsd, focal_cosine (functional/augmentation.py) and zlpr, two_way, distribution_balanced (functional/multilabel.py):
parity with the peers' own loss files (timm ``JsdCrossEntropy``, ``ZlprLoss``, ``TwoWayLoss``,
``DistributionBalancedLoss``; pytorch-toolbelt ``FocalCosineLoss``) loaded by ``tests._references.reference``,
check_loss, gradcheck, bad input, empty batches, ``losskit compare`` filling the class counts, doctests."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import pytest
import torch
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.compare.specs import fit_spec
from losskit.functional import augmentation as FA
from losskit.functional import multilabel as FM
from losskit.testing import check_loss
from tests._references import reference

NAMES = ("jsd", "focal_cosine", "zlpr", "two_way", "distribution_balanced")
COUNTS = [40.0, 12.0, 3.0, 0.0, 25.0, 60.0]


def _logits(n: int, c: int, seed: int = 0, scale: float = 2.0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g, dtype=torch.float64) * scale


def _labels(n: int, c: int, seed: int = 1) -> Tensor:
    return torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed))


def _multi_hot(n: int, c: int, seed: int = 2, p: float = 0.3) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, c, generator=g, dtype=torch.float64) < p).double()


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "jsd", "num_splits": 2, "alpha": 1.0, "smoothing": 0.0},
        {"name": "focal_cosine", "gamma": 0.0, "xent": 1.0},
        {"name": "two_way", "tp": 1.0, "tn": 2.0, "reduction": "sum"},
        {"name": "distribution_balanced", "class_counts": COUNTS, "num_samples": 80, "reduction": "batchmean"},
    ],
)
def test_check_loss_options(spec: dict[str, Any]) -> None:
    check_loss(spec, compile=None)


# ---------------------------------------------------------------------------------------------- jsd


@pytest.mark.parametrize(
    ("num_splits", "alpha", "smoothing"), [(3, 12.0, 0.1), (2, 1.0, 0.0), (4, 5.0, 0.3), (1, 12, 0.1)]
)
@pytest.mark.parametrize("full_target", [False, True])
def test_jsd_matches_timm(num_splits: int, alpha: float, smoothing: float, full_target: bool) -> None:
    ref = reference("timm", "loss.jsd").JsdCrossEntropy(num_splits=num_splits, alpha=alpha, smoothing=smoothing)
    x, y = _logits(5 * num_splits, 7), _labels(5, 7)
    target = y.repeat(num_splits) if full_target else y
    expected = ref(x, y.repeat(num_splits))
    ours = build_loss("JsdCrossEntropy", num_splits=num_splits, alpha=alpha, smoothing=smoothing)(x, target)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)


def test_jsd_reductions_and_int_dtypes() -> None:
    x, y = _logits(12, 5), _labels(4, 5)
    none = FA.jsd_loss(x, y, reduction="none")
    assert none.shape == (4,)
    torch.testing.assert_close(none.mean(), FA.jsd_loss(x, y))
    torch.testing.assert_close(none.sum(), FA.jsd_loss(x, y, reduction="sum"))
    for dtype in (torch.uint8, torch.int8, torch.int16, torch.int32):
        torch.testing.assert_close(FA.jsd_loss(x, y.to(dtype)), FA.jsd_loss(x, y))


def test_jsd_identical_views_is_the_smoothed_cross_entropy() -> None:
    x, y = _logits(4, 5), _labels(4, 5)
    ce = torch.nn.functional.cross_entropy(x, y, label_smoothing=0.1)
    torch.testing.assert_close(FA.jsd_loss(x.repeat(3, 1), y), ce)


def test_jsd_gradcheck() -> None:
    x = _logits(6, 3).requires_grad_(True)
    y = _labels(2, 3)
    assert torch.autograd.gradcheck(lambda t: FA.jsd_loss(t, y, alpha=2.0), (x,))


def test_jsd_bad_input() -> None:
    with pytest.raises(LossInputError, match="jsd: .*num_splits=3"):
        FA.jsd_loss(torch.randn(7, 3), torch.zeros(2, dtype=torch.long))  # 7 rows, 3 views
    with pytest.raises(LossInputError, match="jsd: expected target of shape"):
        FA.jsd_loss(torch.randn(6, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(LossInputError, match="jsd: .*integer class indices"):
        FA.jsd_loss(torch.randn(6, 3), torch.zeros(2))
    with pytest.raises(LossInputError, match="jsd: class label 3"):
        FA.jsd_loss(torch.randn(6, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="jsd: num_splits"):
        build_loss("jsd", num_splits=0)


# ---------------------------------------------------------------------------------------------- focal cosine


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize(("alpha", "gamma", "xent"), [(1.0, 2.0, 0.1), (0.5, 0.0, 1.0), (2.0, 3.5, 0.4)])
def test_focal_cosine_matches_toolbelt(reduction: str, alpha: float, gamma: float, xent: float) -> None:
    ref = reference("pytorch_toolbelt", "losses.focal_cosine").FocalCosineLoss(alpha, gamma, xent, reduction)
    x, y = _logits(9, 6), _labels(9, 6)
    ours = build_loss("FocalCosineLoss", alpha=alpha, gamma=gamma, xent=xent, reduction=reduction)(x, y)
    torch.testing.assert_close(ours, ref(x, y), rtol=1e-10, atol=1e-12)


def test_focal_cosine_sum_is_the_sum_of_the_samples() -> None:
    x, y = _logits(9, 6), _labels(9, 6)
    torch.testing.assert_close(
        FA.focal_cosine_loss(x, y, reduction="sum"), FA.focal_cosine_loss(x, y, reduction="none").sum()
    )


def test_focal_cosine_gradcheck_and_zero_logits() -> None:
    x = _logits(4, 3).requires_grad_(True)
    y = _labels(4, 3)
    assert torch.autograd.gradcheck(lambda t: FA.focal_cosine_loss(t, y, gamma=2.5), (x,))
    zero = torch.zeros(2, 3, requires_grad=True)
    value = FA.focal_cosine_loss(zero, torch.tensor([0, 2]))
    (grad,) = torch.autograd.grad(value, zero)
    assert torch.isfinite(value) and torch.isfinite(grad).all()


def test_focal_cosine_bad_input() -> None:
    with pytest.raises(LossInputError, match="focal_cosine"):
        FA.focal_cosine_loss(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(LossInputError, match="focal_cosine"):
        FA.focal_cosine_loss(torch.randn(4, 3, 2), torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="focal_cosine: gamma"):
        build_loss("focal_cosine", gamma=-1.0)


# ---------------------------------------------------------------------------------------------- zlpr, two_way


def test_zlpr_matches_timm() -> None:
    ref = reference("timm", "loss.zlpr_loss").ZlprLoss()
    x, y = _logits(8, 6, scale=4.0), _multi_hot(8, 6)
    y[0] = 0.0  # a sample without positives
    y[1] = 1.0  # and one without negatives
    torch.testing.assert_close(build_loss("ZlprLoss")(x, y), ref(x, y).double(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(FM.zlpr_loss(x.float(), y.float()), ref(x.float(), y.float()))


def test_zlpr_is_the_formula() -> None:
    x, y = _logits(5, 4), _multi_hot(5, 4)
    pos = y > 0.5
    expected = torch.log1p(torch.where(pos, 0.0, x.exp()).sum(1)) + torch.log1p(
        torch.where(pos, (-x).exp(), 0.0).sum(1)
    )
    torch.testing.assert_close(FM.zlpr_loss(x, y, reduction="none"), expected)


@pytest.mark.parametrize(("tp", "tn"), [(4.0, 1.0), (1.0, 1.0), (0.5, 3.0)])
def test_two_way_matches_timm(tp: float, tn: float) -> None:
    ref = reference("timm", "loss.two_way_loss").TwoWayLoss(tp, tn)
    x, y = _logits(8, 6, scale=3.0).float(), _multi_hot(8, 6).float()
    y[:, 2] = 0.0  # a class without positives in the batch
    y[3] = 0.0  # a sample without positives
    torch.testing.assert_close(build_loss("TwoWayLoss", tp=tp, tn=tn)(x, y), ref(x, y))


def test_two_way_no_positive_is_zero_with_zero_grad() -> None:
    x = torch.randn(4, 5, requires_grad=True)
    for reduction in ("mean", "sum"):
        value = FM.two_way_loss(x, torch.zeros(4, 5), reduction=reduction)
        (grad,) = torch.autograd.grad(value, x)
        assert value.item() == 0.0 and torch.count_nonzero(grad) == 0


def test_zlpr_two_way_gradcheck() -> None:
    x = _logits(4, 5).requires_grad_(True)
    y = _multi_hot(4, 5)
    y[0, 0] = 1.0
    assert torch.autograd.gradcheck(lambda t: FM.zlpr_loss(t, y), (x,))
    assert torch.autograd.gradcheck(lambda t: FM.two_way_loss(t, y, tp=2.0), (x,))


@pytest.mark.parametrize("name", ["zlpr", "two_way", "distribution_balanced"])
def test_multilabel_bad_input(name: str) -> None:
    fn = getattr(FM, f"{name}_loss")
    with pytest.raises(LossInputError, match=f"{name}: expected target with the same shape"):
        fn(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(LossInputError, match=f"{name}: expected input of shape"):
        fn(torch.randn(4, 3, 2), torch.zeros(4, 3, 2))
    with pytest.raises(LossInputError, match=f"{name}: expected input .*floating point"):
        fn(torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, 3))


# ---------------------------------------------------------------------------------------------- distribution balanced


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"focal_gamma": 0.0, "neg_scale": 1.0, "init_bias": 0.0},
        {"map_alpha": 0.2, "map_beta": 5.0, "map_mu": 0.5, "smoothing": 0.1, "focal_balance": 1.0},
    ],
)
def test_distribution_balanced_matches_timm(reduction: str, opts: dict[str, Any]) -> None:
    mod = reference("timm", "loss.distribution_balanced_loss")
    ref = mod.DistributionBalancedLoss(COUNTS, 80, reduction=reduction, **opts)
    x, y = _logits(7, 6).float(), _multi_hot(7, 6).float()
    y[0] = 0.0  # a sample without positives: the largest weight
    ours = build_loss("DistributionBalancedLoss", class_counts=COUNTS, num_samples=80, reduction=reduction, **opts)
    torch.testing.assert_close(ours(x, y), ref(x, y))
    torch.testing.assert_close(ours.double()(x.double(), y.double()).float(), ref(x, y))


def test_distribution_balanced_defaults_and_num_samples() -> None:
    x, y = _logits(5, 4), _multi_hot(5, 4)
    counts = [10.0, 20.0, 5.0, 15.0]
    torch.testing.assert_close(
        FM.distribution_balanced_loss(x, y, counts), FM.distribution_balanced_loss(x, y, counts, 50)
    )
    # no counts: every class equally frequent (equal counts give the same weights) and no prior shift
    torch.testing.assert_close(
        FM.distribution_balanced_loss(x, y), FM.distribution_balanced_loss(x, y, [7.0] * 4, 14, init_bias=0.0)
    )


def test_distribution_balanced_gradcheck_and_bad_counts() -> None:
    x = _logits(3, 4).requires_grad_(True)
    y = _multi_hot(3, 4)
    assert torch.autograd.gradcheck(lambda t: FM.distribution_balanced_loss(t, y, [5.0, 2.0, 9.0, 1.0], 12), (x,))
    with pytest.raises(ValueError, match="distribution_balanced: class_counts"):
        build_loss("distribution_balanced", class_counts=[5.0, -1.0])
    with pytest.raises(ValueError, match="distribution_balanced: class_counts"):
        build_loss("distribution_balanced", class_counts=[5.0, 30.0], num_samples=20)
    with pytest.raises(LossInputError, match="distribution_balanced: class_counts has 2 entries"):
        build_loss("distribution_balanced", class_counts=[5.0, 3.0])(torch.randn(2, 3), torch.zeros(2, 3))


def test_compare_fills_the_class_counts() -> None:
    spec = fit_spec("distribution_balanced", num_classes=3, class_counts=[5, 7, 2])
    assert spec["class_counts"] == [5, 7, 2]
    torch.testing.assert_close(build_loss(spec).class_counts, torch.tensor([5.0, 7.0, 2.0]))


def test_state_dict_holds_the_counts() -> None:
    loss = build_loss("distribution_balanced", class_counts=COUNTS)
    assert set(loss.state_dict()) == {"class_counts"}


# ---------------------------------------------------------------------------------------------- shared


@pytest.mark.parametrize(
    ("fn", "make"),
    [
        (FA.jsd_loss, lambda: (torch.randn(0, 4), torch.zeros(0, dtype=torch.long))),
        (FA.focal_cosine_loss, lambda: (torch.randn(0, 4), torch.zeros(0, dtype=torch.long))),
        (FM.zlpr_loss, lambda: (torch.randn(0, 4), torch.zeros(0, 4))),
        (FM.two_way_loss, lambda: (torch.randn(0, 4), torch.zeros(0, 4))),
        (FM.distribution_balanced_loss, lambda: (torch.randn(0, 4), torch.zeros(0, 4))),
    ],
)
def test_empty_batch_is_zero_with_zero_grad(fn: Any, make: Any) -> None:
    x, y = make()
    x.requires_grad_(True)
    value = fn(x, y)
    (grad,) = torch.autograd.grad(value, x)
    assert value.item() == 0.0 and grad.shape == x.shape


@pytest.mark.parametrize(
    "module",
    [
        "losskit.functional.augmentation",
        "losskit.functional.multilabel",
        "losskit.zoo.augmentation",
        "losskit.zoo.multilabel",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert result.attempted and not result.failed
