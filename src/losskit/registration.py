"""The loss registry: ``LOSSES``, ``register_loss``, ``unregister_loss`` and ``temporary_loss``.

A thin layer over the generic :class:`~losskit.registry.Registry` that adds what losses need: the kind of
object (module class, factory or loss function), tasks, tags and the declared inputs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

from .inputs import InputSpec, TensorSpec
from .registry import Entry, PluginScanner, Registry
from .reprs import install_repr
from .signatures import Kind, detect_kind

__all__ = ["LOSSES", "KNOWN_TASKS", "register_loss", "unregister_loss", "temporary_loss", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "losskit.losses"

#: Tasks losskit knows by name. A loss registered with one of these as a *tag* and no task gets it as a task,
#: so seed-000 style registrations (``tags=["segmentation"]``) show up under ``list_losses(task=...)``.
KNOWN_TASKS = (
    "classification",
    "segmentation",
    "detection",
    "regression",
    "registration",
    "generative",
    "metric_learning",
    "distillation",
    "restoration",
    "self_supervised",
    "ordinal",
    "augmentation",
    "language_modeling",
)

F = TypeVar("F", bound=Callable[..., Any])


def _describe(obj: Any) -> dict[str, Any]:
    """What any loss has before registration says more (a plugin's entry point): detect_kind raises TypeError
    for anything that is not a loss."""
    return {"kind": detect_kind(obj), "tasks": (), "tags": (), "inputs": None}


LOSSES: Registry[Any] = Registry("loss", describe=_describe, listing_hint="; see losskit.list_losses()")
PLUGINS = PluginScanner(LOSSES, ENTRY_POINT_GROUP)
LOSSES.add_ensure_hook(PLUGINS)


def _words(values: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        if not isinstance(v, str) or not v:
            raise TypeError(f"{what} must be non-empty strings, got {v!r}")
        out.append(v.lower())
    return tuple(dict.fromkeys(out))


def _metadata(obj: Any, tasks: Any, tags: Any, kind: str | None, inputs: Any) -> dict[str, Any]:
    resolved_kind: Kind = detect_kind(obj, kind)
    tag_words = _words(tags, "tags")
    task_words = _words(tasks, "tasks") or tuple(t for t in tag_words if t in KNOWN_TASKS)
    return {"kind": resolved_kind, "tasks": task_words, "tags": tag_words, "inputs": InputSpec.coerce(inputs)}


def _register(
    name: str | None,
    obj: Any,
    *,
    aliases: Sequence[str],
    tasks: Sequence[str] | str | None,
    tags: Sequence[str] | str | None,
    kind: str | None,
    inputs: Any,
    override: bool,
) -> Entry[Any]:
    metadata = _metadata(obj, tasks, tags, kind, inputs)
    entry = LOSSES.add(name or obj.__name__, obj, aliases=aliases, metadata=metadata, override=override)
    _dress(obj, entry.name, metadata["kind"])
    return entry


def _dress(obj: Any, name: str, kind: str) -> None:
    """What registration adds to a module class: ``loss_name`` and a repr showing its options.

    Classes of ``torch`` itself (``register_loss("ce", nn.CrossEntropyLoss)``) are left untouched: changing
    them would change torch for every user in the process.
    """
    if kind == "module" and obj.__module__.split(".")[0] != "torch":
        _name_class(obj, name)
        install_repr(obj)


def _name_class(cls: type, name: str) -> None:
    """Set ``cls.loss_name`` to its canonical registry name: the one attribute every tool and message reads.

    A class body that sets ``loss_name`` itself keeps it (its author chose). A subclass of a registered class
    gets its own name, never its parent's (the parent's value is only inherited, not in ``cls.__dict__``).
    A class registered a second time under another name (an alias in all but form) keeps its first name.
    """
    if "loss_name" in cls.__dict__:
        return
    cls.loss_name = name  # type: ignore[attr-defined]


@overload
def register_loss(name: F) -> F: ...
@overload
def register_loss(
    name: str | None = None,
    obj: None = None,
    *,
    aliases: Sequence[str] = ...,
    alias: str | None = ...,
    tasks: Sequence[str] | str | None = ...,
    tags: Sequence[str] | str | None = ...,
    kind: str | None = ...,
    inputs: InputSpec | Sequence[TensorSpec] | Callable[..., Any] | None = ...,
    override: bool = ...,
) -> Callable[[F], F]: ...
@overload
def register_loss(
    name: str | None,
    obj: F,
    *,
    aliases: Sequence[str] = ...,
    alias: str | None = ...,
    tasks: Sequence[str] | str | None = ...,
    tags: Sequence[str] | str | None = ...,
    kind: str | None = ...,
    inputs: InputSpec | Sequence[TensorSpec] | Callable[..., Any] | None = ...,
    override: bool = ...,
) -> F: ...


def register_loss(
    name: Any = None,
    obj: Any = None,
    *,
    aliases: Sequence[str] = (),
    alias: str | None = None,
    tasks: Sequence[str] | str | None = None,
    tags: Sequence[str] | str | None = None,
    kind: str | None = None,
    inputs: InputSpec | Sequence[TensorSpec] | Callable[..., Any] | None = None,
    override: bool = False,
) -> Any:
    """Register a loss: an ``nn.Module`` subclass, a factory returning one, or a loss function.

    Forms::

        @register_loss                                   # name = the object's __name__
        @register_loss("focal_tversky", aliases=["ft"], tasks=["segmentation"], tags=["imbalanced"])
        register_loss("balanced_ce", ClassBalancedCE, alias="bce_balanced")   # call form

    Args:
        name: the canonical name (default: ``obj.__name__``).
        obj: the object, in the call form.
        aliases: other names for it (they share one namespace with names).
        alias: a single alias (AutoTimm's ``register_custom_loss`` spelling).
        tasks: tasks it serves (``"segmentation"``, ...); known task names given as tags count as tasks.
        tags: free-form labels for filtering.
        kind: force ``"module"``, ``"factory"`` or ``"function"`` instead of detecting it.
        inputs: an :class:`~losskit.inputs.InputSpec` (or just its example factory) describing the inputs.
        override: replace an existing entry (with a warning) instead of raising ``RegistrationError``.

    Raises:
        TypeError: ``obj`` is not a loss (an instance, a non-Module class, a non-callable).
        RegistrationError: the name or an alias is taken and ``override`` is false.
    """
    all_aliases = [*([aliases] if isinstance(aliases, str) else aliases), *([alias] if alias else [])]
    options: dict[str, Any] = dict(
        aliases=all_aliases, tasks=tasks, tags=tags, kind=kind, inputs=inputs, override=override
    )
    if name is not None and not isinstance(name, str):
        _register(None, name, **options)  # bare decorator
        return name
    if obj is not None:
        _register(name, obj, **options)
        return obj

    def decorator(target: F) -> F:
        _register(name, target, **options)
        return target

    return decorator


def unregister_loss(name: str) -> None:
    """Remove a loss and its aliases. Raises ``UnknownLossError`` if it is not registered."""
    LOSSES.unregister(name)


@contextlib.contextmanager
def temporary_loss(
    name: str,
    obj: Any,
    *,
    aliases: Sequence[str] = (),
    tasks: Sequence[str] | str | None = None,
    tags: Sequence[str] | str | None = None,
    kind: str | None = None,
    inputs: Any = None,
    override: bool = False,
) -> Iterator[Entry[Any]]:
    """Register a loss for the duration of a ``with`` block (tests, notebooks), then restore what was there."""
    metadata = _metadata(obj, tasks, tags, kind, inputs)
    with LOSSES.temporarily(name, obj, aliases=aliases, metadata=metadata, override=override) as entry:
        _dress(obj, entry.name, metadata["kind"])
        yield entry
