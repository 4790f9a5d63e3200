"""Finding losses: ``list_losses``, ``loss_info``, ``has_loss``, ``describe_loss`` (timm's ``list_models`` UX)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from .registration import KNOWN_TASKS, LOSSES
from .registry import Entry
from .signatures import config_parameters, input_parameters

__all__ = ["list_losses", "loss_info", "has_loss", "describe_loss", "LossDescription", "ParamInfo"]


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
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class ParamInfo(_Subscriptable):
    """One configurable parameter: its name, default (``None`` if required), annotation and whether required."""

    name: str
    default: Any
    annotation: str
    required: bool


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


def _loaded(entry: Entry[Any]) -> Entry[Any] | None:
    """``entry`` with its plugin imported (its metadata lives in its code); None if the import fails."""
    if not entry.is_lazy:
        return entry
    try:
        return LOSSES.entry(entry.name)
    except Exception:
        return None


def _entry_filter(task: str | Sequence[str] | None, tag: str | Sequence[str] | None):  # type: ignore[no-untyped-def]
    want_tasks = {task.lower()} if isinstance(task, str) else {t.lower() for t in task or ()}
    want_tags = {tag.lower()} if isinstance(tag, str) else {t.lower() for t in tag or ()}
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
        return annotation.__qualname__ if annotation.__module__ == "builtins" else f"{annotation.__module__}.{annotation.__qualname__}"
    return str(annotation).replace("typing.", "")


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
    params = tuple(
        ParamInfo(
            name=p.name,
            default=None if p.default is inspect.Parameter.empty else p.default,
            annotation=_annotation_text(pset.hints.get(p.name, p.annotation)),
            required=p.default is inspect.Parameter.empty,
        )
        for p in pset.params
    )
    spec = meta.get("inputs")
    if spec is not None and spec.tensors:
        inputs = tuple(InputInfo(t.name, t.layout, t.dtype, t.doc, t.optional) for t in spec.tensors)
    else:
        inputs = tuple(
            InputInfo(
                p.name, "", _annotation_text(p.annotation), "", p.default is not inspect.Parameter.empty
            )
            for p in input_parameters(entry.obj, kind)
            if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        )
    doc = inspect.getdoc(entry.obj) or ""
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
    )
