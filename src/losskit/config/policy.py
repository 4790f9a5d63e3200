"""``ImportPolicy``: the only way to let a dotted ``_target_`` import a package, made in code.

A config is data. ``build_loss(cfg["name"], **cfg["params"])`` puts every key of a config in the same keyword
namespace as ``allow_imports``, so a plain ``True``, string or list there could have come from the config
itself; only an ``ImportPolicy`` object, which YAML, JSON and OmegaConf cannot produce, opens imports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["ImportPolicy", "check_policy"]

_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ImportPolicy:
    """Packages a dotted ``_target_`` may import and build ``nn.Module`` classes from.

    Args:
        packages: importable package names (``["monai", "my_project.losses"]``); a path is allowed when it
            equals one of them or lies below it. No part may start with ``_``.
        any_package: allow every package (still never a ``_private`` or ``__main__`` path part).

    Example:
        >>> build_loss({"_target_": "my_project.losses.Focal"}, allow_imports=ImportPolicy(packages=["my_project"]))
    """

    packages: Sequence[str] = field(default_factory=tuple)
    any_package: bool = False

    def __post_init__(self) -> None:
        packages = self.packages
        if isinstance(packages, (str, bytes)) or not isinstance(packages, Sequence):
            raise ConfigError(
                f"ImportPolicy(packages=...) takes a list of package names, got {type(packages).__name__}"
            )
        for name in packages:
            if not isinstance(name, str) or not _PACKAGE.match(name):
                raise ConfigError(
                    f"ImportPolicy: {name!r:.80} is not a package name (dotted identifiers, no part starting with '_')"
                )
        if not isinstance(self.any_package, bool):
            raise ConfigError(f"ImportPolicy(any_package=...) takes a bool, got {type(self.any_package).__name__}")
        object.__setattr__(self, "packages", tuple(packages))

    def allows(self, module: str) -> bool:
        """True if ``module`` (a dotted module name) may be imported from under this policy."""
        if self.any_package:
            return True
        return any(module == p or module.startswith(p + ".") for p in self.packages)


def check_policy(value: Any) -> ImportPolicy | None:
    """``value`` if it is an ``ImportPolicy`` (or None), else a ``ConfigError`` that says why."""
    if value is None or isinstance(value, ImportPolicy):
        return value
    raise ConfigError(
        f"allow_imports takes a losskit.ImportPolicy made in code (ImportPolicy(packages=['pkg']) or "
        f"ImportPolicy(any_package=True)), got {type(value).__name__}: a plain bool, string or list could come "
        f"from the config itself (through **params), and a config may not open imports"
    )
