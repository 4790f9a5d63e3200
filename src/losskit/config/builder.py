"""``build_loss``: a pipeline from any spec format to a ready, validated ``nn.Module``.

1. **normalise** (:func:`~losskit.config.spec.normalise`): a name, a mapping in any of the seeds' dialects, a
   YAML file (top level only), an OmegaConf config, a class or a module becomes one canonical
   :class:`~losskit.config.spec.Spec`: target, params, config path. Done once per spec.
2. **resolve** (:func:`_resolve`): the target becomes what to call: a registry entry, a safe dotted path
   (:func:`~losskit.config.targets.resolve_target`) or a class; a ready module is returned as it is.
3. **validate** (:func:`_validate`): every parameter is checked against the signature before anything is
   constructed: unknown names (did-you-mean and the valid list), missing required ones and ill-typed values are
   ``ConfigError``\\ s naming the config path (``losses.dice.smooth``). A parameter that takes a loss, and each
   term of a combined loss, is itself a spec: it goes through the same pipeline (at its own path).
4. **construct** (:func:`_construct`): the object is called; an exception raised by a loss's own constructor
   keeps its type and traceback, losskit only adds a note saying which entry was being built.

``CombinedLoss({...})`` built directly with specs takes this pipeline too (:func:`build_terms`, installed into
``losskit.compose.combined`` by ``losskit.config``), so both report the same paths.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from ..compose.combined import CombinedLoss, split_term_weights
from ..compose.function import FunctionLoss
from ..compose.scheduled import ScheduledLoss, schedulable_params
from ..compose.schedules import Schedule, is_schedule_spec, parse_schedule
from ..compose.weights import Weight
from ..errors import ConfigError
from ..keys import CONFIG_ATTR, NAME_KEYS
from ..registration import LOSSES
from ..registry import suggest
from ..signatures import Kind, ParamSet, config_parameters
from .limits import LIMITS, check_bounds, short
from .loading import to_plain
from .policy import ImportPolicy, check_policy
from .serialize import plain_value
from .spec import Spec, join, names_a_loss, normalise
from .targets import is_dotted_path, resolve_target
from .validation import check_value

__all__ = ["build_loss", "build_terms", "NAME_KEYS"]

#: Set on an exception raised by a loss's own constructor (those keep their type).
_FROM_LOSS = "_losskit_from_loss"


@dataclass
class _Context:
    allow_imports: ImportPolicy | None
    terms: int = 0  # terms of combined losses built so far (bounded by LIMITS.max_terms)


@dataclass(frozen=True)
class _Resolved:
    obj: Any  # the class, factory or function to call
    kind: Kind
    label: str  # the name messages use
    stamp: dict[str, Any] | None  # how to_config names it again (None: not recorded)


def build_loss(spec: Any, /, *, allow_imports: ImportPolicy | None = None, **overrides: Any) -> nn.Module:
    """Build a ready ``nn.Module`` from a name, a mapping, a YAML file or a module.

    Args:
        spec: what to build (see :mod:`losskit.config.spec` for every format). Only this top-level spec may be
            a file path; a string inside a spec is always a name.
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
        return _build(normalise(spec, overrides, top=True), ctx)
    except (RecursionError, OverflowError) as exc:
        if getattr(exc, _FROM_LOSS, False):
            raise  # the loss's own constructor raised it: its type and traceback are kept
        raise _data_error(exc) from None


def build_terms(terms: Mapping[str, Any], weights: Any) -> tuple[dict[str, nn.Module], list[Weight]]:
    """The terms of ``CombinedLoss(terms, weights)`` given as specs, built as ``build_loss({"losses": ...})``
    builds them (same checks, same config paths)."""
    ctx = _Context(None)
    try:
        terms, weights = to_plain(terms), to_plain(weights)
        check_bounds(terms, "")
        check_bounds(weights, "")
        return _build_terms(terms, weights, "", ctx)
    except (RecursionError, OverflowError) as exc:
        if getattr(exc, _FROM_LOSS, False):
            raise
        raise _data_error(exc) from None


def _data_error(exc: BaseException) -> ConfigError:
    """Recursion or overflow raised by the data itself (nesting, a 400-digit float) as a ConfigError."""
    return ConfigError(f"the spec cannot be built: {type(exc).__name__}: {short(str(exc), 120)}")


def _build(spec: Spec, ctx: _Context) -> nn.Module:
    if isinstance(spec.target, nn.Module):
        return spec.target
    resolved = _resolve(spec, ctx)
    params = dict(spec.params)
    if inspect.isclass(resolved.obj) and issubclass(resolved.obj, CombinedLoss):
        params = _combined_params(params, spec.path, ctx)
        resolved = replace(resolved, stamp=None)  # to_config reads a combined loss from its terms
    schedules = _schedules(resolved, params, spec.path)
    params.update({k: s(0) for k, s in schedules.items()})
    pset = config_parameters(resolved.obj, resolved.kind)
    values = _validate(pset, params, resolved.label, spec.path, ctx)
    if not schedules:
        return _construct(resolved, values, spec.path)
    module = _construct(replace(resolved, stamp=None), values, spec.path)
    wrapped = ScheduledLoss(module, schedules)
    if resolved.stamp is not None:
        recorded = {**values, **schedules}
        setattr(wrapped, CONFIG_ATTR, {**resolved.stamp, **{k: plain_value(v) for k, v in recorded.items()}})
    return wrapped


def _schedules(resolved: _Resolved, params: dict[str, Any], path: str) -> dict[str, Schedule]:
    """The parameters given as schedules (``{schedule: ...}``), only where the loss declares them schedulable."""
    found = {k: v for k, v in params.items() if is_schedule_spec(v)}
    allowed = schedulable_params(resolved.obj)
    for key in found:
        if key not in allowed:
            which = f"schedulable: {', '.join(allowed)}" if allowed else "it declares none schedulable"
            raise ConfigError(
                f"loss {resolved.label!r}: parameter {short(key)} (at {short(join(path, str(key)), 120)}) cannot "
                f"follow a schedule ({which}); term weights of a combined loss can"
            )
    return {k: parse_schedule(v, join(path, str(k))) for k, v in found.items()}


def _resolve(spec: Spec, ctx: _Context) -> _Resolved:
    target = spec.target
    if isinstance(target, str):
        if target in LOSSES or not is_dotted_path(target):
            entry = LOSSES.entry(target)  # unknown names raise with suggestions
            kind: Kind = entry.metadata["kind"]  # set by register_loss (detect_kind) for every entry
            return _Resolved(entry.obj, kind, entry.name, {"name": entry.name})
        return _Resolved(resolve_target(target, ctx.allow_imports), "module", target, {"_target_": target})
    if not inspect.isclass(target):  # normalise() lets only names, classes and modules through
        raise ConfigError(f"{spec.path or 'spec'}: cannot build a loss from {type(target).__name__}")
    return _Resolved(target, "module", target.__qualname__, None)


def _combined_params(params: dict[str, Any], path: str, ctx: _Context) -> dict[str, Any]:
    """A combined loss's ``losses`` (or ``terms``) and ``weights``, built into modules and a weight list."""
    if "losses" in params and "terms" in params:
        raise ConfigError(f"{path or 'spec'}: give 'losses' or 'terms', not both")
    terms = params.pop("losses", None)
    if terms is None:
        terms = params.pop("terms", None)
    modules, weights = _build_terms(to_plain(terms), to_plain(params.pop("weights", None)), path, ctx)
    return {**params, "terms": modules, "weights": weights}


def _build_terms(terms: Any, weights: Any, path: str, ctx: _Context) -> tuple[dict[str, nn.Module], list[Weight]]:
    if not isinstance(terms, Mapping) or not terms:
        raise ConfigError(f"{join(path, 'losses')}: a combined loss needs a non-empty mapping of named terms")
    ctx.terms += len(terms)
    if ctx.terms > LIMITS.max_terms:
        raise ConfigError(
            f"{join(path, 'losses')}: more than {LIMITS.max_terms} terms in one spec (see docs/safety.md)"
        )
    specs, weight_list = split_term_weights(terms, weights, path=path)
    prefix = join(path, "losses")
    built = {name: _build(normalise(term, None, join(prefix, str(name))), ctx) for name, term in specs.items()}
    return built, weight_list


def _construct(resolved: _Resolved, values: dict[str, Any], path: str) -> nn.Module:
    try:
        if resolved.kind == "function":
            module: Any = FunctionLoss(resolved.obj, resolved.label, values)
        else:
            module = resolved.obj(**values)
    except Exception as exc:
        try:
            setattr(exc, _FROM_LOSS, True)
        except AttributeError:  # an exception type with __slots__
            pass
        if hasattr(exc, "add_note"):
            exc.add_note(f"losskit: raised while building loss {resolved.label!r}" + (f" at {path!r}" if path else ""))
        raise
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"loss {resolved.label!r}: its factory returned {type(module).__name__}, expected an nn.Module"
        )
    if resolved.stamp is not None:
        setattr(module, CONFIG_ATTR, {**resolved.stamp, **{k: plain_value(v) for k, v in values.items()}})
    return module


def _validate(pset: ParamSet, params: dict[str, Any], label: str, path: str, ctx: _Context) -> dict[str, Any]:
    known = {p.name: p for p in pset.params}
    values: dict[str, Any] = {}
    for key, value in params.items():
        where = join(path, str(key))
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
        # Infinity only where the loss declares it (Annotated[float, AllowInf]); NaN never.
        finite = key not in pset.infinite
        values[key] = _value(value, pset.hints.get(key, param.annotation), label, where, ctx, finite)
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
            if "_target_" in item or "class_path" in item:
                return where
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def _value(value: Any, annotation: Any, label: str, where: str, ctx: _Context, finite: bool = True) -> Any:
    value = to_plain(value)
    if _wants_module(annotation) and names_a_loss(value):
        return _build(normalise(value, None, where), ctx)  # a parameter that takes a loss: built like a term
    hidden = _nested_target(value)
    if hidden is not None:
        at = where + hidden if hidden.startswith("[") else join(where, hidden)
        raise ConfigError(
            f"loss {label!r}: a '_target_' inside parameter {short(at, 120)} is not built (the parameter does not "
            f"take a loss module); a config cannot instantiate objects inside parameter values"
        )
    return check_value(value, annotation, loss=label, path=where, finite=finite)
