"""skeleton_recall (Kirchhoff et al. 2024) and skeletonize (Guo-Hall thinning in torch): skeleton invariants
(subset, topology, thin lines, idempotence), the loss against a plain transcription of the reference's
SoftSkeletonRecallLoss, check_loss, gradcheck, bad input, empty batch. scikit-image is not installed here, so
the skeleton is tested by its invariants, with scipy.ndimage.label counting components."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import skeleton_recall_loss, skeletonize
from losskit.functional.skeleton import tube
from losskit.testing import check_loss

EIGHT = ndi.generate_binary_structure(2, 2)


def _shapes() -> Tensor:
    """A batch of 48x48 test shapes: ring, thick cross, rectangles, a thick diagonal bar, random blobs."""
    yy, xx = torch.meshgrid(torch.arange(48), torch.arange(48), indexing="ij")
    r = ((yy - 24) ** 2 + (xx - 24) ** 2).double().sqrt()
    out = [(r < 18) & (r > 7), ((yy - 24).abs() < 4) | ((xx - 20).abs() < 5)]
    rect = torch.zeros(48, 48, dtype=torch.bool)
    rect[5:20, 3:40] = True
    rect[30:33, 10:45] = True
    rect[0:10, 44:48] = True  # touches the border
    out.append(rect)
    out.append(((yy - xx).abs() < 4) & (yy > 3) & (yy < 44))
    g = torch.Generator().manual_seed(0)
    seeds = (torch.rand(4, 1, 48, 48, generator=g) < 0.02).float()
    out += list(F.max_pool2d(seeds, 7, 1, 3)[:, 0] > 0)
    return torch.stack(out)


def _counts(m: np.ndarray) -> tuple[int, int]:
    """8-connected foreground and 4-connected background components, the outside counted as background."""
    p = np.pad(m, 1)
    return ndi.label(p, structure=EIGHT)[1], ndi.label(~p)[1]


def test_skeleton_invariants(device: torch.device) -> None:
    masks = _shapes()
    skel = skeletonize(masks.to(device)).cpu()
    assert skel.dtype == torch.bool and skel.shape == masks.shape
    assert not (skel & ~masks).any()  # subset
    assert torch.equal(skeletonize(skel.to(device)).cpu(), skel)  # idempotent
    for m, s in zip(masks.numpy(), skel.numpy(), strict=True):
        assert _counts(m) == _counts(s)  # topology kept
        assert s.sum() < m.sum() / 3  # and thin: no 2x2 block of skeleton pixels
        assert not (s[:-1, :-1] & s[1:, :-1] & s[:-1, 1:] & s[1:, 1:]).any()


def test_thin_lines_and_rectangle() -> None:
    lines = torch.zeros(3, 20, 20, dtype=torch.bool)
    lines[0, 5, 2:18] = True  # horizontal
    lines[1, 2:18, 9] = True  # vertical
    idx = torch.arange(3, 17)
    lines[2, idx, idx] = True  # diagonal
    assert torch.equal(skeletonize(lines), lines)
    m = torch.zeros(7, 9, dtype=torch.bool)
    m[2:5, 1:8] = True
    s = skeletonize(m)
    assert s[3, 2:7].all() and s.sum() == 5  # the medial line of a 3-pixel-thick bar
    single = torch.zeros(5, 5, dtype=torch.bool)
    single[1:3, 1:3] = True  # a 2x2 square keeps one pixel (Zhang-Suen would delete it all)
    assert skeletonize(single).sum() == 1


def test_skimage_thin_docstring_example() -> None:
    """The example of ``skimage.morphology.thin``'s docstring (Guo-Hall, the same two lookup tables: checked
    entry by entry against skimage's published G123_LUT / G123P_LUT when this was written)."""
    square = torch.zeros(7, 7, dtype=torch.bool)
    square[1:-1, 2:-2] = True
    square[0, 1] = True
    want = torch.zeros(7, 7, dtype=torch.bool)
    want[0, 1] = want[1, 2] = True
    want[2:5, 3] = True
    assert torch.equal(skeletonize(square), want)


def test_skeletonize_3d_is_slice_by_slice_and_batched() -> None:
    vol = _shapes()[:6].reshape(2, 3, 48, 48)
    torch.testing.assert_close(skeletonize(vol), torch.stack([skeletonize(v) for v in vol]))
    assert skeletonize(torch.ones(3, 3, 4, 4, 0, dtype=torch.bool)).shape == (3, 3, 4, 4, 0)
    assert skeletonize(torch.zeros(2, 6, 6)).sum() == 0
    out = skeletonize(torch.ones(10, 10), max_iterations=1)
    assert 0 < out.sum() < 100 and not torch.equal(out, skeletonize(torch.ones(10, 10)))
    with pytest.raises(LossInputError, match="skeletonize"):
        skeletonize(torch.ones(5))
    with pytest.raises(ValueError, match="max_iterations"):
        skeletonize(torch.ones(5, 5), max_iterations=-1)


def _reference(x: Tensor, skel_labels: Tensor, smooth: float = 1.0) -> Tensor:
    """MIC-DKFZ/Skeleton-Recall's SoftSkeletonRecallLoss (do_bg=False, batch_dice=False), transcribed: softmax,
    drop channel 0, one-hot of the skeleton label map, recall per (sample, class), minus the mean."""
    p = x.softmax(1)[:, 1:]
    onehot = torch.zeros_like(x).scatter_(1, skel_labels[:, None], 1)[:, 1:]
    axes = list(range(2, x.dim()))
    rec = ((p * onehot).sum(axes) + smooth) / torch.clip(onehot.sum(axes) + smooth, 1e-8)
    return -rec.mean()


def _tubed_labels(y: Tensor, radius: int = 2) -> Tensor:
    """The reference's tubed skeleton label map (per-class skeleton here, as losskit documents)."""
    c = int(y.max()) + 1
    onehot = F.one_hot(y, c).movedim(-1, 1).double()
    s = tube(onehot, radius)
    return (s * torch.arange(c, dtype=torch.float64).reshape(1, c, *([1] * (y.dim() - 1)))).sum(1).long()


@pytest.mark.parametrize("shape", [(2, 3, 24, 26), (2, 3, 6, 20, 18)])
def test_reference_parity(shape: tuple[int, ...], device: torch.device) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    y = F.max_pool2d((torch.rand(shape[0], 1, *shape[2:], generator=g) < 0.05).double().flatten(1, -3), 5, 1, 2)
    y = (y.reshape(shape[0], *shape[2:]) * torch.randint(1, 3, (shape[0], *shape[2:]), generator=g)).long()
    s = _tubed_labels(y)
    want = 1.0 + _reference(x, s)
    got = skeleton_recall_loss(x.to(device), y.to(device))
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-12)
    given = skeleton_recall_loss(x.to(device), y.to(device), s.to(device), reduction="none")
    torch.testing.assert_close(given.mean().cpu(), want, rtol=1e-10, atol=1e-12)
    assert given.shape == (shape[0], shape[1] - 1)


def test_options_modes_and_tube() -> None:
    m = torch.zeros(1, 1, 12, 12)
    m[0, 0, 4:7, 1:11] = 1  # a 3-pixel bar: skeleton the middle row, the 2-tube the whole bar
    assert torch.equal(tube(m, 0), skeletonize(m).double().float())
    assert torch.equal(tube(m, 2), m)
    perfect = skeleton_recall_loss(m * 40 - 20, m, mode="binary")
    assert perfect < 1e-6
    miss = torch.full_like(m, -20.0)
    assert skeleton_recall_loss(miss, m, mode="binary", smooth=0.0) > 0.99
    # binary without the channel dim, multilabel per channel, background kept
    torch.testing.assert_close(
        skeleton_recall_loss(miss[:, 0], m[:, 0], mode="binary"), skeleton_recall_loss(miss, m, mode="binary")
    )
    ml = skeleton_recall_loss(
        torch.cat([miss, -miss], 1), torch.cat([m, m], 1), mode="multilabel", include_background=True, reduction="none"
    )
    assert ml.shape == (1, 2) and ml[0, 1] < 0.01 < ml[0, 0]
    # an empty skeleton: recall 1, loss 0, also with smooth=0; a zero gradient
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    out = skeleton_recall_loss(x, torch.zeros(2, 8, 8, dtype=torch.long), smooth=0.0)
    out.backward()
    assert out.item() == 0.0 and x.grad is not None and not x.grad.any()


def test_ignore_index() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 3, 16, 16, generator=g)
    y = torch.zeros(1, 16, 16, dtype=torch.long)
    y[0, 6:9, 2:14] = 1
    y2 = y.clone()
    y2[0, 0:3, :] = 255  # ignored rows away from the structure: same skeleton, same sums
    a = skeleton_recall_loss(x, y)
    torch.testing.assert_close(skeleton_recall_loss(x, y2, ignore_index=255), a)
    everything = torch.full_like(y, 255)
    assert skeleton_recall_loss(x, everything, ignore_index=255) == 0.0


@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
def test_check_loss(mode: str) -> None:
    check_loss({"name": "skeleton_recall", "mode": mode}, compile=None)


def test_gradcheck() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 3, 6, 7, generator=g, dtype=torch.float64).requires_grad_()
    y = torch.randint(0, 3, (1, 6, 7), generator=g)
    assert torch.autograd.gradcheck(lambda a: skeleton_recall_loss(a, y, include_background=True), (x,))
    t = torch.randint(0, 2, (1, 1, 3, 5, 5), generator=g).double()
    z = torch.randn(1, 1, 3, 5, 5, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: skeleton_recall_loss(a, t, mode="binary"), (z,))


def test_aliases_and_bad_options() -> None:
    for name in ("skeleton_recall", "SkeletonRecallLoss", "SoftSkeletonRecallLoss"):
        assert type(build_loss(name)).__name__ == "SkeletonRecallLoss"
    with pytest.raises(ValueError, match="did you mean"):
        build_loss("skeleton_recall", mode="multiclas")
    x, y = torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long)
    for bad in ({"tube_radius": -1}, {"tube_radius": 1.5}, {"smooth": -1.0}, {"smooth": float("inf")}):
        with pytest.raises(ValueError, match="skeleton_recall"):
            build_loss("skeleton_recall", **bad)
        with pytest.raises(ValueError, match="skeleton_recall_loss"):
            skeleton_recall_loss(x, y, **bad)


def test_bad_input() -> None:
    x = torch.randn(2, 3, 8, 8)
    bad: list[tuple[Tensor, Tensor, dict[str, Any]]] = [
        (x, torch.zeros(2, 7, 8, dtype=torch.long), {}),
        (x, torch.zeros(2, 8, 8), {}),  # float labels
        (torch.randn(2, 3, 8), torch.zeros(2, 8, dtype=torch.long), {}),  # 1-D
        (x, torch.zeros(2, 8, 8, dtype=torch.long), {"skeleton": torch.zeros(2, 8, 9, dtype=torch.long)}),
    ]
    for a, b, kw in bad:
        with pytest.raises(LossInputError, match="skeleton_recall_loss"):
            skeleton_recall_loss(a, b, **kw)


def test_empty_batch_and_nan() -> None:
    x = torch.randn(0, 3, 8, 8, requires_grad=True)
    y = torch.zeros(0, 8, 8, dtype=torch.long)
    out = skeleton_recall_loss(x, y)
    out.backward()
    assert out.item() == 0.0 and x.grad is not None and not x.grad.any()
    assert skeleton_recall_loss(x, y, reduction="none").shape == (0, 2)
    z = torch.randn(1, 3, 8, 8)
    y = torch.zeros(1, 8, 8, dtype=torch.long)
    y[0, 3:6, 1:7] = 1
    z[0, 1, 4, 4] = float("nan")
    assert skeleton_recall_loss(z, y).isnan()
    assert skeleton_recall_loss(z, y, smooth=0.0).isnan()
