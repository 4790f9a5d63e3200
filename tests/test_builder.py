"""build_loss: formats, validation before construction, error paths, to_config round trips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pytest
import torch
import yaml
from torch import nn

import losskit
from losskit import CombinedLoss, ConfigError, Registry, UnknownLossError
from losskit.zoo.classification import CrossEntropyLoss
from losskit.zoo.regression import MSELoss, SmoothL1Loss


class Typed(nn.Module):
    """A loss with every kind of annotation the validator understands."""

    def __init__(
        self,
        smooth: float = 1.0,
        steps: int = 1,
        flag: bool = False,
        mode: Literal["binary", "multiclass"] = "binary",
        weight: torch.Tensor | None = None,
        sizes: Sequence[int] = (1,),
        pair: tuple[float, float] = (0.0, 1.0),
        name: str = "x",
    ) -> None:
        super().__init__()
        self.smooth, self.steps, self.flag, self.mode, self.weight = smooth, steps, flag, mode, weight
        self.sizes, self.pair, self.name = sizes, pair, name

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).abs().mean() * self.smooth


class Needs(nn.Module):
    def __init__(self, num_classes: int, smooth: float = 1.0) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError("num_classes must be positive")
        self.num_classes = num_classes

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return input.mean()


@pytest.fixture
def typed(scoped_registry: Registry) -> Registry:
    losskit.register_loss("typed", Typed)
    losskit.register_loss("needs", Needs)
    return scoped_registry


@pytest.mark.parametrize(
    "spec",
    [
        "smooth_l1",
        "SmoothL1Loss",
        {"name": "smooth_l1", "beta": 0.5},
        {"class": "smooth_l1", "params": {"beta": 0.5}},
        {"_target_": "SmoothL1Loss", "beta": 0.5},
        {"_target_": "torch.nn.SmoothL1Loss", "beta": 0.5},
        {"type": "smooth_l1", "beta": 0.5},
    ],
)
def test_every_format_builds(spec: object) -> None:
    loss = losskit.build_loss(spec)
    assert isinstance(loss, nn.SmoothL1Loss)
    if isinstance(spec, dict):
        assert loss.beta == 0.5


def test_registered_class_is_returned_as_itself_and_overrides_apply() -> None:
    loss = losskit.build_loss("mse", reduction="sum")
    assert type(loss) is MSELoss and loss.reduction == "sum"
    assert losskit.build_loss({"name": "smooth_l1", "beta": 0.1}, beta=0.9).beta == 0.9


def test_ready_module_is_returned_as_is() -> None:
    ce = nn.CrossEntropyLoss(label_smoothing=0.1)
    assert losskit.build_loss(ce) is ce
    with pytest.raises(ConfigError):
        losskit.build_loss(ce, reduction="sum")


def test_combined_formats_and_weights() -> None:
    spec = {"losses": {"a": {"_target_": "mse"}, "b": "l1"}, "weights": [0.25, 0.75]}
    loss = losskit.build_loss(spec)
    assert isinstance(loss, CombinedLoss) and loss.term_weights == {"a": 0.25, "b": 0.75}
    by_map = losskit.build_loss({"losses": {"a": "mse", "b": "l1"}, "weights": {"b": 2.0}})
    assert by_map.term_weights == {"a": 1.0, "b": 2.0}
    inline = losskit.build_loss({"name": "combined", "losses": {"a": {"name": "mse", "weight": 3}, "b": "l1"}})
    assert inline.term_weights == {"a": 3.0, "b": 1.0}
    x, y = torch.randn(4, 5), torch.randn(4, 5)
    total, terms = loss(x, y, return_terms=True)
    expected = 0.25 * torch.nn.functional.mse_loss(x, y) + 0.75 * torch.nn.functional.l1_loss(x, y)
    torch.testing.assert_close(total, expected)
    assert set(terms) == {"a", "b"} and not terms["a"].requires_grad


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"losses": {"a": "mse"}, "weights": [1, 2]}, r"2 weight\(s\) for 1 term"),
        ({"losses": {"a": "mse"}, "weights": [float("nan")]}, "finite"),
        ({"losses": {"a": "mse"}, "weights": {"b": 1}}, "no term named 'b'"),
        ({"losses": {"a": {"name": "mse", "weight": 1}}, "weights": [1]}, "both"),
        ({"losses": {}}, "non-empty"),
        ({"losses": {"a": "mse"}, "weights": "heavy"}, "list or a mapping"),
    ],
)
def test_combined_weight_errors(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        losskit.build_loss(spec)


def test_unknown_parameter_is_an_error_with_did_you_mean_and_valid_list() -> None:
    with pytest.raises(ConfigError) as info:
        losskit.build_loss({"name": "smooth_l1", "bta": 0.5})
    msg = str(info.value)
    assert "'bta'" in msg and "Did you mean 'beta'" in msg and "Valid parameters: reduction, beta" in msg


def test_errors_name_the_config_path() -> None:
    spec = {"losses": {"dice": {"_target_": "smooth_l1", "smoth": 1.0}, "ce": "cross_entropy"}}
    with pytest.raises(ConfigError, match=r"at 'losses\.dice\.smoth'"):
        losskit.build_loss(spec)
    with pytest.raises(ConfigError, match=r"losses\.ce\.label_smoothing.*expects float, got str 'lots'"):
        losskit.build_loss({"losses": {"ce": {"name": "cross_entropy", "label_smoothing": "lots"}}})
    with pytest.raises(UnknownLossError, match="Did you mean 'cross_entropy'"):
        losskit.build_loss({"losses": {"ce": "cross_entropi"}})


def test_type_validation_and_conversion(typed: Registry) -> None:
    loss = losskit.build_loss(
        {"name": "typed", "smooth": 2, "weight": [1, 2], "sizes": [3, 4], "pair": [1, 2], "mode": "multiclass"}
    )
    assert isinstance(loss.smooth, float) and loss.smooth == 2.0
    assert isinstance(loss.weight, torch.Tensor) and loss.weight.tolist() == [1.0, 2.0]
    assert loss.sizes == [3, 4] and loss.pair == (1.0, 2.0)
    assert losskit.build_loss("typed", smooth="1e-5").smooth == 1e-5  # YAML 1.1 reads 1e-5 as a string
    bad = [
        ({"steps": 1.5}, "steps.*expects int, got float"),
        ({"steps": True}, "expects int, got bool"),
        ({"flag": "yes"}, "flag.*expects bool"),
        ({"mode": "multiclas"}, "did you mean 'multiclass'"),
        ({"sizes": "abc"}, "sizes"),
        ({"pair": [1, 2, 3]}, "pair"),
        ({"name": 3}, "expects str"),
        ({"smooth": "soft"}, "smooth.*expects float"),
    ]
    for params, message in bad:
        with pytest.raises(ConfigError, match=message):
            losskit.build_loss("typed", **params)


def test_missing_required_parameter(typed: Registry) -> None:
    with pytest.raises(ConfigError, match="requires parameter.*'num_classes'"):
        losskit.build_loss("needs")


def test_constructor_exception_keeps_type_and_gets_a_note(typed: Registry) -> None:
    with pytest.raises(ValueError, match="num_classes must be positive") as info:
        losskit.build_loss({"losses": {"n": {"name": "needs", "num_classes": 0}}})
    assert type(info.value) is ValueError
    notes = getattr(info.value, "__notes__", [])
    assert any("'needs'" in n and "losses.n" in n for n in notes)


def test_malformed_specs() -> None:
    for spec, message in [
        ({"name": "mse", "type": "l1"}, "not several"),
        ({"smooth": 1.0}, "does not say what to build"),
        ({"_target_": "mse", "_partial_": True}, "Hydra key"),
        ({"name": "mse", "params": [1]}, "expected a mapping"),
        ({"name": "mse", "reduction": "sum", "params": {"reduction": "mean"}}, "both"),
        (42, "cannot build a loss from int"),
        ({"name": 3}, "must be a name"),
    ]:
        with pytest.raises(ConfigError, match=message):
            losskit.build_loss(spec)


def test_yaml_file_with_top_level_loss_key(tmp_path: Path) -> None:
    path = tmp_path / "loss.yaml"
    path.write_text(
        "defaults:\n  - base_loss\nloss:\n  losses:\n    a:\n      _target_: mse\n    b:\n      name: smooth_l1\n"
        "      beta: 1e-5\n  weights: [0.5, 0.5]\n"
    )
    loss = losskit.build_loss(str(path))
    assert isinstance(loss, CombinedLoss) and loss.terms["b"].beta == 1e-5
    assert isinstance(losskit.build_loss(path), CombinedLoss)  # a Path works too
    with pytest.raises(ConfigError, match="does not exist"):
        losskit.build_loss(str(tmp_path / "missing.yaml"))
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        losskit.build_loss(str(tmp_path / "empty.yaml"))


def test_load_config_with_key(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  loss:\n    name: mse\nval:\n  loss:\n    name: l1\n")
    assert isinstance(losskit.build_loss(losskit.load_config(path, key="val.loss")), nn.L1Loss)
    with pytest.raises(ConfigError, match="no key"):
        losskit.load_config(path, key="test.loss")


def test_omegaconf_dictconfig_is_accepted() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create(
        {"beta": 0.25, "loss": {"losses": {"a": {"_target_": "smooth_l1", "beta": "${beta}"}}, "weights": [1.0]}}
    )
    loss = losskit.build_loss(cfg.loss)
    assert loss.terms["a"].beta == 0.25
    assert losskit.build_loss(omegaconf.OmegaConf.create({"name": "mse"})).reduction == "mean"


def test_nested_target_parameter_is_built_recursively(scoped_registry: Registry) -> None:
    class Wrapper(nn.Module):
        def __init__(self, base: nn.Module, scale: float = 1.0) -> None:
            super().__init__()
            self.base, self.scale = base, scale

        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return self.base(input, target) * self.scale

    losskit.register_loss("wrapper", Wrapper)
    loss = losskit.build_loss({"name": "wrapper", "base": {"_target_": "smooth_l1", "beta": 0.2}, "scale": 2})
    assert isinstance(loss.base, SmoothL1Loss) and loss.base.beta == 0.2
    assert isinstance(losskit.build_loss("wrapper", base="mse").base, MSELoss)
    with pytest.raises(ConfigError, match=r"base\.bta"):
        losskit.build_loss({"name": "wrapper", "base": {"name": "smooth_l1", "bta": 1}})


def test_var_kwargs_accept_anything(scoped_registry: Registry) -> None:
    @losskit.register_loss("absorbing")
    def create(mse_weight: float = 1.0, **_: object) -> nn.Module:
        return MSELoss()

    assert isinstance(losskit.build_loss({"name": "absorbing", "whatever": 1}), MSELoss)


def test_function_losses_bind_params_per_build(scoped_registry: Registry) -> None:
    @losskit.register_loss("VAEish")
    def vae(model_output: dict, targets: dict, beta: float = 1.0, **kwargs: object) -> torch.Tensor:
        return (model_output["p"] - targets["p"]).pow(2).mean() + beta * model_output["kl"]

    train = losskit.build_loss({"class": "VAEish", "params": {"beta": 1.0}})
    val = losskit.build_loss({"class": "VAEish", "params": {"beta": 0.5}})
    out, tgt = {"p": torch.ones(2), "kl": torch.tensor(2.0)}, {"p": torch.zeros(2)}
    assert train(out, tgt).item() == pytest.approx(3.0) and val(out, tgt).item() == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="expects float"):
        losskit.build_loss({"class": "VAEish", "params": {"beta": "big"}})

    @losskit.register_loss("returns_float")
    def bad(pred: torch.Tensor, target: torch.Tensor) -> float:
        return 0.5

    with pytest.raises(TypeError, match="returned float, expected a tensor"):
        losskit.build_loss("returns_float")(torch.ones(1), torch.ones(1))


def test_factory_must_return_a_module(scoped_registry: Registry) -> None:
    @losskit.register_loss("bad_factory", kind="factory")
    def make() -> int:
        return 3

    with pytest.raises(ConfigError, match="returned int, expected an nn.Module"):
        losskit.build_loss("bad_factory")


# ---------------------------------------------------------------- to_config
def _same(a: nn.Module, b: nn.Module, *inputs: torch.Tensor) -> None:
    assert type(a) is type(b)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    torch.testing.assert_close(a(*inputs), b(*inputs))


@pytest.mark.parametrize(
    "spec",
    [
        "mse",
        {"name": "cross_entropy", "weight": [1.0, 2.0, 3.0], "label_smoothing": 0.1, "ignore_index": 2},
        {"_target_": "torch.nn.SmoothL1Loss", "beta": 0.5},
        {
            "losses": {"ce": {"name": "cross_entropy", "params": {"weight": [1, 1, 2]}}, "nll_like": "cross_entropy"},
            "weights": [0.3, 0.7],
        },
    ],
)
def test_to_config_round_trip_through_yaml(spec: object) -> None:
    loss = losskit.build_loss(spec)
    config = losskit.to_config(loss)
    text = yaml.safe_dump(config)
    rebuilt = losskit.build_loss(yaml.safe_load(text))
    if isinstance(loss, CombinedLoss) or "cross_entropy" in str(spec):
        inputs: tuple[torch.Tensor, ...] = (torch.randn(4, 3), torch.randint(0, 3, (4,)))
    else:
        inputs = (torch.randn(4, 3), torch.randn(4, 3))
    _same(loss, rebuilt, *inputs)
    assert losskit.to_config(rebuilt) == config


def test_to_config_of_directly_built_modules() -> None:
    assert losskit.to_config(CrossEntropyLoss(label_smoothing=0.2))["label_smoothing"] == 0.2
    config = losskit.to_config(nn.SmoothL1Loss(beta=0.3))
    assert config["_target_"] == "torch.nn.SmoothL1Loss" and config["beta"] == 0.3
    assert isinstance(losskit.build_loss(config), nn.SmoothL1Loss)

    class Custom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum()

    with pytest.raises(ConfigError, match="not built by build_loss"):
        losskit.to_config(Custom())
