"""Finding losses: ``list_losses``, ``loss_info``, ``has_loss``, ``describe_loss`` (timm's ``list_models`` UX)."""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from torch import nn

from . import functional
from .errors import UnknownFilterError
from .registration import KNOWN_TASKS, LOSSES
from .registry import Entry
from .registry.naming import natural_key, normalize, suggest
from .signatures import config_parameters, input_parameters

__all__ = [
    "list_losses",
    "loss_info",
    "has_loss",
    "describe_loss",
    "LossDescription",
    "ParamInfo",
    "UnknownFilterError",
    "functional_form",
]


class _Subscriptable:
    """Read fields as attributes or as keys (``info.params`` and ``info["params"]`` both work)."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return data


@dataclass(frozen=True)
class ParamInfo(_Subscriptable):
    """One configurable parameter: its name, default (``None`` if required), annotation, whether required,
    its description (from the docstring's ``Args:`` section) and its allowed values (from a ``Literal``)."""

    name: str
    default: Any
    annotation: str
    required: bool
    doc: str = ""
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class InputInfo(_Subscriptable):
    """One forward input: its name, layout, dtype, meaning and whether it is optional."""

    name: str
    layout: str
    dtype: str
    doc: str
    optional: bool


@dataclass(frozen=True)
class LossDescription(_Subscriptable):
    """Everything known about a registered loss."""

    name: str
    aliases: tuple[str, ...]
    tasks: tuple[str, ...]
    tags: tuple[str, ...]
    kind: str
    params: tuple[ParamInfo, ...]
    var_kwargs: bool
    inputs: tuple[InputInfo, ...]
    doc: str
    summary: str
    source: str
    origin: str
    functional: str = ""


def _loaded(entry: Entry[Any]) -> Entry[Any] | None:
    """``entry`` with its plugin imported (its metadata lives in its code); None if the import fails."""
    if not entry.is_lazy:
        return entry
    try:
        return LOSSES.entry(entry.name)
    except Exception:
        return None


def _known(field_name: str) -> set[str]:
    """Every task (``"tasks"``) or tag (``"tags"``) some loaded entry carries; known task names included."""
    known = set(KNOWN_TASKS) if field_name == "tasks" else set()
    for entry in filter(None, map(_loaded, LOSSES.entries())):
        known.update(entry.metadata.get(field_name, ()))
    return known


def _wanted(values: str | Sequence[str] | None, field_name: str) -> set[str]:
    """The requested tasks or tags, lower-cased; an unknown one is an error (a typo must not list 0 losses)."""
    wanted = {values.lower()} if isinstance(values, str) else {v.lower() for v in values or ()}
    if not wanted:
        return wanted
    known = _known(field_name)
    for value in sorted(wanted - known):
        what = field_name[:-1]
        close = suggest(value, known)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownFilterError(
            f"unknown {what} {value!r}.{hint} Known {field_name}: {', '.join(sorted(known, key=natural_key))}"
        )
    return wanted


def _entry_filter(
    task: str | Sequence[str] | None, tag: str | Sequence[str] | None
) -> Callable[[Entry[Any]], bool] | None:
    want_tasks = _wanted(task, "tasks")
    want_tags = _wanted(tag, "tags")
    if not want_tasks and not want_tags:
        return None

    def keep(entry: Entry[Any]) -> bool:
        loaded = _loaded(entry)
        if loaded is None:
            return False
        meta = loaded.metadata
        return (not want_tasks or bool(want_tasks & set(meta.get("tasks", ())))) and want_tags <= set(
            meta.get("tags", ())
        )

    return keep


def list_losses(
    pattern: str | Sequence[str] | None = None,
    *,
    task: str | Sequence[str] | None = None,
    tag: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
) -> list[str]:
    """Canonical loss names in natural order.

    Args:
        pattern: shell-style pattern(s) matched against names and aliases, case-insensitively (``"*dice*"``).
        task: keep losses serving this task (or any of these tasks).
        tag: keep losses carrying this tag (or all of these tags).
        exclude: pattern(s) to drop.

    Raises:
        UnknownFilterError: a ``task`` or ``tag`` that no registered loss has (a ``ValueError``; the message
            has the closest known ones and the full list). A known task with no losses yet gives ``[]``.

    Filtering by task or tag imports plugins (their metadata lives in their code); plain listing never does.
    """
    return LOSSES.list(pattern, exclude=exclude, where=_entry_filter(task, tag))


def loss_info() -> dict[str, list[str]]:
    """``{task: [names]}`` for every task that has losses (AutoTimm's ``get_loss_info``); known tasks first."""
    by_task: dict[str, list[str]] = {}
    for entry in filter(None, map(_loaded, LOSSES.entries())):
        for t in entry.metadata.get("tasks", ()) or ("other",):
            by_task.setdefault(t, []).append(entry.name)
    order = [t for t in KNOWN_TASKS if t in by_task] + sorted(t for t in by_task if t not in KNOWN_TASKS)
    return {t: by_task[t] for t in order}


def has_loss(name: str) -> bool:
    """True if ``name`` is a registered name or alias (plugins included, nothing imported)."""
    return name in LOSSES


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        if annotation.__module__ == "builtins":
            return annotation.__qualname__
        return f"{annotation.__module__}.{annotation.__qualname__}"
    return str(annotation).replace("typing.", "")


_ARGS_HEADER = re.compile(r"^(Args|Arguments|Parameters|Keyword Args|Keyword Arguments):\s*$")
_ARG_LINE = re.compile(r"^\**(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def parse_arg_docs(doc: str) -> dict[str, str]:
    """``{parameter: description}`` from the Google-style ``Args:`` section(s) of a (dedented) docstring.

    Continuation lines are joined with single spaces; a line indented less than the entries ends a section.
    """
    found: dict[str, str] = {}
    base: int | None = None  # indentation of the entries of the section being read; None outside one
    current = ""
    for line in doc.splitlines():
        stripped = line.strip()
        if base is None or (stripped and len(line) - len(line.lstrip()) < base):
            base, current = None, ""
            if _ARGS_HEADER.match(stripped):
                base = -1  # the first entry sets it
            continue
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if base == -1:
            base = indent
            if indent == 0:  # "Args:" followed by an unindented line: not a section after all
                base = None
                continue
        match = _ARG_LINE.match(stripped) if indent == base else None
        if match:
            current = match.group(1)
            found[current] = match.group(3).strip()
        elif current:
            found[current] = f"{found[current]} {stripped}".strip()
    return found


def literal_choices(annotation: Any) -> tuple[Any, ...]:
    """The values a ``Literal[...]`` annotation allows (also inside ``Optional``/``Union``), else ``()``."""
    if typing.get_origin(annotation) is Literal:
        return tuple(typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(v for arg in typing.get_args(annotation) for v in literal_choices(arg))
    return ()


def strip_arg_docs(doc: str) -> str:
    """``doc`` without its ``Args:`` section(s) (they are shown per parameter) and without trailing blanks."""
    kept: list[str] = []
    skipping = False
    for line in doc.splitlines():
        stripped = line.strip()
        if _ARGS_HEADER.match(stripped):
            skipping = True
            continue
        if skipping and (not stripped or line[:1].isspace()):
            continue
        skipping = False
        kept.append(line)
    return "\n".join(kept).strip()


def _doc_summary(doc: str) -> str:
    return doc.strip().split("\n\n")[0].replace("\n", " ").strip() if doc else ""


def describe_loss(name: str) -> LossDescription:
    """Name, aliases, tasks, tags, kind, params, inputs, doc and source of a registered loss.

    Imports a plugin's code if the loss comes from one.
    """
    entry = LOSSES.entry(name)
    meta = entry.metadata
    kind = meta["kind"]
    pset = config_parameters(entry.obj, kind)
    doc = inspect.getdoc(entry.obj) or ""
    arg_docs = parse_arg_docs(doc)
    init_doc = inspect.getdoc(entry.obj.__init__) if kind == "module" else None
    if init_doc and init_doc != inspect.getdoc(nn.Module.__init__):
        arg_docs = {**parse_arg_docs(init_doc), **arg_docs}
    params = tuple(
        ParamInfo(
            name=p.name,
            default=None if p.default is inspect.Parameter.empty else p.default,
            annotation=_annotation_text(pset.hints.get(p.name, p.annotation)),
            required=p.default is inspect.Parameter.empty,
            doc=arg_docs.get(p.name, ""),
            choices=literal_choices(pset.hints.get(p.name, p.annotation)),
        )
        for p in pset.params
    )
    spec = meta.get("inputs")
    if spec is not None and spec.tensors:
        inputs = tuple(InputInfo(t.name, t.layout, t.dtype, t.doc, t.optional) for t in spec.tensors)
    else:
        inputs = tuple(
            InputInfo(p.name, "", _annotation_text(p.annotation), "", p.default is not inspect.Parameter.empty)
            for p in input_parameters(entry.obj, kind)
            if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        )
    return LossDescription(
        name=entry.name,
        aliases=entry.aliases,
        tasks=tuple(meta.get("tasks", ())),
        tags=tuple(meta.get("tags", ())),
        kind=kind,
        params=params,
        var_kwargs=pset.var_kwargs,
        inputs=inputs,
        doc=doc,
        summary=_doc_summary(doc),
        source=entry.source,
        origin=entry.origin,
        functional=functional_form(entry.keys),
    )


def functional_form(keys: Sequence[str]) -> str:
    """The ``losskit.functional`` function of a loss known by ``keys`` (its name and aliases), or ``""``.

    The rule the README states: the function is named after the loss or one of its aliases, with or without
    a ``_loss`` suffix, case and separators folded (``dice`` -> ``dice_loss``, ``focal`` alias ``sigmoid_focal``
    -> ``sigmoid_focal_loss``, ``giou`` alias ``generalized_box_iou`` -> ``generalized_box_iou_loss``).
    """
    public = {normalize(n): n for n in functional.__all__ if callable(getattr(functional, n, None))}
    found = next((public[normalize(k)] for k in keys if normalize(k) in public), None)
    return f"losskit.functional.{found}" if found else ""
