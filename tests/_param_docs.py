"""Helpers of the per-parameter docs and repr tests (``test_repr_and_param_docs.py``): which built-ins a set of zoo
modules registers, and a non-default value for a parameter of a simple type."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

SIMPLE = {"bool", "int", "float", "str", "int | None", "float | None"}


def builtins_of(modules: Iterable[str]) -> list[str]:
    """The registered names of the classes defined in ``losskit.zoo.<module>`` for each module, sorted, once each
    (a module-level loop variable may name a class a second time)."""
    names = set()
    for module in modules:
        mod = importlib.import_module(f"losskit.zoo.{module}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and obj.__module__ == mod.__name__ and hasattr(obj, "loss_name"):
                names.add(obj.loss_name)
    return sorted(names)


def non_default(loss: str, p: Any, overrides: Mapping[tuple[str, str], Any] | None = None) -> Any:
    """A valid value other than the default for parameter ``p`` (a ``ParamInfo``) of ``loss``: another choice, the
    negated bool, default + 2 for ints (keeps odd kernel sizes odd), half the default for floats (0.25 for 0 and
    for None); None where the type is not simple and ``overrides`` has no value."""
    if overrides and (loss, p.name) in overrides:
        return overrides[loss, p.name]
    if p.choices:
        return next(c for c in p.choices if c != p.default)
    if p.annotation not in SIMPLE:
        return None
    if p.annotation == "bool":
        return not p.default
    if p.annotation.startswith("int"):
        return 2 if p.default is None else p.default + 2
    if p.annotation.startswith("float"):
        return 0.25 if p.default is None else (0.25 if p.default == 0 else p.default / 2)
    return None
