"""Bounds on what a config may hold, checked before anything is built, and truncated reprs for messages.

A config may come from an attacker: every walk over it must be bounded in time and memory, and no error may
carry megabytes (or a file's content). The limits are generous for real loss configs (a combined loss of a few
terms, a class weight per class) and small enough that the worst input costs milliseconds.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

__all__ = ["LIMITS", "Limits", "short", "check_bounds"]


class Limits:
    """The documented caps (see docs/safety.md). Plain attributes so a caller can read them."""

    max_file_bytes: int = 1 << 20  # a YAML file read by build_loss / load_config
    max_depth: int = 32  # nesting of mappings and lists in a spec
    max_nodes: int = 100_000  # every mapping, list and scalar of a spec, counted once per occurrence
    max_list: int = 50_000  # elements of one list (a class weight for ImageNet-21k's classes fits)
    max_string: int = 10_000  # characters of one string
    max_terms: int = 256  # terms of all combined losses in one spec, nested ones included
    max_int_bits: int = 63  # integers fit an int64, as torch needs them to


LIMITS = Limits()

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3
_REPR.maxlong = 40


def short(value: Any, limit: int = 80) -> str:
    """A repr of ``value`` never longer than about ``limit`` characters (cheap on huge values)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a hostile __repr__ must not break an error message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(where: str, why: str) -> ConfigError:
    return ConfigError(f"{where or 'spec'}: {why} (see docs/safety.md for the limits on configs)")


def check_bounds(spec: Any, where: str = "") -> None:
    """Raise ``ConfigError`` if ``spec`` breaks a limit; an iterative walk that stops at the first breach.

    Ready objects (modules, tensors, classes) are leaves: they come from code, not from a config.
    """
    limits = LIMITS
    stack: list[tuple[Any, str, int]] = [(spec, where, 0)]
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise _fail(where, f"the spec has more than {limits.max_nodes} values")
        if isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        if isinstance(value, int):
            if value.bit_length() > limits.max_int_bits:
                raise _fail(path, f"integer of {value.bit_length()} bits is out of range (at most 64-bit)")
            continue
        if isinstance(value, str):
            if len(value) > limits.max_string:
                raise _fail(
                    path, f"string of {len(value)} characters is too long (limit {limits.max_string}): {short(value)}"
                )
            continue
        if isinstance(value, (Mapping, list, tuple)):
            if depth >= limits.max_depth:
                raise _fail(path, f"nested more than {limits.max_depth} levels deep")
            if isinstance(value, Mapping):
                if len(value) > limits.max_list:
                    raise _fail(path, f"mapping of {len(value)} keys is too large (limit {limits.max_list})")
                for key, item in value.items():
                    if isinstance(key, str) and len(key) > limits.max_string:
                        raise _fail(path, f"key of {len(key)} characters is too long: {short(key)}")
                    if isinstance(key, int) and not isinstance(key, bool) and key.bit_length() > limits.max_int_bits:
                        raise _fail(path, "integer key out of range")
                    name = key if isinstance(key, str) and len(key) <= 40 else short(key, 40)
                    stack.append((item, f"{path}.{name}" if path else str(name), depth + 1))
            else:
                if len(value) > limits.max_list:
                    raise _fail(path, f"list of {len(value)} elements is too long (limit {limits.max_list})")
                for i, item in enumerate(value):
                    stack.append((item, f"{path}[{i}]", depth + 1))
