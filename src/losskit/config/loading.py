"""Turning user input into plain Python data: YAML files (safe loading only) and OmegaConf configs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["load_config", "to_plain", "looks_like_path"]

_YAML_SUFFIXES = (".yaml", ".yml")


def looks_like_path(spec: Any) -> bool:
    """A string or path naming a YAML file rather than a loss."""
    if isinstance(spec, os.PathLike):
        return True
    return isinstance(spec, str) and (spec.lower().endswith(_YAML_SUFFIXES) or os.sep in spec or "/" in spec)


def load_config(path: str | os.PathLike[str], key: str | None = None) -> Any:
    """Read a YAML file with ``yaml.safe_load`` (no Python tags: a config is data, not code).

    Args:
        path: the file.
        key: optional dotted key of the part to return (``"train.loss"``), for files holding more than a loss.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        # Python tags (!!python/object/apply ...) land here: safe_load refuses to construct them.
        raise ConfigError(f"{file}: not valid YAML for losskit (only plain data is allowed): {exc}") from None
    if key:
        for part in key.split("."):
            if not isinstance(data, Mapping) or part not in data:
                raise ConfigError(f"{file}: no key {key!r} (missing {part!r})")
            data = data[part]
    return data


def to_plain(value: Any) -> Any:
    """Convert an OmegaConf ``DictConfig``/``ListConfig`` (duck-typed, omegaconf is optional) to plain data."""
    if type(value).__name__ in ("DictConfig", "ListConfig") and type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf  # only reachable when omegaconf made the value

        return OmegaConf.to_container(value, resolve=True)
    return value
