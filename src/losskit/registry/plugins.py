"""Entry-point plugins, catalogue-style: names are listed without importing the plugin's code.

A distribution declares, in its ``pyproject.toml``::

    [project.entry-points."losskit.losses"]
    focal_dice = "my_pkg.losses:FocalDice"

``focal_dice`` is then listed by ``list_losses()`` and found by ``has_loss`` with nothing imported; the module
is imported when the loss is first described or built. A plugin that fails to import breaks nothing else.
"""

from __future__ import annotations

import threading
import warnings
from importlib import metadata
from typing import Any

from .core import Registry

__all__ = ["PluginScanner"]


class PluginScanner:
    """Adds every entry point of ``group`` to ``registry`` as a lazy entry, once, on first lookup."""

    def __init__(self, registry: Registry[Any], group: str) -> None:
        self.registry = registry
        self.group = group
        self._lock = threading.Lock()
        self._scanned = False
        self._roots: set[str] = set()
        self.conflicts: list[str] = []

    def __call__(self) -> None:
        if self._scanned:  # fast path: one attribute read per lookup
            return
        with self._lock:
            if self._scanned:
                return
            self._scanned = True  # set first: the scan itself performs lookups
            self._scan()

    @property
    def roots(self) -> frozenset[str]:
        """Top-level packages that provide plugins (their modules may appear in ``_target_`` paths)."""
        self()
        return frozenset(self._roots)

    def _scan(self) -> None:
        for ep in metadata.entry_points(group=self.group):
            dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown"
            self._roots.add(ep.value.split(":")[0].split(".")[0])
            if "." in ep.name or not ep.name.strip():
                # A dotted name could take over a _target_ path such as ``torch.nn.MSELoss``: never registered.
                msg = (
                    f"plugin {dist!r} declares {self.registry.kind} {ep.name[:80]!r} ({ep.value}): names may not "
                    f"contain dots; ignored"
                )
                self.conflicts.append(msg)
                warnings.warn(msg, stacklevel=2)
                continue
            if ep.name in self.registry._state.index:
                current = self.registry._state.entries[self.registry._state.index[ep.name]]
                if current.source != ep.value and current.origin != f"plugin:{dist}":
                    msg = (
                        f"plugin {dist!r} declares {self.registry.kind} {ep.name!r} ({ep.value}), "
                        f"already taken by {current.source}; ignored"
                    )
                    self.conflicts.append(msg)
                    warnings.warn(msg, stacklevel=2)
                continue
            self.registry.add_lazy(ep.name, ep.value, ep.load, origin=f"plugin:{dist}")
