"""Issue 8's edge-case policy for the regression, metric-learning, distillation, generative and registration losses.

Each test reproduces a finding of issue 8 on these losses and shows the fix: an empty batch (``amax()`` errors in
info_nce/supcon/multi_similarity, NaN from mse/l1/kl_div/arcface), NaN in -> NaN out (a ``sq > 0`` mask turned
a NaN embedding into a distance of 0), the one autocast rule on large inputs, options and tensors checked by the
functional forms, any integer label dtype, ``Literal`` choices, one per-term protocol.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import torch

import losskit
import losskit.functional as LF
from losskit.inputs import Example
from losskit.testing.examples import example_for

DEVICE = torch.device(os.environ.get("LOSSKIT_TEST_DEVICE", "cpu"))

REGRESSION = [
    "mse",
    "l1",
    "smooth_l1",
    "huber",
    "gaussian_nll",
    "poisson_nll",
    "weighted_mse",
    "log_cosh",
    "charbonnier",
    "quantile",
    "barron",
]
METRIC = ["contrastive", "triplet", "info_nce", "supcon", "multi_similarity", "arcface"]
DISTILLATION = ["kl_div", "kd", "feature_distillation"]
GENERATIVE = ["vae", "sae", "vq", "adversarial"]
REGISTRATION = [
    "lncc",
    "ncc",
    "mutual_information",
    "lncc_dvf",
    "dice_smooth",
    "bending_energy",
    "diffusion",
    "jacobian_folding",
]
MINE = REGRESSION + METRIC + DISTILLATION + GENERATIVE + REGISTRATION
TERMS = {
    "lncc_dvf": {"lncc", "dvf"},
    "dice_smooth": {"dice", "smooth"},
    "vae": {"reconstruction", "kl"},
    "sae": {"reconstruction", "sparsity"},
    "vq": {"codebook", "commitment"},
}


def _tmap(fn: Callable[[torch.Tensor], Any], value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_tmap(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: _tmap(fn, v) for k, v in value.items()}
    return value


def _example(loss: torch.nn.Module, seed: int = 0) -> Example:
    ex = example_for(loss, torch.Generator().manual_seed(seed))
    return Example(_tmap(lambda t: t.to(DEVICE), tuple(ex.args)), _tmap(lambda t: t.to(DEVICE), dict(ex.kwargs)))


def _leaf(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().clone()
    return t.requires_grad_(True) if t.is_floating_point() else t


def _total(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


def _float_leaves(value: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    _tmap(lambda t: found.append(t) if t.is_floating_point() and t.requires_grad else None, value)
    return found


# ------------------------------------------------------------------------------------------------ empty batch
@pytest.mark.parametrize("name", MINE)
def test_empty_batch_gives_zero_with_zero_gradient(name: str) -> None:
    """Was: info_nce/supcon/multi_similarity raised an ``amax()`` error, mse/l1/kl_div/arcface/... gave NaN, MI an
    IndexError, lncc and the generative losses "cannot reshape a tensor of 0 elements"."""
    loss = losskit.build_loss(name).to(DEVICE)
    ex = _example(loss)
    args = _tmap(lambda t: _leaf(t[:0]) if t.dim() else t, tuple(ex.args))
    kwargs = _tmap(lambda t: _leaf(t[:0]) if t.dim() else t, dict(ex.kwargs))
    if name == "gaussian_nll":
        args = (*args[:2], _leaf(args[2].detach() + 1.0))
    out = _total(loss(*args, **kwargs))
    assert out.dim() == 0 and out.dtype in (torch.float32, torch.float64)
    assert float(out.detach()) == 0.0
    out.backward()
    for leaf in _float_leaves((args, kwargs)):
        assert leaf.grad is None or not leaf.grad.any()


@pytest.mark.parametrize(
    "name",
    [
        "mse",
        "l1",
        "kl_div",
        "contrastive",
        "info_nce",
        "supcon",
        "multi_similarity",
        "arcface",
        "vq",
        "lncc",
        "bending_energy",
        "mutual_information",
        "ncc",
    ],
)
def test_empty_batch_none_is_empty(name: str) -> None:
    loss = losskit.build_loss(name, reduction="none").to(DEVICE)
    ex = _example(loss)
    out = loss(*_tmap(lambda t: t[:0], tuple(ex.args)), **_tmap(lambda t: t[:0], dict(ex.kwargs)))
    assert out.numel() == 0


# ------------------------------------------------------------------------------------------------ NaN in, NaN out
def _poison(value: Any) -> Any:
    """The first floating-point tensor (the prediction: it comes first) with NaN in every 7th element (not just
    one: a corner voxel is outside every stencil of the DDF regularisers, so no loss depends on it)."""
    done = [False]

    def poison(t: torch.Tensor) -> torch.Tensor:
        if done[0] or not t.is_floating_point() or t.numel() == 0:
            return t
        done[0] = True
        t = t.clone()
        t.view(-1)[min(3, t.numel() - 1) :: 7] = float("nan")
        return t

    return _tmap(poison, value)


@pytest.mark.parametrize("name", MINE)
def test_nan_in_nan_out(name: str) -> None:
    loss = losskit.build_loss(name).to(DEVICE)
    ex = _example(loss)
    out = _total(loss(*_poison(tuple(ex.args)), **ex.kwargs))
    assert torch.isnan(out), f"{name}: a NaN input gave {float(out)}"


def test_nan_embedding_is_not_a_zero_distance() -> None:
    """Was: ``_safe_sqrt`` tested ``sq > 0``, False for NaN, so a NaN embedding had distance 0 and a finite loss."""
    x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
    x[1] = float("nan")
    for fn in (LF.contrastive_loss, LF.triplet_loss):
        assert torch.isnan(fn(x, y))
    assert torch.isnan(LF.triplet_loss(x, y, mining="batch_hard"))


# ------------------------------------------------------------------------------------------------ autocast
def _large(name: str, loss: torch.nn.Module) -> tuple[Any, ...]:
    g = torch.Generator().manual_seed(0)
    vol = (1, 1, 64, 64, 64)
    if name in REGRESSION:
        a, b = torch.randn(vol, generator=g), torch.randn(vol, generator=g)
        if name == "poisson_nll":
            return a, torch.poisson(torch.full(vol, 2.0), generator=g)
        return (a, b, torch.rand(vol, generator=g) + 0.1) if name == "gaussian_nll" else (a, b)
    if name in ("lncc", "ncc", "mutual_information", "dice_smooth"):
        a = torch.rand(vol, generator=g)
        return a, (0.7 * a + 0.3 * torch.rand(vol, generator=g)).clamp(0, 1)
    if name in ("bending_energy", "diffusion", "jacobian_folding"):
        return (0.3 * torch.randn(1, 3, 64, 64, 64, generator=g),)
    if name in METRIC:
        n = 128 if name == "triplet" else 1024  # triplet's "all" mining is O(N^3)
        labels = torch.randint(0, 10 if name == "arcface" else 64, (n,), generator=g)
        return torch.randn(n, int(getattr(loss, "embedding_size", 128)), generator=g), labels
    raise AssertionError(name)


AUTOCAST = (
    REGRESSION
    + METRIC
    + ["lncc", "ncc", "mutual_information", "dice_smooth", "bending_energy", "diffusion", "jacobian_folding"]
)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", AUTOCAST)
def test_autocast_float32_result_on_large_inputs(name: str, dtype: torch.dtype) -> None:
    """Half precision inputs under autocast: the loss is float32 and within 1e-3 of the float32 loss of the same
    (rounded) values. Was: torch wrappers could return the half dtype; sums over a 64^3 volume in half precision."""
    loss = losskit.build_loss(name).to(DEVICE)
    inputs = tuple(t.to(DEVICE) for t in _large(name, loss))
    half = tuple(t.to(dtype) if t.is_floating_point() else t for t in inputs)
    with torch.no_grad():
        ref = loss(*(t.float() if t.is_floating_point() else t for t in half))
        with torch.autocast(DEVICE.type, dtype=dtype):
            out = loss(*half)
            out_f32_inputs = loss(*inputs)
    assert out.dtype == torch.float32 and out_f32_inputs.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(out_f32_inputs, loss(*inputs), rtol=1e-3, atol=1e-6)
