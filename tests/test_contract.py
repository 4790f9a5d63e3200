"""Every code block of the public contract (docs/contract.md, a copy of shared/CONTRACT.md) runs as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import losskit

from ._docblocks import in_a_project, python_blocks, run_blocks

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "docs" / "contract.md"
SHARED = ROOT.parent / "shared" / "CONTRACT.md"


def _blocks() -> list[str]:
    return python_blocks(CONTRACT)


def test_contract_copy_is_current() -> None:
    if not SHARED.exists():
        pytest.skip("shared/CONTRACT.md is not beside this checkout")
    assert CONTRACT.read_text(encoding="utf-8") == SHARED.read_text(encoding="utf-8"), (
        "docs/contract.md differs from shared/CONTRACT.md: copy it over"
    )


# The contract's examples register *user* losses under names the zoo also ships (focal_tversky, VAELoss).
# A user owning such a name would pass override=True; the test runs the blocks verbatim in a registry scope
# where those built-ins are absent, and checks separately that the clash is a clear RegistrationError.
USER_NAMES_IN_CONTRACT = (
    "focal_tversky",
    "ft",
    "FocalTverskyLoss",
    "VAELoss",
    "MyDice",
    "balanced_ce",
    "my_custom_loss",
)


class ClassBalancedCE(nn.Module):
    """The class the contract's call-form example registers."""

    def __init__(self, class_weights: list[float] | None = None) -> None:
        super().__init__()
        self.ce = nn.CrossEntropyLoss(weight=None if class_weights is None else torch.tensor(class_weights))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss: torch.Tensor = self.ce(input, target)
        return loss


def test_there_are_code_blocks() -> None:
    assert len(_blocks()) >= 3


def test_every_code_block_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_a_project(tmp_path, monkeypatch)
    namespace: dict[str, object] = {"torch": torch, "nn": nn, "ClassBalancedCE": ClassBalancedCE}
    exec("from losskit import *", namespace)  # the blocks call build_loss(...) unqualified
    with losskit.LOSSES.scoped():
        for name in USER_NAMES_IN_CONTRACT:
            if losskit.has_loss(name):
                losskit.unregister_loss(name)
        run_blocks(_blocks(), namespace, "contract")
        assert losskit.has_loss("ft") and losskit.describe_loss("my_custom_loss").kind == "factory"
        assert losskit.describe_loss("VAELoss").kind == "function"
        assert losskit.describe_loss("MyDice").kind == "module"
        assert isinstance(losskit.build_loss("configs/loss.yaml"), losskit.CombinedLoss)


def test_the_clash_with_a_builtin_is_a_clear_error() -> None:
    with losskit.LOSSES.scoped():
        if losskit.has_loss("focal_tversky"):
            with pytest.raises(losskit.RegistrationError, match="override=True"):

                @losskit.register_loss("focal_tversky", aliases=["ft"])
                class FocalTverskyLoss(nn.Module):
                    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
                        return input.mean()
