"""The checked-in loss catalogue (docs/losses.md) matches what ``losskit docs`` generates from the registry."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from losskit.cli.catalogue import REGENERATE, render_catalogue

CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "losses.md"


def test_catalogue_is_up_to_date() -> None:
    if not CATALOGUE.is_file():
        pytest.fail(f"{CATALOGUE} is missing; generate it with: {REGENERATE}")
    fresh = render_catalogue()
    stored = CATALOGUE.read_text(encoding="utf-8")
    if fresh != stored:
        diff = "".join(
            list(
                difflib.unified_diff(
                    stored.splitlines(True), fresh.splitlines(True), "docs/losses.md (checked in)", "generated", n=1
                )
            )[:40]
        )
        pytest.fail(f"docs/losses.md is out of date with the registry; regenerate it with: {REGENERATE}\n{diff}")


def test_catalogue_lists_every_builtin_once_with_its_inputs() -> None:
    import losskit
    from losskit.cli.inspect_cmds import is_builtin

    text = render_catalogue()
    for name in (n for n in losskit.list_losses() if is_builtin(n)):
        assert text.count(f"### `{name}`\n") == 1, name
    assert "- inputs: `input`" in text and "- options: " in text
