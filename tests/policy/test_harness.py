"""The policy checks themselves can fail: losses that break the policy are caught (tests of the harness)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from losskit.inputs import Example

from .test_edges import _assert_zero_with_zero_grad, _with_nan


class _Masked(nn.Module):
    """Masks NaN into a 'perfect' 0, as region.safe_ratio's `den > 0` test once did."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nan_to_num((x - y) ** 2, nan=0.0).mean()


class _NaNMean(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((x - y) ** 2).mean()  # NaN for N = 0


class _Detached(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), device=x.device)  # 0, but cut from the graph


def test_nan_check_catches_a_masked_nan() -> None:
    ex = Example((torch.randn(4, 8), torch.randn(4, 8)))
    bad = _with_nan(_Masked(), ex)
    assert not torch.isnan(_Masked()(*bad.args))
    assert torch.isnan(_NaNMean()(*_with_nan(_NaNMean(), ex).args))


@pytest.mark.parametrize("loss", [_NaNMean(), _Detached()], ids=["nan", "detached"])
def test_zero_check_catches_nan_and_detached_zero(loss: nn.Module) -> None:
    ex = Example((torch.randn(0, 8), torch.randn(0, 8)))
    with pytest.raises(AssertionError):
        _assert_zero_with_zero_grad("fake", "N = 0", loss, ex)
