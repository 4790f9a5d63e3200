"""``config_schema()``: a JSON Schema (draft 2020-12) of every loss spec ``build_loss`` accepts.

It is generated from the registry: every registered loss's parameters (types from the annotations, ``Literal``
choices as enums, defaults, one-line descriptions from the docstrings; unknown parameters rejected where the loss
takes no ``**kwargs``), in every format (a name; ``name``/``type``/``_target_``/``class``/``class_path`` with the
parameters inline or under ``params``/``init_args``; combined specs with schedules and learned weightings).
Editors use it for completion and red squiggles (``# yaml-language-server: $schema=docs/losskit.schema.json``);
``losskit schema --out FILE`` writes it and ``make docs`` keeps ``docs/losskit.schema.json`` in step.

The schema checks the shape of a config; ``build_loss`` (and ``losskit check``) check the same rules and more
(a dotted ``_target_``'s safety, a value's range). A config the schema accepts builds unless one of those fails.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from typing import Any

import torch
from torch import nn

from ..compose.scheduled import schedulable_params
from ..compose.schedules import KINDS, SCHEDULE_KEYS
from ..compose.weighting import WEIGHTINGS
from ..discovery import describe_loss
from ..keys import NAME_KEYS, PARAM_KEYS
from ..registration import LOSSES
from ..signatures import config_parameters

__all__ = ["config_schema", "schema_errors", "SCHEMA_ID"]

SCHEMA_ID = "https://losskit.dev/losskit.schema.json"
_DOTTED = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
_NUMBER = {"type": "number"}


def _type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of a parameter annotation; ``{}`` (anything) where JSON cannot say more."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return dict(_NUMBER)
    if tp is str:
        return {"type": "string"}
    if tp is type(None):
        return {"type": "null"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is typing.Annotated:
        return _type_schema(args[0])
    if origin is typing.Union or isinstance(tp, types.UnionType):
        parts = [_type_schema(a) for a in args]
        return {} if any(p == {} for p in parts) else {"anyOf": parts}
    if inspect.isclass(tp) and issubclass(tp, nn.Module):
        return {"$ref": "#/$defs/spec"}
    if tp is torch.Tensor:
        return {"type": ["array", "number"]}
    if origin in (list, tuple, cabc.Sequence) or tp in (list, tuple):
        item = _type_schema(args[0]) if args and args[-1] is not Ellipsis or len(args) == 2 else {}
        return {"type": "array", "items": item} if item else {"type": "array"}
    if origin in (dict, cabc.Mapping) or tp is dict:
        return {"type": "object"}
    return {}


def _json_default(value: Any) -> tuple[bool, Any]:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True, value
    if isinstance(value, tuple) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return True, list(value)
    return False, None


def _loss_def(name: str) -> dict[str, Any]:
    """``{"properties": {param: schema}}`` of one loss, and whether it takes ``**kwargs``."""
    entry = LOSSES.entry(name)
    pset = config_parameters(entry.obj, entry.metadata["kind"])
    docs = {p.name: p.doc for p in describe_loss(name).params}
    schedulable = schedulable_params(entry.obj)
    props: dict[str, Any] = {}
    for p in pset.params:
        schema = _type_schema(pset.hints.get(p.name, p.annotation))
        if p.name in schedulable and schema:
            schema = {"anyOf": [schema, {"$ref": "#/$defs/schedule"}]}
        doc = docs.get(p.name, "").strip().split("\n")[0]
        if doc:
            schema = {**schema, "description": doc[:300]}
        ok, default = _json_default(p.default)
        if p.default is not inspect.Parameter.empty and ok:
            schema = {**schema, "default": default}
        props[p.name] = schema
    required = [p.name for p in pset.params if p.default is inspect.Parameter.empty]
    params = {"type": "object", "properties": props, "additionalProperties": pset.var_kwargs}
    if required:
        params["required"] = required
    return {"params": params, "properties": props, "var_kwargs": pset.var_kwargs, "required": required}


def _schedule_def() -> dict[str, Any]:
    variants = []
    for kind in KINDS:
        keys = SCHEDULE_KEYS[kind]
        props: dict[str, Any] = {"schedule": {"const": kind}}
        for key in keys:
            props[key] = (
                {"type": "integer", "minimum": 0}
                if key in ("steps", "begin")
                else {"type": "array", "items": {"type": "integer", "minimum": 0}}
                if key == "milestones"
                else dict(_NUMBER)
            )
        variants.append(
            {"type": "object", "properties": props, "required": ["schedule"], "additionalProperties": False}
        )
    return {"description": "a value that follows the training step", "oneOf": variants}


def config_schema(builtin_only: bool = False) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a losskit loss spec; a plain dict, ready for ``json.dumps``.

    Args:
        builtin_only: only losskit's own losses (what ``docs/losskit.schema.json`` holds); by default every
            registered loss, plugins and your own registrations included (a plugin that fails to load is left
            out)."""
    names: list[str] = []
    defs: dict[str, Any] = {}
    branches = []
    for entry in LOSSES.entries():
        if entry.name == "combined" or (builtin_only and not entry.source.startswith("losskit.")):
            continue
        try:
            loss = _loss_def(entry.name)
        except Exception:  # noqa: BLE001 - a plugin that fails to load is left out of the schema
            continue
        known = [entry.name, *entry.aliases]
        names += known
        defs[f"params.{entry.name}"] = loss["params"]
        ref = {"$ref": f"#/$defs/params.{entry.name}"}
        then: dict[str, Any] = {"properties": {**loss["properties"], **dict.fromkeys(PARAM_KEYS, ref)}}
        if loss["var_kwargs"]:
            then["additionalProperties"] = True
        branches.append(
            {"if": {"anyOf": [{"properties": {k: {"enum": known}}, "required": [k]} for k in NAME_KEYS]}, "then": then}
        )
    target = {"anyOf": [{"enum": names}, {"type": "string", "pattern": _DOTTED}]}
    # a dotted path's parameters are checked when it is built (its class is not known here)
    dotted = [{"properties": {k: {"type": "string", "pattern": _DOTTED}}, "required": [k]} for k in NAME_KEYS]
    branches.append({"if": {"anyOf": dotted}, "then": {"additionalProperties": True}})
    weight = {"anyOf": [dict(_NUMBER), {"$ref": "#/$defs/schedule"}]}
    defs.update(
        {
            "spec": {
                "anyOf": [{"$ref": "#/$defs/name"}, {"$ref": "#/$defs/combined"}, {"$ref": "#/$defs/named"}],
            },
            "name": {"description": "a registered loss name or alias", "type": "string", "enum": names},
            "named_core": {
                "type": "object",
                "properties": dict.fromkeys(NAME_KEYS, target),
                "oneOf": [{"required": [k]} for k in NAME_KEYS],
                "allOf": branches,
            },
            # unknown parameters: whatever the matching loss's branch did not evaluate
            "named": {"allOf": [{"$ref": "#/$defs/named_core"}], "unevaluatedProperties": False},
            "term": {
                "description": "a term of a combined loss: a spec, optionally with its term weight inline",
                "anyOf": [
                    {"$ref": "#/$defs/name"},
                    {"$ref": "#/$defs/combined"},
                    {"$ref": "#/$defs/named"},
                    {
                        "allOf": [{"$ref": "#/$defs/named_core"}],
                        "properties": {"weight": dict(_NUMBER)},
                        "required": ["weight"],
                        "unevaluatedProperties": False,
                    },
                ],
            },
            "schedule": _schedule_def(),
            "combined": {
                "type": "object",
                "properties": {
                    "name": {"const": "combined"},
                    "losses": {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/term"}},
                    "terms": {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/term"}},
                    "weights": {
                        "anyOf": [
                            {"type": "array", "items": weight},
                            {"type": "object", "additionalProperties": weight},
                        ]
                    },
                    "weighting": {"enum": list(WEIGHTINGS), "default": "fixed"},
                    "temperature": {"type": "number", "exclusiveMinimum": 0, "default": 2.0},
                },
                "oneOf": [{"required": ["losses"]}, {"required": ["terms"]}],
                "additionalProperties": False,
            },
        }
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "losskit loss spec",
        "description": "A loss spec for losskit.build_loss: a name, a mapping in any supported format, or a combined "
        "loss. A YAML file may also hold it under a top-level 'loss' key.",
        "anyOf": [
            {"$ref": "#/$defs/spec"},
            {"type": "object", "properties": {"loss": {"$ref": "#/$defs/spec"}}, "required": ["loss"]},
        ],
        "$defs": defs,
    }


def schema_errors(spec: Any) -> list[str] | None:
    """Where ``spec`` (plain data) breaks the schema, one line per error (``[]``: valid); None when the
    ``jsonschema`` package is not installed."""
    try:
        import jsonschema
    except ImportError:
        return None
    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path)))
    out = []
    for error in errors:
        best = jsonschema.exceptions.best_match([error])
        where = ".".join(map(str, best.absolute_path)) or "(top)"
        out.append(f"{where}: {best.message[:300]}")
    return out
