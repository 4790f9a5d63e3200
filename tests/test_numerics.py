"""Numerics you can see (issue 14): the gradient's error under bf16 and fp16 autocast against float64.

* every built-in: ``check_loss`` reports the error (``report.grad_error``), bounded in ``tests/test_conformance.py``;
* every loss with a hand-made kernel: its error is no larger than that of the plain PyTorch formula it replaces
  (``benchmarks/naive.py``) on the same inputs, under the same autocast, up to a float32 floor; the naive formula
  is first checked to give losskit's value, so the comparison is of one loss computed two ways.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import losskit
from losskit.inputs import Example, make_generator
from losskit.testing.examples import example_for
from losskit.testing.numerics import autocast_grad_error

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from naive import NAIVE  # noqa: E402

#: The float32 floor of the comparison with the naive formula: below it both are "exact" for float32.
FLOOR = 1e-5


def _example(name: str) -> tuple[torch.nn.Module, Example]:
    loss = losskit.build_loss(name)
    return loss, example_for(loss, make_generator(0))


@pytest.mark.parametrize("name", sorted(NAIVE))
def test_the_naive_formula_is_the_same_loss(name: str) -> None:
    loss, ex = _example(name)
    want = loss(*ex.args, **ex.kwargs)
    got = NAIVE[name](*ex.args, **ex.kwargs)
    torch.testing.assert_close(got.double(), want.double(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", sorted(NAIVE))
def test_a_kernel_is_as_accurate_as_the_formula_it_replaces(name: str, dtype: torch.dtype) -> None:
    loss, ex = _example(name)
    ours = autocast_grad_error(loss, ex, dtype)
    plain = autocast_grad_error(NAIVE[name], ex, dtype)
    assert ours is not None and plain is not None
    assert ours <= max(2.0 * plain, FLOOR), f"{name}: losskit {ours:.3g} vs the plain formula {plain:.3g}"


def test_the_error_measure_can_fail() -> None:
    """A loss whose matmul autocast runs in bfloat16 shows a large error; an elementwise float32 one ~0."""

    def sloppy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, y).square().mean()  # a matmul: bf16 under bf16 autocast

    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    ex = Example((x, x.flip(0)), {})
    err = autocast_grad_error(sloppy, ex, torch.bfloat16)
    assert err is not None and err > 1e-3
    exact = autocast_grad_error(lambda a, b: ((a - b) ** 2).mean(), ex, torch.bfloat16)
    assert exact is not None and exact < 1e-6
