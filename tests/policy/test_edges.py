"""Policy over every built-in (docs/conventions.md, "Edge cases"): empty batch and all-ignored -> a finite 0 with a
zero gradient; NaN in -> NaN out; any integer label dtype gives the int64 value; a one-channel input in multiclass
mode is an error that leads with mode='binary'; the region family has one default mode."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import losskit
from losskit.inputs import Example

from ._cases import (
    build,
    call,
    covered_names,
    ctor_params,
    example,
    float_input_path,
    has_param,
    ignore_names,
    label_arg_positions,
    leaves,
    region_family,
    scalar_of,
    spec_of,
    tensors,
    tmap,
)

NAMES = covered_names()
REDUCTIONS = ("default", "mean", "sum")  # "default": the constructor's own (kd and kl_div: "batchmean")
INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32)

#: Options that make a loss's all-ignored value well defined: kd's soft (teacher) term has no labels to
#: ignore, so only its hard-label term (alpha=0) can be all ignored.
#: asymmetric takes ignore_index in its multiclass (class index) mode.
IGNORE_OPTS: dict[str, dict[str, Any]] = {"kd": {"alpha": 0.0}, "asymmetric": {"mode": "multiclass"}}


def _build_reduced(name: str, reduction: str | None, device: torch.device, **opts: Any) -> torch.nn.Module:
    if reduction not in (None, "default") and has_param(name, "reduction"):
        opts["reduction"] = reduction
    return build(name, device, **opts)


def _assert_zero_with_zero_grad(name: str, what: str, loss: torch.nn.Module, ex: Example) -> None:
    ex = leaves(ex)
    out = scalar_of(call(loss, ex))
    assert isinstance(out, torch.Tensor), f"{name} ({what}): returned {type(out).__name__}"
    assert torch.isfinite(out).all(), f"{name} ({what}): not finite: {out}"
    assert (out == 0).all(), f"{name} ({what}): expected 0, got {out.detach().cpu().flatten()[:4].tolist()}"
    assert out.requires_grad, f"{name} ({what}): the result is cut from the input's graph (backward cannot run)"
    out.sum().backward()
    grads = [t.grad for t in tensors((ex.args, ex.kwargs)) if t.requires_grad]
    grads += [p.grad for p in loss.parameters() if p.requires_grad]
    for g in grads:
        if g is not None:
            assert torch.isfinite(g).all() and (g == 0).all(), f"{name} ({what}): gradient not zero"


# ---------------------------------------------------------------------------------------------- empty batch


def _empty(ex: Example) -> Example:
    cut = lambda t: t[:0] if t.dim() > 0 else t  # noqa: E731
    return Example(tmap(cut, tuple(ex.args)), tmap(cut, dict(ex.kwargs)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_is_zero_with_zero_gradient(name: str, reduction: str, device: torch.device) -> None:
    try:
        loss = _build_reduced(name, reduction, device)
    except ValueError as exc:
        pytest.skip(f"{name} has no reduction={reduction!r}: {exc}")
    ex = _empty(example(loss, device=device))
    try:
        _assert_zero_with_zero_grad(name, f"N = 0, reduction={reduction!r}", loss, ex)
    except losskit.LossInputError as exc:
        # the documented alternative to 0: an error that says the batch is empty
        assert "empty" in str(exc).lower(), f"{name}: a LossInputError for N = 0 that does not say so: {exc}"


# ---------------------------------------------------------------------------------------------- all ignored


def _ignore_value(name: str) -> int:
    default = ctor_params(name)["ignore_index"].default
    return default if isinstance(default, int) else 255


def _all_ignored(name: str, loss: torch.nn.Module, ex: Example, value: int) -> Example:
    """The example with its target (the declared ``target``/``labels`` input) all ``ignore_index``."""
    args, kwargs = list(ex.args), dict(ex.kwargs)
    declared = [t.name for t in spec_of(name).tensors]
    pos = next(i for i, n in enumerate(declared) if n in ("target", "labels"))
    fill = lambda t: torch.full_like(t, value if not t.is_floating_point() else float(value))  # noqa: E731
    if pos < len(args):
        args[pos] = tmap(fill, args[pos])  # class indices, or a dense target whose values ignore_index compares
    elif declared[pos] in kwargs:
        kwargs[declared[pos]] = tmap(fill, kwargs[declared[pos]])
    else:  # an optional label argument the example leaves out (kd's target): class indices (N, *)
        x = args[0]
        kwargs[declared[pos]] = torch.full((x.shape[0], *x.shape[2:]), value, dtype=torch.long, device=x.device)
    return Example(tuple(args), kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ignore_names())
def test_all_ignored_is_zero_with_zero_gradient(name: str, reduction: str, device: torch.device) -> None:
    value = _ignore_value(name)
    try:
        loss = _build_reduced(name, reduction, device, ignore_index=value, **IGNORE_OPTS.get(name, {}))
    except ValueError as exc:
        pytest.skip(f"{name} has no reduction={reduction!r}: {exc}")
    ex = _all_ignored(name, loss, example(loss, device=device), value)
    _assert_zero_with_zero_grad(name, f"every target = ignore_index {value}, reduction={reduction!r}", loss, ex)


def test_ignore_lists_are_not_stale() -> None:
    assert set(IGNORE_OPTS) <= set(ignore_names())
    assert {"cross_entropy", "dice", "focal_pixelwise"} <= set(ignore_names())


# ---------------------------------------------------------------------------------------------- NaN


def _prediction(ex: Example) -> torch.Tensor:
    i, key = float_input_path(ex)
    holder = ex.args[i]
    return holder[key] if key is not None else holder


def _with_nan(loss: torch.nn.Module, ex: Example) -> Example:
    """One NaN, in the prediction element with the largest gradient: an element the loss depends on (a NaN in
    an element it never reads, e.g. an unused log-probability of ``nll``, may rightly give a finite loss)."""
    ex = leaves(ex)
    pred = _prediction(ex)
    try:
        scalar_of(call(loss, ex)).sum().backward()
    except RuntimeError:  # no gradient to read: fall back to the first element
        pass
    flat = 0 if pred.grad is None else int(pred.grad.abs().flatten().argmax())
    ex = Example(tmap(lambda t: t.detach().clone(), tuple(ex.args)), tmap(lambda t: t.detach(), dict(ex.kwargs)))
    _prediction(ex).view(-1)[flat] = float("nan")
    return ex


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_gives_nan_out(name: str, device: torch.device) -> None:
    loss = build(name, device)
    ex = _with_nan(loss, example(loss, device=device))
    out = scalar_of(call(loss, ex))
    assert torch.isnan(out).any(), f"{name}: a NaN in the input gave a finite loss {out.detach().cpu().flatten()[:4]}"


# ---------------------------------------------------------------------------------------------- label dtypes

LABEL_NAMES = [n for n in NAMES if label_arg_positions(n, build(n), example(build(n)))]


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("name", LABEL_NAMES)
def test_any_integer_label_dtype(name: str, dtype: torch.dtype, device: torch.device) -> None:
    loss = build(name, device)
    ex = example(loss, device=device)
    ref = scalar_of(call(loss, ex))
    args = list(ex.args)
    for i in label_arg_positions(name, loss, ex):
        values = [t for t in tensors(args[i]) if t.numel()]
        low, high = min(int(t.min()) for t in values), max(int(t.max()) for t in values)
        info = torch.iinfo(dtype)
        if low < info.min or high > info.max:
            # a lossy cast (an ignored 255 in int8 becomes a label -1) is a different input, not the same labels
            pytest.skip(f"{name}'s labels span [{low}, {high}], which {dtype} cannot hold")
        args[i] = tmap(lambda t: t.to(dtype), args[i])
    try:
        out = scalar_of(call(loss, Example(tuple(args), dict(ex.kwargs))))
    except Exception as exc:  # noqa: BLE001 - say which dtype broke and how
        pytest.fail(f"{name}: {dtype} labels rejected: {type(exc).__name__}: {str(exc)[:200]}")
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-7, msg=lambda m: f"{name}: {dtype} labels: {m}")


# ---------------------------------------------------------------------------------------------- one channel


def _multiclass(name: str, device: torch.device) -> torch.nn.Module:
    return build(name, device, **({"mode": "multiclass"} if has_param(name, "mode") else {}))


@pytest.mark.parametrize("target_kind", ["float_mask", "labels"])
@pytest.mark.parametrize("name", region_family())
def test_one_channel_multiclass_says_use_binary(name: str, target_kind: str, device: torch.device) -> None:
    loss = _multiclass(name, device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 6, 5, generator=g).to(device)
    if target_kind == "float_mask":
        y = torch.randint(0, 2, (2, 1, 6, 5), generator=g).float().to(device)
    else:
        y = torch.zeros(2, 6, 5, dtype=torch.long, device=device)
    with pytest.raises(losskit.LossInputError) as info:
        loss(x, y)
    msg = str(info.value)
    body = msg.split(": ", 1)[-1]
    assert "mode='binary'" in body, f"{name}: the error does not name mode='binary': {msg}"
    assert body.index("mode='binary'") < 60, f"{name}: the error does not lead with mode='binary': {msg}"


def test_region_family_has_one_default_mode() -> None:
    """Every segmentation loss that can be multiclass defaults to the same mode (combined_dice_bce, binary or
    multilabel only, is not one of them)."""
    defaults = {n: ctor_params(n)["mode"].default for n in region_family() if has_param(n, "mode")}
    assert len(defaults) >= 8, defaults
    assert len(set(defaults.values())) == 1, f"the region family has more than one default mode: {defaults}"


@pytest.mark.parametrize("name", [n for n in NAMES if has_param(n, "reduction")])
def test_empty_batch_none_is_empty(name: str, device: torch.device) -> None:
    try:
        loss = build(name, device, reduction="none")
    except ValueError as exc:
        pytest.skip(f"{name} has no reduction='none': {exc}")
    ex = leaves(_empty(example(loss, device=device)))
    try:
        out = scalar_of(call(loss, ex))
    except losskit.LossInputError as exc:
        assert "empty" in str(exc).lower(), f"{name}: a LossInputError for N = 0 that does not say so: {exc}"
        return
    assert out.numel() == 0, f"{name}: reduction='none' on an empty batch gave shape {tuple(out.shape)}"
    if out.requires_grad:
        out.sum().backward()
