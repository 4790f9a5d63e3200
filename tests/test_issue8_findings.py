"""Issue 8 audit: the findings whose literal reproduction no other test makes (docs: /work/notes/findings_audit.md).

Each test reproduces the finding as the issue states it and shows the fix; the rest of issue 8 is covered by
tests/policy, tests/zoo/test_*policy*.py, tests/zoo/test_class_det_edges.py and the tool/config/terms tests.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
import yaml

import losskit
import losskit.functional as LF
from losskit import LossInputError, build_loss, call_loss
from losskit.cli import main
from losskit.discovery import functional_form

# ------------------------------------------------------------------------ all-ignored patch: {dice, ce} vs dice_ce


def test_dice_ce_config_on_a_fully_ignored_patch_is_zero_like_dice_ce() -> None:
    # Was: cross_entropy with every label ignored returned NaN, so the combined config {dice, ce} was NaN on a
    # fully ignored patch while the built-in dice_ce gave 0.
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    y = torch.full((2, 8, 8), 255)
    spec = yaml.safe_load(
        "losses:\n  dice: {name: dice, ignore_index: 255}\n  ce: {name: cross_entropy, ignore_index: 255}\n"
    )
    combo = build_loss(spec)(x, y)
    (grad,) = torch.autograd.grad(combo, x)
    assert float(combo.detach()) == 0.0 and torch.count_nonzero(grad) == 0
    assert float(build_loss("dice_ce", ignore_index=255)(x, y).detach()) == float(combo.detach())


# ------------------------------------------------------------------------ functional options and labels


def _reduction_functions() -> list[str]:
    return sorted(
        name
        for name in LF.__all__
        if inspect.isfunction(getattr(LF, name)) and "reduction" in inspect.signature(getattr(LF, name)).parameters
    )


def _builtin_forms() -> set[str]:
    forms = set()
    for entry in losskit.LOSSES.entries():
        if not entry.is_lazy and entry.source.startswith("losskit."):
            forms.add(functional_form(entry.keys).removeprefix("losskit.functional."))
    return forms


#: Public functional functions that are no built-in's form: tests/policy/test_choices.py does not reach them.
_NOT_A_FORM: dict[str, tuple[Any, ...]] = {
    "asymmetric_multilabel_loss": (torch.randn(4, 3), (torch.rand(4, 3) > 0.5).float()),
    "asymmetric_single_label_loss": (torch.randn(4, 3), torch.tensor([0, 1, 2, 0])),
}


def test_every_public_function_with_a_reduction_is_reached_by_a_misspelling_test() -> None:
    # The finding: 13 functions returned a mean for reduction="meen". The built-ins' forms are swept by the policy
    # tests; this keeps the list of the others complete.
    assert set(_reduction_functions()) - _builtin_forms() == set(_NOT_A_FORM)


@pytest.mark.parametrize("name", sorted(_NOT_A_FORM))
def test_functions_outside_the_builtins_reject_a_misspelled_reduction(name: str) -> None:
    fn = getattr(LF, name)
    with pytest.raises(ValueError, match=r"got 'meen'; did you mean 'mean'"):
        fn(*_NOT_A_FORM[name], reduction="meen")
    fn(*_NOT_A_FORM[name], reduction="mean")


@pytest.mark.parametrize("fn", [LF.dice_loss, LF.cross_entropy_loss, LF.dice_ce_loss, LF.lovasz_loss])
def test_label_255_without_ignore_index_with_label_checks_switched_on(fn: Any) -> None:
    # Was: torch's raw `index 255 is out of bounds` (a device-side assert on CUDA) even with label checks on.
    x, y = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    y[1, 2, 3] = 255
    with LF.label_checks(True), pytest.raises(LossInputError, match=r"class label 255 in target is out of range"):
        fn(x, y)
    assert torch.isfinite(fn(x, y, ignore_index=255))


# ------------------------------------------------------------------------ return_terms: switch the loss in YAML only


@pytest.mark.parametrize(
    "text",
    [
        "losses: {dice: dice, ce: cross_entropy}",
        "name: dice_ce",
        "name: dice_focal",
        "name: combined_segmentation",
        "losses: {seg: dice_ce, extra: {name: dice, mode: multiclass}}",
    ],
)
def test_one_training_loop_takes_every_terms_loss_from_yaml(text: str) -> None:
    # Was: return_terms was a forward argument of CombinedLoss only, so replacing {dice, ce} by dice_ce in the
    # YAML broke `total, terms = call_loss(loss, x, y, return_terms=True)`.
    x, y = torch.randn(2, 3, 8, 8, requires_grad=True), torch.randint(0, 3, (2, 8, 8))
    loss = build_loss(yaml.safe_load(text))
    total, terms = call_loss(loss, x, y, return_terms=True)
    total.backward()
    assert terms and all(isinstance(v, torch.Tensor) and not v.requires_grad for v in terms.values())
    torch.testing.assert_close(total.detach(), call_loss(loss, x, y))


# ------------------------------------------------------------------------ losskit info on a built-in


def test_info_of_a_builtin_shows_its_docstring_once_and_its_choices(capsys: pytest.CaptureFixture[str]) -> None:
    # Was: the docstring printed twice and no allowed values (mode was annotated str).
    assert main(["--plain", "info", "dice", "--no-source"]) == 0
    out = capsys.readouterr().out
    summary = losskit.describe_loss("dice").summary
    assert out.count(summary[:40]) == 1
    assert out.count("'binary' | 'multiclass' | 'multilabel'") == 1 and out.count("'mean' | 'sum' | 'none'") == 1


# ------------------------------------------------------------------------ per-parameter descriptions and reprs
# (from the audit's open tests, /work/notes/issue8_open_tests.py; tests/test_repr_and_param_docs.py sweeps the zoo)


def test_info_of_a_builtin_describes_each_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 8: "`losskit info` ... shows no per-parameter description". Was: the tool read "Args:" sections, but
    # the built-ins had none: every parameter of `losskit info dice` said "-".
    assert main(["--plain", "info", "dice", "--no-source"]) == 0
    params = {p.name: p.doc for p in losskit.describe_loss("dice").params}
    undocumented = sorted(name for name, doc in params.items() if not doc)
    assert undocumented == [], f"dice parameters without a description: {undocumented}"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("focal_pixelwise", {"alpha": 0.5}),
        ("focal_pixelwise", {"alpha": None}),
        ("logit_adjusted_cross_entropy", {"prior": [0.7, 0.2, 0.1]}),
    ],
)
def test_repr_shows_every_non_default_option(name: str, options: dict[str, Any]) -> None:
    # Issue 8: "module reprs are empty (DiceLoss() with smooth=1.0 set)". Was: the generic repr read attributes
    # stored under the parameter's own name; these options were stored under another name (alpha_scalar,
    # log_prior), so the repr hid them, and two modules that computed different values printed the same.
    loss = losskit.build_loss(name, **options)
    (option,) = options
    assert option in repr(loss), repr(loss)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    plain = (
        losskit.build_loss(name, num_classes=3) if name == "logit_adjusted_cross_entropy" else losskit.build_loss(name)
    )
    if not torch.allclose(loss(x, y), plain(x, y)):
        assert repr(loss) != repr(plain)


def test_check_loss_fails_a_loss_detached_from_its_input() -> None:
    # Found by the issue-8 audit: a loss whose output is cut off from the prediction passed "finite gradients".
    from torch import nn

    from losskit.testing import check_loss

    class Detached(nn.Module):
        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (input.detach() - target).pow(2).mean()

    with pytest.raises(AssertionError, match="does not depend on the inputs"):
        check_loss(Detached(), inputs=(torch.randn(4, 3), torch.randn(4, 3)))
