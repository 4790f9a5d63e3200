"""Registry entries: the ``Entry`` record, lazy (entry-point) objects and provenance helpers."""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..errors import UnknownLossError

__all__ = ["Entry", "UnknownNameError", "RegistryOverrideWarning", "qualified_name", "same_definition"]

T = TypeVar("T")

#: The old name of :class:`~losskit.UnknownLossError` (one class: every registry raises it for a missing name).
UnknownNameError = UnknownLossError


class RegistryOverrideWarning(UserWarning):
    """An entry was replaced through ``override=True``."""


def qualified_name(obj: Any) -> str:
    """``module:qualname`` of a class or function (its provenance)."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    return f"{module}:{qual}"


def _defining_file(obj: Any) -> str | None:
    try:
        path = inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (TypeError, OSError):
        return None
    return os.path.realpath(path)


def same_definition(a: Any, b: Any) -> bool:
    """The same object, or the same definition loaded twice (as ``__main__`` and by its package path)."""
    if a is b:
        return True
    qual = getattr(a, "__qualname__", None)
    if qual is None or qual != getattr(b, "__qualname__", None):
        return False
    if "__main__" not in (getattr(a, "__module__", None), getattr(b, "__module__", None)):
        return False
    fa, fb = _defining_file(a), _defining_file(b)
    return fa is not None and fa == fb


class _Lazy:
    """A deferred object: an entry point loaded once, on first use, under its own lock."""

    def __init__(self, target: str, load: Callable[[], Any]) -> None:
        self.target = target
        self._load = load
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def resolve(self) -> Any:
        with self._lock:
            if not self._done:
                try:
                    self._value = self._load()
                except (Exception, SystemExit) as exc:  # a broken plugin must not take the registry (or host) down
                    self._error = exc
                self._done = True
        return self._value

    @property
    def error(self) -> BaseException | None:
        return self._error


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object.

    Attributes:
        name: the canonical name.
        aliases: other names that resolve to this entry.
        metadata: free-form data given at registration (the registry never interprets it).
        source: ``module:qualname`` of the object, or the entry-point value of a plugin.
        origin: who registered it: ``"python"`` or ``"plugin:<distribution>"``.
        replaced: the entry this one overrode, if any (provenance chain).
    """

    name: str
    aliases: tuple[str, ...]
    metadata: Mapping[str, Any]
    source: str
    origin: str = "python"
    replaced: Entry[Any] | None = None
    obj: Any = field(default=None, repr=False, compare=False)
    lazy: _Lazy | None = field(default=None, repr=False, compare=False)

    @property
    def is_lazy(self) -> bool:
        """True while the object is an entry point that has not been imported yet."""
        return self.lazy is not None

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)
