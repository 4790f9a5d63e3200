"""Edge policy (docs/conventions.md) for the classification, focal and detection losses, and the issue-8 findings.

Each test reproduces a finding of issue 8 on the losses of these families and shows the fix: all-ignored and
empty batches give a finite 0 with a zero gradient (torch gives NaN), any integer label dtype is accepted,
the functional forms validate options and tensors, NaN in gives NaN out, and fp16/bf16 autocast returns a
float32 loss within 1e-3 of the float32 value on large inputs. Numeric tests run on ``LOSSKIT_TEST_DEVICE``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import losskit.functional as LF
from losskit import LossInputError
from losskit.config.builder import build_loss
from losskit.functional.classification import check_class_input as functional_check_class_input
from losskit.zoo.classification import check_class_input as zoo_check_class_input

INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


@pytest.fixture(scope="module")
def dev() -> torch.device:
    name = os.environ.get("LOSSKIT_TEST_DEVICE", "cpu").strip() or "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip(f"LOSSKIT_TEST_DEVICE={name!r}, but CUDA is not available here")
    return torch.device(name)


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _boxes(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    corner = torch.rand(n, 2, generator=g) * 100
    size = torch.rand(n, 2, generator=g) * 50 + 1
    target = torch.cat([corner, corner + size], dim=1)
    return target + torch.randn(n, 4, generator=g) * 3, target


def _fcos(n: int, c: int, hw: int, g: torch.Generator) -> tuple[Any, ...]:
    cls = torch.randn(n, c, hw, hw, generator=g)
    box = torch.rand(n, 4, hw, hw, generator=g) * 6 + 0.5
    ctr = torch.randn(n, 1, hw, hw, generator=g)
    labels = torch.where(torch.rand(n, hw, hw, generator=g) < 0.3, torch.randint(0, c, (n, hw, hw), generator=g), -1)
    reg = torch.rand(n, 4, hw, hw, generator=g) * 6 + 0.5
    return [cls], [box], [ctr], [labels], [reg]


def _case(name: str, n: int, big: bool = False) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """(options, inputs) for loss ``name`` with batch ``n``; the float input (or list of inputs) comes first."""
    g = _g()
    c = 19
    hw = (512 if big else 4) if name in ("cross_entropy", "focal_pixelwise") else (128 if big else 4)
    logits = torch.randn(n, c, hw, hw, generator=g) * 3
    labels = torch.randint(0, c, (n, hw, hw), generator=g)
    binary = (torch.rand(n, c, hw, hw, generator=g) < 0.3).float()
    if name in ("cross_entropy", "poly", "focal_pixelwise"):
        return {}, (logits, labels)
    if name == "logit_adjusted_cross_entropy":
        return {"prior": torch.arange(1, c + 1).tolist()}, (logits, labels)
    if name == "nll":
        return {}, (torch.log_softmax(logits, 1), labels)
    if name == "soft_target_cross_entropy":
        return {}, (logits, torch.softmax(torch.randn(n, c, hw, hw, generator=g), 1))
    if name == "bce":
        return {}, (torch.sigmoid(logits), binary)
    if name in ("bce_with_logits", "focal"):
        return {}, (logits, binary)
    if name == "asymmetric":
        return {}, (logits, binary)
    if name in ("box_iou", "giou", "diou", "ciou"):
        return {}, _boxes(n * (100_000 if big else 8), g)
    if name == "centerness":
        return {}, (logits[:, 0], LF.centerness_targets(torch.rand(n, hw, hw, 4, generator=g) * 8 + 0.1))
    if name in ("varifocal", "quality_focal"):
        iou = torch.rand(n, c, hw, hw, generator=g) * binary
        return {}, (logits, iou)
    if name == "fcos":
        return {"num_classes": 5}, _fcos(n, 5, hw, g)
    raise AssertionError(name)


MINE = [
    "cross_entropy",
    "nll",
    "bce",
    "bce_with_logits",
    "soft_target_cross_entropy",
    "poly",
    "logit_adjusted_cross_entropy",
    "focal",
    "focal_pixelwise",
    "asymmetric",
    "box_iou",
    "giou",
    "diou",
    "ciou",
    "centerness",
    "varifocal",
    "quality_focal",
    "fcos",
]
NO_NONE = {"fcos"}


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list):
        return [_to(v, device) for v in value]
    return value


def _float_leaves(args: tuple[Any, ...]) -> list[torch.Tensor]:
    first = args[0]
    return list(first) if isinstance(first, list) else [first]


def _with_grad(args: tuple[Any, ...]) -> tuple[Any, ...]:
    first = args[0]
    if isinstance(first, list):
        return ([t.detach().requires_grad_() for t in first], *args[1:])
    return (first.detach().requires_grad_(), *args[1:])


# --------------------------------------------------------------------------------- all-ignored, empty batch


@pytest.mark.parametrize("name", ["cross_entropy", "nll"])
@pytest.mark.parametrize("ignore_index", [-100, 255])
def test_all_ignored_cross_entropy_is_zero_with_zero_grad(name: str, ignore_index: int, dev: torch.device) -> None:
    """torch's mean over zero valid targets is NaN; the zoo's is 0 with a zero gradient (module and functional)."""
    x = torch.randn(2, 3, 4, 4, device=dev)
    if name == "nll":
        x = torch.log_softmax(x, 1)
    x.requires_grad_()
    y = torch.full((2, 4, 4), ignore_index, device=dev)
    reference = (F.cross_entropy if name == "cross_entropy" else F.nll_loss)(x, y, ignore_index=ignore_index)
    assert torch.isnan(reference)  # the finding
    fn = LF.cross_entropy_loss if name == "cross_entropy" else LF.nll_loss
    for loss in (build_loss(name, ignore_index=ignore_index)(x, y), fn(x, y, ignore_index=ignore_index)):
        assert loss.item() == 0.0
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.count_nonzero(grad) == 0
    weighted = fn(x, y, ignore_index=ignore_index, weight=[1.0, 2.0, 3.0])
    assert weighted.item() == 0.0


def test_dice_plus_ce_on_a_fully_ignored_patch_is_finite() -> None:
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    y = torch.full((1, 8, 8), 255)
    ce = build_loss("cross_entropy", ignore_index=255)
    dice = build_loss("dice", ignore_index=255)
    total = dice(x, y) + ce(x, y)
    assert torch.isfinite(total)
    total.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", MINE)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_empty_batch_is_zero_with_zero_grad(name: str, reduction: str, dev: torch.device) -> None:
    if reduction != "mean" and name in NO_NONE:
        pytest.skip(f"{name} has no reduction option (always a normalised sum)")
    opts, args = _case(name, 0)
    loss = build_loss(name, **opts, **({} if name in NO_NONE else {"reduction": reduction})).to(dev)
    args = _with_grad(_to(args, dev))
    out = loss(*args)
    if reduction == "none":
        assert out.numel() == 0
        return
    assert out.dim() == 0 and out.item() == 0.0, f"{name}: {out}"
    grads = torch.autograd.grad(out, _float_leaves(args), allow_unused=True)
    assert all(g is None or torch.count_nonzero(g) == 0 for g in grads)


# ------------------------------------------------------------------------------------------- label dtypes


_INDEX_CASES: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
    "cross_entropy": lambda x, y: LF.cross_entropy_loss(x, y),
    "cross_entropy_ignore": lambda x, y: LF.cross_entropy_loss(x, y, ignore_index=4),
    "nll": lambda x, y: LF.nll_loss(torch.log_softmax(x, 1), y),
    "poly": lambda x, y: LF.poly1_cross_entropy(x, y, ignore_index=4, weight=[1.0, 2.0, 0.5, 1.0]),
    "logit_adjusted": lambda x, y: LF.logit_adjusted_cross_entropy(x, y, torch.zeros(4), ignore_index=4),
    "focal_pixelwise": lambda x, y: LF.softmax_focal_loss(x, y, ignore_index=4),
    "focal_indices": lambda x, y: LF.sigmoid_focal_loss(x, y),
    "asymmetric": lambda x, y: LF.asymmetric_loss(x, y, mode="multiclass", ignore_index=4),
    "quality_focal": lambda x, y: LF.quality_focal_loss(x[:, :, 0, 0], (y[:, 0, 0], torch.rand(y.shape[0]))),
    "module_ce": lambda x, y: build_loss("cross_entropy")(x, y),
    "module_focal_pixelwise": lambda x, y: build_loss("focal_pixelwise", ignore_index=4)(x, y),
}


@pytest.mark.parametrize("case", sorted(_INDEX_CASES))
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_any_integer_label_dtype_gives_the_long_result(case: str, dtype: torch.dtype) -> None:
    """``expected scalar type Long but found Byte`` was the finding: uint8 masks come straight from PIL."""
    g = _g(1)
    x = torch.randn(3, 4, 5, 5, generator=g)
    y = torch.randint(0, 5, (3, 5, 5), generator=g)  # 4 is ignore_index where used
    if "ignore" not in case and case not in (
        "poly",
        "logit_adjusted",
        "focal_pixelwise",
        "asymmetric",
        "module_focal_pixelwise",
    ):
        y = y.clamp_max(3)
    fn = _INDEX_CASES[case]
    torch.manual_seed(0)
    expected = fn(x, y)
    torch.manual_seed(0)
    got = fn(x, y.to(dtype))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_fcos_any_integer_label_dtype(dtype: torch.dtype) -> None:
    cls, box, ctr, labels, reg = _fcos(2, 3, 6, _g(2))
    labels = [labels[0].clamp_min(0)]  # every location positive: representable in every dtype
    expected = LF.fcos_loss(cls, box, ctr, labels, reg)[0]
    got = LF.fcos_loss(cls, box, ctr, [labels[0].to(dtype)], reg)[0]
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_uint8_labels_are_not_compared_after_wrapping() -> None:
    """``uint8 == -100`` wraps -100 to 156: label 156 must stay a label (out of range), not become ignored."""
    x = torch.randn(2, 200)
    y = torch.tensor([156, 3], dtype=torch.uint8)
    torch.testing.assert_close(LF.cross_entropy_loss(x, y), F.cross_entropy(x, y.long()))


# ----------------------------------------------------------------------------- functional forms check


FUNCTIONAL: dict[str, Callable[..., Any]] = {
    "cross_entropy_loss": lambda **kw: LF.cross_entropy_loss(torch.randn(2, 3), torch.tensor([0, 2]), **kw),
    "nll_loss": lambda **kw: LF.nll_loss(torch.randn(2, 3).log_softmax(1), torch.tensor([0, 2]), **kw),
    "bce_loss": lambda **kw: LF.bce_loss(torch.rand(2, 3), torch.ones(2, 3), **kw),
    "bce_with_logits_loss": lambda **kw: LF.bce_with_logits_loss(torch.randn(2, 3), torch.ones(2, 3), **kw),
    "soft_target_cross_entropy": lambda **kw: LF.soft_target_cross_entropy(
        torch.randn(2, 3), torch.ones(2, 3) / 3, **kw
    ),
    "poly1_cross_entropy": lambda **kw: LF.poly1_cross_entropy(torch.randn(2, 3), torch.tensor([0, 2]), **kw),
    "logit_adjusted_cross_entropy": lambda **kw: LF.logit_adjusted_cross_entropy(
        torch.randn(2, 3), torch.tensor([0, 2]), None, **kw
    ),
    "sigmoid_focal_loss": lambda **kw: LF.sigmoid_focal_loss(torch.randn(2, 3), torch.ones(2, 3), **kw),
    "softmax_focal_loss": lambda **kw: LF.softmax_focal_loss(torch.randn(2, 3), torch.tensor([0, 2]), **kw),
    "asymmetric_loss": lambda **kw: LF.asymmetric_loss(torch.randn(2, 3), torch.ones(2, 3), **kw),
    "box_iou_loss": lambda **kw: LF.box_iou_loss(*_boxes(3, _g()), **kw),
    "generalized_box_iou_loss": lambda **kw: LF.generalized_box_iou_loss(*_boxes(3, _g()), **kw),
    "distance_box_iou_loss": lambda **kw: LF.distance_box_iou_loss(*_boxes(3, _g()), **kw),
    "complete_box_iou_loss": lambda **kw: LF.complete_box_iou_loss(*_boxes(3, _g()), **kw),
    "centerness_loss": lambda **kw: LF.centerness_loss(torch.randn(3), torch.rand(3), **kw),
    "varifocal_loss": lambda **kw: LF.varifocal_loss(torch.randn(2, 3), torch.rand(2, 3), **kw),
    "quality_focal_loss": lambda **kw: LF.quality_focal_loss(torch.randn(2, 3), torch.rand(2, 3), **kw),
}


@pytest.mark.parametrize("fn", sorted(FUNCTIONAL))
def test_functional_misspelled_reduction_is_a_did_you_mean(fn: str) -> None:
    FUNCTIONAL[fn]()  # valid call works
    with pytest.raises(ValueError, match="did you mean 'mean'"):
        FUNCTIONAL[fn](reduction="meen")


def test_functional_misspelled_mode() -> None:
    with pytest.raises(ValueError, match="did you mean 'multiclass'"):
        LF.asymmetric_loss(torch.randn(2, 3), torch.tensor([0, 2]), mode="multiclas")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda y: LF.cross_entropy_loss(torch.randn(2, 3), y),
        lambda y: LF.nll_loss(torch.randn(2, 3), y),
        lambda y: LF.poly1_cross_entropy(torch.randn(2, 3), y),
        lambda y: LF.logit_adjusted_cross_entropy(torch.randn(2, 3), y, None),
        lambda y: LF.softmax_focal_loss(torch.randn(2, 3), y),
        lambda y: LF.sigmoid_focal_loss(torch.randn(2, 3), y),
        lambda y: LF.asymmetric_loss(torch.randn(2, 3), y, mode="multiclass"),
    ],
)
def test_functional_label_out_of_range_is_a_loss_input_error(call: Callable[[torch.Tensor], Any]) -> None:
    """Was torch's raw ``index 255 is out of bounds`` (a device-side assert on CUDA), even with label checks on."""
    with pytest.raises(LossInputError, match="out of range"):
        call(torch.tensor([0, 255]))


def test_functional_weight_as_a_list_and_of_the_wrong_length() -> None:
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    w = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(LF.cross_entropy_loss(x, y, weight=[1, 2, 3]), F.cross_entropy(x, y, weight=w))
    torch.testing.assert_close(LF.nll_loss(x, y, weight=(1.0, 2.0, 3.0)), F.nll_loss(x, y, weight=w))
    LF.poly1_cross_entropy(x, y, weight=[1, 2, 3])
    LF.softmax_focal_loss(x, y, weight=[1, 2, 3], alpha=[0.5, 0.25, 0.25])
    for fn in (LF.cross_entropy_loss, LF.nll_loss, LF.poly1_cross_entropy, LF.softmax_focal_loss):
        with pytest.raises(LossInputError, match="weight"):
            fn(x, y, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        LF.cross_entropy_loss(x, y, weight=[1.0, float("inf"), 1.0])
    assert build_loss("cross_entropy", weight=[1, 2, 3])(x, y).item() == pytest.approx(
        F.cross_entropy(x, y, weight=w).item()
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda t: LF.bce_loss(torch.rand(t.shape), t),
        lambda t: LF.bce_with_logits_loss(torch.randn(t.shape), t),
        lambda t: LF.sigmoid_focal_loss(torch.randn(t.shape), t),
        lambda t: LF.asymmetric_loss(torch.randn(t.shape), t),
        lambda t: LF.varifocal_loss(torch.randn(t.shape), t),
        lambda t: LF.quality_focal_loss(torch.randn(t.shape), t),
        lambda t: LF.centerness_loss(torch.randn(t.shape), t),
        lambda t: LF.soft_target_cross_entropy(torch.randn(t.shape), t),
        lambda t: LF.cross_entropy_loss(torch.randn(t.shape), t),
    ],
)
def test_functional_0_255_mask_is_a_loss_input_error(call: Callable[[torch.Tensor], Any]) -> None:
    mask = torch.tensor([[0.0, 255.0, 0.0], [255.0, 0.0, 0.0]])
    with pytest.raises(LossInputError, match=r"\[0, 1\]"):
        call(mask)


def test_check_class_input_lives_in_the_functional_core() -> None:
    assert zoo_check_class_input is functional_check_class_input
    with pytest.raises(LossInputError, match="num_classes=4"):
        functional_check_class_input("x", torch.randn(2, 3), torch.tensor([0, 1]), num_classes=4, ignore_index=None)


# ---------------------------------------------------------------------------------------------- NaN


@pytest.mark.parametrize("name", MINE)
def test_nan_in_nan_out(name: str, dev: torch.device) -> None:
    opts, args = _case(name, 2)
    args = _to(args, dev)
    first = _float_leaves(args)[0]
    # one location NaN in every class (a loss may read only the target class of a location)
    first[(0, slice(None), 0, 0) if first.dim() == 4 else (0,) * first.dim()] = float("nan")
    out = build_loss(name, **opts).to(dev)(*args)
    assert torch.isnan(out), f"{name}: a NaN input gave {out}"


# ------------------------------------------------------------------------------------------- autocast


@pytest.mark.parametrize("name", MINE)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_returns_float32_close_to_float32(name: str, dtype: torch.dtype, dev: torch.device) -> None:
    """Large inputs (a 512x512 19-class image for the dense losses, 1e5 boxes) in half precision under autocast:
    the loss is float32 and within 1e-3 relative of the float32 loss of the same (rounded) values."""
    opts, args = _case(name, 2, big=True)
    args = _to(args, dev)
    if isinstance(args[0], list):
        half = [t.to(dtype) for t in args[0]]
        rounded = [t.float() for t in half]
        half_args, ref_args = (half, *args[1:]), (rounded, *args[1:])
    else:
        half = args[0].to(dtype)
        half_args, ref_args = (half, *args[1:]), (half.float(), *args[1:])
    loss = build_loss(name, **opts).to(dev)
    expected = loss(*ref_args)
    with torch.autocast(dev.type, dtype=dtype):
        got = loss(*half_args)
    assert got.dtype == torch.float32
    assert torch.isfinite(got)
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=0)


def test_box_losses_take_their_name_from_the_registry() -> None:
    """The hand-typed ``name = "giou"`` class attributes are gone: messages use ``loss_name`` from register_loss."""
    from losskit.zoo.detection import GIoULoss, _BoxLoss

    assert "name" not in vars(GIoULoss) and "name" not in vars(_BoxLoss)
    with pytest.raises(ValueError, match="^giou: reduction .* did you mean 'mean'"):
        GIoULoss(reduction="meen")  # type: ignore[arg-type]
    assert repr(build_loss("giou", eps=1e-3)) == "GIoULoss(eps=0.001)"
