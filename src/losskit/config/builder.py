"""``build_loss``: every spec format the seeds use, validated before anything is constructed.

Accepted specs (all nestable)::

    "dice"                                     a registered name or alias
    "configs/loss.yaml"                        a YAML file holding any spec below (safe loading)
    {"name": "dice", "smooth": 1.0}            seed 002 / AutoTimm
    {"class": "VAELoss", "params": {...}}      seed 003
    {"_target_": "DiceLoss", "smooth": 1.0}    seed 000 / Hydra (a registered name or a safe dotted path)
    {"type": "dice"}                           mmengine
    {"losses": {...}, "weights": [...]}        a CombinedLoss of named terms
    nn.Module instance                         returned as it is

Parameters are checked against the constructor / factory / function signature first: unknown names (with
did-you-mean and the valid list), missing required ones and ill-typed values are ``ConfigError``s that name
the config path (``losses.dice.smooth``). An exception raised by a loss's own constructor keeps its type and
traceback; losskit only adds a note saying which entry was being built.
"""

from __future__ import annotations

import inspect
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..compose.combined import CombinedLoss, split_term_weights
from ..compose.function import FunctionLoss
from ..errors import ConfigError
from ..registration import LOSSES
from ..registry import Entry, suggest
from ..signatures import ParamSet, config_parameters
from .limits import LIMITS, check_bounds, short
from .loading import load_config, looks_like_path, to_plain
from .policy import ImportPolicy, check_policy
from .serialize import CONFIG_ATTR, plain_value
from .targets import is_dotted_path, resolve_target
from .validation import check_value

__all__ = ["build_loss", "NAME_KEYS"]

#: Keys that name what to build, one per spec: seed 002/AutoTimm, mmengine, Hydra/seed 000, seed 003.
NAME_KEYS = ("name", "type", "_target_", "class")
_HYDRA_ONLY = ("_recursive_", "_convert_", "_partial_", "_args_")


@dataclass
class _Context:
    allow_imports: ImportPolicy | None
    terms: int = 0  # terms of combined losses built so far (bounded by LIMITS.max_terms)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def build_loss(spec: Any, /, *, allow_imports: ImportPolicy | None = None, **overrides: Any) -> nn.Module:
    """Build a ready ``nn.Module`` from a name, a mapping, a YAML file or a module.

    Args:
        spec: what to build (see the module docstring for every format). Only this top-level spec may be a
            file path; a string inside a spec is always a name.
        allow_imports: a :class:`~losskit.ImportPolicy` letting a dotted ``_target_`` import and build
            ``nn.Module`` classes from the packages it names. Anything else (``True``, a string, a list: what a
            config could pass through ``**params``) is a ``ConfigError``.
        **overrides: parameters that take precedence over the spec's.

    Raises:
        UnknownLossError: a name that is not registered (with close matches).
        ConfigError: a malformed spec, an unknown/missing/ill-typed parameter, a forbidden ``_target_``, a value
            over the limits of docs/safety.md.
    """
    ctx = _Context(check_policy(allow_imports))
    try:
        check_bounds(overrides, "")
        spec = to_plain(spec)
        if isinstance(spec, (str, os.PathLike)) and not (isinstance(spec, str) and spec in LOSSES):
            if looks_like_path(spec):
                spec = _unwrap_document(load_config(spec), short(os.fspath(spec), 120))
        check_bounds(spec, "")
        return _build(spec, overrides, "", ctx)
    except (RecursionError, OverflowError) as exc:
        if getattr(exc, _FROM_LOSS, False):
            raise  # the loss's own constructor raised it: its type and traceback are kept
        raise ConfigError(f"the spec cannot be built: {type(exc).__name__}: {short(str(exc), 120)}") from None


#: Set on an exception raised by a loss's own constructor (those keep their type).
_FROM_LOSS = "_losskit_from_loss"


def _build(spec: Any, overrides: Mapping[str, Any], path: str, ctx: _Context) -> nn.Module:
    spec = to_plain(spec)
    if isinstance(spec, nn.Module):
        if overrides:
            raise ConfigError(f"{path or 'spec'}: a ready module takes no parameters, got {short(sorted(overrides))}")
        return spec
    if isinstance(spec, str):
        return _build_target(spec, dict(overrides), path, ctx)  # never a file: only the top level may be one
    if inspect.isclass(spec) and issubclass(spec, nn.Module):
        return _build_target(spec, dict(overrides), path, ctx)
    if isinstance(spec, Mapping):
        target, params = _split_mapping(spec, path)
        for key, value in overrides.items():
            params[key] = value
        return _build_target(target, params, path, ctx)
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
        if isinstance(data, (str, os.PathLike)) and looks_like_path(data) and not (str(data) in LOSSES):
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
    params = {k: v for k, v in spec.items() if k not in (key, "params")}
    if "params" in spec:
        extra = to_plain(spec["params"])
        if extra is None:
            extra = {}
        if not isinstance(extra, Mapping):
            raise ConfigError(f"{_join(path, 'params')}: expected a mapping, got {type(extra).__name__}")
        clash = sorted(set(extra) & set(params))
        if clash:
            raise ConfigError(f"{where}: {clash} given both at the top level and under 'params'")
        params.update(extra)
    return target, params


def _build_target(target: Any, params: dict[str, Any], path: str, ctx: _Context) -> nn.Module:
    if isinstance(target, str):
        if target in LOSSES or not is_dotted_path(target):
            return _build_entry(LOSSES.entry(target), params, path, ctx)  # unknown names raise with suggestions
        cls = resolve_target(target, ctx.allow_imports)
        return _construct(cls, "module", target, {"_target_": target}, params, path, ctx)
    if inspect.isclass(target) and issubclass(target, nn.Module):
        return _construct(target, "module", target.__qualname__, None, params, path, ctx)
    raise ConfigError(
        f"{path or 'spec'}: the loss to build must be a name, got {type(target).__name__} {short(target)}"
    )


def _build_entry(entry: Entry[Any], params: dict[str, Any], path: str, ctx: _Context) -> nn.Module:
    obj = entry.obj
    kind = entry.metadata["kind"]
    if inspect.isclass(obj) and issubclass(obj, CombinedLoss):
        return _build_combined(entry, params, path, ctx)
    return _construct(obj, kind, entry.name, {"name": entry.name}, params, path, ctx)


def _build_combined(entry: Entry[Any], params: dict[str, Any], path: str, ctx: _Context) -> nn.Module:
    terms = params.pop("losses", None)
    if terms is None:
        terms = params.pop("terms", None)
    elif "terms" in params:
        raise ConfigError(f"{path or 'spec'}: give 'losses' or 'terms', not both")
    terms = to_plain(terms)
    if not isinstance(terms, Mapping) or not terms:
        raise ConfigError(f"{_join(path, 'losses')}: a combined loss needs a non-empty mapping of named terms")
    ctx.terms += len(terms)
    if ctx.terms > LIMITS.max_terms:
        raise ConfigError(
            f"{_join(path, 'losses')}: more than {LIMITS.max_terms} terms in one spec (see docs/safety.md)"
        )
    specs, weights = split_term_weights(terms, to_plain(params.pop("weights", None)), path=path)
    built = {name: _build(term, {}, _join(_join(path, "losses"), str(name)), ctx) for name, term in specs.items()}
    return _construct(entry.obj, "module", entry.name, None, {**params, "terms": built, "weights": weights}, path, ctx)


def _construct(
    obj: Any, kind: str, label: str, stamp: dict[str, Any] | None, params: dict[str, Any], path: str, ctx: _Context
) -> nn.Module:
    pset = config_parameters(obj, kind)  # type: ignore[arg-type]
    values = _validate(pset, params, label, path, ctx)
    try:
        if kind == "function":
            module: Any = FunctionLoss(obj, label, values)
        else:
            module = obj(**values)
    except Exception as exc:
        try:
            setattr(exc, _FROM_LOSS, True)
        except AttributeError:  # an exception type with __slots__
            pass
        if hasattr(exc, "add_note"):
            exc.add_note(f"losskit: raised while building loss {label!r}" + (f" at {path!r}" if path else ""))
        raise
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"loss {label!r}: its factory returned {type(module).__name__}, expected an nn.Module"
        )
    if stamp is not None:
        config = dict(stamp)
        config.update({k: plain_value(v) for k, v in values.items()})
        setattr(module, CONFIG_ATTR, config)
    return module


def _validate(pset: ParamSet, params: dict[str, Any], label: str, path: str, ctx: _Context) -> dict[str, Any]:
    known = {p.name: p for p in pset.params}
    values: dict[str, Any] = {}
    for key, value in params.items():
        where = _join(path, str(key))
        param = known.get(key)
        if param is None:
            if pset.var_kwargs:  # accepted as its author chose, still as data: no NaN, no nested _target_
                values[key] = _value(value, inspect.Parameter.empty, label, where, ctx)
                continue
            close = suggest(str(key), known)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"loss {label!r} has no parameter {short(key)} (at {short(where, 120)}).{hint} "
                f"Valid parameters: {', '.join(known) or '(none)'}"
            )
        annotation = pset.hints.get(key, param.annotation)
        # Infinity only where the loss documents it by an infinite default (a clip bound of math.inf); NaN never.
        finite = not (isinstance(param.default, float) and not math.isfinite(param.default))
        values[key] = _value(value, annotation, label, where, ctx, finite)
    missing = [p.name for p in pset.params if p.default is inspect.Parameter.empty and p.name not in values]
    if missing:
        raise ConfigError(
            f"loss {label!r} requires parameter(s) {', '.join(repr(m) for m in missing)}"
            + (f" (at {path!r})" if path else "")
        )
    return values


def _wants_module(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Union or isinstance(annotation, getattr(types, "UnionType", ())):
        return any(_wants_module(a) for a in typing.get_args(annotation) if a is not type(None))
    return inspect.isclass(annotation) and issubclass(annotation, nn.Module)


def _nested_target(value: Any) -> str | None:
    """Where a ``_target_`` key hides inside a parameter value (bounded: the spec passed check_bounds)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, Mapping):
            if "_target_" in item:
                return where
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def _value(value: Any, annotation: Any, label: str, where: str, ctx: _Context, finite: bool = True) -> Any:
    value = to_plain(value)
    if _wants_module(annotation):
        if isinstance(value, str) or (isinstance(value, Mapping) and any(k in value for k in (*NAME_KEYS, "losses"))):
            return _build(value, {}, where, ctx)  # a parameter that takes a loss: built like a term, as safely
    hidden = _nested_target(value)
    if hidden is not None:
        at = where + hidden if hidden.startswith("[") else _join(where, hidden)
        raise ConfigError(
            f"loss {label!r}: a '_target_' inside parameter {short(at, 120)} is not built (the parameter does not "
            f"take a loss module); a config cannot instantiate objects inside parameter values"
        )
    return check_value(value, annotation, loss=label, path=where, finite=finite)
