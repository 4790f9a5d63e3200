"""Checking config values against simple annotations before anything is constructed.

Handled: ``bool``, ``int``, ``float`` (ints, and numeric strings such as YAML's ``1e-5``, are accepted),
``str``, ``Literal``, ``Optional``/``Union``, sequences (``list[float]``, ``tuple[int, ...]``, ``Sequence``),
mappings, and ``torch.Tensor`` (a number or a nested list becomes a tensor). Anything more exotic passes
through untouched: the constructor stays the judge of it.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from typing import Any

import torch

from ..errors import ConfigError
from ..registry import suggest

__all__ = ["check_value", "describe_type"]

_EMPTY = inspect.Parameter.empty
_SEQUENCE_ORIGINS = (list, tuple, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection)
_MAPPING_ORIGINS = (dict, cabc.Mapping, cabc.MutableMapping)


class _Mismatch(Exception):
    pass


def describe_type(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def _what(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if len(repr(value)) < 60 else type(value).__name__


def _coerce(value: Any, tp: Any) -> Any:
    if tp is _EMPTY or tp is Any or tp is object or isinstance(tp, (str, typing.ForwardRef, typing.TypeVar)):
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(tp, types.UnionType)):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is typing.Literal:
        if value in args and not (isinstance(value, bool) and not any(isinstance(a, bool) for a in args)):
            return value
        raise _Mismatch
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-5 as a string
            try:
                return float(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if tp is torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value
        if isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool):
            try:
                return torch.as_tensor(value, dtype=torch.float32)
            except (TypeError, ValueError, RuntimeError):
                raise _Mismatch from None
        raise _Mismatch
    if origin in _MAPPING_ORIGINS or tp in (dict, cabc.Mapping):
        if isinstance(value, cabc.Mapping):
            return value
        raise _Mismatch
    if origin in _SEQUENCE_ORIGINS or tp in (list, tuple, cabc.Sequence):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        container = tuple if (origin is tuple or tp is tuple) else list
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise _Mismatch
            return tuple(_coerce(v, a) for v, a in zip(value, args))
        item = args[0] if args else _EMPTY
        return container(_coerce(v, item) for v in value)
    if inspect.isclass(tp):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value  # annotations we do not interpret (Callable, Protocols, ...)


def check_value(value: Any, annotation: Any, *, loss: str, path: str) -> Any:
    """Return ``value`` (converted where the annotation asks: ints to float, lists to tensors, lists to
    tuples) or raise :class:`ConfigError` naming the loss, the config path, the expected and the given type."""
    try:
        return _coerce(value, annotation)
    except _Mismatch:
        pass
    hint = ""
    if typing.get_origin(annotation) is typing.Literal and isinstance(value, str):
        close = suggest(value, [a for a in typing.get_args(annotation) if isinstance(a, str)])
        hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"loss {loss!r}: parameter {path!r} expects {describe_type(annotation)}, got {_what(value)}{hint}"
    )
