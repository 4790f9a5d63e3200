"""call_loss and CombinedLoss dispatch (seed 002's two- and four-input contract without its trap)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import losskit
from losskit import CombinedLoss, LossInputError, call_loss


class TwoInputs(nn.Module):
    def forward(self, warped: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(warped, fixed)


class FourInputs(nn.Module):
    def forward(
        self,
        warped: torch.Tensor,
        fixed: torch.Tensor,
        pred_dvf: torch.Tensor | None = None,
        gt_dvf: torch.Tensor | None = None,
    ) -> torch.Tensor:
        extra = F.mse_loss(pred_dvf, gt_dvf) if gt_dvf is not None and pred_dvf is not None else warped.new_zeros(())
        return F.mse_loss(warped, fixed) + extra


class RaisesTypeError(nn.Module):
    def forward(self, warped: torch.Tensor, fixed: torch.Tensor, pred_dvf: torch.Tensor | None = None) -> torch.Tensor:
        raise TypeError("a genuine bug inside the loss")


class Anything(nn.Module):
    def forward(self, *args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        return torch.stack([a.sum() for a in args]).sum() + sum(v.sum() for v in kwargs.values())


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(2, 3, 4, generator=g) for k in ("warped", "fixed", "ddf", "gt")}


def test_named_inputs_are_passed_only_when_accepted() -> None:
    b = _batch()
    two = call_loss(TwoInputs(), b["warped"], b["fixed"], pred_dvf=b["ddf"], gt_dvf=b["gt"])
    torch.testing.assert_close(two, F.mse_loss(b["warped"], b["fixed"]))
    four = call_loss(FourInputs(), b["warped"], b["fixed"], pred_dvf=b["ddf"], gt_dvf=b["gt"])
    torch.testing.assert_close(four, F.mse_loss(b["warped"], b["fixed"]) + F.mse_loss(b["ddf"], b["gt"]))
    assert call_loss(Anything(), torch.ones(2), extra=torch.ones(3)).item() == 5.0


def test_genuine_type_errors_inside_a_loss_propagate() -> None:
    b = _batch()
    with pytest.raises(TypeError, match="genuine bug"):
        call_loss(RaisesTypeError(), b["warped"], b["fixed"], pred_dvf=b["ddf"], gt_dvf=b["gt"])


def test_missing_required_input_is_a_clear_error() -> None:
    with pytest.raises(LossInputError, match=r"'TwoInputs' requires input\(s\) 'fixed'"):
        call_loss(TwoInputs(), torch.ones(2))
    with pytest.raises(LossInputError, match="takes 2 positional"):
        call_loss(TwoInputs(), torch.ones(2), torch.ones(2), torch.ones(2))
    assert call_loss(TwoInputs(), torch.ones(2), fixed=torch.zeros(2)).item() == 1.0


def test_call_loss_uses_the_registered_name_in_errors() -> None:
    with pytest.raises(LossInputError, match="'mse' requires"):
        call_loss(losskit.build_loss("mse"), torch.ones(2))


def test_combined_dispatches_named_inputs_per_term() -> None:
    b = _batch()
    combo = CombinedLoss({"image": TwoInputs(), "dvf": FourInputs()}, weights=[1.0, 0.5])
    total, terms = combo(b["warped"], b["fixed"], pred_dvf=b["ddf"], gt_dvf=b["gt"], return_terms=True)
    expected = terms["image"] + 0.5 * terms["dvf"]
    torch.testing.assert_close(total.detach(), expected)
    assert total.dim() == 0 and not total.requires_grad  # the inputs carry no grad here


def test_combined_total_keeps_gradients_and_dtype() -> None:
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 3, dtype=torch.float64)
    combo = CombinedLoss({"mse": "mse", "l1": {"name": "l1"}}, weights={"l1": 2.0})
    total = combo(x, y)
    assert total.dtype == torch.float64 and total.dim() == 0
    total.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_combined_refuses_non_scalar_terms() -> None:
    combo = CombinedLoss({"per_element": losskit.build_loss("mse", reduction="none")})
    with pytest.raises(LossInputError, match=r"term 'per_element' returned \(4, 3\), expected a scalar"):
        combo(torch.randn(4, 3), torch.randn(4, 3))


def test_combined_constructor_arguments() -> None:
    with pytest.raises(losskit.ConfigError):
        CombinedLoss()
    with pytest.raises(losskit.ConfigError):
        CombinedLoss({"a": "mse"}, losses={"b": "l1"})
    assert list(CombinedLoss(losses={"a": "mse"}).terms) == ["a"]


def test_combined_is_registered_under_its_names() -> None:
    assert losskit.LOSSES.get("CombinedLoss") is CombinedLoss
    built = losskit.build_loss({"_target_": "CombinedLoss", "losses": {"a": "mse"}, "weights": [2.0]})
    assert isinstance(built, CombinedLoss) and built.weights == [2.0]


def test_terms_added_after_construction_are_called_correctly() -> None:
    combo = CombinedLoss({"mse": "mse"})
    combo.terms["image"] = TwoInputs()
    combo.weights.append(2.0)
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    total, terms = call_loss(combo, x, y, pred_dvf=torch.ones(1), return_terms=True)  # no term takes pred_dvf
    assert set(terms) == {"mse", "image"}
    torch.testing.assert_close(total, F.mse_loss(x, y) * 3.0)


def test_a_replaced_term_gets_a_new_call_plan() -> None:
    combo = CombinedLoss({"t": TwoInputs()})
    combo.terms["t"] = FourInputs()  # same name, a forward that takes more inputs
    b = _batch()
    value = combo(b["warped"], b["fixed"], pred_dvf=b["ddf"], gt_dvf=b["gt"])
    torch.testing.assert_close(value, F.mse_loss(b["warped"], b["fixed"]) + F.mse_loss(b["ddf"], b["gt"]))


# ----------------------------------------------------------------------------- one construction path (issue 10)
@pytest.mark.parametrize("key", ["terms", "losses"])
def test_combined_given_specs_reports_the_same_config_path_as_build_loss(key: str) -> None:
    spec = {"a": {"name": "dice", "smoth": 1}}
    with pytest.raises(losskit.ConfigError) as direct:
        CombinedLoss(**{key: spec})
    with pytest.raises(losskit.ConfigError) as built:
        losskit.build_loss({"losses": spec})
    assert "(at 'losses.a.smoth')" in str(direct.value)
    assert str(direct.value) == str(built.value)


def test_combined_given_specs_refuses_what_build_loss_refuses() -> None:
    for terms in ({"a": "/etc/passwd"}, {"a": {"_target_": "torch.nn.modules.loss.__main__.X"}}):
        with pytest.raises(losskit.LossKitError) as direct:
            CombinedLoss(terms)
        with pytest.raises(losskit.LossKitError) as built:
            losskit.build_loss({"losses": terms})
        assert type(direct.value) is type(built.value) and str(direct.value) == str(built.value)


def test_combined_of_modules_takes_them_as_they_are() -> None:
    two = TwoInputs()
    combo = CombinedLoss({"a": two, "b": nn.L1Loss()}, weights=[2.0, 1.0])
    assert combo.terms["a"] is two and combo.term_weights == {"a": 2.0, "b": 1.0}


def test_combined_repr_shows_weights_as_a_mapping() -> None:
    combo = CombinedLoss({"d": "dice", "ce": "cross_entropy"}, weights={"d": 0.5})
    assert combo.extra_repr() == "weights={'d': 0.5, 'ce': 1.0}"
    assert "weights={'d': 0.5, 'ce': 1.0}" in repr(combo)


def test_combined_example_inputs_come_from_its_registry_entry() -> None:
    from losskit.testing import example_for

    combo = losskit.build_loss({"losses": {"a": "mse", "b": "l1"}})
    assert not hasattr(combo, "example_inputs")
    example = example_for(combo, torch.Generator().manual_seed(0))
    assert call_loss(combo, *example.args).dim() == 0
