"""Detection losses: box IoU family, centerness, varifocal, quality focal, FCOS."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit
from losskit import LossInputError, build_loss
from losskit.functional import boxes as FB
from losskit.functional import dense_detection as FD
from losskit.testing import check_loss
from losskit.zoo.detection import fcos_example

BOX_NAMES = ("box_iou", "giou", "diou", "ciou")
ALL_NAMES = (*BOX_NAMES, "centerness", "varifocal", "quality_focal", "fcos")


# ------------------------------------------------------------------ references (torchvision's formulas)
def _ref_terms(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> tuple[torch.Tensor, ...]:
    """IoU, enclosing area, union, centre distance^2, diagonal^2 as torchvision.ops._box_iou_loss computes them
    (Rezatofighi 2019; Zheng 2020), for boxes with x1 < x2, y1 < y2."""
    x1, y1, x2, y2 = a.unbind(-1)
    x1g, y1g, x2g, y2g = b.unbind(-1)
    xkis1, ykis1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xkis2, ykis2 = torch.min(x2, x2g), torch.min(y2, y2g)
    inter = (xkis2 - xkis1).clamp(min=0) * (ykis2 - ykis1).clamp(min=0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    diag2 = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
    cdist2 = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
    return iou, area_c, union, cdist2, diag2


def ref_iou_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 1 - _ref_terms(a, b)[0]


def ref_giou_loss(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    iou, area_c, union, _, _ = _ref_terms(a, b, eps)
    return 1 - (iou - (area_c - union) / (area_c + eps))


def ref_diou_loss(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    iou, _, _, cdist2, diag2 = _ref_terms(a, b, eps)
    return 1 - iou + cdist2 / diag2


def ref_ciou_loss(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    iou = _ref_terms(a, b, eps)[0]
    w, h = a[..., 2] - a[..., 0], a[..., 3] - a[..., 1]
    wg, hg = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    v = (4 / math.pi**2) * (torch.atan(wg / hg) - torch.atan(w / h)) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return ref_diou_loss(a, b, eps) + alpha * v


REFS = {"box_iou": ref_iou_loss, "giou": ref_giou_loss, "diou": ref_diou_loss, "ciou": ref_ciou_loss}
FNS = {
    "box_iou": FB.box_iou_loss,
    "giou": FB.generalized_box_iou_loss,
    "diou": FB.distance_box_iou_loss,
    "ciou": FB.complete_box_iou_loss,
}


def random_boxes(n: int, g: torch.Generator, dtype: torch.dtype = torch.float64, min_size: float = 1.0) -> torch.Tensor:
    corner = torch.rand(n, 2, generator=g, dtype=dtype) * 20
    size = torch.rand(n, 2, generator=g, dtype=dtype) * 10 + min_size
    return torch.cat([corner, corner + size], dim=-1)


# ------------------------------------------------------------------ box losses
@pytest.mark.parametrize("name", ALL_NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name)


@pytest.mark.parametrize("name", BOX_NAMES)
def test_box_parity_with_torchvision_formulas(name: str, device: torch.device) -> None:
    g = torch.Generator().manual_seed(1)
    a, b = random_boxes(64, g), random_boxes(64, g)
    b[:8] = a[:8] + torch.rand(8, 4, generator=g, dtype=torch.float64)  # overlapping pairs too
    a, b = a.to(device), b.to(device)
    loss = build_loss(name, reduction="none")
    torch.testing.assert_close(loss(a, b), REFS[name](a, b), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(build_loss(name)(a, b), REFS[name](a, b).mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(build_loss(name, reduction="sum")(a, b), REFS[name](a, b).sum(), rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0, 50, allow_nan=False), min_size=8, max_size=8),
    st.sampled_from(BOX_NAMES),
)
def test_box_parity_property(device: torch.device, coords: list[float], name: str) -> None:
    t = torch.tensor(coords, dtype=torch.float64, device=device).view(2, 4)
    lo, size = t[:, :2], t[:, 2:] / 5 + 0.5  # boxes at least 0.5 wide: the padding is negligible
    boxes = torch.cat([lo, lo + size], dim=-1)
    a, b = boxes[:1], boxes[1:]
    torch.testing.assert_close(FNS[name](a, b, reduction="none"), REFS[name](a, b), rtol=1e-5, atol=1e-6)
    # symmetric in the two boxes (IoU, enclosing box, centre distance, |v| are)
    torch.testing.assert_close(
        FNS[name](a, b, reduction="none"), FNS[name](b, a, reduction="none"), rtol=1e-9, atol=1e-9
    )


def test_giou_parity_with_monai(device: torch.device) -> None:
    monai_losses = pytest.importorskip("monai.losses")
    g = torch.Generator().manual_seed(2)
    a, b = random_boxes(50, g, torch.float32), random_boxes(50, g, torch.float32)
    b[:10] = a[:10] + torch.rand(10, 4, generator=g)
    for reduction in ("mean", "sum", "none"):
        # MONAI's box_pair_giou(target, input); it computes in float32 without padding.
        expected = monai_losses.BoxGIoULoss(reduction=reduction)(a, b)
        ours = build_loss("GIoULoss", reduction=reduction)(a.to(device), b.to(device)).cpu()  # MONAI's on CPU
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", BOX_NAMES)
def test_box_gradients(name: str, device: torch.device) -> None:
    g = torch.Generator().manual_seed(3)
    b = random_boxes(6, g)
    a = (b + torch.randn(6, 4, generator=g, dtype=torch.float64)).to(device).requires_grad_(True)
    w = torch.rand(6, generator=g, dtype=torch.float64).to(device)
    b = b.to(device)
    # the autograd gradient equals that of torchvision's formula (CIoU's trade-off a held constant in both)
    ours = torch.autograd.grad(FNS[name](a, b, weight=w, reduction="sum"), a)[0]
    ref = torch.autograd.grad((REFS[name](a, b) * w).sum(), a)[0]
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)
    if name == "ciou":
        return  # a = v / (1 - IoU + v) gets no gradient by design: finite differences disagree on purpose
    assert torch.autograd.gradcheck(lambda x: FNS[name](x, b), (a,))
    assert torch.autograd.gradcheck(lambda x: FNS[name](x, b, weight=w, reduction="sum"), (a,))
    bt = b.clone().requires_grad_(True)  # a differentiable target (box distillation)
    assert torch.autograd.gradcheck(lambda y: FNS[name](a.detach(), y), (bt,))


@pytest.mark.parametrize("name", BOX_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_degenerate_boxes_are_finite_with_documented_values(
    name: str, dtype: torch.dtype, device: torch.device
) -> None:
    fn = FNS[name]
    zero = torch.zeros(1, 4, dtype=dtype, requires_grad=True, device=device)
    out = fn(zero, zero.detach(), reduction="none")
    out.sum().backward()
    assert out.item() == 0.0  # torchvision's GIoU gives 1 (vision#7746)
    assert torch.isfinite(zero.grad).all()
    # a far-away zero box, at coordinates where float32 would round an eps added to coordinates away
    far = torch.full((1, 4), 1.0e4, dtype=dtype, device=device)
    assert fn(far, far).item() == 0.0
    # zero-height and zero-width predictions against a real box: CIoU's atan(w / h) stays finite
    flat = torch.tensor(
        [[0.0, 1.0, 4.0, 1.0], [2.0, 0.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]],
        dtype=dtype,
        requires_grad=True,
        device=device,
    )
    target = torch.tensor([[0.0, 0.0, 4.0, 2.0]] * 3, dtype=dtype, device=device)
    out = fn(flat, target, reduction="none")
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(flat.grad).all()
    assert ((out >= 0.99) & (out <= 2.0)).all()  # zero intersection area: IoU ~ 0


@pytest.mark.parametrize("name", BOX_NAMES)
def test_inverted_boxes_are_clamped(name: str, device: torch.device) -> None:
    inverted = torch.tensor([[5.0, 5.0, 3.0, 2.0]], dtype=torch.float64, requires_grad=True, device=device)
    clamped = torch.tensor([[5.0, 5.0, 5.0, 5.0]], dtype=torch.float64, device=device)
    target = torch.tensor([[0.0, 0.0, 6.0, 6.0]], dtype=torch.float64, device=device)
    out = FNS[name](inverted, target)
    torch.testing.assert_close(out, FNS[name](clamped, target))
    out.backward()
    assert torch.isfinite(inverted.grad).all()


def test_box_geometry_cases(device: torch.device) -> None:
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64, device=device)
    disjoint = torch.tensor([[4.0, 0.0, 6.0, 2.0]], dtype=torch.float64, device=device)
    nested = torch.tensor([[0.5, 0.5, 1.5, 1.5]], dtype=torch.float64, device=device)
    for name, fn in FNS.items():
        assert fn(a, a).item() == pytest.approx(0.0, abs=1e-12), name
    assert FB.box_iou_loss(a, disjoint).item() == pytest.approx(1.0, abs=1e-9)
    # GIoU: enclosing 12, union 8 -> 1 - 0 + 4 / 12
    assert FB.generalized_box_iou_loss(a, disjoint).item() == pytest.approx(1 + 4 / 12, abs=1e-6)
    # DIoU: centres 4 apart, enclosing diagonal^2 = 36 + 4
    assert FB.distance_box_iou_loss(a, disjoint).item() == pytest.approx(1 + 16 / 40, abs=1e-6)
    # nested: the enclosing box is the union, so GIoU = IoU = 1/4 and DIoU adds nothing (same centre)
    for fn in (FB.box_iou_loss, FB.generalized_box_iou_loss, FB.distance_box_iou_loss, FB.complete_box_iou_loss):
        assert fn(a, nested).item() == pytest.approx(0.75, abs=1e-6)
    # CIoU's aspect term: same centre, same IoU, different aspect ratio than DIoU
    wide = torch.tensor([[-1.0, 0.5, 3.0, 1.5]], dtype=torch.float64, device=device)
    assert FB.complete_box_iou_loss(a, wide).item() > FB.distance_box_iou_loss(a, wide).item()


def test_box_reductions_weights_and_layouts(device: torch.device) -> None:
    g = torch.Generator().manual_seed(4)
    a, b = random_boxes(6, g).view(2, 3, 4).to(device), random_boxes(6, g).view(2, 3, 4).to(device)
    loss = build_loss("giou", reduction="none")
    per_box = loss(a, b)
    assert per_box.shape == (2, 3)
    w = torch.rand(2, 3, generator=g, dtype=torch.float64).to(device)
    torch.testing.assert_close(build_loss("giou")(a, b, w), (per_box * w).sum() / w.sum())
    torch.testing.assert_close(build_loss("giou")(a, b, weights=w), (per_box * w).sum() / w.sum())
    torch.testing.assert_close(build_loss("giou", reduction="sum")(a, b, w), (per_box * w).sum())
    torch.testing.assert_close(loss(a, b, w), per_box * w)
    x = a.clone().requires_grad_(True)
    zero = build_loss("giou")(x, b, torch.zeros(2, 3, dtype=torch.float64, device=device))
    zero.backward()
    assert zero.item() == 0.0 and (x.grad == 0).all()
    empty = build_loss("ciou")(torch.zeros(0, 4, device=device), torch.zeros(0, 4, device=device))
    assert empty.item() == 0.0


def test_box_half_precision_is_computed_in_float32(device: torch.device) -> None:
    g = torch.Generator().manual_seed(5)
    a, b = random_boxes(16, g, torch.float32) * 100, random_boxes(16, g, torch.float32) * 100
    a, b = a.to(device), b.to(device)
    for name, fn in FNS.items():
        out = fn(a.half(), b.half(), reduction="none")
        assert out.dtype == torch.float32, name
        torch.testing.assert_close(out, fn(a.half().float(), b.half().float(), reduction="none"))


def test_box_input_errors() -> None:
    loss = build_loss("giou")
    with pytest.raises(LossInputError, match="last dimension 4"):
        loss(torch.rand(3, 5), torch.rand(3, 5))
    with pytest.raises(LossInputError, match="same shape"):
        loss(torch.rand(3, 4), torch.rand(2, 4))
    with pytest.raises(LossInputError, match="floating point"):
        loss(torch.zeros(3, 4, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(LossInputError, match="per-box weight"):
        loss(torch.rand(3, 4), torch.rand(3, 4), torch.rand(4))
    with pytest.raises(ValueError, match="eps"):
        build_loss("diou", eps=0.0)
    assert not losskit.has_loss("iou") or losskit.LOSSES.get("iou") is not losskit.LOSSES.get("box_iou")


# ------------------------------------------------------------------ centerness
def test_centerness_targets_and_loss(device: torch.device) -> None:
    ltrb = torch.tensor(
        [[1.0, 2.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 3.0, 4.0], [-1.0, 2.0, 3.0, 2.0]], device=device
    )
    expected = torch.tensor([1.0, 0.0, math.sqrt(1 / 3 * 1 / 4), 0.0], device=device)
    torch.testing.assert_close(FD.centerness_targets(ltrb), expected)
    dense = FD.centerness_targets(ltrb.T.reshape(1, 4, 2, 2), dim=1)
    torch.testing.assert_close(dense, expected.view(1, 2, 2))
    logits = torch.randn(4, dtype=torch.float64).to(device)
    loss = build_loss("CenternessLoss")
    ref = F.binary_cross_entropy_with_logits(logits, expected.double())
    torch.testing.assert_close(loss(logits, expected.double()), ref)
    torch.testing.assert_close(loss(logits, ltrb.double()), ref)  # (*, 4) targets are converted
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64, device=device)
    per = F.binary_cross_entropy_with_logits(logits, expected.double(), reduction="none")
    torch.testing.assert_close(loss(logits, expected.double(), mask), (per * mask).sum() / 2)
    assert build_loss("centerness", reduction="none")(logits, expected.double()).shape == (4,)
    x = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: loss(v, expected.double(), mask), (x,))
    with pytest.raises(LossInputError):
        loss(logits, torch.rand(5, device=device))


# ------------------------------------------------------------------ varifocal / quality focal
def ref_varifocal(x: torch.Tensor, q: torch.Tensor, alpha: float = 0.75, gamma: float = 2.0) -> torch.Tensor:
    p = torch.sigmoid(x)
    pos = -q * (q * torch.log(p) + (1 - q) * torch.log(1 - p))
    neg = -alpha * p**gamma * torch.log(1 - p)
    return torch.where(q > 0, pos, neg)


def ref_qfl(x: torch.Tensor, y: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    s = torch.sigmoid(x)
    return -((y - s).abs() ** beta) * ((1 - y) * torch.log(1 - s) + y * torch.log(s))


def _quality_pair(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 2, -1, 1, 3, 2])  # -1 and 3 (= C, mmdet's background) are background
    scores = torch.rand(6, generator=g, dtype=torch.float64)
    dense = torch.zeros(6, 3, dtype=torch.float64)
    for i, (c, s) in enumerate(zip(labels.tolist(), scores.tolist(), strict=True)):
        if 0 <= c < 3:
            dense[i, c] = s
    return x, labels, scores, dense


def test_varifocal_matches_paper_formula(device: torch.device) -> None:
    x, _, _, q = (t.to(device) for t in _quality_pair(torch.Generator().manual_seed(7)))
    loss = build_loss("varifocal", reduction="none")
    torch.testing.assert_close(loss(x, q), ref_varifocal(x, q))
    torch.testing.assert_close(build_loss("VarifocalLoss")(x, q), ref_varifocal(x, q).mean())
    torch.testing.assert_close(build_loss("vfl", reduction="mean")(x, q, avg_factor=4), ref_varifocal(x, q).sum() / 4)
    unweighted = build_loss("varifocal", iou_weighted=False, reduction="none")(x, q)
    torch.testing.assert_close(
        unweighted, torch.where(q > 0, ref_varifocal(x, q) / q.clamp_min(1e-12), ref_varifocal(x, q))
    )
    v = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: build_loss("varifocal", gamma=0.5)(t, q), (v,))


def test_quality_focal_matches_paper_formula_in_both_target_forms(device: torch.device) -> None:
    x, labels, scores, dense = (t.to(device) for t in _quality_pair(torch.Generator().manual_seed(8)))
    loss = build_loss("quality_focal", reduction="none")
    torch.testing.assert_close(loss(x, dense), ref_qfl(x, dense))
    torch.testing.assert_close(loss(x, (labels, scores)), ref_qfl(x, dense))
    torch.testing.assert_close(build_loss("QualityFocalLoss", beta=1.5)(x, dense), ref_qfl(x, dense, 1.5).mean())
    v = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: build_loss("qfl")(t, (labels, scores)), (v,))
    with pytest.raises(LossInputError):
        loss(x, (labels[:3], scores[:3]))
    with pytest.raises(LossInputError):
        loss(x, dense[:, :2])


@pytest.mark.parametrize("name", ["varifocal", "quality_focal"])
def test_quality_losses_saturated_and_small_exponent_finite(name: str, device: torch.device) -> None:
    x = torch.tensor([[-200.0, 200.0, 0.0], [60.0, -60.0, 3.0]], requires_grad=True, device=device)
    q = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.5, 1.0 / (1.0 + math.exp(-3.0))]], device=device)
    option = {"gamma": 0.5} if name == "varifocal" else {"beta": 0.5}
    out = build_loss(name, **option)(x, q)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()


# ------------------------------------------------------------------ FCOS
def ref_fcos(cls_l, box_l, ctr_l, lab_l, reg_l, alpha=0.25, gamma=2.0, weights=(1.0, 1.0, 1.0)):  # type: ignore[no-untyped-def]
    """Straightforward FCOS with boolean indexing (host syncs are fine in a reference)."""
    c = cls_l[0].shape[1]
    logits = torch.cat([t.permute(0, 2, 3, 1).reshape(-1, c) for t in cls_l])
    boxes = torch.cat([t.permute(0, 2, 3, 1).reshape(-1, 4) for t in box_l])
    ctr = torch.cat([t.reshape(-1) for t in ctr_l])
    labels = torch.cat([t.reshape(-1) for t in lab_l])
    reg = torch.cat([t.permute(0, 2, 3, 1).reshape(-1, 4) for t in reg_l])
    onehot = torch.zeros_like(logits)
    pos = labels >= 0
    onehot[pos, labels[pos]] = 1.0
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    p_t = p * onehot + (1 - p) * (1 - onehot)
    focal = ce * (1 - p_t) ** gamma * (alpha * onehot + (1 - alpha) * (1 - onehot))
    n = max(int(pos.sum()), 1)
    cls = focal.sum() / n
    if pos.any():
        lt, rb = reg[pos], boxes[pos]
        left, t, r, b = lt.unbind(-1)
        ctr_t = torch.sqrt(torch.min(left, r) / torch.max(left, r) * torch.min(t, b) / torch.max(t, b))
        sign = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=logits.dtype, device=logits.device)
        giou = ref_giou_loss(rb * sign, lt * sign)
        reg_term = (giou * ctr_t).sum() / ctr_t.sum()
        ctr_term = F.binary_cross_entropy_with_logits(ctr[pos], ctr_t, reduction="sum") / n
    else:
        reg_term = ctr_term = logits.sum() * 0
    total = weights[0] * cls + weights[1] * reg_term + weights[2] * ctr_term
    return total, cls, reg_term, ctr_term


def _fcos_inputs(dtype: torch.dtype = torch.float64, c: int = 3, seed: int = 9):  # type: ignore[no-untyped-def]
    loss = build_loss("fcos", num_classes=c)
    cls, box, ctr, labels, reg = fcos_example(loss, torch.Generator().manual_seed(seed))
    cast = lambda ts: [t.to(dtype) for t in ts]  # noqa: E731
    return loss, cast(cls), cast(box), cast(ctr), labels, cast(reg)


def test_fcos_matches_reference_and_returns_terms(device: torch.device) -> None:
    pytest.importorskip("losskit.functional.focal")
    _, cls, box, ctr, labels, reg = _fcos_inputs()
    cls, box, ctr, labels, reg = ([t.to(device) for t in ts] for ts in (cls, box, ctr, labels, reg))
    loss = build_loss("FCOSLoss", num_classes=3, cls_weight=0.5, reg_weight=2.0, centerness_weight=1.5).to(device)
    total, terms = loss(cls, box, ctr, labels, reg, return_terms=True)
    ref_total, ref_cls, ref_reg, ref_ctr = ref_fcos(cls, box, ctr, labels, reg, weights=(0.5, 2.0, 1.5))
    torch.testing.assert_close(total, ref_total, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["cls"], ref_cls, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["reg"], ref_reg, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["centerness"], ref_ctr, rtol=1e-5, atol=1e-6)
    assert set(terms) == {"cls", "reg", "centerness"} and not any(t.requires_grad for t in terms.values())
    assert loss(cls, box, ctr, labels, reg).dim() == 0


def test_fcos_gradcheck_and_no_positives(device: torch.device) -> None:
    _, cls, box, ctr, labels, reg = _fcos_inputs()
    cls, box, ctr, labels, reg = ([t.to(device) for t in ts] for ts in (cls, box, ctr, labels, reg))
    g = torch.Generator().manual_seed(10)
    scls, sctr = (
        torch.randn(1, 2, 2, 2, generator=g, dtype=torch.float64),
        torch.randn(1, 1, 2, 2, generator=g, dtype=torch.float64),
    )
    sbox = torch.rand(1, 4, 2, 2, generator=g, dtype=torch.float64) * 4 + 0.5
    sreg = torch.rand(1, 4, 2, 2, generator=g, dtype=torch.float64) * 4 + 0.5
    slab = [torch.tensor([[[0, -1], [1, -1]]], device=device)]
    scls, sctr, sbox, sreg = scls.to(device), sctr.to(device), sbox.to(device), sreg.to(device)
    loss = build_loss("fcos").to(device)

    inputs = [t.requires_grad_(True) for t in (scls, sbox, sctr)]
    assert torch.autograd.gradcheck(lambda a, b, c: loss([a], [b], [c], slab, [sreg]), inputs)
    # no positive anywhere: finite, regression and centerness terms are 0, cls is the background focal sum
    none = [torch.full_like(t, -1) for t in labels]
    garbage = [torch.full_like(t, float("inf")) for t in reg]
    x = [t.clone().requires_grad_(True) for t in box]
    total, terms = loss(cls, x, ctr, none, garbage, return_terms=True)
    total.backward()
    assert torch.isfinite(total) and terms["reg"].item() == 0.0 and terms["centerness"].item() == 0.0
    assert all(torch.isfinite(t.grad).all() for t in x)


def test_fcos_input_errors() -> None:
    loss, cls, box, ctr, labels, reg = _fcos_inputs(torch.float32)
    bad = [labels[0].clone(), labels[1]]
    bad[0][0, 0, 0] = 3
    with pytest.raises(LossInputError, match="out of range"):
        loss(cls, box, ctr, bad, reg)
    with pytest.raises(LossInputError, match="num_classes"):
        build_loss("fcos", num_classes=5)(cls, box, ctr, labels, reg)
    with pytest.raises(LossInputError, match="levels"):
        loss(cls, box[:1], ctr, labels, reg)
    with pytest.raises(LossInputError, match="bbox_preds"):
        loss(cls, [box[0][:, :3], box[1]], ctr, labels, reg)
    # a single level given as bare tensors works
    assert torch.isfinite(loss(cls[0], box[0], ctr[0], labels[0], reg[0]))
