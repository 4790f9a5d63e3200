"""Turning user input into plain Python data: YAML files and OmegaConf configs, bounded and inert.

YAML: only ``.yaml``/``.yml`` regular files up to ``LIMITS.max_file_bytes``, read as UTF-8, parsed with the
C safe loader where PyYAML has it; a streaming pass over the parser's events first refuses aliases (the
"billion laughs": shared nodes that a walk expands) and excessive nesting before a single node is built.
Errors carry the problem and its line and column, never the file's text.

OmegaConf: node interpolations (``${model.num_classes}``) are resolved; resolvers (``${oc.env:X}``, any
``${name:...}``) are never run: a config that needs one is a ``ConfigError`` (resolve it yourself first).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import ConfigError
from .limits import LIMITS, check_bounds, short

__all__ = ["load_config", "to_plain", "looks_like_path", "read_yaml"]

_YAML_SUFFIXES = (".yaml", ".yml")
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _NoAliasLoader(_BASE_LOADER):  # type: ignore[misc]
    """The safe loader, refusing aliases at construction too (the event pass refuses them first)."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(None, None, "aliases are not allowed", node.start_mark)
        return super().construct_object(node, deep)


def looks_like_path(spec: Any) -> bool:
    """A string or path naming a file rather than a loss (only ever asked of the top-level spec)."""
    if isinstance(spec, os.PathLike):
        return True
    return isinstance(spec, str) and (spec.lower().endswith(_YAML_SUFFIXES) or os.sep in spec or "/" in spec)


def _yaml_error(where: str, exc: BaseException) -> ConfigError:
    """The problem and its position, never the snippet of the file PyYAML would quote."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return ConfigError(f"{where}: not valid YAML for losskit (only plain data is allowed){at}: {short(what, 160)}")
    return ConfigError(f"{where}: not valid YAML for losskit: {type(exc).__name__}: {short(str(exc), 160)}")


def _line(event: yaml.Event) -> str:
    mark = event.start_mark
    return f" (line {mark.line + 1})" if mark is not None else ""


def _check_events(text: str, where: str) -> None:
    """Refuse aliases, deep nesting and long lists from the event stream (iterative, before any node exists:
    PyYAML's constructor costs tens of microseconds a value, so the caps must hold before it runs)."""
    open_nodes: list[list[int]] = []  # per open collection: [values per entry (1 list, 2 mapping), count]
    events = 0
    for event in yaml.parse(text, Loader=_BASE_LOADER):
        events += 1
        if events > LIMITS.max_nodes:
            raise ConfigError(f"{where}: more than {LIMITS.max_nodes} YAML values (see docs/safety.md)")
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(
                f"{where}: YAML aliases (*name) are not allowed in a losskit config{_line(event)}; write the value out"
            )
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            open_nodes.pop()
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        if open_nodes:
            top = open_nodes[-1]
            top[1] += 1
            if top[1] > LIMITS.max_list * top[0]:
                raise ConfigError(
                    f"{where}: a list or mapping of more than {LIMITS.max_list} elements{_line(event)} "
                    f"(see docs/safety.md)"
                )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            open_nodes.append([2 if isinstance(event, yaml.MappingStartEvent) else 1, 0])
            if len(open_nodes) > LIMITS.max_depth:
                raise ConfigError(f"{where}: YAML nested more than {LIMITS.max_depth} levels deep (see docs/safety.md)")


def read_yaml(text: str, where: str = "<string>") -> Any:
    """Parse YAML text as plain data within the limits, or raise ``ConfigError``."""
    if len(text) > LIMITS.max_file_bytes:
        raise ConfigError(f"{where}: YAML text of {len(text)} characters is over the limit of {LIMITS.max_file_bytes}")
    try:
        _check_events(text, where)
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a safe loader subclass)
    except ConfigError:
        raise
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        # Python tags land here (the safe loader has no constructor for them), and so do the constructor's own
        # errors: impossible dates, integers over Python's digit limit.
        raise _yaml_error(where, exc) from None
    check_bounds(data, "")
    return data


def _read_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    shown = short(os.fspath(path), 120)
    name = os.fspath(path)
    if not isinstance(name, str) or not name.lower().endswith(_YAML_SUFFIXES):
        raise ConfigError(f"config file {shown}: only .yaml/.yml files are read as configs")
    try:
        info = os.stat(name)
    except (OSError, ValueError):
        raise ConfigError(f"config file {shown} does not exist or cannot be read") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {shown} is not a regular file")
    if info.st_size > LIMITS.max_file_bytes:
        raise ConfigError(f"config file {shown} is {info.st_size} bytes, over the limit of {LIMITS.max_file_bytes}")
    try:
        with open(name, "rb") as handle:
            raw = handle.read(LIMITS.max_file_bytes + 1)  # bounded even when st_size lies (/proc files say 0)
    except OSError:
        raise ConfigError(f"config file {shown} does not exist or cannot be read") from None
    if len(raw) > LIMITS.max_file_bytes:
        raise ConfigError(f"config file {shown} is over the limit of {LIMITS.max_file_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {shown} is not UTF-8 text (byte {exc.start})") from None
    return text, shown


def load_config(path: str | os.PathLike[str], key: str | None = None) -> Any:
    """Read a YAML config file as plain data (safe loading, bounded; see docs/safety.md).

    Args:
        path: the file (``.yaml``/``.yml``).
        key: optional dotted key of the part to return (``"train.loss"``), for files holding more than a loss.
    """
    text, shown = _read_file(path)
    data = read_yaml(text, shown)
    if key:
        for part in key.split("."):
            if not isinstance(data, Mapping) or part not in data:
                raise ConfigError(f"{shown}: no key {short(key)} (missing {short(part)})")
            data = data[part]
    return data


# ------------------------------------------------------------------------------------------------ OmegaConf

# "${" then anything but "$", "{", "}" up to a ":": a resolver call (``${oc.env:X}``, ``${eval:...}``). A node
# interpolation has no colon before its closing brace (``${model.n}``, ``${..n}``, ``${a.${b}}``).
_RESOLVER = re.compile(r"\$\{[^${}]*:")


def _is_omegaconf(value: Any) -> bool:
    return type(value).__name__ in ("DictConfig", "ListConfig") and type(value).__module__.startswith("omegaconf")


def _neutralise(raw: Any, marker: str) -> Any:
    """Replace every string that calls a resolver by ``marker`` (bounded: ``raw`` passed check_bounds)."""
    if isinstance(raw, str):
        return marker if _RESOLVER.search(raw) else raw
    if isinstance(raw, Mapping):
        return {k: _neutralise(v, marker) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return [_neutralise(v, marker) for v in raw]
    return raw


def _contains(value: Any, marker: str) -> bool:
    if isinstance(value, str):
        return marker in value
    if isinstance(value, Mapping):
        return any(_contains(k, marker) or _contains(v, marker) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_contains(v, marker) for v in value)
    return False


def _path_in_root(node: Any) -> tuple[list[Any], Any]:
    """The keys from the root config to ``node``, and the root (OmegaConf has no public call for either)."""
    keys: list[Any] = []
    try:
        while node._get_parent() is not None:
            keys.append(node._key())
            node = node._get_parent()
    except AttributeError:  # another omegaconf layout: resolve the node on its own
        return [], None
    return keys[::-1], node


def _omegaconf_to_plain(value: Any) -> Any:
    from omegaconf import OmegaConf  # only reachable when omegaconf made the value
    from omegaconf.errors import OmegaConfBaseException

    marker = f"\x00losskit-resolver-{secrets.token_hex(8)}\x00"
    try:
        keys, root = _path_in_root(value)
        root = value if root is None else root
        raw = OmegaConf.to_container(root, resolve=False)
        check_bounds(raw, "")
        copy = OmegaConf.create(_neutralise(raw, marker))  # resolvers replaced: resolving runs none of them
        node = copy
        for key in keys:
            node = node[key]
        plain = OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
    except ConfigError:
        raise
    except (OmegaConfBaseException, RecursionError, ValueError, KeyError, TypeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"the OmegaConf config cannot be resolved: {type(exc).__name__}: {short(message, 160)}"
        ) from None
    if _contains(plain, marker):
        raise ConfigError(
            "the OmegaConf config uses a resolver (${name:...}, e.g. ${oc.env:...}); losskit never runs resolvers: "
            "resolve a config you trust first (OmegaConf.resolve(cfg)) and pass the result"
        )
    return plain


def to_plain(value: Any) -> Any:
    """Convert an OmegaConf ``DictConfig``/``ListConfig`` (duck-typed, omegaconf is optional) to plain data."""
    if _is_omegaconf(value):
        return _omegaconf_to_plain(value)
    return value
