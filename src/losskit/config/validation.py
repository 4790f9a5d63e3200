"""Checking config values against simple annotations before anything is constructed.

Handled: ``bool``, ``int``, ``float`` (ints, and numeric strings such as YAML's ``1e-5``, are accepted),
``str``, ``Literal``, ``Optional``/``Union``, sequences (``list[float]``, ``tuple[int, ...]``, ``Sequence``),
mappings, and ``torch.Tensor`` (a number or a nested list becomes a tensor). Anything more exotic passes
through untouched: the constructor stays the judge of it.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import math
import types
import typing
from typing import Any

import torch

from ..errors import ConfigError
from ..registry import suggest
from .limits import short

__all__ = ["check_value", "describe_type"]

_EMPTY = inspect.Parameter.empty
_SEQUENCE_ORIGINS = (list, tuple, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection)
_MAPPING_ORIGINS = (dict, cabc.Mapping, cabc.MutableMapping)


class _Mismatch(Exception):
    pass


class _NotFinite(_Mismatch):
    """A float (or an element of a list or tensor) that is NaN or infinite where only finite ones are allowed."""


def describe_type(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def _what(value: Any) -> str:
    return f"{type(value).__name__} {short(value)}"


def _float(value: float, finite: bool) -> float:
    if math.isnan(value) or (finite and math.isinf(value)):
        raise _NotFinite
    return value


def _coerce(value: Any, tp: Any, finite: bool = True) -> Any:
    if tp is _EMPTY or tp is Any or tp is object or isinstance(tp, (str, typing.ForwardRef, typing.TypeVar)):
        if isinstance(value, float):
            _float(value, finite)  # an unannotated parameter still gets no NaN (nor inf) from a config
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(tp, types.UnionType)):
        if value is None and type(None) in args:
            return None
        not_finite = False
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, finite)
            except _NotFinite:
                not_finite = True
            except _Mismatch:
                continue
        raise _NotFinite if not_finite else _Mismatch
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
        try:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return _float(float(value), finite)
            if isinstance(value, str) and len(value) <= 64:  # YAML 1.1 reads 1e-5 as a string
                return _float(float(value), finite)
        except (ValueError, OverflowError):  # not a number; an integer too large for a float
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
                tensor = torch.as_tensor(value, dtype=torch.float32)
            except (TypeError, ValueError, RuntimeError, OverflowError):
                raise _Mismatch from None
            bad = ~torch.isfinite(tensor) if finite else torch.isnan(tensor)
            if bool(bad.any()):  # construction time, not a forward path
                raise _NotFinite
            return tensor
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
            return tuple(_coerce(v, a, finite) for v, a in zip(value, args, strict=True))
        item = args[0] if args else _EMPTY
        return container(_coerce(v, item, finite) for v in value)
    if inspect.isclass(tp):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value  # annotations we do not interpret (Callable, Protocols, ...)


def _literal_hint(value: Any, annotation: Any) -> str:
    """Did-you-mean from the ``Literal`` choices of ``annotation`` (also inside ``Optional``/``Union``)."""
    if not isinstance(value, str):
        return ""
    options = [annotation, *typing.get_args(annotation)]
    choices = [a for o in options if typing.get_origin(o) is typing.Literal for a in typing.get_args(o)]
    close = suggest(value, [c for c in choices if isinstance(c, str)]) if len(value) <= 200 else []
    return f"; did you mean {close[0]!r}?" if close else ""


def check_value(value: Any, annotation: Any, *, loss: str, path: str, finite: bool = True) -> Any:
    """Return ``value`` (converted where the annotation asks: ints to float, lists to tensors, lists to
    tuples) or raise :class:`ConfigError` naming the loss, the config path, the expected and the given type.

    Float values (alone, in lists, in tensors made from lists) are never NaN, and finite unless ``finite=False``
    (the builder passes that for a parameter declared ``Annotated[float, AllowInf]``).
    """
    try:
        return _coerce(value, annotation, finite)
    except _NotFinite:
        rule = "must be finite (no NaN or infinity)" if finite else "must not be NaN"
        raise ConfigError(f"loss {loss!r}: parameter {short(path, 120)} {rule}, got {_what(value)}") from None
    except _Mismatch:
        pass
    raise ConfigError(
        f"loss {loss!r}: parameter {short(path, 120)} expects {describe_type(annotation)}, got {_what(value)}"
        f"{_literal_hint(value, annotation)}"
    )
