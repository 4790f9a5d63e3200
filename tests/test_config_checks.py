"""Issue 8, config bullet: a config is checked fully before anything is built (in-process, fast)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import pytest
import torch
from torch import nn

import losskit
from losskit import AllowInf, ConfigError, Registry


class _Choice(nn.Module):
    """A scoped test loss with a Literal choice, a finite float, a declared infinite bound, an undeclared one
    and a list."""

    def __init__(
        self,
        mode: Literal["binary", "multiclass", "multilabel"] = "multiclass",
        smooth: float = 1.0,
        clip: Annotated[float, AllowInf] = math.inf,
        weight: list[float] | None = None,
        bound: float = math.inf,
    ) -> None:
        super().__init__()
        self.mode, self.smooth, self.clip, self.weight, self.bound = mode, smooth, clip, weight, bound

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).abs().mean()


@pytest.fixture
def choice(scoped_registry: Registry) -> str:
    losskit.register_loss("choice_test", _Choice)
    return "choice_test"


def test_literal_mismatch_is_a_config_error_with_did_you_mean(choice: str) -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'multiclass'") as info:
        losskit.build_loss(choice, mode="multiclas")
    assert "'binary', 'multiclass', 'multilabel'" in str(info.value)
    assert losskit.build_loss(choice, mode="binary").mode == "binary"


def test_dice_mode_misspelled_is_a_config_error_with_did_you_mean() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'multiclass'"):
        losskit.build_loss("dice", mode="multiclas")
    with pytest.raises(ConfigError, match=r"did you mean 'mean'"):
        losskit.build_loss({"name": "dice", "reduction": "meen"})


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "dice", "smooth_nr": math.nan},
        {"name": "dice", "smooth": math.inf},
        {"name": "dice", "smooth": "nan"},  # YAML 1.1 reads some numbers as strings
        {"name": "cross_entropy", "weight": [1.0, math.inf]},
        {"name": "cross_entropy", "weight": [1.0, math.nan, 2.0]},
        {"name": "smooth_l1", "beta": -math.inf},
        {"losses": {"a": "mse"}, "weights": [math.nan]},
        {"losses": {"a": {"name": "mse", "weight": math.inf}}},
    ],
)
def test_non_finite_floats_are_config_errors(spec: dict) -> None:
    with pytest.raises(ConfigError, match="finite"):
        losskit.build_loss(spec)


def test_non_finite_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "loss.yaml"
    path.write_text("name: cross_entropy\nweight: [1.0, .inf]\n")
    with pytest.raises(ConfigError, match="finite"):
        losskit.build_loss(str(path))


def test_declared_infinite_parameter_takes_infinity(choice: str) -> None:
    assert losskit.build_loss(choice, clip=math.inf).clip == math.inf
    assert losskit.build_loss(choice, clip=-math.inf).clip == -math.inf
    with pytest.raises(ConfigError, match="must not be NaN"):
        losskit.build_loss(choice, clip=math.nan)  # infinity is declared there, NaN never
    with pytest.raises(ConfigError, match="finite"):
        losskit.build_loss(choice, bound=math.inf)  # an infinite default alone declares nothing
    with pytest.raises(ConfigError, match="finite"):
        losskit.build_loss(choice, smooth=math.inf)
    with pytest.raises(ConfigError, match="finite"):
        losskit.build_loss(choice, weight=[1.0, math.inf])


def test_var_kwargs_values_are_still_data(scoped_registry: Registry) -> None:
    @losskit.register_loss("absorbing_test")
    def create(**kwargs: object) -> nn.Module:
        return nn.MSELoss()

    with pytest.raises(ConfigError, match="finite"):
        losskit.build_loss({"name": "absorbing_test", "x": math.nan})
    with pytest.raises(ConfigError, match="_target_"):
        losskit.build_loss({"name": "absorbing_test", "x": {"_target_": "torch.nn.MSELoss"}})


@pytest.mark.parametrize(
    "target", ["torch.nn.Linear", "torch.nn.ReLU", "torch.nn.Module", "torch.nn.modules.linear.Linear"]
)
def test_dotted_torch_target_must_be_a_loss(target: str) -> None:
    with pytest.raises(ConfigError, match="not a loss class"):
        losskit.build_loss({"_target_": target})


def test_dotted_torch_losses_build() -> None:
    assert isinstance(losskit.build_loss({"_target_": "torch.nn.SmoothL1Loss", "beta": 0.5}), nn.SmoothL1Loss)
    assert isinstance(losskit.build_loss({"_target_": "torch.nn.modules.loss.L1Loss"}), nn.L1Loss)


def test_refused_path_naming_a_registered_loss_says_so() -> None:
    """Seed 000's YAML names its own module path for CombinedLoss."""
    with pytest.raises(ConfigError, match=r"did you mean the registered 'CombinedLoss'\?"):
        losskit.build_loss(
            {"_target_": "src.training.losses.combined_loss.CombinedLoss", "losses": {"dice": {"_target_": "DiceLoss"}}}
        )
    with pytest.raises(ConfigError, match=r"did you mean the registered 'DiceLoss'\?"):
        losskit.build_loss({"_target_": "my_project.losses._impl.DiceLoss"})


def test_target_nested_in_a_parameter_is_a_config_error(choice: str) -> None:
    with pytest.raises(ConfigError, match=r"'_target_' inside parameter 'weight\[0\]'"):
        losskit.build_loss(choice, weight=[{"_target_": "torch.nn.MSELoss"}])
    with pytest.raises(ConfigError, match="_target_"):
        losskit.build_loss({"name": "cross_entropy", "weight": {"_target_": "torch.ones", "size": [3]}})


def test_a_parameter_that_takes_a_loss_builds_nested_specs_safely(scoped_registry: Registry) -> None:
    class Wrapper(nn.Module):
        def __init__(self, base: nn.Module | None = None) -> None:
            super().__init__()
            self.base = base

    losskit.register_loss("wrapper_test", Wrapper)
    assert isinstance(losskit.build_loss("wrapper_test", base={"_target_": "torch.nn.L1Loss"}).base, nn.L1Loss)
    with pytest.raises(ConfigError, match="refused"):
        losskit.build_loss("wrapper_test", base={"_target_": "torch.utils.model_dump.__main__.X"})
    with pytest.raises(losskit.UnknownLossError):
        losskit.build_loss("wrapper_test", base="/etc/passwd")  # a name, never a file


def test_messages_truncate_long_values(choice: str) -> None:
    with pytest.raises(ConfigError) as info:
        losskit.build_loss(choice, mode="x" * 5000)
    assert len(str(info.value)) < 400
    with pytest.raises(losskit.UnknownLossError) as unknown:
        losskit.build_loss("y" * 5000)
    assert len(str(unknown.value)) < 400


@pytest.mark.parametrize("alpha", [-math.inf, math.inf])
def test_barron_alpha_takes_its_documented_infinite_limits(alpha: float) -> None:
    """Barron's alpha = -inf (Welsch) and +inf are documented limits: declared Annotated[float, AllowInf]."""
    loss = losskit.build_loss({"name": "barron", "alpha": alpha})
    assert loss.alpha == alpha
    x, y = torch.tensor([[0.0, 1.0, 2.0]]), torch.zeros(1, 3)
    torch.testing.assert_close(loss(x, y), losskit.functional.regression.barron_loss(x, y, alpha=alpha))
    with pytest.raises(ConfigError, match="finite"):
        losskit.build_loss({"name": "barron", "scale": math.inf})  # scale is not declared infinite
    with pytest.raises(ConfigError, match="NaN"):
        losskit.build_loss({"name": "barron", "alpha": math.nan})


def test_barron_alpha_infinite_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "loss.yaml"
    path.write_text("name: barron\nalpha: -.inf\n")
    assert losskit.build_loss(str(path)).alpha == -math.inf
