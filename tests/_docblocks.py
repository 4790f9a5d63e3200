"""Run the ``python`` code blocks of a markdown page as written (README, the contract, docs/contributing.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

__all__ = ["in_a_project", "python_blocks", "run_blocks"]

#: The config file the README and the contract load as ``configs/loss.yaml``.
LOSS_YAML = (
    "loss:\n  losses:\n    dice:\n      _target_: dice\n      smooth: 1.0\n"
    "    ce: cross_entropy\n  weights: [0.5, 0.5]\n"
)


def python_blocks(page: Path) -> list[str]:
    """The page's fenced ``python`` blocks, in order."""
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def run_blocks(blocks: list[str], namespace: dict[str, Any], label: str) -> None:
    """Execute ``blocks`` in order in one ``namespace``; a failing block is an AssertionError that shows it."""
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{label}-block-{i}", "exec"), namespace)
        except Exception as exc:  # the message says which block failed, and how
            raise AssertionError(f"{label} code block {i} failed:\n{block}\n{type(exc).__name__}: {exc}") from exc


def in_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in ``tmp_path`` with the ``configs/loss.yaml`` the pages' blocks load."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "loss.yaml").write_text(LOSS_YAML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
