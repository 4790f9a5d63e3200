"""``losskit list``, ``losskit info`` and ``losskit check``: look at losses and validate configs."""

from __future__ import annotations

import argparse
import inspect
import math
from typing import Any

import torch
import yaml

from ..compose import CombinedLoss, accepts_return_terms, call_loss
from ..config import ImportPolicy, build_loss, to_config
from ..config.serialize import plain_value
from ..discovery import LossDescription, ParamInfo, describe_loss, list_losses, strip_arg_docs
from ..inputs import make_generator
from ..registration import LOSSES
from ..testing.examples import example_for
from ..testing.shapes import parse_shape
from ._render import CliError, Out, one_line

__all__ = ["cmd_list", "cmd_info", "cmd_check", "example_config", "is_builtin"]


def is_builtin(name: str) -> bool:
    """True for losses that ship with losskit (their code lives in the ``losskit`` package)."""
    # Read from the entries without loading them: a plugin's code is not imported to answer this.
    return any(e.name == name and e.source.startswith("losskit.") for e in LOSSES.entries())


def _describe_or_none(name: str) -> tuple[LossDescription | None, str]:
    """A description, or ``None`` and the reason when a plugin fails to import (listing must go on)."""
    try:
        return describe_loss(name), ""
    except Exception as exc:  # a broken plugin is shown as such, never a crash of ``list``
        return None, f"(failed to load: {str(exc).splitlines()[0]})"


def cmd_list(args: argparse.Namespace, out: Out) -> int:
    names = list_losses(args.pattern, task=args.task, tag=args.tag)
    if args.names:
        for name in names:
            print(name)
        return 0
    rows = []
    for name in names:
        info, problem = _describe_or_none(name)
        if info is None:
            rows.append((name, "", "", problem))
        else:
            rows.append((name, ", ".join(info.aliases), ", ".join(info.tasks), one_line(info.summary)))
    filters = [f"{k}={v!r}" for k, v in (("pattern", args.pattern), ("task", args.task), ("tag", args.tag)) if v]
    title = f"{len(rows)} loss{'es' if len(rows) != 1 else ''}" + (f" ({', '.join(filters)})" if filters else "")
    out.table(("name", "aliases", "tasks", "summary"), rows, title=title, wide_last=True)
    return 0


# ---------------------------------------------------------------------------------------------------- info


def _guess(annotation: str) -> Any:
    """A value of the annotated type for a *required* parameter, so the example config is complete."""
    text = annotation.lower()
    for word, value in (("bool", False), ("int", 2), ("float", 1.0), ("str", "value")):
        if text.startswith(word):
            return value
    if "sequence" in text or "list" in text or "tuple" in text:
        return [1.0, 1.0]
    return None


def _yamlable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not (isinstance(value, float) and not math.isfinite(value))
    if isinstance(value, (list, tuple)):
        return all(_yamlable(v) for v in value)
    return False


def example_config(name: str) -> dict[str, Any]:
    """A ``{"loss": spec}`` document that builds the loss ``name``, every defaulted option spelled out.

    Options whose default YAML cannot hold (a tensor, a callable) are left out. The candidate is checked by
    building it; options are dropped until it builds (a ``None`` default a strict annotation refuses, say).
    """
    info = describe_loss(name)
    obj = LOSSES.get(info.name)
    if inspect.isclass(obj) and issubclass(obj, CombinedLoss):
        # A combined loss is nothing without terms: show the seed-000 shape with two real terms.
        return {
            "loss": {
                "name": info.name,
                "losses": {"ce": "cross_entropy", "smoothed": {"name": "cross_entropy", "label_smoothing": 0.1}},
                "weights": [0.5, 0.5],
            }
        }
    full: dict[str, Any] = {"name": info.name}
    for p in info.params:
        if p.required:
            full[p.name] = _guess(p.annotation)
        elif _yamlable(p.default):
            full[p.name] = plain_value(p.default)
    required = {p.name for p in info.params if p.required}
    candidates = [
        full,
        {k: v for k, v in full.items() if v is not None or k in required},
        {k: v for k, v in full.items() if k == "name" or k in required},
    ]
    for candidate in candidates:
        try:
            build_loss(candidate)
        except Exception:
            continue
        return {"loss": candidate}
    return {"loss": candidates[-1]}  # the loss needs values only its author knows: show the minimal shape


def _signature(info: LossDescription) -> str:
    """The loss as a call with its defaults (types and allowed values are in the parameter table, once)."""
    parts = [p.name if p.required else f"{p.name}={p.default!r}" for p in info.params]
    if info.var_kwargs:
        parts.append("**kwargs")
    return f"{info.name}({', '.join(parts)})"


def _type_text(param: ParamInfo) -> str:
    """The annotation, or the allowed values of a ``Literal`` (shown here only, not also as its annotation)."""
    if param.choices:
        text = " | ".join(repr(c) for c in param.choices)
        return text + (" | None" if "None" in param.annotation else "")
    return param.annotation or "-"


def cmd_info(args: argparse.Namespace, out: Out) -> int:
    info = describe_loss(args.name)
    config_text = yaml.safe_dump(example_config(info.name), sort_keys=False)
    if args.config:
        print(config_text, end="")
        return 0
    out.heading(info.name)
    for key, value in (
        ("aliases", ", ".join(info.aliases) or "-"),
        ("tasks", ", ".join(info.tasks) or "-"),
        ("tags", ", ".join(info.tags) or "-"),
        ("kind", info.kind),
        ("defined in", info.source),
    ):
        out.line(f"{key + ':':12s}{value}")
    # The docstring once, in full, without its Args: section (the table below shows each description).
    out.heading("Documentation")
    out.line(strip_arg_docs(info.doc) or "(no docstring)")
    out.heading("Signature")
    out.code(_signature(info), "python")
    out.heading("Parameters")
    if info.params:
        rows = [
            (p.name, _type_text(p), "(required)" if p.required else repr(p.default), p.doc or "-") for p in info.params
        ]
        out.table(("parameter", "type / allowed values", "default", "description"), rows)
    else:
        out.line("(none)")
    if info.var_kwargs:
        out.line("Also accepts any keyword (**kwargs).")
    out.heading("Inputs")
    if info.inputs:
        rows = [
            (i.name + (" (optional)" if i.optional else ""), i.layout or "-", i.dtype or "-", i.doc or "")
            for i in info.inputs
        ]
        out.table(("input", "layout", "dtype", "meaning"), rows)
    else:
        out.line("(not declared)")
    if not args.no_source:
        out.heading("Source")
        try:
            source = inspect.getsource(LOSSES.get(info.name))
        except (OSError, TypeError):
            source = "(source not available)"
        out.code(source, "python")
    out.heading("Example config (builds with losskit.build_loss)")
    out.code(config_text, "yaml")
    return 0


# --------------------------------------------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace, out: Out) -> int:
    # The opt-in is made here, in code, from the command line: never from the config being checked.
    policy = (
        ImportPolicy(any_package=True)
        if args.allow_imports
        else ImportPolicy(packages=list(args.allow_import))
        if args.allow_import
        else None
    )
    schema_problems = _schema_check(args.config)
    if schema_problems:
        out.heading(f"{args.config}: does not fit the config schema (losskit schema)")
        for line in schema_problems:
            out.line(line)
    module = build_loss(args.config, allow_imports=policy)
    out.heading(f"{args.config}: builds {type(module).__name__}")
    if schema_problems:
        out.line("FAILED: the config builds but breaks the schema (please report this: they should agree)")
        return 1
    try:
        resolved = to_config(module)
    except Exception as exc:  # a module without a recorded config still gets checked
        resolved = None
        out.line(f"(no serialisable config: {exc})")
    if resolved is not None:
        out.heading("Resolved config (losskit.to_config)")
        out.code(yaml.safe_dump({"loss": resolved}, sort_keys=False), "yaml")
    notes: list[str] = []
    shapes = dict(_parse_shapes(args.shape or []))
    example = example_for(module, make_generator(args.seed), shapes=shapes, max_elements=args.max_elements, notes=notes)
    described = ", ".join(_shape(a) for a in [*example.args, *example.kwargs.values()])
    # Every loss made of terms (combined, dice_ce, vae, a user's loss on the same protocol) shows its terms.
    with_terms = accepts_return_terms(module)
    try:
        result = call_loss(module, *example.args, return_terms=with_terms, **example.kwargs)
    except Exception as exc:  # the loss crashed on the inputs: a failed check, said as such
        out.heading(f"Example inputs ({described})")
        for note in notes:
            out.line(f"shape {note}")
        out.line(f"FAILED: the loss raised {type(exc).__name__}: {_first_lines(str(exc))}")
        return 1
    terms: dict[str, Any] = {}
    total = result
    if with_terms:
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            out.line(f"FAILED: return_terms=True gave {type(result).__name__}, expected (total, {{term: value}})")
            return 1
        total, terms = result[0], {str(k): v for k, v in result[1].items()}
    if not isinstance(total, torch.Tensor):
        out.line(f"FAILED: the loss returned {type(total).__name__}, expected a tensor")
        return 1
    total = total.detach()
    out.heading(f"Value on example inputs ({described})")
    for note in notes:
        out.line(f"shape {note}")
    weights = _term_weights(module)
    rows = [(name, _value_text(v), f"{weights[name]:g}" if name in weights else "") for name, v in terms.items()]
    rows.append(("total", _value_text(total), ""))
    out.table(("term", "value", "weight"), rows)
    values = [total, *(v for v in terms.values() if isinstance(v, torch.Tensor))]
    if not all(bool(torch.isfinite(v).all()) for v in values):
        out.line("FAILED: the loss is not finite on valid inputs")
        return 1
    out.line("OK")
    return 0


def _schema_check(config: str) -> list[str]:
    """The schema's complaints about the config (a name or a YAML file); [] without jsonschema installed."""
    from ..config.loading import load_config, looks_like_path
    from ..config.schema import schema_errors

    data: Any = config
    if config not in LOSSES and looks_like_path(config):
        try:
            data = load_config(config)
        except Exception:  # noqa: BLE001 - build_loss reports an unreadable file properly
            return []
    return schema_errors(data) or []


def _parse_shapes(items: list[str]) -> list[tuple[str, tuple[int, ...]]]:
    """``--shape input=2,3,16,16`` options as (name, shape) pairs."""
    parsed = []
    for item in items:
        name, sep, dims = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--shape {item!r}: expected NAME=D1,D2,... such as input=2,3,16,16")
        try:
            parsed.append((name.strip(), parse_shape(dims)))
        except ValueError as exc:
            raise CliError(f"--shape {item!r}: {exc}") from None
    return parsed


def _term_weights(module: Any) -> dict[str, float]:
    """Each term's weight now (a schedule at the module's step)."""
    return module.current_weights() if isinstance(module, CombinedLoss) else {}


def _value_text(value: Any) -> str:
    if not isinstance(value, torch.Tensor):
        return repr(value)
    return f"{float(value):.6g}" if value.dim() == 0 else f"tensor of shape {tuple(value.shape)}"


def _first_lines(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shape(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).removeprefix('torch.')}{list(value.shape)}"
    return type(value).__name__
