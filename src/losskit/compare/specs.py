"""From the user's loss specs to built losses fitted to the task, decided from each loss's declared metadata.

AutoTimm injects ``num_classes`` into losses whose *names* are in a hard-coded list and ``ignore_index`` into
all of them, so a custom or renamed loss breaks (research/registries.md §3 item 6). Here a parameter is
given only when the loss declares it (``describe_loss(name).params``) and the spec does not set it, and the
target format (class indices or one-hot) follows the loss's declared input spec.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..compose.combined import CombinedLoss
from ..config import build_loss, load_config
from ..config.builder import NAME_KEYS
from ..config.loading import to_plain
from ..discovery import describe_loss
from ..errors import ConfigError
from ..keys import PARAM_KEYS
from ..registration import LOSSES
from ..testing.examples import spec_for

__all__ = [
    "LossCase",
    "task_params",
    "fit_spec",
    "prepare_losses",
    "read_loss_list",
    "wants_one_hot",
    "wants_probabilities",
    "spec_label",
]

#: Parameters that take the training set's class statistics, by what the name says they hold.
_COUNT_PARAMS = ("class_counts", "samples_per_class", "cls_num_list", "num_per_class", "class_sizes")
_PRIOR_PARAMS = ("prior", "class_priors", "priors", "class_frequencies", "class_freq", "base_probs")


@dataclass
class LossCase:
    """One loss of a comparison: its label, the spec it was given and the built module."""

    label: str
    spec: Any
    module: nn.Module


def task_params(name: str, *, num_classes: int, class_counts: Sequence[int] | None = None) -> dict[str, Any]:
    """Parameters the loss ``name`` declares and the task can fill in: ``num_classes``, ``embedding_size``
    (the model's output width, which is ``num_classes`` in every task), ``mode`` and class statistics (counts or
    priors, when known).

    ``mode`` is ``"multiclass"``, or ``"multilabel"`` for a loss that has no multiclass mode (it is then
    trained on one-hot targets, one sigmoid per class)."""
    declared = {p.name: p for p in describe_loss(name).params}
    params: dict[str, Any] = {}
    if "num_classes" in declared:
        params["num_classes"] = num_classes
    if "embedding_size" in declared:
        params["embedding_size"] = num_classes
    mode = declared.get("mode")
    # Only a mode parameter that speaks the zoo's vocabulary: another loss's "mode" may mean something else.
    if mode is not None and ("multiclass" in mode.annotation or mode.default in ("binary", "multiclass", "multilabel")):
        closed = "Literal" in mode.annotation and "multiclass" not in mode.annotation
        params["mode"] = "multilabel" if closed and "multilabel" in mode.annotation else "multiclass"
    if class_counts is not None:
        total = float(sum(class_counts))
        for key in declared:
            if key in _COUNT_PARAMS:
                params[key] = [int(c) for c in class_counts]
            elif key in _PRIOR_PARAMS:
                params[key] = [c / total for c in class_counts]
    return params


def _target_name(spec: Mapping[str, Any]) -> tuple[str | None, Any]:
    key = next((k for k in NAME_KEYS if k in spec), None)
    return key, (spec[key] if key else None)


def fit_spec(spec: Any, **stats: Any) -> Any:
    """``spec`` with the task's parameters added where the loss declares them and the spec leaves them unset.

    Combined specs are fitted term by term. Specs that name no registered loss (a dotted ``_target_``, a
    module instance) are returned unchanged.
    """
    spec = to_plain(spec)
    if isinstance(spec, str) and spec in LOSSES:
        entry = LOSSES.entry(spec)
        return {"name": entry.name, **task_params(entry.name, **stats)}
    if not isinstance(spec, Mapping):
        return spec
    key, target = _target_name(spec)
    if key is None:
        if "losses" not in spec:
            return dict(spec)
        return {**spec, "losses": {n: fit_spec(t, **stats) for n, t in to_plain(spec["losses"]).items()}}
    if not isinstance(target, str) or target not in LOSSES:
        return dict(spec)
    entry = LOSSES.entry(target)
    if inspect.isclass(entry.obj) and issubclass(entry.obj, CombinedLoss):
        terms_key = "losses" if "losses" in spec else "terms"
        if terms_key not in spec:
            return dict(spec)
        return {**spec, terms_key: {n: fit_spec(t, **stats) for n, t in to_plain(spec[terms_key]).items()}}
    given = set(spec) | set(to_plain(spec.get("params")) or {})
    extra = {k: v for k, v in task_params(entry.name, **stats).items() if k not in given}
    return {**spec, **extra}


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return str(value)


def _weighted_terms(spec: Mapping[str, Any], terms: Mapping[str, Any]) -> str:
    weights = to_plain(spec.get("weights"))
    names = [str(n) for n in terms]
    if isinstance(weights, Mapping):
        listed = [weights.get(n, 1.0) for n in names]
    elif isinstance(weights, (list, tuple)) and len(weights) == len(names):
        listed = list(weights)
    else:
        return "+".join(names)
    return "+".join(
        name if w == 1 else f"{_value_text(w) if isinstance(w, (int, float)) else 'scheduled'}*{name}"
        for name, w in zip(names, listed, strict=True)
    )


def spec_label(spec: Any) -> str:
    """A short label that shows what the spec sets: ``tversky(alpha=0.3, beta=0.7)``, ``combined(0.5*dice+ce)``.

    Parameters are those the spec itself gives (not the ones the task fills in), so two specs of one loss
    with different options get different labels.
    """
    spec = to_plain(spec)
    if isinstance(spec, str):
        return spec
    if isinstance(spec, nn.Module):
        return type(spec).__name__
    if isinstance(spec, Mapping):
        key, target = _target_name(spec)
        terms = spec.get("losses", spec.get("terms"))
        if isinstance(terms, Mapping) and (target is None or (isinstance(target, str) and target in LOSSES)):
            return f"{target or 'combined'}({_weighted_terms(spec, terms)})"
        if target is not None:
            params = {k: v for k, v in spec.items() if k != key and k not in PARAM_KEYS}
            for nested in PARAM_KEYS:
                params.update(to_plain(spec.get(nested)) or {})
            name = str(target).rsplit(".", 1)[-1]
            inner = ", ".join(f"{k}={_value_text(v)}" for k, v in params.items())
            return f"{name}({inner})" if inner else name
    return type(spec).__name__


def read_loss_list(path: str) -> list[Any]:
    """The loss specs of a ``--config`` file: a YAML list of specs, one spec, or a ``{label: spec}`` mapping.

    A list item may carry a ``label`` key, used in the report instead of the loss's name.
    """
    data = load_config(path)
    if isinstance(data, Mapping) and "losses" in data and not isinstance(data["losses"], Mapping):
        data = data["losses"]  # {losses: [...]} : a list under a key, as in a larger experiment file
    if isinstance(data, list):
        if not data:
            raise ConfigError(f"{path}: the list of losses is empty")
        return data
    if isinstance(data, Mapping):
        key, _ = _target_name(data)
        if key is not None or "losses" in data:
            return [data]
        return [
            {"label": str(label), **spec} if isinstance(spec, Mapping) else {"label": str(label), "name": spec}
            for label, spec in data.items()
        ]
    raise ConfigError(f"{path}: expected a YAML list of loss specs, got {type(data).__name__}")


def prepare_losses(specs: Sequence[Any], **stats: Any) -> list[LossCase]:
    """Build every spec, fitted to the task, before any training starts (so a typo fails in a second)."""
    cases: list[LossCase] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(specs):
        raw = to_plain(raw)
        label = None
        if isinstance(raw, Mapping) and "label" in raw:
            label = str(raw["label"])
            raw = {k: v for k, v in raw.items() if k != "label"}
        label = label or spec_label(raw)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}#{seen[label]}"
        try:
            module = build_loss(fit_spec(raw, **stats))
        except ConfigError as exc:
            raise ConfigError(f"loss #{i + 1} ({label}): {exc}") from exc
        cases.append(LossCase(label, raw, module))
    return cases


def wants_one_hot(module: nn.Module) -> bool:
    """True when the loss's declared target takes float tensors only (e.g. a BCE): give it one-hot targets."""
    if isinstance(module, CombinedLoss):
        votes = {wants_one_hot(t) for t in module.terms.values()}
        return votes == {True}
    if getattr(module, "mode", None) == "multilabel":
        return True
    spec = spec_for(module)
    if spec is None or len(spec.tensors) < 2:
        return False
    dtype = spec.tensors[1].dtype.lower()
    return "float" in dtype and not any(w in dtype for w in ("long", "int", "index"))


def wants_probabilities(module: nn.Module) -> bool:
    """True when the loss declares probabilities as its input (e.g. ``bce``): the runner activates the logits."""
    if isinstance(module, CombinedLoss):
        return False  # each term gets the same model output; a mix of conventions is the user's to resolve
    spec = spec_for(module)
    return bool(spec and spec.tensors and spec.tensors[0].doc.lower().startswith("probabilities"))


def one_hot(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, *) class indices -> (N, C, *) float one-hot, channel second like the logits."""
    return torch.movedim(torch.nn.functional.one_hot(target, num_classes), -1, 1).float()
