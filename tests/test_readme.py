"""The README tells the truth: every python block runs as written, and its functional-form claim holds."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import losskit
import losskit.discovery
from losskit.registry import Entry

from ._docblocks import in_a_project, python_blocks, run_blocks

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return python_blocks(README)


def test_there_are_code_blocks() -> None:
    assert len(_blocks()) >= 3


def test_every_readme_code_block_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_a_project(tmp_path, monkeypatch)
    # A real module, so that the classes the blocks define pickle (check_loss round-trips them).
    module = types.ModuleType("readme_examples")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    with losskit.LOSSES.scoped():  # the blocks register user losses: none survives the test
        run_blocks(_blocks(), namespace, "README")
        assert losskit.has_loss("fdm") and losskit.describe_loss("my_vae_loss").kind == "function"
    assert not losskit.has_loss("my_vae_loss")


def functional_form(entry: Entry[Any]) -> str | None:
    """The README's rule, as the library applies it (``describe_loss(name).functional``)."""
    found = losskit.discovery.functional_form(entry.keys)
    return found.removeprefix("losskit.functional.") or None


def _builtin_entries() -> list[Entry[Any]]:
    return [e for e in losskit.LOSSES.entries() if not e.is_lazy and e.source.startswith("losskit.")]


def test_readme_lists_exactly_the_builtins_without_a_functional_form() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("Every built-in also has a pure functional form")
    paragraph = text[start : text.index("\n\n", start)]
    claimed = {n for n in re.findall(r"`([\w.]+)`", paragraph.split("except:", 1)[1]) if losskit.has_loss(n)}
    missing = {e.name for e in _builtin_entries() if functional_form(e) is None}
    assert missing == claimed, (
        f"README's functional-form exceptions are stale: built-ins without a form {sorted(missing)}, "
        f"README lists {sorted(claimed)}"
    )


def test_the_mapping_finds_the_forms_named_in_the_readme() -> None:
    entries = {e.name: e for e in _builtin_entries()}
    assert functional_form(entries["dice"]) == "dice_loss"
    assert functional_form(entries["focal"]) == "sigmoid_focal_loss"
    assert functional_form(entries["lncc"]) == "lncc_loss"
    assert functional_form(entries["giou"]) == "generalized_box_iou_loss"
    assert losskit.describe_loss("mask").functional == "losskit.functional.mask_loss"
    for name in ("cross_entropy", "bce_with_logits", "dice_ce"):  # issue 8: these had none
        assert functional_form(entries[name]) is not None, name
