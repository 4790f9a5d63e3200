"""docs/contributing.md tells the truth: its worked example (``soft_margin``) runs as written, in a registry scope,
and then passes what every built-in must pass: its test-table row, ``check_loss``, and the zoo's edge-case policy
checks (the very functions of ``tests/policy``, called on the example's name)."""

from __future__ import annotations

import doctest
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import losskit
import losskit.functional as LF
from losskit.testing import check_loss

from ._docblocks import python_blocks, run_blocks
from .policy import test_autocast as policy_autocast
from .policy import test_choices as policy_choices
from .policy import test_edges as policy_edges
from .zoo.reference_table import Row, check_row

DOC = Path(__file__).resolve().parents[1] / "docs" / "contributing.md"
NAME = "soft_margin"
FUNCTION = "soft_margin_loss"
#: Read at import, before the fixture below registers the example in a scope.
BUILTIN = losskit.has_loss(NAME) and losskit.LOSSES.entry(NAME, load=False).source.startswith("losskit.")
IN_FUNCTIONAL = hasattr(LF, FUNCTION)


def _blocks() -> list[str]:
    return python_blocks(DOC)


@pytest.fixture(scope="module")
def example() -> Iterator[dict[str, Any]]:
    """The doc's blocks run in order, in a real module (``check_loss`` pickles the class) and a registry scope;
    step 1's function is exported from ``losskit.functional`` as the package would export it."""
    module = types.ModuleType("contributing_example")
    namespace = module.__dict__
    with pytest.MonkeyPatch.context() as mp, losskit.LOSSES.scoped():
        mp.setitem(sys.modules, module.__name__, module)
        for key in (NAME, "SoftMarginLoss"):  # should the example land as a built-in, the doc still runs
            if losskit.has_loss(key):
                losskit.unregister_loss(key)
        run_blocks(_blocks(), namespace, "contributing.md")
        mp.setattr(LF, FUNCTION, namespace[FUNCTION], raising=False)
        mp.setattr(LF, "__all__", [*LF.__all__, FUNCTION])
        yield namespace
    leaked = losskit.has_loss(NAME) and losskit.LOSSES.get(NAME) is namespace["SoftMarginLoss"]
    assert not leaked, "the registry scope kept the doc's example"


def test_the_doc_shows_the_four_steps() -> None:
    text = DOC.read_text(encoding="utf-8")
    for heading in (
        "## Step 1: the functional form",
        "## Step 2: the module",
        "## Step 3: the registration line",
        "## Step 4: the test-table row",
        "## What every built-in gets for free",
    ):
        assert heading in text, heading
    assert len(_blocks()) == 3, "one block for step 1, one for steps 2-3 (class and decorator), one for step 4"
    assert "make lint" in text and "make docs" in text
    assert not re.search(r"^\s+(loss_)?name\s*=", "\n".join(_blocks()), flags=re.M), "a class body types its name"


def test_the_example_is_not_a_builtin_yet() -> None:
    """The worked example is a loss the zoo lacks (if it lands, this test says to pick the next one)."""
    if BUILTIN:
        pytest.skip(f"{NAME} is a built-in now: the doc's example still runs, but a new one would teach more")
    assert not IN_FUNCTIONAL, f"losskit.functional has {FUNCTION} but no built-in {NAME}"


def test_the_example_registers_as_a_builtin_would(example: dict[str, Any]) -> None:
    cls = example["SoftMarginLoss"]
    assert losskit.LOSSES.get(NAME) is cls and losskit.LOSSES.get("SoftMarginLoss") is cls
    assert cls.loss_name == NAME, "register_loss sets the name on the class"
    assert NAME in losskit.list_losses(task="classification")
    assert losskit.describe_loss(NAME).functional == f"losskit.functional.{FUNCTION}"
    assert isinstance(losskit.build_loss({"_target_": NAME, "reduction": "sum"}), cls)


def test_the_docstring_example_runs(example: dict[str, Any]) -> None:
    fn = example[FUNCTION]
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(fn, FUNCTION, globs={"torch": torch, FUNCTION: fn})
    assert tests and tests[0].examples, "the docstring has no runnable example"
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_the_table_row(example: dict[str, Any], device: torch.device) -> None:
    row = example["ROW"]
    assert isinstance(row, Row) and row.loss == NAME
    check_row(row, device)


def test_the_row_can_fail(example: dict[str, Any]) -> None:
    wrong = Row(NAME, example["ROW"].inputs, lambda x, y, reduction: torch.nn.functional.mse_loss(x, y))
    with pytest.raises(AssertionError, match=NAME):
        check_row(wrong)


def test_check_loss(example: dict[str, Any]) -> None:
    report = check_loss(NAME, compile="aot_eager")
    assert "finite value" in report.passed and any(p.startswith("torch.compile") for p in report.passed), str(report)


# ---------------------------------------------------------------------------------------------- the policy suite


@pytest.mark.parametrize("reduction", policy_edges.REDUCTIONS)
def test_policy_empty_batch(example: dict[str, Any], reduction: str, device: torch.device) -> None:
    policy_edges.test_empty_batch_is_zero_with_zero_gradient(NAME, reduction, device)


def test_policy_empty_batch_none(example: dict[str, Any], device: torch.device) -> None:
    policy_edges.test_empty_batch_none_is_empty(NAME, device)


def test_policy_nan_in_nan_out(example: dict[str, Any], device: torch.device) -> None:
    policy_edges.test_nan_in_gives_nan_out(NAME, device)


def test_policy_misspelled_reduction(example: dict[str, Any]) -> None:
    policy_choices.test_builtin_has_a_functional_form(NAME)
    policy_choices.test_functional_form_rejects_misspelled_choices(NAME)
    policy_choices.test_constructor_rejects_misspelled_choices(NAME)
    with pytest.raises(ValueError, match="did you mean 'mean'"):
        example[FUNCTION](torch.zeros(2), torch.ones(2), reduction="meen")


def test_policy_autocast(example: dict[str, Any], device: torch.device) -> None:
    policy_autocast.test_autocast_matches_float32(NAME, "batch", device)


# ---------------------------------------------------------------------------------------------- the claims


def test_the_claims_against_torch(example: dict[str, Any]) -> None:
    """What the doc says the example adds to torch's SoftMarginLoss: finite where torch overflows, 0 on an empty
    batch where torch gives NaN, no silent broadcast."""
    fn = example[FUNCTION]
    x, y = torch.tensor([100.0], requires_grad=True), torch.tensor([-1.0])
    assert torch.isinf(torch.nn.functional.soft_margin_loss(x, y))
    out = fn(x, y)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()  # type: ignore[arg-type]
    assert torch.isnan(torch.nn.functional.soft_margin_loss(torch.zeros(0), torch.zeros(0)))
    assert fn(torch.zeros(0), torch.zeros(0)) == 0
    with pytest.raises(losskit.LossInputError, match="soft_margin"):
        fn(torch.zeros(4, 1), torch.ones(4))


def test_the_gate_commands_are_the_makefiles() -> None:
    """The doc's lint commands are the ones ``make lint`` runs (the recipe says ``$(BIN)/`` for ``.venv/bin/``)."""
    makefile = DOC.parents[1] / "Makefile"
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile.read_text(encoding="utf-8"), flags=re.M)
    if recipe is None:
        pytest.skip("the Makefile has no lint target yet")
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text[text.index("## The gate") :], flags=re.S)
    assert block is not None, "the gate section shows the commands"
    for line in block.group(1).splitlines():
        command = line.split("#")[0].strip().replace(".venv/bin/", "$(BIN)/")
        assert command in recipe.group(1), f"{command!r} is not what make lint runs:\n{recipe.group(1)}"
