"""Shared fixtures: every test that registers losses runs inside a registry scope that is undone after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import losskit


def _share_cores_between_workers() -> None:
    """Under pytest-xdist, each worker gets its share of torch's intra-op threads.

    Every worker would otherwise start one thread per core: ``-n 2`` on 2 cores ran 4 busy-waiting OpenMP threads,
    and small CPU kernels took 10-30x longer than alone (kl_div's autocast case: 0.3 s alone, 10 s in the suite).
    """
    import os

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if os.environ.get("PYTEST_XDIST_WORKER") and workers > 1:
        torch.set_num_threads(max(1, torch.get_num_threads() // workers))


_share_cores_between_workers()


@pytest.fixture
def scoped_registry() -> Iterator[losskit.Registry]:
    """Registrations made in the test are removed afterwards (the built-ins stay untouched)."""
    with losskit.LOSSES.scoped() as registry:
        yield registry


@pytest.fixture(scope="session")
def device() -> torch.device:
    """The device numeric tests run on: ``LOSSKIT_TEST_DEVICE`` (default ``"cpu"``), e.g. ``cuda`` or ``cuda:1``.

    A device that this machine lacks skips the test with the reason, rather than failing it.
    """
    import os

    name = os.environ.get("LOSSKIT_TEST_DEVICE", "cpu").strip() or "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        pytest.skip(f"LOSSKIT_TEST_DEVICE={name!r} is not a device: {exc}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            pytest.skip(f"LOSSKIT_TEST_DEVICE={name!r}, but CUDA is not available here")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            pytest.skip(f"LOSSKIT_TEST_DEVICE={name!r}, but only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "meta":
        pytest.skip(f"LOSSKIT_TEST_DEVICE={name!r}: meta tensors hold no values to compare")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        pytest.skip(f"LOSSKIT_TEST_DEVICE={name!r}, but MPS is not available here")
    elif dev.type not in ("cpu", "cuda", "mps"):
        try:
            torch.empty(1, device=dev)
        except Exception as exc:  # an accelerator torch knows but this build or machine lacks
            pytest.skip(f"LOSSKIT_TEST_DEVICE={name!r} is not usable here: {exc}")
    return dev


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
