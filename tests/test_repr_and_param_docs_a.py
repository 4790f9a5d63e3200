"""Issue 8 ("losskit info shows no per-parameter description", "module reprs are empty"), first half of the zoo:
every built-in of classification, focal, detection, segmentation and the segmentation combos documents each
constructor parameter in an ``Args:`` section (each allowed value of a choice described), its repr shows a
non-default value of each option as a valid constructor call, and the docstring examples run.
"""

from __future__ import annotations

import doctest
import importlib
import re
from typing import Any

import pytest
import torch

import losskit

from ._param_docs import builtins_of, non_default

MODULES = (
    "classification",
    "focal",
    "detection",
    "segmentation",
    "segmentation_combined",
)


BUILTINS = builtins_of(MODULES)
# The region losses' single ``smooth`` sets both smoothing terms and is shown through them (a valid call too).
SHOWN_AS = {"smooth": "smooth_nr"}
# Tensor-valued options: a non-default value of each, checked in the repr as well.
TENSORS: dict[tuple[str, str], Any] = {
    ("logit_adjusted_cross_entropy", "prior"): [3.0, 1.0],
    ("focal_pixelwise", "alpha"): [0.2, 0.8],
    ("bce", "weight"): torch.tensor([0.5, 2.0]),
    ("bce_with_logits", "weight"): torch.tensor([0.5, 2.0]),
    ("bce_with_logits", "pos_weight"): torch.tensor([3.0]),
    ("combined_segmentation", "class_weights"): [1.0, 2.0],
    ("combined_dice_bce", "pos_weight"): torch.tensor(2.0),
    ("dice_ce", "pos_weight"): torch.tensor(2.0),
    ("mask", "pos_weight"): 2.0,
}


def test_the_scan_finds_every_file() -> None:
    sources = {losskit.describe_loss(n).source.split(":")[0] for n in BUILTINS}
    assert sources == {f"losskit.zoo.{m}" for m in MODULES}
    assert {"cross_entropy", "focal_pixelwise", "giou", "fcos", "dice", "lovasz", "dice_ce", "mask"} <= set(BUILTINS)


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
        value = non_default(name, p, TENSORS)
        if value is None:
            continue
        loss = losskit.build_loss(name, **{p.name: value})
        text = repr(loss)
        shown = p.name if hasattr(loss, p.name) or p.name not in SHOWN_AS else SHOWN_AS[p.name]
        assert re.search(rf"\b{shown}=", text), f"{name}: {p.name}={value!r} not in {text}"
        checked += 1
    assert checked, name
    assert losskit.build_loss(name).extra_repr() == "", name  # defaults are not shown


@pytest.mark.parametrize("name", BUILTINS)
def test_the_repr_is_the_constructor_call(name: str) -> None:
    desc = losskit.describe_loss(name)
    for p in desc.params:
        value = non_default(name, p)
        if value is None:
            continue
        loss = losskit.build_loss(name, **{p.name: value})
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


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"losskit.zoo.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
