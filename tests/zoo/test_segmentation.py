"""Segmentation losses: parity with MONAI/kornia, gradients, properties, edge cases, input errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit
from losskit import LossInputError, build_loss
from losskit.testing import check_loss

NAMES = [
    "dice",
    "DiceLoss",
    "dice_loss",
    "jaccard",
    "iou",
    "tversky",
    "focal_tversky",
    "generalized_dice",
    "dice_ce",
    "dice_focal",
    "combined_segmentation",
    "lovasz",
    "mcc",
    "combined_dice_bce",
    "mask",
]
REGION = ["dice", "jaccard", "tversky", "focal_tversky", "mcc", "lovasz"]
D = torch.float64


def _data(
    n: int = 2, c: int = 3, spatial: tuple[int, ...] = (5, 4), seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, *spatial, generator=g, dtype=D), torch.randint(0, c, (n, *spatial), generator=g)


def _all_present(
    n: int = 2, c: int = 3, spatial: tuple[int, ...] = (6, 5), seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _data(n, c, spatial, seed)
    y.view(n, -1)[:, :c] = torch.arange(c)  # every class present in every sample
    return x, y


def _onehot(y: torch.Tensor, c: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, c).movedim(-1, 1).to(D)


# ------------------------------------------------------------------------------------------------ registry


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


def test_aliases_and_seed_usages() -> None:
    assert type(build_loss("DiceLoss")) is type(build_loss("dice"))
    assert build_loss({"_target_": "DiceLoss", "smooth": 1.0}).smooth_nr == 1.0
    d = build_loss("dice", num_classes=10, smooth=1.0)
    assert d.num_classes == 10 and d.mode == "multiclass"
    cs = build_loss("combined_segmentation", num_classes=19, ce_weight=0.5, dice_weight=1.5, ignore_index=255)
    x, y = torch.randn(2, 19, 4, 4), torch.randint(0, 19, (2, 4, 4))
    y[0, 0] = 255
    assert torch.isfinite(cs(x, y))
    assert set(NAMES) <= set(n for n in NAMES if losskit.has_loss(n))


def test_seed000_dice_translated() -> None:
    loss = build_loss("DiceLoss", smooth=1.0, mode="binary", from_logits=False)
    assert loss(torch.ones(2, 1, 4, 4), torch.ones(2, 1, 4, 4)) < 0.1
    assert loss(torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)) > 0.9
    assert torch.isfinite(loss(torch.rand(2, 1, 4, 4), torch.randint(0, 2, (2, 4, 4)).float()))
    with pytest.raises(ValueError, match="(?i)incompatible shapes"):
        loss(torch.rand(2, 1, 4, 4), torch.rand(3, 4, 4))


def test_combined_dice_bce_weights(device: torch.device) -> None:
    x, t = torch.randn(2, 1, 5, 5, dtype=D), torch.randint(0, 2, (2, 1, 5, 5)).to(D)
    x, t = x.to(device), t.to(device)
    got = build_loss("combined_dice_bce", dice_weight=0.7, bce_weight=0.7)(x, t)
    ref = 0.7 * build_loss("dice", mode="binary", smooth=1.0)(
        x, t
    ) + 0.7 * torch.nn.functional.binary_cross_entropy_with_logits(x, t)
    torch.testing.assert_close(got, ref)
    with pytest.raises(ValueError):
        build_loss("combined_dice_bce", dice_weight=-1.0)


# ------------------------------------------------------------------------------------------------ parity


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("spatial", [(6, 5), (3, 4, 2)])
def test_monai_parity_region(batch: bool, spatial: tuple[int, ...], device: torch.device) -> None:
    ml = pytest.importorskip("monai.losses")
    x, y = _data(spatial=spatial)
    xd, yd = x.to(device), y.to(device)  # ours on the test device, MONAI's reference on CPU
    y1, w = y.unsqueeze(1), torch.tensor([0.5, 1.0, 2.0], dtype=D)
    kw = dict(softmax=True, to_onehot_y=True, batch=batch)
    pairs = [
        (build_loss("dice", batch=batch, weight=w), ml.DiceLoss(weight=w, **kw)),
        (build_loss("dice", batch=batch, include_background=False), ml.DiceLoss(include_background=False, **kw)),
        (build_loss("jaccard", batch=batch, smooth_nr=0.5e-5, smooth_dr=0.5e-5), ml.DiceLoss(jaccard=True, **kw)),
        (build_loss("tversky", alpha=0.3, beta=0.7, batch=batch), ml.TverskyLoss(alpha=0.3, beta=0.7, **kw)),
        (
            build_loss("focal_tversky", alpha=0.3, beta=0.7, gamma=1.0, batch=batch),
            ml.TverskyLoss(alpha=0.3, beta=0.7, **kw),
        ),
        (build_loss("mcc", mode="multiclass", batch=batch), ml.MCCLoss(**kw)),
        (build_loss("dice_ce", batch=batch), ml.DiceCELoss(**kw)),
    ]
    for wt in ("square", "simple", "uniform"):
        pairs.append((build_loss("generalized_dice", w_type=wt, batch=batch), ml.GeneralizedDiceLoss(w_type=wt, **kw)))
    for ours, theirs in pairs:
        torch.testing.assert_close(ours.to(device)(xd, yd).cpu(), theirs(x, y1), rtol=1e-5, atol=1e-8)
    none = build_loss("dice", batch=batch, reduction="none").to(device)(xd, yd).cpu()
    ref = ml.DiceLoss(reduction="none", **kw)(x, y1)
    torch.testing.assert_close(none, ref.reshape(none.shape), rtol=1e-5, atol=1e-8)


def test_monai_parity_sigmoid_soft_and_focal(device: torch.device) -> None:
    ml = pytest.importorskip("monai.losses")
    x, y = _data(c=3, spatial=(5, 6))
    t = torch.rand(x.shape, dtype=D)
    xd, yd = x.to(device), y.to(device)  # ours on the test device, MONAI's reference on CPU
    torch.testing.assert_close(
        build_loss("dice", mode="multilabel")(xd, t.to(device)).cpu(),
        ml.DiceLoss(sigmoid=True, soft_label=True)(x, t),
        rtol=1e-5,
        atol=1e-8,
    )
    soft = torch.softmax(torch.randn(x.shape, dtype=D), 1)
    torch.testing.assert_close(
        build_loss("dice")(xd, soft.to(device)).cpu(),
        ml.DiceLoss(softmax=True, soft_label=True)(x, soft),
        rtol=1e-5,
        atol=1e-8,
    )
    hard = (t > 0.5).to(D)
    torch.testing.assert_close(
        build_loss("mcc", mode="multilabel")(xd, hard.to(device)).cpu(),
        ml.MCCLoss(sigmoid=True)(x, hard),
        rtol=1e-5,
        atol=1e-8,
    )
    ours = build_loss("dice_focal", gamma=2.0, lambda_focal=1.0 / 3)(xd, yd).cpu()
    y1 = y.unsqueeze(1)
    theirs = ml.DiceLoss(softmax=True, to_onehot_y=True)(x, y1) + ml.FocalLoss(
        use_softmax=True, to_onehot_y=True, gamma=2.0
    )(x, y1)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-8)
    ours = build_loss("dice_focal", mode="multilabel", gamma=2.0)(xd, hard.to(device)).cpu()
    torch.testing.assert_close(ours, ml.DiceFocalLoss(sigmoid=True, gamma=2.0)(x, hard), rtol=1e-5, atol=1e-8)


def test_kornia_parity(device: torch.device) -> None:
    kl = pytest.importorskip("kornia.losses")
    x, y = _all_present(c=4)
    xd, yd = x.to(device), y.to(device)  # ours on the test device, kornia's reference on CPU
    torch.testing.assert_close(
        build_loss("dice", smooth_nr=0, smooth_dr=1e-8)(xd, yd).cpu(),
        kl.dice_loss(x, y, average="macro"),
        rtol=1e-5,
        atol=1e-8,
    )
    gdl = build_loss("generalized_dice", w_type="uniform", smooth_nr=0, smooth_dr=1e-8)
    torch.testing.assert_close(gdl(xd, yd).cpu(), kl.dice_loss(x, y, average="micro"), rtol=1e-5, atol=1e-8)
    tv = build_loss("tversky", alpha=0.3, beta=0.7, smooth_nr=0, smooth_dr=1e-8)
    torch.testing.assert_close(tv(xd, yd).cpu(), kl.tversky_loss(x, y, 0.3, 0.7), rtol=1e-5, atol=1e-8)
    w = torch.tensor([1.0, 0.5, 2.0, 1.5], dtype=D)
    x2, y2 = _data(c=4, seed=3)  # absent classes too: kornia scores all of them
    torch.testing.assert_close(
        build_loss("lovasz", classes="all", weight=w).to(device)(x2.to(device), y2.to(device)).cpu(),
        kl.lovasz_softmax_loss(x2, y2, weight=w),
        rtol=1e-5,
        atol=1e-8,
    )
    xb, yb = torch.randn(3, 1, 6, 5, dtype=D), torch.randint(0, 2, (3, 6, 5))
    torch.testing.assert_close(
        build_loss("lovasz", mode="binary")(xb.to(device), yb.to(device, D)).cpu(),
        kl.lovasz_hinge_loss(xb, yb),
        rtol=1e-5,
        atol=1e-8,
    )


def test_lovasz_matches_reference_loop(device: torch.device) -> None:
    """Against a straightforward per-(image, class) implementation of Berman's algorithm with ignored pixels."""
    x, y = _data(n=2, c=3, spatial=(7,))
    y[0, :2] = 255
    p = torch.softmax(x, 1)
    vals = []
    for b in range(2):
        keep = y[b] != 255
        for c in range(3):
            fg = (y[b][keep] == c).to(D)
            err = (fg - p[b, c][keep]).abs()
            e, perm = err.sort(descending=True)
            f = fg[perm]
            inter = f.sum() - f.cumsum(0)
            union = f.sum() + (1 - f).cumsum(0)
            j = 1 - inter / union
            j[1:] = j[1:] - j[:-1].clone()
            vals.append(((e * j).sum(), bool(fg.sum() > 0)))
    ref = torch.stack([v for v, present in vals if present]).mean()
    torch.testing.assert_close(build_loss("lovasz", ignore_index=255)(x.to(device), y.to(device)).cpu(), ref)


# ------------------------------------------------------------------------------------------------ gradients


def _grad_cases() -> list[tuple[str, dict, str]]:
    cases = []
    for name in ["dice", "jaccard", "tversky", "focal_tversky", "generalized_dice", "mcc", "lovasz", "dice_ce"]:
        for mode in ("multiclass", "binary", "multilabel"):
            cases.append((name, {"mode": mode}, mode))
    cases += [
        ("dice_focal", {"mode": "multiclass"}, "multiclass"),
        ("dice_focal", {"mode": "multilabel"}, "multilabel"),
        ("combined_segmentation", {}, "multiclass"),
        ("combined_dice_bce", {}, "binary"),
        ("mask", {}, "mask"),
    ]
    cases += [("dice", {"mode": "multiclass"}, "soft"), ("dice", {"mode": "multiclass", "from_logits": False}, "probs")]
    return cases


@pytest.mark.parametrize("name,kw,kind", _grad_cases())
def test_gradcheck(name: str, kw: dict, kind: str, device: torch.device) -> None:
    g = torch.Generator().manual_seed(1)
    c = 1 if kind == "binary" else 3
    x = torch.randn(2, c, 3, 2, generator=g, dtype=D)
    if kind == "multiclass":
        t = torch.randint(0, 3, (2, 3, 2), generator=g)
        t[0, 0, 0] = 255
        kw = {**kw, "ignore_index": 255}
    elif kind == "soft":
        t = torch.softmax(torch.randn(x.shape, generator=g, dtype=D), 1)
    elif kind == "probs":
        t = torch.randint(0, 3, (2, 3, 2), generator=g)
    else:
        t = torch.randint(0, 2, x.shape, generator=g).to(D)
    if kind == "mask":
        x, t = x[:, 0], t[:, 0]
    x, t = x.to(device), t.to(device)
    loss = build_loss(name, **kw).to(device)
    f = (lambda z: loss(torch.softmax(z, 1), t)) if kind == "probs" else (lambda z: loss(z, t))
    assert torch.autograd.gradcheck(f, (x.requires_grad_(),))


# ------------------------------------------------------------------------------------------------ properties


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(["dice", "jaccard", "tversky", "focal_tversky", "generalized_dice"]),
    seed=st.integers(0, 10_000),
    batch=st.booleans(),
)
def test_minimum_at_soft_target(name: str, seed: int, batch: bool, device: torch.device) -> None:
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(2, 3, 4, 3, generator=g, dtype=D) * 3).to(device)
    soft = torch.softmax(z, 1)
    loss = build_loss(name, batch=batch)
    assert float(loss(z, soft)) < 1e-9
    zs = z.clone().requires_grad_()
    loss(zs, soft).backward()
    assert float(zs.grad.abs().max()) < 1e-6
    assert (
        float(build_loss(name, batch=batch)(z + 0.5 * torch.randn(z.shape, generator=g, dtype=D).to(device), soft)) > 0
    )


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(REGION + ["generalized_dice", "dice_ce"]), seed=st.integers(0, 10_000))
def test_class_permutation_invariance(name: str, seed: int, device: torch.device) -> None:
    x, y = _data(seed=seed)
    x, y = x.to(device), y.to(device)
    perm = torch.randperm(3, generator=torch.Generator().manual_seed(seed)).to(device)
    inv = torch.argsort(perm)
    loss = build_loss(name, mode="multiclass")
    torch.testing.assert_close(loss(x[:, perm], inv[y]), loss(x, y))


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(REGION + ["generalized_dice", "dice_ce", "dice_focal", "combined_segmentation"]),
    seed=st.integers(0, 10_000),
    batch=st.booleans(),
)
def test_ignored_pixels_change_nothing(name: str, seed: int, batch: bool, device: torch.device) -> None:
    x, y = _data(spatial=(8,), seed=seed)
    x, y = x.to(device), y.to(device)
    y[:, :3] = 255
    kw = {} if name == "combined_segmentation" else {"mode": "multiclass", "batch": batch}
    if name in ("dice_focal", "dice_ce"):
        kw.pop("batch")
    loss = build_loss(name, ignore_index=255, **kw)
    x2 = x.clone()
    x2[:, :, :3] = torch.randn(2, 3, 3, dtype=D).to(device) * 10
    a, b = x.clone().requires_grad_(), x2.clone().requires_grad_()
    la, lb = loss(a, y), loss(b, y)
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb)
    torch.testing.assert_close(a.grad, b.grad)
    assert float(a.grad[:, :, :3].abs().max()) == 0.0


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(REGION + ["generalized_dice"]),
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["multiclass", "binary"]),
)
def test_per_sample_is_mean_of_single_sample(name: str, seed: int, mode: str, device: torch.device) -> None:
    x, y = _data(n=3, c=1 if mode == "binary" else 3, seed=seed)
    x, y = x.to(device), y.to(device)
    t = y.to(D).unsqueeze(1).clamp(max=1) if mode == "binary" else y
    loss = build_loss(name, mode=mode)
    single = torch.stack([loss(x[i : i + 1], t[i : i + 1]) for i in range(3)])
    if name == "lovasz":
        present = (loss.__class__(mode=mode, reduction="none")(x, t) != 0).sum(1)
        ref = (single * present).sum() / present.sum().clamp_min(1) if mode == "multiclass" else single.mean()
        torch.testing.assert_close(loss(x, t), ref)
    else:
        torch.testing.assert_close(loss(x, t), single.mean())


@pytest.mark.parametrize("name", REGION + ["generalized_dice"])
@pytest.mark.parametrize("batch", [False, True])
def test_sum_is_none_sum_and_shapes(name: str, batch: bool, device: torch.device) -> None:
    x, y = _data()
    x, y = x.to(device), y.to(device)
    none = build_loss(name, batch=batch, reduction="none", mode="multiclass")(x, y)
    expected = ((2,) if not batch else (1,)) if name == "generalized_dice" else ((2, 3) if not batch else (3,))
    assert tuple(none.shape) == expected
    torch.testing.assert_close(build_loss(name, batch=batch, reduction="sum", mode="multiclass")(x, y), none.sum())


# ------------------------------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("name", NAMES)
def test_all_ignored_and_empty(name: str, device: torch.device) -> None:
    x = torch.randn(2, 3, 4, 4, requires_grad=True, device=device)
    if name == "mask":
        out = build_loss(name)(
            torch.randn(0, 4, 4, requires_grad=True, device=device), torch.zeros(0, 4, 4, device=device)
        )
        assert float(out.detach()) == 0.0
        return
    if name in ("mcc", "combined_dice_bce"):
        xb = torch.randn(2, 1, 4, 4, requires_grad=True, device=device)
        out = build_loss(name, mode="binary", ignore_index=255)(xb, torch.full((2, 1, 4, 4), 255.0, device=device))
        out.backward()
        assert torch.isfinite(out) and float(xb.grad.abs().max()) == 0.0
        return
    y = torch.full((2, 4, 4), 255, device=device)
    out = build_loss(name, ignore_index=255)(x, y)
    out.backward()
    assert torch.isfinite(out) and float(x.grad.abs().max()) == 0.0


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky", "focal_tversky", "generalized_dice", "mcc", "lovasz"])
def test_empty_masks_policy(name: str, device: torch.device) -> None:
    # Saturated logits: a confident, correct "all background" prediction on empty foreground masks.
    x = torch.full((2, 1, 6, 6), -60.0, requires_grad=True, device=device)
    value = build_loss(name, mode="binary")(x, torch.zeros(2, 1, 6, 6, device=device))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    if name == "mcc":
        # MONAI's rule, kept for parity: MCC is 0/0 on an empty target; only an exactly empty prediction scores 0.
        assert float(value) == pytest.approx(1.0)
        exact = build_loss(name, mode="binary", from_logits=False)(
            torch.zeros(2, 1, 6, 6, device=device), torch.zeros(2, 1, 6, 6, device=device)
        )
        assert float(exact) == 0.0
    else:
        assert float(value) < 1e-6
    if name not in ("mcc", "lovasz"):
        # Without smoothing, exactly empty prediction and target still score 0 (no 0/0).
        exact = build_loss(name, mode="binary", from_logits=False, smooth=0.0)(
            torch.zeros(2, 1, 6, 6, device=device), torch.zeros(2, 1, 6, 6, device=device)
        )
        assert float(exact) == 0.0
    # multiclass with an absent class, prediction confidently right
    y = torch.zeros(2, 6, 6, dtype=torch.long, device=device)
    xm = torch.zeros(2, 3, 6, 6, device=device)
    xm[:, 0] = 60.0
    expected = 2 / 3 if name == "mcc" else 0.0  # MCC: the two absent classes score 1 each (see above)
    assert float(build_loss(name, mode="multiclass")(xm, y)) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["dice", "generalized_dice", "tversky", "lovasz", "dice_ce", "mcc"])
def test_half_precision_large_map(name: str, dtype: torch.dtype, device: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 512, 512, generator=g) * 8
    y = torch.randint(0, 3, (1, 512, 512), generator=g)
    y[0, :8] = 255
    x, y = x.to(device), y.to(device)
    loss = build_loss(name, mode="multiclass", ignore_index=255)
    ref = loss(x, y)
    xh = x.to(dtype).requires_grad_()
    out = loss(xh, y)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(xh.grad.float()).all()
    assert abs(float(out) - float(ref)) < 2e-2


@pytest.mark.parametrize("spatial", [(9,), (3, 4, 5)])
@pytest.mark.parametrize(
    "name", ["dice", "jaccard", "tversky", "generalized_dice", "mcc", "lovasz", "dice_ce", "dice_focal"]
)
def test_1d_and_3d(name: str, spatial: tuple[int, ...], device: torch.device) -> None:
    x, y = _data(spatial=spatial)
    x, y = x.to(device), y.to(device)
    y.view(-1)[0] = 255
    out = build_loss(name, mode="multiclass", ignore_index=255)(x.requires_grad_(), y)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()


def test_weight_buffer_and_include_background(device: torch.device) -> None:
    w = torch.tensor([0.0, 1.0, 3.0])
    loss = build_loss("dice", weight=w, reduction="none").to(device)
    assert "weight" in dict(loss.named_buffers())
    x, y = _data()
    x, y = x.to(device), y.to(device)
    none = loss(x.float(), y)
    assert float(none[:, 0].abs().max()) == 0.0
    nb = build_loss("dice", include_background=False, reduction="none")(x, y)
    assert nb.shape == (2, 2)


def test_tversky_alpha_weighs_false_positives(device: torch.device) -> None:
    # Prediction covers everything, target half: only false positives.
    p = torch.ones(1, 1, 4, 4, device=device)
    t = torch.zeros(1, 1, 4, 4, device=device)

    t[..., :2, :] = 1
    hi = build_loss("tversky", mode="binary", from_logits=False, alpha=0.9, beta=0.1)(p, t)
    lo = build_loss("tversky", mode="binary", from_logits=False, alpha=0.1, beta=0.9)(p, t)
    assert float(hi) > float(lo)


def test_focal_tversky_exponent_per_class(device: torch.device) -> None:
    x, y = _data()
    x, y = x.to(device), y.to(device)
    ft = build_loss("focal_tversky", gamma=2.0, reduction="none")(x, y)
    tv = build_loss("tversky", alpha=0.3, beta=0.7, reduction="none")(x, y)
    torch.testing.assert_close(ft, tv**2)


# ------------------------------------------------------------------------------------------------ errors


def test_input_errors() -> None:
    x = torch.randn(2, 3, 4, 4)
    dice = build_loss("dice", num_classes=3)
    with pytest.raises(LossInputError, match="dice"):
        dice(x, torch.randint(0, 3, (2, 5, 4)))  # shape mismatch
    with pytest.raises(LossInputError, match="integer"):
        dice(x, torch.rand(2, 4, 4))  # float labels for multiclass
    with pytest.raises(LossInputError, match="out of range"):
        dice(x, torch.full((2, 4, 4), 3))
    with pytest.raises(LossInputError, match="out of range"):
        dice(x, torch.full((2, 4, 4), 255))  # 255 without ignore_index
    with pytest.raises(LossInputError, match="num_classes"):
        dice(torch.randn(2, 4, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(LossInputError, match="C >= 2"):
        build_loss("dice")(torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(LossInputError, match="floating point"):
        dice(x.long(), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(LossInputError, match=r"\[0, 1\]"):
        build_loss("dice", mode="multilabel")(x, torch.full(x.shape, 2.0))
    with pytest.raises(LossInputError, match="mask"):
        build_loss("mask")(torch.randn(2, 4, 4), torch.rand(3, 4, 4))
    with losskit.label_checks(False):
        build_loss("dice", mode="multilabel")(x, torch.full(x.shape, 2.0))  # switched off: no sync, no error
    with pytest.raises(ValueError, match="mode"):
        build_loss("dice", mode="softmax")
    with pytest.raises(ValueError):
        build_loss("dice_ce", reduction="none")


# ----------------------------------------------------------------------------------------------- fused label statistics


def _reference_stats(x: torch.Tensor, y: torch.Tensor, c: int, ignore: int | None, softmax: bool = True) -> tuple:
    """Plain autograd (I, P, T) through a float one-hot, as MONAI computes them."""
    keep = torch.ones_like(y, dtype=torch.bool) if ignore is None else y != ignore
    yy = torch.where(keep, y, torch.zeros_like(y))
    h = torch.nn.functional.one_hot(yy, c).movedim(-1, 1).to(x.dtype) * keep.unsqueeze(1)
    p = torch.softmax(x, 1) if softmax else x
    m = keep.unsqueeze(1).to(x.dtype)
    dims = tuple(range(2, x.dim()))
    return (p * h).sum(dims), (p * m).sum(dims), h.sum(dims)


@pytest.mark.parametrize("c", [3, 21, 70])  # 70 > 64 takes the per-row path instead of the (N, C, C) product
@pytest.mark.parametrize("ignore", [None, 255])
@pytest.mark.parametrize("from_logits", [True, False])
def test_label_stats_match_autograd_reference_float32(
    c: int, ignore: int | None, from_logits: bool, device: torch.device
) -> None:
    from losskit.functional.region import region_stats

    g = torch.Generator().manual_seed(c)
    x = torch.randn(2, c, 40, 37, generator=g) * 3
    if not from_logits:
        x = torch.softmax(x, 1)
    y = torch.randint(0, c, (2, 40, 37), generator=g)
    y[:, :, 30:] = c - 1 if c > 3 else 0
    if ignore is not None:
        y[0, :5] = ignore
    x, y = x.to(device), y.to(device)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    s = region_stats(a, y, from_logits=from_logits, ignore_index=ignore)
    ref = _reference_stats(b, y, c, ignore, softmax=from_logits)
    for got, exp in zip(s[:3], ref, strict=True):
        torch.testing.assert_close(got, exp, rtol=1e-5, atol=1e-3)
    assert torch.equal(s.true, ref[2]) and torch.equal(s.count.squeeze(1), ref[2].sum(1))  # exact counts
    w = torch.randn(2, 2, c, generator=g).to(device)
    (s.inter * w[0] + s.pred * w[1]).sum().backward()
    (ref[0] * w[0] + ref[1] * w[1]).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6)
    if ignore is not None:
        assert float(a.grad[0, :, :5].abs().max()) == 0.0


def test_label_stats_retain_graph_and_empty_class_counts(device: torch.device) -> None:
    x, y = _data(c=4, spatial=(9, 8))
    y[y == 2] = 1  # class 2 absent: its count must be exactly 0 (generalized Dice weights read it)
    x, y = x.to(device), y.to(device)
    z = x.clone().requires_grad_()
    out = build_loss("generalized_dice")(z, y)
    (g1,) = torch.autograd.grad(out, z, retain_graph=True)
    (g2,) = torch.autograd.grad(out, z)  # backward again: the consumed one-hot buffer is rebuilt
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
    from losskit.functional.region import region_stats

    s = region_stats(x.float(), y)
    assert float(s.true[:, 2].abs().max()) == 0.0


@pytest.mark.parametrize(
    "kw",
    [
        dict(classes="all"),
        dict(ignore_index=255),
        dict(batch=True, ignore_index=255, reduction="none"),
        dict(from_logits=False),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lovasz_radix_rows_match_batched_path(kw: dict, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows >= 32768 voxels take the per-row radix-sort path; it must agree with the batched path and kornia."""
    import losskit.functional.lovasz as lov

    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 128, 260, generator=g, dtype=dtype) * 2
    y = torch.randint(0, 4, (2, 128, 260), generator=g)
    y[1][y[1] == 2] = 3  # an absent class
    if "ignore_index" in kw:
        y[0, :9] = 255
    if kw.get("from_logits") is False:
        x = torch.softmax(x, 1)
    w = None

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        z = x.clone().requires_grad_()
        out = lov.lovasz_loss(z, y, **kw)
        nonlocal w
        w = torch.rand(out.shape, generator=torch.Generator().manual_seed(1), dtype=dtype) if w is None else w
        (out * w).sum().backward()
        return out.detach(), z.grad

    threads = torch.get_num_threads()
    a, ga = run()
    assert torch.get_num_threads() == threads
    monkeypatch.setattr(lov, "_RADIX_MIN_ROW", 1 << 62)
    b, gb = run()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(a, b, **tol)
    # float32: the Lovász gradient is a difference of neighbouring Jaccard values (cancellation), so both paths
    # are off the float64 gradient by ~1e-3 of its largest entry (measured: 3.6e-9 radix, 4.3e-9 batched, of
    # 3.6e-6); they are compared at that scale, float64 entrywise.
    scale = float(gb.abs().max())
    torch.testing.assert_close(
        ga, gb, rtol=1e-4 if dtype == torch.float32 else 1e-9, atol=scale * (5e-3 if dtype == torch.float32 else 1e-10)
    )
    if "ignore_index" in kw:
        assert float(ga[0, :, :9].abs().max()) == 0.0
    if kw == dict(classes="all") and dtype == torch.float64:
        kl = pytest.importorskip("kornia.losses")
        torch.testing.assert_close(a, kl.lovasz_softmax_loss(x, y), rtol=1e-10, atol=1e-14)


def test_lovasz_radix_rows_retain_graph() -> None:
    x = torch.randn(1, 3, 200, 200, dtype=D)
    y = torch.randint(0, 3, (1, 200, 200))
    z = x.requires_grad_()
    out = build_loss("lovasz")(z, y)
    (g1,) = torch.autograd.grad(out, z, retain_graph=True)
    (g2,) = torch.autograd.grad(out, z)  # the consumed gradient buffer is recomputed
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)


@pytest.mark.parametrize("from_logits", [True, False])
def test_gradcheck_many_classes_scatter_path(from_logits: bool, device: torch.device) -> None:
    """C > 8 takes the scatter-add statistics path: gradcheck it with ignored voxels, for each region loss."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 10, 3, 3, generator=g, dtype=D)
    y = torch.randint(0, 10, (2, 3, 3), generator=g)
    y[0, 0, :2] = 255
    x, y = x.to(device), y.to(device)
    for name in ["dice", "generalized_dice", "tversky", "mcc"]:
        loss = build_loss(name, mode="multiclass", ignore_index=255, from_logits=from_logits)
        f = (lambda z: loss(z, y)) if from_logits else (lambda z: loss(torch.softmax(z, 1), y))
        assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),))


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("dice", {}),
        ("focal_tversky", {"ignore_index": 255}),
        ("generalized_dice", {"from_logits": False}),
        ("dice_ce", {"ignore_index": 255}),
        ("lovasz", {}),
        ("lovasz", {"ignore_index": 255, "batch": True}),
    ],
)
def test_compiled_kernels_with_many_classes_match_eager(name: str, kw: dict) -> None:
    """12 classes: the scatter statistics (and the NumPy Lovász rows) run as opaque custom ops under
    torch.compile, with the eager value and gradient (ignored voxels included)."""
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(2, 12, 48, 40, generator=g)
    if kw.get("from_logits") is False:
        x0 = x0.softmax(1)
    y = torch.randint(0, 12, (2, 48, 40), generator=g)
    y[:, :5] = 255 if "ignore_index" in kw else y[:, :5]
    loss = build_loss({"name": name, **kw})
    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    xe, xc = x0.clone().requires_grad_(), x0.clone().requires_grad_()
    expected, got = loss(xe, y), compiled(xc, y)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    expected.backward()
    got.backward()
    torch.testing.assert_close(xc.grad, xe.grad, rtol=1e-4, atol=1e-7)
