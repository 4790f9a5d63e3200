"""Issue 8 findings in the segmentation family, each reproduced and shown fixed: NaN propagation, fp16/bf16
autocast on large inputs, one-channel inputs in multiclass mode, the functional forms' own argument checks,
empty batches, ``return_terms``, ``Literal`` choices and the one default ``mode``.

The device comes from ``LOSSKIT_TEST_DEVICE`` (default ``cpu``).
"""

from __future__ import annotations

import inspect
import os
import typing
from typing import Any

import pytest
import torch

import losskit.functional as LF
from losskit import LossInputError, build_loss
from losskit.functional.region_stats import region_stats, safe_ratio

DEV = torch.device(os.environ.get("LOSSKIT_TEST_DEVICE", "cpu"))
REGION = ["dice", "jaccard", "tversky", "focal_tversky", "generalized_dice", "mcc", "lovasz"]
COMBOS = ["dice_ce", "dice_focal", "combined_segmentation"]
MULTICLASS = REGION + COMBOS
ALL = MULTICLASS + ["combined_dice_bce"]
FUNCTIONAL = {
    "dice": LF.dice_loss,
    "jaccard": LF.jaccard_loss,
    "tversky": LF.tversky_loss,
    "focal_tversky": LF.focal_tversky_loss,
    "generalized_dice": LF.generalized_dice_loss,
    "mcc": LF.mcc_loss,
    "lovasz": LF.lovasz_loss,
    "dice_ce": LF.dice_ce_loss,
    "dice_focal": LF.dice_focal_loss,
}


def _inputs(
    name: str, n: int = 2, c: int = 3, spatial: tuple[int, ...] = (6, 5), seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if name == "combined_dice_bce":
        return torch.randn(n, 1, *spatial, generator=g).to(DEV), torch.randint(
            0, 2, (n, 1, *spatial), generator=g
        ).float().to(DEV)
    return torch.randn(n, c, *spatial, generator=g).to(DEV), torch.randint(0, c, (n, *spatial), generator=g).to(DEV)


def _build(name: str, **kw: Any) -> torch.nn.Module:
    return build_loss(name, **kw).to(DEV)


# ------------------------------------------------------------------------------------------------ NaN in -> NaN out


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("where", ["all", "one_pixel"])
def test_nan_in_gives_nan_out(name: str, where: str) -> None:
    # Was: all-NaN logits gave a "perfect" 0.0, one NaN pixel a finite loss with NaN gradients (safe_ratio tested
    # `den > 0`, False for NaN).
    x, y = _inputs(name)
    if where == "all":
        x = torch.full_like(x, float("nan"))
    else:
        x[0, 0, 1, 1] = float("nan")
    x.requires_grad_()
    out = _build(name)(x, y)
    assert torch.isnan(out), f"{name}: {float(out)}"


def test_safe_ratio_keeps_empty_classes_defined_and_nan_nan() -> None:
    num = torch.tensor([0.0, 1.0, float("nan"), 1.0])
    den = torch.tensor([0.0, 2.0, 1.0, float("nan")])
    r = safe_ratio(num, den)
    assert r[0] == 1.0 and r[1] == 0.5 and torch.isnan(r[2]) and torch.isnan(r[3])
    # the documented empty-class policy: empty prediction and target, no smoothing -> loss 0, finite gradient
    x = torch.zeros(2, 1, 4, 4, device=DEV, requires_grad=True)
    out = LF.dice_loss(
        x, torch.zeros(2, 1, 4, 4, device=DEV), mode="binary", from_logits=False, smooth_nr=0, smooth_dr=0
    )
    out.backward()
    assert float(out) == 0.0 and torch.isfinite(x.grad).all()


# ------------------------------------------------------------------------------------------------ autocast


def _large(shape: str, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    spatial = (64, 64, 64) if shape == "volume64" else (512, 512)
    x = torch.randn(1, c, *spatial, generator=g) * 4
    y = torch.randint(0, c, (1, *spatial), generator=g)
    if c == 1:
        y = y.float().unsqueeze(1)
    return x.to(DEV), y.to(DEV)


_REF: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


def _reference(name: str, shape: str, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if (name, shape) not in _REF:
        xr = x.clone().requires_grad_()
        out = _build(name)(xr, y)
        out.backward()
        _REF[(name, shape)] = (out.detach(), xr.grad)
    return _REF[(name, shape)]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", ["volume64", "image512"])
@pytest.mark.parametrize("name", ALL)
def test_autocast_matches_float32_on_large_inputs(name: str, shape: str, dtype: torch.dtype) -> None:
    # Was: under fp16 autocast the class sums were a bmm in fp16 that overflowed (64^3: dice 1.0 with zero gradient,
    # generalized_dice 0.0; 2-class 512x512: NaN); under bf16 the loss came back in bf16, 3e-3 off.
    c = 1 if name == "combined_dice_bce" else (3 if shape == "volume64" else 2)
    x, y = _large(shape, c)
    ref, ref_grad = _reference(name, shape, x, y)
    xa = x.clone().requires_grad_()
    with torch.autocast(DEV.type, dtype=dtype):
        out = _build(name)(xa, y)
        out.backward()  # inside the region on purpose: the custom backward passes must switch autocast off too
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.detach(), ref, rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(xa.grad, ref_grad, rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["dice", "generalized_dice", "mcc", "lovasz", "dice_ce"])
def test_half_logits_give_float32_loss_of_their_values(name: str, dtype: torch.dtype) -> None:
    # Half logits (a model run under AMP): the loss is float32 and equals the float32 loss of the same values.
    x, y = _large("image512", 2)
    xh = x.to(dtype).requires_grad_()
    with torch.autocast(DEV.type, dtype=dtype):
        out = _build(name)(xh, y)
    out.backward()
    ref = _build(name)(xh.detach().float(), y)
    assert out.dtype == torch.float32 and xh.grad.dtype == dtype
    torch.testing.assert_close(out.detach(), ref, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------------------------ one channel


@pytest.mark.parametrize("name", MULTICLASS)
@pytest.mark.parametrize("kind", ["float_mask", "labels"])
def test_one_channel_in_multiclass_mode_says_use_binary(name: str, kind: str) -> None:
    # Was: x[N, 1, H, W] with a float mask in the default mode returned a constant with zero gradient, no error.
    x = torch.randn(2, 1, 4, 4, device=DEV, requires_grad=True)
    y = (
        (torch.rand(2, 1, 4, 4, device=DEV) > 0.5).float()
        if kind == "float_mask"
        else torch.zeros(2, 4, 4, dtype=torch.long, device=DEV)
    )
    with pytest.raises(LossInputError, match=r"^\w+: use mode='binary'"):
        _build(name)(x, y)


def test_region_family_has_one_default_mode() -> None:
    # Was: mcc defaulted to "binary", the rest to "multiclass".
    for name in MULTICLASS:
        if name != "combined_segmentation":  # multiclass only, no mode option
            assert _build(name).mode == "multiclass", name
    for name, fn in FUNCTIONAL.items():
        assert inspect.signature(fn).parameters["mode"].default == "multiclass", name
    assert _build("combined_dice_bce").mode == "binary"  # BCE: binary/multilabel only (documented)


# ------------------------------------------------------------------------------------------------ functional checks


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_functional_forms_check_their_choices(name: str) -> None:
    # Was: dice_loss(x, y, reduction="meen") returned a mean; mode="multiclas" gave an unrelated size error.
    fn = FUNCTIONAL[name]
    x, y = _inputs(name)
    with pytest.raises(ValueError, match=r"did you mean 'mean'"):
        fn(x, y, reduction="meen")
    with pytest.raises(ValueError, match=r"did you mean 'multiclass'"):
        fn(x, y, mode="multiclas")
    with pytest.raises(LossInputError, match="input"):
        fn(x.long(), y)
    with pytest.raises(LossInputError, match="target"):
        fn(x, [0, 1])


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_functional_label_255_without_ignore_index(name: str) -> None:
    # Was: torch's raw `index 255 is out of bounds` (a device-side assert on CUDA), even with label checks on.
    x, y = _inputs(name)
    y[0, 0, 0] = 255
    with pytest.raises(LossInputError, match="out of range"):
        FUNCTIONAL[name](x, y)


@pytest.mark.parametrize("name", ["dice", "tversky", "mcc", "lovasz", "dice_ce", "dice_focal"])
def test_functional_weight_as_list(name: str) -> None:
    # Was: AttributeError: 'list' object has no attribute 'to'.
    x, y = _inputs(name)
    got = FUNCTIONAL[name](x, y, weight=[1.0, 2.0, 0.5])
    torch.testing.assert_close(got, FUNCTIONAL[name](x, y, weight=torch.tensor([1.0, 2.0, 0.5], device=DEV)))
    torch.testing.assert_close(_build(name, weight=[1.0, 2.0, 0.5])(x, y), got)


@pytest.mark.parametrize("fn", [LF.dice_loss, LF.mcc_loss, LF.lovasz_loss, LF.combined_dice_bce_loss])
def test_0_255_binary_target_is_an_error(fn: Any) -> None:
    x = torch.randn(2, 1, 4, 4, device=DEV)
    t = torch.randint(0, 2, (2, 1, 4, 4), device=DEV).float() * 255
    with pytest.raises(LossInputError, match="0/255"):
        fn(x, t, mode="binary")


@pytest.mark.parametrize("name", MULTICLASS)
def test_any_integer_label_dtype(name: str) -> None:
    x, y = _inputs(name)
    y[0, 0, :2] = 255
    ref = _build(name, ignore_index=255)(x, y)
    for dtype in (torch.uint8, torch.int16, torch.int32):
        torch.testing.assert_close(_build(name, ignore_index=255)(x, y.to(dtype)), ref)
    y8 = y.masked_fill(y == 255, 100).to(torch.int8)  # int8 cannot hold 255
    ref8 = _build(name, ignore_index=100)(x, y8.long())
    torch.testing.assert_close(_build(name, ignore_index=100)(x, y8), ref8)


def test_check_segmentation_input_lives_in_the_functional_core() -> None:
    from losskit.functional.segmentation_input import check_segmentation_input
    from losskit.zoo import segmentation

    assert segmentation.check_segmentation_input is check_segmentation_input
    assert not hasattr(segmentation, "_check_dense_values")


# ------------------------------------------------------------------------------------------------ empty batch


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_empty_batch_is_zero_with_zero_gradient(name: str, reduction: str) -> None:
    # Was: torch's `cannot reshape tensor of 0 elements`.
    x, y = _inputs(name, n=0)
    x.requires_grad_()
    kw = {} if name == "combined_segmentation" else {"reduction": reduction}
    out = _build(name, **kw)(x, y)
    out.backward()
    assert out.shape == () and float(out) == 0.0 and x.grad.shape == x.shape


@pytest.mark.parametrize("name", REGION)
def test_empty_batch_none_shape(name: str) -> None:
    x, y = _inputs(name, n=0)
    out = _build(name, reduction="none")(x, y)
    assert out.shape == ((0,) if name == "generalized_dice" else (0, 3))


@pytest.mark.parametrize("name", ALL)
def test_all_ignored_is_zero_with_zero_gradient(name: str) -> None:
    x, y = _inputs(name)
    y = torch.full_like(y, 255)
    x.requires_grad_()
    out = _build(name, ignore_index=255)(x, y)
    out.backward()
    assert float(out) == 0.0 and float(x.grad.abs().max()) == 0.0


# ------------------------------------------------------------------------------------------------ return_terms


@pytest.mark.parametrize(
    "name,kw,terms",
    [
        ("dice_ce", dict(lambda_dice=0.3, lambda_ce=2.0), ("dice", "ce")),
        ("dice_focal", dict(lambda_dice=0.3, lambda_focal=2.0), ("dice", "focal")),
        ("combined_segmentation", dict(ce_weight=2.0, dice_weight=0.3), ("ce", "dice")),
        ("combined_dice_bce", dict(dice_weight=0.3, bce_weight=2.0), ("dice", "bce")),
    ],
)
def test_combos_return_terms(name: str, kw: dict, terms: tuple[str, ...]) -> None:
    x, y = _inputs(name)
    x.requires_grad_()
    loss = _build(name, **kw)
    total = loss(x, y)
    again, parts = loss(x, y, return_terms=True)
    assert tuple(parts) == terms and all(not v.requires_grad for v in parts.values())
    torch.testing.assert_close(again, total)
    weights = list(kw.values())
    torch.testing.assert_close(total.detach(), sum(w * parts[t] for w, t in zip(weights, terms, strict=True)))


def test_dice_ce_functional_form_matches_module() -> None:
    x, y = _inputs("dice_ce")
    y[0, 0] = 255
    mod = _build("dice_ce", weight=[1.0, 2.0, 3.0], ignore_index=255, lambda_ce=0.5)
    torch.testing.assert_close(
        mod(x, y), LF.dice_ce_loss(x, y, weight=[1.0, 2.0, 3.0], ignore_index=255, lambda_ce=0.5)
    )


# ------------------------------------------------------------------------------------------------ Literal choices


@pytest.mark.parametrize("name", ALL)
def test_choice_parameters_are_literal(name: str) -> None:
    cls = type(build_loss(name))
    hints = typing.get_type_hints(cls.__init__)
    for param in ("mode", "reduction", "w_type", "classes"):
        if param in hints:
            assert typing.get_origin(hints[param]) is typing.Literal, (name, param, hints[param])
    if "reduction" in hints:
        with pytest.raises(ValueError, match="did you mean"):
            build_loss(name, reduction="meen")


def test_region_stats_are_float32_under_autocast() -> None:
    x, y = _large("image512", 2)
    with torch.autocast(DEV.type, dtype=torch.float16):
        s = region_stats(x, y)
    assert all(t.dtype == torch.float32 for t in s)
