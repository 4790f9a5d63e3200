"""A small, generic, thread-safe registry of named objects.

The registry knows nothing about losses: it maps names and aliases to objects plus free-form metadata.
Design choices (each answers a complaint about an existing registry):

* one namespace for names and aliases, so an alias can never shadow a name or another alias;
* copy-on-write state: every mutation builds a new snapshot under a lock and publishes it with one
  assignment, so readers never lock and never see a half-applied change;
* duplicates are errors unless ``override=True`` (which warns and records what was replaced); registering
  the same definition again (a module imported as ``__main__`` and by its package path) is a no-op;
* entries can be lazy (entry-point plugins): listed without importing anything, loaded on first use, and a
  failed load is reported when that entry is used, never when a neighbour is.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from ..errors import RegistrationError, UnknownLossError
from .entry import Entry, RegistryOverrideWarning, UnknownNameError, _Lazy, qualified_name, same_definition
from .naming import matches, natural_key, suggest

__all__ = ["Registry", "Entry", "UnknownNameError", "RegistryOverrideWarning", "qualified_name"]

T = TypeVar("T")


@dataclass(frozen=True)
class _State:
    entries: Mapping[str, Entry[Any]]  # canonical name -> entry
    index: Mapping[str, str]  # every name and alias -> canonical name


def _freeze(entries: dict[str, Entry[Any]], index: dict[str, str]) -> _State:
    return _State(MappingProxyType(entries), MappingProxyType(index))


class Registry(Generic[T]):
    """A thread-safe mapping of names and aliases to objects.

    A missing name raises :class:`~losskit.UnknownLossError` (a ``KeyError``) with close matches.

    Args:
        kind: what the registry holds, used in messages (``"loss"``, ``"metric"``).
        describe: the metadata the registry's kind derives from an object, or ``TypeError`` when the object
            is not of that kind. Called when an object is added (metadata given there wins) and when a lazy
            (plugin) entry is loaded.
        listing_hint: appended to the count of entries in an unknown-name message (where to see them all).

    Example:
        >>> metrics = Registry("metric")
        >>> @metrics.register("acc", aliases=["accuracy"])
        ... def accuracy(pred, target): ...
        >>> metrics.get("accuracy") is accuracy
        True
    """

    def __init__(
        self,
        kind: str,
        *,
        describe: Callable[[Any], Mapping[str, Any]] | None = None,
        listing_hint: str = "",
    ) -> None:
        self.kind = kind
        self.listing_hint = listing_hint
        self._describe = describe
        self._lock = threading.RLock()
        self._state: _State = _freeze({}, {})
        self._ensure_hooks: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ mutation
    def register(
        self,
        name: Any = None,
        obj: Any = None,
        *,
        aliases: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        override: bool = False,
    ) -> Any:
        """Register ``obj`` under ``name``: ``@reg.register``, ``@reg.register("n", aliases=[...])`` or a call.

        Returns the object itself, so it works as a decorator.
        """
        if name is not None and not isinstance(name, str):
            obj, name = name, None  # bare decorator: @reg.register

        def decorator(target: Any) -> Any:
            self.add(name or target.__name__, target, aliases=aliases, metadata=metadata, override=override)
            return target

        return decorator if obj is None else decorator(obj)

    def add(
        self,
        name: str,
        obj: T,
        *,
        aliases: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        override: bool = False,
        origin: str = "python",
    ) -> Entry[T]:
        """Register ``obj`` and return its :class:`Entry` (the non-decorator core of :meth:`register`)."""
        derived = dict(self._describe(obj)) if self._describe is not None else {}
        if isinstance(aliases, str):
            aliases = [aliases]
        entry: Entry[T] = Entry(
            name=_valid_key(name, self.kind),
            aliases=tuple(dict.fromkeys(_valid_key(a, self.kind) for a in aliases if a != name)),
            metadata=MappingProxyType({**derived, **(metadata or {})}),
            source=qualified_name(obj),
            origin=origin,
            obj=obj,
        )
        return self._insert(entry, override=override)

    def add_lazy(
        self, name: str, target: str, load: Callable[[], T], *, origin: str, metadata: Mapping[str, Any] | None = None
    ) -> Entry[T] | None:
        """Register a deferred object (a plugin). Never overrides: returns None when the name is taken."""
        with self._lock:
            if name in self._state.index:
                return None
            entry: Entry[T] = Entry(
                name=_valid_key(name, self.kind),
                aliases=(),
                metadata=MappingProxyType(dict(metadata or {})),
                source=target,
                origin=origin,
                lazy=_Lazy(target, load),
            )
            return self._insert(entry, override=False)

    def _insert(self, entry: Entry[T], *, override: bool) -> Entry[T]:
        with self._lock:
            state = self._state
            owners = {state.index[k] for k in entry.keys if k in state.index}
            if owners == {entry.name} and not override:
                current = state.entries[entry.name]
                if current.lazy is not None and current.source == entry.source:
                    # A plugin module registering itself while its entry point loads: keep its richer entry.
                    return self._publish(state, replace(entry, origin=current.origin), owners)
                if current.lazy is None and same_definition(current.obj, entry.obj):
                    return current
            if owners and not override:
                taken = ", ".join(
                    f"{k!r} (by {state.entries[state.index[k]].source})" for k in entry.keys if k in state.index
                )
                raise RegistrationError(
                    f"cannot register {self.kind} {entry.name!r} ({entry.source}): {taken} already registered; "
                    f"pass override=True to replace it, or choose another name"
                )
            if owners:
                lost = ", ".join(f"{o!r} ({state.entries[o].source})" for o in sorted(owners))
                warnings.warn(
                    f"{self.kind} {entry.name!r}: {entry.source} replaces {lost}", RegistryOverrideWarning, stacklevel=4
                )
                entry = replace(entry, replaced=state.entries.get(entry.name) or state.entries[min(owners)])
            return self._publish(state, entry, owners)

    def _publish(self, state: _State, entry: Entry[T], displaced: set[str]) -> Entry[T]:
        entries = dict(state.entries)
        index = dict(state.index)
        for owner in displaced:
            old = entries.pop(owner)
            for key in old.keys:
                index.pop(key, None)
            if owner != entry.name and old.name not in entry.keys:
                # Overridden through an alias only: the old entry lives on without the keys it lost.
                kept = replace(old, aliases=tuple(a for a in old.aliases if a not in entry.keys))
                entries[owner] = kept
                for key in kept.keys:
                    index[key] = owner
        entries[entry.name] = entry
        for key in entry.keys:
            index[key] = entry.name
        self._state = _freeze(entries, index)
        return entry

    def unregister(self, name: str) -> Entry[T]:
        """Remove the entry that ``name`` (a name or alias) resolves to, with all its aliases."""
        self._run_ensure_hooks()
        with self._lock:
            state = self._state
            canonical = self._canonical(name, state)
            entries = dict(state.entries)
            removed = entries.pop(canonical)
            self._state = _freeze(entries, {k: v for k, v in state.index.items() if v != canonical})
            return removed

    @contextlib.contextmanager
    def scoped(self) -> Iterator[Registry[T]]:
        """Put the registry back exactly as it was on exit: registrations made inside are undone."""
        self._run_ensure_hooks()
        with self._lock:
            saved = self._state
        try:
            yield self
        finally:
            with self._lock:
                self._state = saved

    @contextlib.contextmanager
    def temporarily(self, name: str, obj: T, **kwargs: Any) -> Iterator[Entry[T]]:
        """Register ``obj`` for the duration of a ``with`` block, then restore what those keys meant before.

        Other registrations made meanwhile (by other threads) are kept.
        """
        self._run_ensure_hooks()
        with self._lock:
            before = self._state
        entry = self.add(name, obj, **kwargs)
        try:
            yield entry
        finally:
            with self._lock:
                entries = dict(self._state.entries)
                index = dict(self._state.index)
                mine = entries.pop(entry.name, None)
                if mine is not None and mine is entry:
                    for key in mine.keys:
                        index.pop(key, None)
                    for key in entry.keys:
                        owner = before.index.get(key)
                        if owner is not None and owner not in entries:
                            prior = before.entries[owner]
                            entries[owner] = prior
                            for k in prior.keys:
                                index[k] = owner
                elif mine is not None:
                    entries[entry.name] = mine  # someone replaced ours meanwhile: leave theirs
                self._state = _freeze(entries, index)

    # ------------------------------------------------------------------ lookup
    def add_ensure_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` before every lookup (it must be cheap after its first run): used for plugin discovery."""
        self._ensure_hooks.append(hook)

    def _run_ensure_hooks(self) -> None:
        for hook in self._ensure_hooks:
            hook()

    def _canonical(self, name: str, state: _State) -> str:
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} names are strings, got {type(name).__name__}: {name!r}")
        try:
            return state.index[name]
        except KeyError:
            raise self._unknown(name, state) from None

    def _unknown(self, name: str, state: _State) -> UnknownLossError:
        close: list[str] = []
        picked: dict[str, int] = {}
        # One suggestion per entry, its canonical name if close. difflib is quadratic in the length of the
        # query: a huge name gets no suggestions, only a short repr. A path is never a name, and a suggestion
        # that depends on its spelling would make two paths (one existing, one not) read differently.
        path_like = "/" in name or "\\" in name
        for key in suggest(name, state.index, limit=6) if len(name) <= 200 and not path_like else []:
            owner = state.index[key]
            if owner not in picked:
                picked[owner] = len(close)
                close.append(key)
            elif key == owner:
                close[picked[owner]] = key
        close = close[:3]
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return UnknownLossError(
            f"unknown {self.kind} {_short(name)}.{hint} ({len(state.entries)} {_plural(self.kind)} registered"
            f"{self.listing_hint})"
        )

    def resolve(self, name: str) -> str:
        """The canonical name of ``name`` (a name or alias)."""
        self._run_ensure_hooks()
        return self._canonical(name, self._state)

    def entry(self, name: str, *, load: bool = True) -> Entry[T]:
        """The :class:`Entry` of a name or alias; imports a lazy entry unless ``load=False``."""
        self._run_ensure_hooks()
        state = self._state
        current = state.entries[self._canonical(name, state)]
        if load and current.lazy is not None:
            return self._load(current)
        return current

    def _load(self, entry: Entry[T]) -> Entry[T]:
        lazy = entry.lazy
        assert lazy is not None  # internal invariant, callers check
        obj = lazy.resolve()
        if lazy.error is not None:
            raise RegistrationError(
                f"{self.kind} {entry.name!r} comes from plugin {entry.origin.removeprefix('plugin:')!r} "
                f"({entry.source}), which failed to load: {type(lazy.error).__name__}: {lazy.error}"
            ) from lazy.error
        with self._lock:
            current = self._state.entries.get(entry.name)
            if current is not None and current.lazy is None:
                return current  # the plugin registered itself, with its own metadata, while importing
            try:
                extra = dict(self._describe(obj)) if self._describe is not None else {}
            except TypeError as exc:
                raise RegistrationError(f"plugin {self.kind} {entry.name!r} ({entry.source}): {exc}") from exc
            loaded = replace(entry, obj=obj, lazy=None, metadata=MappingProxyType({**extra, **entry.metadata}))
            if current is entry:
                self._publish(self._state, loaded, {entry.name})
            return loaded

    def get(self, name: str) -> T:
        """The registered object itself, unchanged."""
        obj: T = self.entry(name).obj
        return obj

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        self._run_ensure_hooks()
        return isinstance(name, str) and name in self._state.index

    def __len__(self) -> int:
        self._run_ensure_hooks()
        return len(self._state.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        """Canonical names in natural order."""
        self._run_ensure_hooks()
        return sorted(self._state.entries, key=natural_key)

    def find(self, obj: Any) -> Entry[T] | None:
        """The loaded entry holding ``obj`` itself (first in natural order), or None."""
        return next((e for e in self.entries() if not e.is_lazy and e.obj is obj), None)

    def entries(self) -> list[Entry[T]]:
        """Every entry (lazy ones not loaded) in natural order of their names, from one snapshot."""
        self._run_ensure_hooks()
        state = self._state
        return [state.entries[n] for n in sorted(state.entries, key=natural_key)]

    def list(
        self,
        pattern: str | Sequence[str] | None = None,
        *,
        exclude: str | Sequence[str] | None = None,
        where: Callable[[Entry[T]], bool] | None = None,
    ) -> list[str]:
        """Canonical names matching the shell-style ``pattern`` (on a name or an alias), minus ``exclude``,
        kept by ``where``, in natural order."""
        out = []
        for entry in self.entries():
            if pattern is not None and not matches(entry.keys, pattern):
                continue
            if exclude is not None and matches(entry.keys, exclude):
                continue
            if where is not None and not where(entry):
                continue
            out.append(entry.name)
        return out

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._state.entries)} entries)"


def _plural(kind: str) -> str:
    return kind + ("es" if kind.endswith(("s", "x", "sh", "ch")) else "s")


def _valid_key(name: Any, kind: str) -> str:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise RegistrationError(
            f"{kind} names must be non-empty strings without surrounding spaces, got {_short(name)}"
        )
    if "." in name:
        # A dotted name would shadow a dotted _target_ path (``torch.nn.MSELoss``): names and paths stay apart.
        raise RegistrationError(f"{kind} names may not contain dots, got {_short(name)}")
    return name


def _short(name: Any, limit: int = 80) -> str:
    text = repr(name[: limit + 1] if isinstance(name, str) else name)
    return text if len(text) <= limit else text[: limit - 3] + "..."
