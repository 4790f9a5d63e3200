"""seesaw (functional/seesaw.py, zoo/seesaw.py): against mmdet's ``seesaw_ce_loss`` transcribed here (its
mitigation and compensation factors as written in mmdet 3.x), the counts buffer (accumulated in training, frozen in
eval, state_dict / pickle round trips, two training steps then a restored build gives the same next value),
check_loss, gradcheck, bad input, empty batch, doctests."""

from __future__ import annotations

import doctest
import importlib
import io
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import seesaw as FS
from losskit.testing import check_loss
from losskit.zoo.seesaw import SeesawLoss


def mmdet_seesaw_ce_loss(
    cls_score: Tensor, labels: Tensor, cum_samples: Tensor, num_classes: int, p: float, q: float, eps: float
) -> Tensor:
    """mmdet/models/losses/seesaw_loss.py ``seesaw_ce_loss`` (label_weights None, reduction "none")."""
    onehot_labels = F.one_hot(labels, num_classes)
    seesaw_weights = cls_score.new_ones(onehot_labels.size())
    if p > 0:
        sample_ratio_matrix = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(min=1)
        index = (sample_ratio_matrix < 1.0).float()
        sample_weights = sample_ratio_matrix.pow(p) * index + (1 - index)
        mitigation_factor = sample_weights[labels.long(), :]
        seesaw_weights = seesaw_weights * mitigation_factor
    if q > 0:
        scores = F.softmax(cls_score.detach(), dim=1)
        self_scores = scores[torch.arange(0, len(scores)).to(scores.device).long(), labels.long()]
        score_matrix = scores / self_scores[:, None].clamp(min=eps)
        index = (score_matrix > 1.0).float()
        compensation_factor = score_matrix.pow(q) * index + (1 - index)
        seesaw_weights = seesaw_weights * compensation_factor
    cls_score = cls_score + (seesaw_weights.log() * (1 - onehot_labels))
    return F.cross_entropy(cls_score, labels, weight=None, reduction="none")


def _data(n: int = 10, c: int = 5, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g, dtype=torch.float64) * 2, torch.randint(0, c, (n,), generator=g)


def test_check_loss() -> None:
    check_loss("seesaw", compile=None)
    check_loss({"name": "seesaw", "num_classes": 6, "p": 0.5, "q": 0.0}, compile=None)


@pytest.mark.parametrize(("p", "q", "eps"), [(0.8, 2.0, 1e-2), (0.0, 2.0, 1e-2), (0.8, 0.0, 1e-2), (1.5, 1.0, 0.3)])
def test_matches_mmdet(p: float, q: float, eps: float) -> None:
    x, y = _data()
    counts = torch.tensor([300.0, 2.0, 0.0, 41.0, 7.0], dtype=torch.float64)
    expected = mmdet_seesaw_ce_loss(x, y, counts, 5, p, q, eps)
    torch.testing.assert_close(FS.seesaw_loss(x, y, counts, p=p, q=q, eps=eps, reduction="none"), expected)
    torch.testing.assert_close(FS.seesaw_loss(x, y, counts, p=p, q=q, eps=eps), expected.mean())


def test_module_accumulates_like_mmdet() -> None:
    """mmdet adds the batch's counts, then computes the loss with them: two steps, same values as the transcription."""
    loss = build_loss("SeesawLoss", num_classes=5).double()
    counts = torch.zeros(5, dtype=torch.float64)
    for seed in (0, 1):
        x, y = _data(seed=seed)
        counts += torch.bincount(y, minlength=5).double()
        torch.testing.assert_close(loss(x, y), mmdet_seesaw_ce_loss(x, y, counts, 5, 0.8, 2.0, 1e-2).mean())
    torch.testing.assert_close(loss.cum_samples, counts)


def test_eval_freezes_the_counts() -> None:
    loss = SeesawLoss(num_classes=5)
    x, y = _data()
    loss(x.float(), y)
    before = loss.cum_samples.clone()
    loss.eval()
    loss(x.float(), y)
    torch.testing.assert_close(loss.cum_samples, before)


def test_state_round_trip_gives_the_same_next_value() -> None:
    loss = build_loss("seesaw", num_classes=5)
    for seed in (0, 1):  # two training steps
        x, y = _data(seed=seed)
        loss(x.float(), y)
    buffer = io.BytesIO()
    torch.save(loss.state_dict(), buffer)
    buffer.seek(0)
    fresh = build_loss("seesaw", num_classes=5)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    unpickled = pickle.loads(pickle.dumps(loss))
    x, y = _data(seed=2)
    expected = loss(x.float(), y)
    torch.testing.assert_close(fresh(x.float(), y), expected)
    torch.testing.assert_close(unpickled(x.float(), y), expected)
    torch.testing.assert_close(fresh.cum_samples, loss.cum_samples)
    assert set(loss.state_dict()) == {"cum_samples"}


def test_gradcheck() -> None:
    x, y = _data(n=4, c=3)
    x.requires_grad_(True)
    counts = torch.tensor([10.0, 3.0, 1.0], dtype=torch.float64)
    # the compensation factor is detached (mmdet's), so finite differences see it: gradcheck with q = 0 ...
    assert torch.autograd.gradcheck(lambda t: FS.seesaw_loss(t, y, counts, q=0.0), (x,))
    # ... and with q > 0 the gradient is mmdet's (the factor held constant)
    (ours,) = torch.autograd.grad(FS.seesaw_loss(x, y, counts), x)
    (theirs,) = torch.autograd.grad(mmdet_seesaw_ce_loss(x, y, counts, 3, 0.8, 2.0, 1e-2).mean(), x)
    torch.testing.assert_close(ours, theirs)


def test_integer_dtypes() -> None:
    x, y = _data()
    counts = torch.tensor([3.0, 9.0, 1.0, 4.0, 4.0])
    for dtype in (torch.uint8, torch.int8, torch.int16, torch.int32):
        torch.testing.assert_close(FS.seesaw_loss(x, y.to(dtype), counts), FS.seesaw_loss(x, y, counts))


def test_empty_batch_is_zero_with_zero_grad() -> None:
    loss = SeesawLoss(num_classes=4)
    x = torch.randn(0, 4, requires_grad=True)
    value = loss(x, torch.zeros(0, dtype=torch.long))
    (grad,) = torch.autograd.grad(value, x)
    assert value.item() == 0.0 and grad.shape == x.shape
    assert loss.cum_samples.sum().item() == 0.0


def test_bad_input() -> None:
    loss = SeesawLoss(num_classes=4)
    with pytest.raises(LossInputError, match="seesaw: class label 4"):
        loss(torch.randn(2, 4), torch.tensor([0, 4]))
    assert loss.cum_samples.sum().item() == 0.0  # the bad batch was not counted
    with pytest.raises(LossInputError, match="seesaw: .*integer class indices"):
        FS.seesaw_loss(torch.randn(2, 4), torch.zeros(2))
    with pytest.raises(LossInputError, match="seesaw: cum_samples has 3 entries"):
        FS.seesaw_loss(torch.randn(2, 4), torch.zeros(2, dtype=torch.long), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="seesaw: expected p >= 0"):
        build_loss("seesaw", p=-1.0)
    with pytest.raises(ValueError, match="seesaw: num_classes"):
        build_loss("seesaw", num_classes=0)


@pytest.mark.parametrize("module", ["losskit.functional.seesaw", "losskit.zoo.seesaw"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert result.attempted and not result.failed
