"""Normalising a spec: every accepted format becomes one canonical :class:`Spec` (target, params, path).

Accepted specs (all nestable)::

    "dice"                                     a registered name or alias
    "configs/loss.yaml"                        a YAML file holding any spec below (top level only, safe loading)
    {"name": "dice", "smooth": 1.0}            seed 002 / AutoTimm
    {"class": "VAELoss", "params": {...}}      seed 003
    {"_target_": "DiceLoss", "smooth": 1.0}    seed 000 / Hydra (a registered name or a safe dotted path)
    {"type": "dice"}                           mmengine
    {"class_path": "dice", "init_args": {...}} LightningCLI / jsonargparse (a registered name or a safe dotted path)
    {"losses": {...}, "weights": [...]}        a CombinedLoss of named terms
    OmegaConf DictConfig                       any of the above (node interpolations resolved, no resolvers)
    nn.Module instance                         returned as it is
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import ConfigError
from ..keys import NAME_KEYS, PARAM_KEYS, TERM_KEYS
from ..registration import LOSSES
from .limits import check_bounds, short
from .loading import load_config, looks_like_path, to_plain

__all__ = ["Spec", "normalise", "join"]

_HYDRA_ONLY = ("_recursive_", "_convert_", "_partial_", "_args_")


@dataclass(frozen=True)
class Spec:
    """One spec in canonical form.

    Attributes:
        target: what to build: a registered name or alias, a dotted path, an ``nn.Module`` class, or a ready
            module (built already: returned as it is).
        params: the parameters, plain data (overrides merged in; a combined loss's ``losses`` among them).
        path: where the spec sits in the config (``""`` at the top, ``losses.seg``), for error messages.
    """

    target: str | type[nn.Module] | nn.Module
    params: dict[str, Any]
    path: str


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def names_a_loss(value: Any) -> bool:
    """A parameter value that is itself a loss spec (a name, or a mapping saying what to build)."""
    return isinstance(value, str) or (isinstance(value, Mapping) and any(k in value for k in (*NAME_KEYS, *TERM_KEYS)))


def normalise(spec: Any, overrides: Mapping[str, Any] | None = None, path: str = "", *, top: bool = False) -> Spec:
    """``spec`` in canonical form; only a ``top``-level spec may be a YAML file path.

    Raises:
        ConfigError: a malformed spec (what to build is missing or given twice, Hydra-only keys, a file where
            a file is not allowed, a value over the limits).
    """
    overrides = dict(overrides or {})
    spec = to_plain(spec)
    if top:
        check_bounds(overrides, "")
        if isinstance(spec, (str, os.PathLike)) and not (isinstance(spec, str) and spec in LOSSES):
            if looks_like_path(spec):  # never below the top: a string inside a spec is a name
                spec = _unwrap_document(load_config(spec), short(os.fspath(spec), 120))
        check_bounds(spec, "")
    if isinstance(spec, nn.Module):
        if overrides:
            raise ConfigError(f"{path or 'spec'}: a ready module takes no parameters, got {short(sorted(overrides))}")
        return Spec(spec, {}, path)
    if isinstance(spec, str) or (inspect.isclass(spec) and issubclass(spec, nn.Module)):
        return Spec(spec, overrides, path)
    if isinstance(spec, Mapping):
        target, params = _split_mapping(spec, path)
        params.update(overrides)
        return Spec(target, params, path)
    raise ConfigError(
        f"{path or 'spec'}: cannot build a loss from {type(spec).__name__} {short(spec)}; expected a name, a "
        f"mapping with one of {', '.join(NAME_KEYS)}, a YAML path (top level only) or an nn.Module"
    )


def _unwrap_document(data: Any, file: str) -> Any:
    """A YAML document may hold the spec under a top-level ``loss`` key (the seeds' files do)."""
    if data is None:
        raise ConfigError(f"{file}: the file is empty")
    if not isinstance(data, Mapping):
        # Never echo what the file holds: it may not be a config at all.
        raise ConfigError(f"{file}: a config file must hold a mapping, got {type(data).__name__}")
    if not any(k in data for k in (*NAME_KEYS, "losses")) and "loss" in data:
        data = data["loss"]
        if isinstance(data, (str, os.PathLike)) and looks_like_path(data) and str(data) not in LOSSES:
            raise ConfigError(f"{file}: 'loss' names a file; a config file may not include another file (or itself)")
    return data


def _split_mapping(spec: Mapping[str, Any], path: str) -> tuple[Any, dict[str, Any]]:
    where = path or "spec"
    named = [k for k in NAME_KEYS if k in spec]
    if len(named) > 1:
        raise ConfigError(f"{where}: give one of {', '.join(NAME_KEYS)}, not several ({', '.join(named)})")
    hydra = [k for k in _HYDRA_ONLY if k in spec]
    if hydra:
        raise ConfigError(f"{where}: Hydra key(s) {', '.join(hydra)} are not supported by build_loss")
    if named:
        key = named[0]
        target = spec[key]
    elif "losses" in spec:
        key, target = "", "combined"
    else:
        raise ConfigError(
            f"{where}: the mapping does not say what to build; expected one of {', '.join(NAME_KEYS)} "
            f"(or 'losses' for a combined loss), got keys {sorted(map(str, spec))}"
        )
    params = {k: v for k, v in spec.items() if k != key and k not in PARAM_KEYS}
    held = [k for k in PARAM_KEYS if k in spec]
    if len(held) > 1:
        raise ConfigError(f"{where}: give the parameters under one of {', '.join(held)}, not both")
    if held:
        extra = to_plain(spec[held[0]])
        if extra is None:
            extra = {}
        if not isinstance(extra, Mapping):
            raise ConfigError(f"{join(path, held[0])}: expected a mapping, got {type(extra).__name__}")
        clash = sorted(set(extra) & set(params))
        if clash:
            raise ConfigError(f"{where}: {clash} given both at the top level and under {held[0]!r}")
        params.update(extra)
    if not isinstance(target, str) and not (inspect.isclass(target) and issubclass(target, nn.Module)):
        raise ConfigError(f"{where}: the loss to build must be a name, got {type(target).__name__} {short(target)}")
    return target, params
