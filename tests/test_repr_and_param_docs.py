"""Issue 8 ("losskit info shows no per-parameter description", "module reprs are empty"), the whole zoo: every
built-in documents each constructor parameter in an ``Args:`` section (each allowed value of a choice described),
its repr shows a non-default value of each option as a valid constructor call, and the docstring examples run.
"""

from __future__ import annotations

import doctest
import importlib
import math
import pkgutil
import re
from typing import Any

import pytest
import torch

import losskit
import losskit.functional
import losskit.zoo
from losskit.registration import LOSSES
from losskit.zoo.metric_learning import ArcFaceLoss

from ._param_docs import builtins_of, non_default
from .policy._cases import builtin_names


def _zoo_modules() -> tuple[str, ...]:
    """Every public module of ``losskit.zoo`` except ``composition`` (``combined`` holds other losses' options)."""
    found = pkgutil.iter_modules(losskit.zoo.__path__)
    return tuple(sorted(m.name for m in found if not m.name.startswith("_") and m.name != "composition"))


MODULES = _zoo_modules()
BUILTINS = builtins_of(MODULES)
# The region losses' single ``smooth`` sets both smoothing terms and is shown through them (a valid call too).
SHOWN_AS = {"smooth": "smooth_nr"}
# Non-default values the generic rule of ``non_default`` cannot make (tensor-valued options, sequences), checked in
# the repr as well; the rebuild-from-repr test leaves them out.
OVERRIDES: dict[tuple[str, str], Any] = {
    ("logit_adjusted_cross_entropy", "prior"): [3.0, 1.0],
    ("focal_pixelwise", "alpha"): [0.2, 0.8],
    ("bce", "weight"): torch.tensor([0.5, 2.0]),
    ("bce_with_logits", "weight"): torch.tensor([0.5, 2.0]),
    ("bce_with_logits", "pos_weight"): torch.tensor([3.0]),
    ("combined_segmentation", "class_weights"): [1.0, 2.0],
    ("combined_dice_bce", "pos_weight"): torch.tensor(2.0),
    ("masked", "loss"): "l1",
    ("multi_scale", "loss"): "l1",
    ("deep_supervision", "loss"): "dice",
    ("dice_ce", "pos_weight"): torch.tensor(2.0),
    ("mask", "pos_weight"): 2.0,
    ("quantile", "quantiles"): 0.25,
    ("mutual_information", "value_range"): (0.0, 2.0),
}
# Options that need a companion to be valid.
COMPANIONS: dict[tuple[str, str], dict[str, Any]] = {("vae", "capacity_steps"): {"capacity": 1.0}}


def _build_with(name: str, option: str, value: Any) -> Any:
    return losskit.build_loss(name, **{option: value}, **COMPANIONS.get((name, option), {}))


def test_the_scan_finds_every_file() -> None:
    """Every built-in (``combined`` aside) is defined in a scanned module, and every scanned module defines one."""
    every = {n for n in builtin_names() if n != "combined"}
    assert every == set(BUILTINS)
    sources = {losskit.describe_loss(n).source.split(":")[0] for n in BUILTINS}
    assert sources == {f"losskit.zoo.{m}" for m in MODULES}
    some = {"cross_entropy", "focal_pixelwise", "giou", "fcos", "dice", "lovasz", "dice_ce", "mask"}
    some |= {"mse", "kl_div", "arcface", "vae", "lncc", "lncc_dvf", "bending_energy"}
    assert some <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_parameter_is_documented(name: str) -> None:
    desc = losskit.describe_loss(name)
    assert desc.params, name
    undocumented = [p.name for p in desc.params if not p.doc.strip()]
    assert not undocumented, f"{name}: no Args entry for {undocumented}"
    for p in desc.params:  # choices are spelled out, each allowed value explained
        for choice in p.choices:
            assert f'"{choice}"' in p.doc or f"'{choice}'" in p.doc, f"{name}.{p.name}: {choice!r} not described"


def test_info_shows_the_descriptions_once(capsys: pytest.CaptureFixture[str]) -> None:
    from losskit.cli import main

    desc = losskit.describe_loss("tversky")
    assert "false positives" in next(p.doc for p in desc.params if p.name == "alpha")
    assert main(["info", "tversky"]) == 0
    shown = capsys.readouterr().out.split("\nSource\n")[0]
    assert shown.count("weight of the false positives") == 1  # in the parameter table, not again in the text
    assert "Args:" not in shown


@pytest.mark.parametrize("name", BUILTINS)
def test_non_default_options_show_in_the_repr(name: str) -> None:
    desc = losskit.describe_loss(name)
    checked = 0
    for p in desc.params:
        value = non_default(name, p, OVERRIDES)
        if value is None:
            continue
        loss = _build_with(name, p.name, value)
        text = repr(loss)
        if "Module" in p.annotation:  # an inner loss shows as a child module, as in any nn.Module repr
            assert f"({p.name}): {type(getattr(loss, p.name)).__name__}(" in text, (name, p.name, text)
            checked += 1
            continue
        shown = p.name if hasattr(loss, p.name) or p.name not in SHOWN_AS else SHOWN_AS[p.name]
        assert re.search(rf"\b{shown}=", text), f"{name}: {p.name}={value!r} not in {text}"
        checked += 1
    assert checked, name
    assert losskit.build_loss(name).extra_repr() == "", name  # defaults are not shown


@pytest.mark.parametrize("name", BUILTINS)
def test_the_repr_is_the_constructor_call(name: str) -> None:
    """Rebuilding from the shown options gives the same options (``margin`` in degrees stays in degrees)."""
    desc = losskit.describe_loss(name)
    for p in desc.params:
        value = non_default(name, p)  # simple values only: OVERRIDES' tensors and sequences stay out
        if value is None:
            continue
        loss = _build_with(name, p.name, value)
        cls = type(loss)
        rebuilt = eval(f"{cls.__name__}({loss.extra_repr()})", {cls.__name__: cls})  # noqa: S307 (our own repr)
        assert rebuilt.extra_repr() == loss.extra_repr(), (name, p.name)


def test_focal_pixelwise_scalar_alpha_shows() -> None:
    """The finding: ``alpha`` was stored as ``alpha_scalar`` and ``FocalLossPixelwise()`` printed for 0.5."""
    assert repr(losskit.build_loss("focal_pixelwise", alpha=0.5)) == "FocalLossPixelwise(alpha=0.5)"
    assert repr(losskit.build_loss("focal_pixelwise", alpha=None)) == "FocalLossPixelwise(alpha=None)"
    assert repr(losskit.build_loss("focal_pixelwise")) == "FocalLossPixelwise()"
    per_class = repr(losskit.build_loss("focal_pixelwise", alpha=[0.25, 0.75], gamma=1.0))
    assert per_class == "FocalLossPixelwise(alpha=tensor([0.25, 0.75], dtype=float32), gamma=1.0)"


def test_logit_adjusted_priors_differ_in_the_repr() -> None:
    """The finding: the prior was only the buffer ``log_prior``, so two priors printed the same."""
    a = losskit.build_loss("logit_adjusted_cross_entropy", prior=[3, 1])
    b = losskit.build_loss("logit_adjusted_cross_entropy", prior=[1, 1])
    assert repr(a) == "LogitAdjustedCrossEntropy(prior=tensor([0.75, 0.25], dtype=float32), num_classes=2)"
    assert repr(a) != repr(b)
    assert set(a.state_dict()) == {"log_prior"}  # the shown copy is not persistent: old checkpoints still load
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 1, 0])
    assert torch.allclose(a.to(torch.float64)(x.double(), y), a(x, y).double(), atol=1e-6)


def test_arcface_margin_in_degrees_reprs_in_degrees() -> None:
    loss = ArcFaceLoss(margin=28.6, margin_unit="degrees")
    assert repr(loss) == "ArcFaceLoss(margin=28.6, margin_unit='degrees')"
    assert math.isclose(loss.margin, math.radians(28.6))  # still held in radians for forward
    # 0.5 rad given in degrees: the margin is the default value, but it must show with its unit
    assert "margin=" in repr(losskit.build_loss("arcface", margin=28.64788975654116, margin_unit="degrees"))


FUNCTIONAL_MODULES = tuple(
    sorted(f"functional.{m.name}" for m in pkgutil.iter_modules(losskit.functional.__path__) if m.name != "__init__")
)


@pytest.mark.parametrize("module", MODULES + FUNCTIONAL_MODULES)
def test_docstring_examples_run(module: str) -> None:
    path = module if module.startswith("functional.") else f"zoo.{module}"
    result = doctest.testmod(importlib.import_module(f"losskit.{path}"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, module


def _docs_of(name: str) -> str:
    desc = losskit.describe_loss(name)
    module, _, attr = (desc.functional or "").rpartition(".")
    form = getattr(importlib.import_module(module), attr) if module else None
    return (LOSSES.entry(name).obj.__doc__ or "") + ((form.__doc__ or "") if form else "")


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_has_a_runnable_example(name: str) -> None:
    """Every built-in shows a ``>>>`` example in its class docstring or its functional form's (run by
    ``test_docstring_examples_run``)."""
    assert ">>>" in _docs_of(name), f"{name}: no runnable example in its class or functional form's docstring"
