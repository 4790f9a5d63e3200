"""Every row of the reference table (tests/zoo/reference_table.py): value and gradient equal the reference."""

from __future__ import annotations

import pytest
import torch

import losskit

from .reference_table import ROWS, Row, check_row


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_row_matches_its_reference(row: Row, device: torch.device) -> None:
    check_row(row, device)


def test_rows_name_registered_losses() -> None:
    unknown = sorted({r.loss for r in ROWS if not losskit.has_loss(r.loss)})
    assert not unknown, f"reference rows for losses that are not registered: {unknown}"
    assert len({r.loss for r in ROWS}) >= 10, "the table is meant to cover the torch-backed built-ins"


def test_a_wrong_reference_fails() -> None:
    """The table can fail: a row whose reference differs (l1 against mse) is reported with its id."""
    wrong = Row("l1", ROWS[0].inputs, ROWS[0].reference)
    with pytest.raises(AssertionError, match=r"l1, reduction='mean'"):
        check_row(wrong)
