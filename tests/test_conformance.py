"""check_loss over every registered built-in, and proof that each of its checks can fail."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import losskit
from losskit.testing import check_loss


def _builtins() -> list[str]:
    return [
        e.name
        for e in losskit.LOSSES.entries()
        if not e.is_lazy and e.source.startswith("losskit.") and e.name != "combined"
    ]


@pytest.mark.parametrize("name", _builtins())
def test_every_builtin_passes_check_loss(name: str) -> None:
    report = check_loss(name, compile="aot_eager")
    assert "finite value" in report.passed and any(p.startswith("torch.compile") for p in report.passed), str(report)


def test_combined_passes_check_loss_with_its_terms_inputs() -> None:
    report = check_loss({"losses": {"a": "mse", "b": "l1"}, "weights": [0.5, 0.5]})
    assert "deterministic" in report.passed
    assert "value" in str(report)


def test_inductor_compile_on_a_representative_loss() -> None:
    report = check_loss("cross_entropy", compile="inductor")
    assert any("inductor" in p for p in report.passed) or "torch.compile[inductor]" in report.skipped


class _Base(nn.Module):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).pow(2).mean()


class NaNLoss(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(input, target) * float("nan")


class NotScalar(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).pow(2)


class NaNGrad(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input.abs() * 0).sqrt().sum()  # d sqrt(0) = inf -> inf * 0 = NaN


class NoGrad(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(input.detach(), target) + torch.zeros((), requires_grad=True)


class Random(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(input, target) + torch.rand(())


class Unpicklable(_Base):
    def __init__(self) -> None:
        super().__init__()
        self.fn = lambda x: x


class ReturnsFloat(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> float:  # type: ignore[override]
        return 0.5


class BadStateDict(_Base):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(()))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.scale += 1  # state that changes every call breaks the round trip
        return super().forward(input, target) * self.scale


@pytest.mark.parametrize(
    ("module", "check"),
    [
        (NaNLoss(), "finite value"),
        (NotScalar(), "scalar output"),
        (NaNGrad(), "finite gradients"),
        (NoGrad(), "no gradient reached"),
        (Random(), "determinism"),
        (Unpicklable(), "pickling"),
        (ReturnsFloat(), "tensor output"),
        (BadStateDict(), "determinism|pickling/state_dict"),
    ],
)
def test_each_check_can_fail(module: nn.Module, check: str) -> None:
    with pytest.raises(AssertionError, match=check):
        check_loss(module, compile=None)


def test_user_loss_with_own_inputs() -> None:
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    report = check_loss(_Base(), inputs=(x, y), compile=None)
    assert report.value == pytest.approx(float((x - y).pow(2).mean()), rel=1e-6)
    assert report.loss == "_Base"


@pytest.mark.parametrize("name", _builtins())
def test_every_builtin_round_trips_through_to_config(name: str) -> None:
    import yaml

    from losskit.inputs import make_generator
    from losskit.testing import example_for

    loss = losskit.build_loss(name)
    config = losskit.to_config(loss)
    rebuilt = losskit.build_loss(yaml.safe_load(yaml.safe_dump(config)))
    assert type(rebuilt) is type(loss) and losskit.to_config(rebuilt) == config
    torch.manual_seed(0)
    rebuilt.load_state_dict(loss.state_dict())  # learnable losses (arcface) start from random weights
    example = example_for(loss, make_generator(0))
    torch.testing.assert_close(rebuilt(*example.args, **example.kwargs), loss(*example.args, **example.kwargs))
