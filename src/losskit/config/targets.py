"""Resolving a dotted ``_target_`` path without running anything a config names.

A config is data. A dotted path that is not a registered name resolves, with nothing imported, to:

* a loss class of ``torch`` (a subclass of ``torch.nn.modules.loss._Loss``), found by walking the ``__dict__``
  of modules that are already loaded (``torch.nn.SmoothL1Loss``, ``torch.nn.modules.loss.L1Loss``);
* a registered loss reached through a loaded module (``losskit.zoo.region.DiceLoss``);
* the object a loss plugin declares through the ``losskit.losses`` entry point (``pkg.mod.FocalDice`` for
  ``pkg.mod:FocalDice``), loaded the way the registry loads it.

Only an :class:`~losskit.ImportPolicy` made in code lets a path import a package, and then only an
``nn.Module`` subclass from that package is returned. No path part may start with ``_`` (which also rules out
``__main__``, ``__builtins__``, ``__globals__``): nothing private, no module run as a script. The walk reads
``__dict__`` entries only (no ``getattr``: a module's ``__getattr__`` may import), and nothing is ever called.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import types
from typing import Any

from torch import nn
from torch.nn.modules.loss import _Loss

from ..errors import ConfigError
from ..registration import LOSSES
from ..registry import suggest
from .limits import short
from .policy import ImportPolicy, check_policy

__all__ = ["resolve_target", "is_dotted_path"]

_DOTTED = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_MISSING = object()


def is_dotted_path(text: str) -> bool:
    return bool(_DOTTED.match(text))


def _lookup(obj: Any, attr: str) -> Any:
    """``obj.attr`` read from ``__dict__`` only: modules and classes, no descriptors run, no lazy imports."""
    if isinstance(obj, types.ModuleType):
        return vars(obj).get(attr, _MISSING)
    if inspect.isclass(obj):
        for klass in inspect.getmro(obj):
            if attr in vars(klass):
                return vars(klass)[attr]
    return _MISSING


def _walk_loaded(parts: list[str]) -> Any:
    """Follow the path through modules already in ``sys.modules``; ``_MISSING`` if it leaves them."""
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj: Any = module
        for attr in parts[cut:]:
            obj = _lookup(obj, attr)
            if obj is _MISSING:
                break
        if obj is not _MISSING:
            return obj
    return _MISSING


def _import_allowed(path: str, parts: list[str], policy: ImportPolicy) -> Any:
    """Import the longest importable module prefix of ``path`` (the caller's policy allows it), then walk."""
    for cut in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:cut])
        if not policy.allows(name):
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue  # this prefix does not exist: try a shorter one
            raise ConfigError(f"_target_ {short(path)}: importing {name!r} failed: {short(str(exc), 160)}") from None
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # an allowed module that exits on import
            raise ConfigError(
                f"_target_ {short(path)}: importing {name!r} failed: {type(exc).__name__}: {short(str(exc), 160)}"
            ) from None
        return _walk_loaded(parts)
    return _MISSING


def _plugin_object(path: str) -> Any:
    """The object a plugin entry point declares as ``module:attr`` where ``path`` is ``module.attr``."""
    for entry in LOSSES.entries():
        source = entry.source if entry.origin.startswith("plugin:") else ""
        if ":" in source and source.replace(":", ".") == path:
            return LOSSES.entry(entry.name).obj  # loads the plugin the way the registry does
    return _MISSING


def _registered_hint(name: str) -> str:
    if name in LOSSES:
        return f"did you mean the registered {name!r}?"
    close = suggest(name, [k for e in LOSSES.entries() for k in e.keys], limit=1)
    return f"did you mean the registered {close[0]!r}?" if close else ""


def _acceptable(obj: Any, policy: ImportPolicy | None) -> bool:
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        return False
    module = getattr(obj, "__module__", "") or ""
    if (module == "torch" or module.startswith("torch.")) and issubclass(obj, _Loss):
        return True
    if LOSSES.find(obj) is not None:
        return True
    return policy is not None and policy.allows(module)


def resolve_target(path: str, allow_imports: ImportPolicy | None = None) -> type[nn.Module]:
    """The class a dotted path names, or :class:`ConfigError`; nothing is called (see the module docstring)."""
    policy = check_policy(allow_imports)
    shown = short(path)
    if not isinstance(path, str) or not is_dotted_path(path):
        raise ConfigError(f"_target_ {shown} is neither a registered loss nor a dotted path")
    parts = path.split(".")

    def refused(why: str) -> ConfigError:
        hint = _registered_hint(parts[-1])  # first: the likeliest fix for a path copied from another project
        return ConfigError(f"_target_ {shown} is refused{' (' + hint + ')' if hint else ''}: {why}")

    private = [p for p in parts if p.startswith("_")]
    if private:
        raise refused(f"a path part may not start with '_' ({short(private[0], 40)})")
    obj = _walk_loaded(parts)
    if obj is _MISSING:
        obj = _plugin_object(path)
    if obj is _MISSING and policy is not None:
        obj = _import_allowed(path, parts, policy)
    if obj is _MISSING:
        how = (
            ""
            if policy is not None
            else ("; a config cannot import packages: pass allow_imports=losskit.ImportPolicy(packages=[...]) in code")
        )
        raise refused(
            "it names no loss class of torch, no registered loss and no loss plugin's entry point "
            f"(nothing is imported for a config){how}"
        )
    if not _acceptable(obj, policy):
        what = obj.__qualname__ if inspect.isclass(obj) else type(obj).__name__
        raise refused(
            f"it is {short(what, 60)}, not a loss class (a subclass of torch.nn.modules.loss._Loss from torch, "
            "a registered loss or a plugin's loss)"
        )
    cls: type[nn.Module] = obj
    return cls
