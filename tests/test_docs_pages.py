"""The python blocks of docs/safety.md and docs/conventions.md run as written (README, the contract and
docs/contributing.md have their own tests)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch

import losskit
from losskit.functional._checks import label_checks_enabled

from ._docblocks import python_blocks, run_blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_safety_page_import_policy_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the page names a user package "my_project" with a BoundaryLoss: provide one, not yet imported
    package = tmp_path / "my_project"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "losses.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            class BoundaryLoss(nn.Module):
                def __init__(self, theta: float = 1.0) -> None:
                    super().__init__()
                    self.theta = theta

                def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
                    return self.theta * (input - target).abs().mean()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "my_project" not in sys.modules
    blocks = python_blocks(DOCS / "safety.md")
    assert blocks, "docs/safety.md has no python block"
    namespace: dict[str, object] = {}
    try:
        run_blocks(blocks, namespace, "docs/safety.md")
        loss = namespace["loss"]
        assert type(loss).__name__ == "BoundaryLoss" and loss.theta == 3  # type: ignore[attr-defined]
        # without the policy the same spec is refused, even with the package now loaded: the opt-in did it
        with pytest.raises(losskit.ConfigError):
            losskit.build_loss({"_target_": "my_project.losses.BoundaryLoss", "theta": 3})
    finally:
        sys.modules.pop("my_project.losses", None)
        sys.modules.pop("my_project", None)


def test_conventions_page_label_check_example_runs() -> None:
    blocks = python_blocks(DOCS / "conventions.md")
    assert blocks, "docs/conventions.md has no python block"
    logits, labels = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    namespace: dict[str, object] = {"loss": losskit.build_loss("dice"), "logits": logits, "labels": labels}
    try:
        run_blocks(blocks, namespace, "docs/conventions.md")
        assert not label_checks_enabled()
    finally:
        losskit.set_label_checks(True)
    assert label_checks_enabled()
