"""Policy: under fp16 and bf16 autocast every built-in returns float32, within 1e-3 relative of float32, on large
inputs (a 512x512 image and a 64^3 volume for dense losses, a big batch for the others)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from losskit.inputs import Example

from ._cases import build, call, covered_names, scalar_of
from ._large import IMAGE, VOLUME, batch_inputs, dense_inputs, is_dense

NAMES = covered_names()
DTYPES = (torch.float16, torch.bfloat16)
RTOL = 1e-3
ATOL = 1e-5  # for losses whose float32 value is ~0, where a relative bound means nothing

CASES: list[Any] = []
for _name in NAMES:
    if is_dense(_name):
        CASES += [
            pytest.param(_name, "image", id=f"{_name}-image512"),
            pytest.param(_name, "volume", id=f"{_name}-volume64"),
        ]
    else:
        CASES.append(pytest.param(_name, "batch", id=f"{_name}-batch"))


def _inputs(name: str, loss: torch.nn.Module, shape: str, device: torch.device) -> Example:
    if shape == "batch":
        return batch_inputs(name, loss, device)
    return dense_inputs(loss, IMAGE if shape == "image" else VOLUME, device)


def _autocast_ok(device: torch.device, dtype: torch.dtype) -> None:
    try:
        with torch.autocast(device.type, dtype=dtype):
            pass
    except (RuntimeError, ValueError) as exc:
        pytest.skip(f"autocast with {dtype} is not available on {device.type}: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "shape"), CASES)
def test_autocast_matches_float32(name: str, shape: str, device: torch.device) -> None:
    loss = build(name, device)
    ex = _inputs(name, loss, shape, device)
    with torch.no_grad():
        ref = scalar_of(call(loss, ex))
    assert ref.dtype == torch.float32 and torch.isfinite(ref).all(), f"{name}: float32 reference {ref}"
    problems = []
    for dtype in DTYPES:
        _autocast_ok(device, dtype)
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype):
            out = scalar_of(call(loss, ex))
        label = str(dtype).removeprefix("torch.")
        if out.dtype != torch.float32:
            problems.append(f"{label}: returned {out.dtype}")
            out = out.float()
        err = (out - ref).abs().max().item()
        bound = (RTOL * ref.abs().max() + ATOL).item()
        if not err <= bound:  # NaN fails too
            problems.append(
                f"{label}: {out.flatten()[:1].item():.6g} vs float32 {ref.flatten()[:1].item():.6g} "
                f"(|diff| {err:.3g} > {bound:.3g})"
            )
    assert not problems, f"{name} on {shape} inputs under autocast: " + "; ".join(problems)
