"""The wrappers that take any loss: masked, multi_scale, deep_supervision (issue 11).

MONAI parity for each, YAML build, nesting in CombinedLoss, per-term values, to_config round trips, path-aware
config errors, bad input, check_loss and gradcheck.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from monai.losses import DeepSupervisionLoss as MonaiDS
from monai.losses import DiceCELoss as MonaiDiceCE
from monai.losses import MaskedLoss as MonaiMasked
from monai.losses import MultiScaleLoss as MonaiMS

import losskit
import losskit.functional as LF
from losskit import ConfigError, LossInputError, UnknownLossError, build_loss, to_config
from losskit.testing import check_loss
from losskit.zoo.wrappers import DeepSupervisionLoss, MaskedLoss, MultiScaleLoss

WRAPPERS = ("masked", "multi_scale", "deep_supervision")
DS_YAML = """
loss:
  name: deep_supervision
  loss: {name: dice_ce, lambda_dice: 1.0}
  weight_mode: exp
"""


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _outputs(g: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    return [torch.randn(2, 3, s, s, generator=g, dtype=dtype).to(device) for s in (16, 8, 4)]


# ---------------------------------------------------------------------------------------------- MONAI parity


@pytest.mark.parametrize("batch_mask", [True, False])
def test_masked_matches_monai(batch_mask: bool, device: torch.device) -> None:
    g = _gen()
    x = torch.randn(2, 3, 6, 5, generator=g, dtype=torch.float64).to(device)
    y = torch.randn(2, 3, 6, 5, generator=g, dtype=torch.float64).to(device)
    m = torch.randint(0, 2, (2 if batch_mask else 1, 1, 6, 5), generator=g).double().to(device)
    ours = build_loss({"name": "masked", "loss": "mse"})(x, y, mask=m)
    ref = MonaiMasked(torch.nn.MSELoss())(x, y, m)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_masked_class_labels_become_background_outside() -> None:
    g = _gen()
    x = torch.randn(2, 3, 4, 4, generator=g)
    labels = torch.randint(0, 3, (2, 4, 4), generator=g)
    m = torch.randint(0, 2, (2, 1, 4, 4), generator=g).float()
    inner = build_loss("dice_ce")
    out = MaskedLoss(inner)(x, labels, m)
    expected = inner(x * m, torch.where(m[:, 0] != 0, labels, 0))
    torch.testing.assert_close(out, expected)


class _MaskAware(torch.nn.Module):
    """A loss that takes a mask itself: a masked mean of squared errors."""

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        assert mask is not None
        w = mask.expand_as(input)
        return ((input - target) ** 2 * w).sum() / w.sum()


def test_masked_passes_the_mask_to_a_loss_that_takes_one() -> None:
    g = _gen()
    x, y = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    m = torch.randint(0, 2, (2, 1, 4, 4), generator=g).float()
    m[0, 0, 0, 0] = 1.0
    inner = _MaskAware()
    torch.testing.assert_close(MaskedLoss(inner)(x, y, m), inner(x, y, m))
    assert not torch.allclose(MaskedLoss(inner)(x, y, m), MaskedLoss("mse")(x, y, m))  # mean over all, as MONAI
    assert LF.wrappers.takes_mask(inner) and not LF.wrappers.takes_mask(build_loss("mse"))
    with pytest.raises(LossInputError, match="masked: expected mask"):
        MaskedLoss(inner)(x, y, m[:, :, :2])
    wrapped = MaskedLoss("mse")
    wrapped.loss = inner  # replaced after construction: read again
    torch.testing.assert_close(wrapped(x, y, m), inner(x, y, m))


@pytest.mark.parametrize("kernel", ["gaussian", "cauchy"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(2, 2, 20, 17), (1, 2, 9, 10, 11)], ids=["2d", "3d"])
def test_multi_scale_matches_monai(kernel: str, reduction: str, shape: tuple[int, ...], device: torch.device) -> None:
    g = _gen(1)
    x = torch.rand(shape, generator=g, dtype=torch.float64).to(device)
    y = torch.rand(shape, generator=g, dtype=torch.float64).to(device)
    scales = [0, 1, 2, 0.5]
    ours = MultiScaleLoss("l1", scales=scales, kernel=kernel, reduction=reduction)(x, y)  # type: ignore[arg-type]
    ref = MonaiMS(torch.nn.L1Loss(), scales=scales, kernel=kernel, reduction=reduction)(y, x)  # (y_true, y_pred)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-9)  # MONAI's taps are float32


def test_multi_scale_without_scales_is_the_inner_loss() -> None:
    x, y = torch.rand(2, 1, 8, 8, generator=_gen()), torch.rand(2, 1, 8, 8, generator=_gen(1))
    torch.testing.assert_close(MultiScaleLoss("mse")(x, y), torch.nn.functional.mse_loss(x, y))
    torch.testing.assert_close(MultiScaleLoss("mse")(x, y), MonaiMS(torch.nn.MSELoss())(y, x))


@pytest.mark.parametrize("weight_mode", ["same", "exp", "two"])
def test_deep_supervision_matches_monai_on_labels(weight_mode: str, device: torch.device) -> None:
    g = _gen(2)
    outs = [torch.randn(2, 3, s, s, generator=g).to(device) for s in (16, 8, 4, 2, 1)]
    labels = torch.randint(0, 3, (2, 16, 16), generator=g).to(device)
    ours = build_loss({"name": "deep_supervision", "loss": "dice_ce", "weight_mode": weight_mode})(outs, labels)
    monai = MonaiDS(MonaiDiceCE(softmax=True, to_onehot_y=True), weight_mode=weight_mode)
    ref = monai(outs, labels[:, None].float())
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_deep_supervision_matches_monai_on_a_dense_target_with_weights(device: torch.device) -> None:
    g = _gen(3)
    outs = [torch.rand(2, 2, s, s + 2, generator=g).to(device) for s in (12, 6, 3)]
    y = torch.rand(2, 2, 12, 14, generator=g).to(device)
    weights = [1.0, 0.3, 0.2, 9.0]  # MONAI takes the first len(outs)
    ours = DeepSupervisionLoss("mse", weights=weights)(outs, y)
    ref = MonaiDS(torch.nn.MSELoss(), weights=weights)(outs, y)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-7)
    single = DeepSupervisionLoss("mse")(outs[0], y)  # one tensor: the inner loss alone
    torch.testing.assert_close(single, MonaiDS(torch.nn.MSELoss())(outs[0], y))


def test_deep_supervision_weights_follow_monai() -> None:
    monai = MonaiDS(torch.nn.MSELoss())
    for mode in ("same", "exp", "two"):
        monai.weight_mode = mode
        assert LF.wrappers.deep_supervision_weights(7, mode) == monai.get_weights(7)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- config


def test_yaml_builds_deep_supervision(tmp_path: Path) -> None:
    path = tmp_path / "loss.yaml"
    path.write_text(DS_YAML)
    loss = build_loss(str(path))
    assert isinstance(loss, DeepSupervisionLoss) and loss.weight_mode == "exp"
    assert to_config(loss.loss) == {"name": "dice_ce", "lambda_dice": 1.0}
    outs = _outputs(_gen(), torch.device("cpu"))
    labels = torch.randint(0, 3, (2, 16, 16), generator=_gen(1))
    assert torch.isfinite(loss(outs, labels))


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "deep_supervision", "loss": {"name": "dice_ce", "lambda_dice": 0.5}, "weight_mode": "two"},
        {"name": "deep_supervision", "loss": "dice", "weights": [1.0, 0.25, 0.1]},
        {"name": "masked", "loss": {"name": "l1"}},
        {"name": "multi_scale", "loss": "mse", "scales": [0, 1, 2], "kernel": "cauchy", "reduction": "sum"},
        {"_target_": "MultiScaleLoss", "loss": {"_target_": "MSELoss"}, "scales": [1]},
        {"name": "masked", "loss": {"name": "multi_scale", "loss": "mse", "scales": [0, 1]}},  # a wrapper in one
    ],
)
def test_to_config_round_trip(spec: dict[str, Any]) -> None:
    loss = build_loss(spec)
    config = to_config(loss)
    again = build_loss(yaml.safe_load(yaml.safe_dump(config)))
    assert type(again) is type(loss) and to_config(again) == config
    assert type(again.loss) is type(loss.loss)


def test_to_config_of_a_wrapper_constructed_directly() -> None:
    for loss in (
        MultiScaleLoss({"name": "l1"}, scales=(0, 2), kernel="cauchy"),
        DeepSupervisionLoss(build_loss("dice", smooth=2.0), weight_mode="same", weights=[1, 0.5]),
        MaskedLoss(),
    ):
        config = to_config(loss)
        again = build_loss(config)
        assert type(again) is type(loss) and to_config(again) == config
    assert to_config(MultiScaleLoss("l1", scales=[2]))["loss"] == {"name": "l1"}


def test_to_config_round_trip_of_wrappers_inside_a_combined_loss() -> None:
    combo = losskit.CombinedLoss(
        {
            "ds": {"name": "deep_supervision", "loss": {"name": "dice_ce", "lambda_dice": 0.5}, "weight_mode": "two"},
            "m": {"name": "masked", "loss": "l1"},
        },
        weights=[1.0, 0.5],
    )
    config = to_config(combo)
    assert config["losses"]["ds"]["params"]["loss"] == {"name": "dice_ce", "lambda_dice": 0.5}
    again = build_loss(yaml.safe_load(yaml.safe_dump(config)))
    assert to_config(again) == config


def test_half_precision_outputs_give_a_float32_loss() -> None:
    outs = [o.half() for o in _outputs(_gen(), torch.device("cpu"))]
    labels = torch.randint(0, 3, (2, 16, 16), generator=_gen(1))
    out = DeepSupervisionLoss()(outs, labels)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, DeepSupervisionLoss()([o.float() for o in outs], labels))


def test_errors_inside_the_inner_spec_name_their_path(tmp_path: Path) -> None:
    bad = {"name": "deep_supervision", "loss": {"name": "dice_ce", "lambda_dicee": 1.0}}
    with pytest.raises(ConfigError, match=r"loss\.lambda_dicee.*Did you mean 'lambda_dice'"):
        build_loss(bad)
    with pytest.raises(ConfigError, match=r"loss\.lambda_dicee"):
        DeepSupervisionLoss(loss=bad["loss"])  # constructed directly: the same path
    with pytest.raises(ConfigError, match=r"losses\.seg\.loss\.lambda_dicee"):
        build_loss({"losses": {"seg": bad, "l1": "l1"}})
    with pytest.raises(ConfigError, match=r"losses\.seg\.loss\.lambda_dicee"):
        losskit.CombinedLoss({"seg": bad})
    with pytest.raises(ConfigError, match=r"loss\.loss\.smoth"):
        build_loss({"name": "masked", "loss": {"name": "masked", "loss": {"name": "dice", "smoth": 1}}})
    with pytest.raises(UnknownLossError, match="dice_ce"):
        build_loss({"name": "masked", "loss": "dice_cee"})
    with pytest.raises(ConfigError, match="did you mean 'exp'"):
        build_loss({"name": "deep_supervision", "weight_mode": "expp"})
    with pytest.raises(ConfigError, match="loss"):
        build_loss({"name": "masked", "loss": 3})
    path = tmp_path / "bad.yaml"
    path.write_text(DS_YAML.replace("lambda_dice", "lambda_dicee"))
    with pytest.raises(ConfigError, match=r"loss\.lambda_dicee"):
        build_loss(str(path))


def test_registry_lists_and_describes_the_wrappers() -> None:
    names = losskit.list_losses()
    for name, alias in zip(WRAPPERS, ("MaskedLoss", "MultiScaleLoss", "DeepSupervisionLoss"), strict=True):
        assert name in names and losskit.has_loss(alias)
        info = losskit.describe_loss(name)
        assert info.functional == f"losskit.functional.{name}_loss"
        assert "loss" in {p.name for p in info.params}


# ---------------------------------------------------------------------------------------------- composing, terms


def test_nested_in_combined_loss_with_terms(device: torch.device) -> None:
    combo = losskit.CombinedLoss(
        {"ds": {"name": "deep_supervision", "loss": "dice_ce", "weight_mode": "two"}, "ds_same": "deep_supervision"},
        weights=[1.0, 0.5],
    ).to(device)
    outs = _outputs(_gen(), device)
    labels = torch.randint(0, 3, (2, 16, 16), generator=_gen(1)).to(device)
    total, terms = combo(outs, labels, return_terms=True)
    assert {"ds", "ds.level0", "ds.level2", "ds.level1.dice", "ds.level1.ce", "ds_same.level0"} <= set(terms)
    torch.testing.assert_close(total, terms["ds"] + 0.5 * terms["ds_same"])
    two = terms["ds.level0"] + 0.5 * (terms["ds.level1"] + terms["ds.level2"])
    torch.testing.assert_close(terms["ds"], two)
    torch.testing.assert_close(terms["ds.level1"], terms["ds.level1.dice"] + terms["ds.level1.ce"])


def test_masked_in_combined_loss_receives_the_mask(device: torch.device) -> None:
    combo = build_loss({"losses": {"masked": {"name": "masked", "loss": "dice_ce"}, "ce": "cross_entropy"}})
    g = _gen()
    x = torch.randn(2, 3, 8, 8, generator=g).to(device)
    y = torch.randint(0, 3, (2, 8, 8), generator=g).to(device)
    m = torch.randint(0, 2, (2, 1, 8, 8), generator=g).float().to(device)
    total, terms = combo.to(device)(x, y, mask=m, return_terms=True)
    assert {"masked", "masked.dice", "masked.ce", "ce"} <= set(terms)
    torch.testing.assert_close(terms["masked"], MaskedLoss("dice_ce")(x, y, m))
    with pytest.raises(LossInputError, match="requires input.*mask"):
        losskit.call_loss(MaskedLoss(), x, x)


def test_multi_scale_terms(device: torch.device) -> None:
    loss = MultiScaleLoss({"name": "dice_ce", "mode": "binary"}, scales=[0, 1], reduction="sum")
    x = torch.randn(2, 1, 8, 8, generator=_gen()).to(device)
    y = torch.randint(0, 2, (2, 1, 8, 8), generator=_gen(1)).float().to(device)
    total, terms = loss(x, y, return_terms=True)
    assert set(terms) == {"scale0", "scale0.dice", "scale0.ce", "scale1", "scale1.dice", "scale1.ce"}
    torch.testing.assert_close(total, terms["scale0"] + terms["scale1"])
    assert MaskedLoss("mse")(x, y, torch.ones_like(x), return_terms=True)[1] == {}


# ---------------------------------------------------------------------------------------------- bad input


def test_masked_rejects_a_mask_of_the_wrong_shape() -> None:
    x, y = torch.randn(2, 3, 6, 5), torch.randn(2, 3, 6, 5)
    loss = MaskedLoss()
    for bad in (torch.ones(2, 3, 6, 5), torch.ones(3, 1, 6, 5), torch.ones(2, 1, 5, 6), torch.ones(2, 6, 5)):
        with pytest.raises(LossInputError, match=r"^masked: expected mask \(N or 1, 1, \*spatial\)"):
            loss(x, y, bad)
    with pytest.raises(LossInputError, match="masked: expected mask to be a torch.Tensor"):
        loss(x, y, [[1.0]])  # type: ignore[arg-type]
    with pytest.raises(LossInputError, match="masked: expected a target"):
        loss(x, torch.randn(2, 6), torch.ones(2, 1, 6, 5))


def test_multi_scale_and_deep_supervision_bad_input_and_options() -> None:
    with pytest.raises(LossInputError, match="multi_scale: expected input"):
        MultiScaleLoss("mse", scales=[1])(torch.randn(4, 8), torch.randn(4, 8))
    with pytest.raises(LossInputError, match=r"multi_scale: expected target .* floating point"):
        MultiScaleLoss("mse", scales=[1])(torch.randn(2, 1, 8, 8), torch.ones(2, 1, 8, 8, dtype=torch.long))
    for scales in ([-1.0], [float("nan")], [], "1"):
        with pytest.raises(ValueError, match="multi_scale: .*scale"):
            MultiScaleLoss("mse", scales=scales)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="did you mean 'cauchy'"):
        MultiScaleLoss("mse", kernel="cauchyy")  # type: ignore[arg-type]
    ds = DeepSupervisionLoss("mse", weights=[1.0, 0.5])
    outs = [torch.randn(2, 1, 8, 8), torch.randn(2, 1, 4, 4), torch.randn(2, 1, 2, 2)]
    with pytest.raises(LossInputError, match="deep_supervision: 3 outputs but only 2 weights"):
        ds(outs, torch.randn(2, 1, 8, 8))
    with pytest.raises(LossInputError, match="empty list"):
        ds([], torch.randn(2, 1, 8, 8))
    with pytest.raises(LossInputError, match="deep_supervision: expected a target"):
        DeepSupervisionLoss("mse")(outs, torch.randn(2, 8))
    with pytest.raises(LossInputError, match=r"deep_supervision: expected input\[1\]"):
        DeepSupervisionLoss("mse")([outs[0], outs[1].long()], torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match="deep_supervision: every weight"):
        DeepSupervisionLoss("mse", weights=[1.0, float("inf")])


# ---------------------------------------------------------------------------------------------- conformance


def test_check_loss() -> None:
    # every registered name is checked with torch.compile by tests/test_conformance.py; here inner specs
    for spec in (
        {"name": "deep_supervision", "loss": {"name": "dice", "smooth": 1.0}, "weight_mode": "two"},
        {"name": "masked", "loss": "dice_ce"},
        {"name": "multi_scale", "loss": "lncc", "scales": [0, 1]},
    ):
        check_loss(spec, compile=None)


def test_gradcheck_float64(device: torch.device) -> None:
    g = _gen(4)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=g, dtype=torch.float64).to(device).requires_grad_(True)

    x, y = leaf(1, 2, 4, 5), torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64).to(device)
    m = torch.randint(0, 2, (1, 1, 4, 5), generator=g).double().to(device)
    assert torch.autograd.gradcheck(lambda a: MaskedLoss("mse")(a, y, m), (x,))
    ms = MultiScaleLoss("mse", scales=[0, 1], kernel="cauchy")
    assert torch.autograd.gradcheck(lambda a, b: ms(a, b), (x, leaf(1, 2, 4, 5)))
    ds = DeepSupervisionLoss({"name": "dice_ce", "mode": "multilabel"}, weight_mode="exp")
    target = torch.randint(0, 2, (1, 2, 4, 4), generator=g).double().to(device)
    assert torch.autograd.gradcheck(lambda a, b: ds([a, b], target), (leaf(1, 2, 4, 4), leaf(1, 2, 2, 2)))
