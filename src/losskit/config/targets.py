"""Resolving a dotted ``_target_`` path safely.

A config is data, not code. A dotted path that is not a registered name resolves only to an ``nn.Module``
subclass, and only from ``torch``, ``losskit`` or a package that provides losses through the
``losskit.losses`` entry point, unless the caller passes ``allow_imports=True`` (any package) or names
extra modules. The package is checked *before* anything is imported, and the resolved object's real home
is checked again after (so alias paths such as ``logging.os.system`` or ``torch.serialization.os.system``
lead nowhere). Nothing here ever calls the target: the builder constructs it only once it passed.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable
from typing import Any, Union

from torch import nn

from ..errors import ConfigError

__all__ = ["resolve_target", "AllowImports", "allowed_roots", "is_dotted_path"]

AllowImports = Union[bool, Iterable[str]]
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_BUILTIN_ROOTS = ("torch", "losskit")


def is_dotted_path(text: str) -> bool:
    return bool(_DOTTED.match(text))


def allowed_roots(allow_imports: AllowImports) -> tuple[str, ...] | None:
    """The module prefixes a path may come from, or ``None`` for any (``allow_imports=True``)."""
    if allow_imports is True:
        return None
    from ..registration import PLUGINS  # late: the registry module imports the config package

    extra: tuple[str, ...] = ()
    if allow_imports and not isinstance(allow_imports, bool):
        if isinstance(allow_imports, str):
            allow_imports = [allow_imports]
        extra = tuple(allow_imports)
    return (*_BUILTIN_ROOTS, *sorted(PLUGINS.roots), *extra)


def _within(module: str, roots: tuple[str, ...] | None) -> bool:
    return roots is None or any(module == r or module.startswith(r + ".") for r in roots)


def _import_longest_prefix(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and not module_name.startswith(exc.name) and not exc.name.startswith(module_name):
                raise ConfigError(f"_target_ {path!r}: importing {module_name!r} failed: {exc}") from exc
            continue
        except Exception as exc:
            raise ConfigError(f"_target_ {path!r}: importing {module_name!r} failed: {exc}") from exc
        for attr in parts[cut:]:
            if not (inspect.ismodule(obj) or inspect.isclass(obj)):
                raise ConfigError(f"_target_ {path!r}: {attr!r} is looked up on a non-module, non-class object")
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                raise ConfigError(f"_target_ {path!r}: {module_name!r} has no attribute path {'.'.join(parts[cut:])!r}") from None
        return obj
    raise ConfigError(f"_target_ {path!r}: no importable module in that path")


def resolve_target(path: str, allow_imports: AllowImports = False) -> type[nn.Module]:
    """The ``nn.Module`` subclass a dotted path names, or :class:`ConfigError` (nothing is called)."""
    if not is_dotted_path(path):
        raise ConfigError(f"_target_ {path!r} is neither a registered loss nor a dotted import path")
    roots = allowed_roots(allow_imports)
    if not _within(path, roots):
        assert roots is not None
        raise ConfigError(
            f"_target_ {path!r} is refused: dotted paths may only name nn.Module classes from "
            f"{', '.join(roots)}; pass allow_imports=True (or allow_imports=['{path.split('.')[0]}']) to build it"
        )
    obj = _import_longest_prefix(path)
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        raise ConfigError(
            f"_target_ {path!r} is refused: it is a {type(obj).__name__}, not an nn.Module subclass; "
            f"a config may only construct losses"
        )
    if not _within(obj.__module__, roots):
        raise ConfigError(f"_target_ {path!r} is refused: it resolves to {obj.__module__}.{obj.__qualname__}, outside the allowed packages")
    return obj
