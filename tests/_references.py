"""The peers' own loss files, loaded from their installed wheels without importing the packages.

timm, segmentation_models_pytorch and pytorch-toolbelt need torchvision (and toolbelt's utilities OpenCV), which
has no CPU build here, so ``import timm`` fails. Their loss files need only torch, so ``make install`` installs the
three wheels with ``--no-deps`` and :func:`reference` loads one file as a submodule of a private package whose
``__path__`` is the installed package's folder: the file's relative imports (``from .constants import ...``)
resolve inside the peer, nothing of the peer's ``__init__`` runs, and ``sys.modules`` never holds a fake ``timm``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest

__all__ = ["reference", "load_file", "PINNED"]

#: The wheels ``make install`` puts in the environment with ``--no-deps`` (keep in step with the Makefile).
PINNED = {"timm": "1.0.31", "segmentation_models_pytorch": "0.6.0", "pytorch_toolbelt": "0.8.0"}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # finds the folder; does not run the package's __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load_file(package: str, module: str) -> types.ModuleType:
    """``package.module`` (e.g. ``("timm", "loss.jsd")``) loaded from its file. ImportError when the peer is not
    installed or the file needs more than torch (the benchmarks' sweep uses this form)."""
    root = _package_dir(package)
    if root is None:
        raise ImportError(f"{package} is not installed (make install adds it with --no-deps)")
    private = f"_losskit_ref_{package}"
    parts = module.split(".")
    for depth in range(len(parts)):  # the private package and its sub-packages, without their __init__ files
        name = ".".join([private, *parts[:depth]])
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(root.joinpath(*parts[:depth]))]
            sys.modules[name] = pkg
    try:
        return importlib.import_module(f"{private}.{module}")
    except ImportError as exc:  # the file reaches outside its folder (OpenCV, torchvision, the peer's utils)
        raise ImportError(f"{package}.{module} needs more than torch: {exc}") from exc


def reference(package: str, module: str) -> types.ModuleType:
    """:func:`load_file` for a test: skips the test when the peer is not installed or the file needs more than
    torch."""
    try:
        return load_file(package, module)
    except ImportError as exc:
        pytest.skip(str(exc))
