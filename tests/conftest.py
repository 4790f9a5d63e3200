"""Shared fixtures: every test that registers losses runs inside a registry scope that is undone after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import losskit


@pytest.fixture
def scoped_registry() -> Iterator[losskit.Registry]:
    """Registrations made in the test are removed afterwards (the built-ins stay untouched)."""
    with losskit.LOSSES.scoped() as registry:
        yield registry


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def subprocess_env(*extra_paths: object) -> dict[str, str]:
    """Environment for a child Python that imports this losskit (installed or from the source tree)."""
    import os
    from pathlib import Path

    src = str(Path(losskit.__file__).resolve().parents[1])
    parts = [str(p) for p in extra_paths] + [src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(parts)}
