"""Term weights of a combined loss: where they come from, and the ``weight`` key that means two things.

A combined config gives each term's weight in exactly one place: a ``weights`` list in term order, a
``weights`` mapping ``{term: weight}``, or a ``weight`` key inside each term's spec. That last form collides
with the class-weight parameter many losses have (``cross_entropy``, ``dice``, ``bce``, ...):
``ce: {name: cross_entropy, weight: [1, 2, 3]}`` used to be read as the *term's* weight. Now:

- an inline ``weight`` that is not a finite number is a :class:`~losskit.ConfigError`;
- an inline ``weight`` on a term whose loss has a ``weight`` parameter of its own is ambiguous, so it is a
  :class:`~losskit.ConfigError` too;

both saying: term weights go in ``weights``; a loss's own ``weight`` parameter goes in ``params``.
"""

from __future__ import annotations

import inspect
import math
import reprlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError, LossKitError
from ..keys import NAME_KEYS
from ..registration import LOSSES
from ..registry import suggest
from ..signatures import config_parameters
from .schedules import Schedule, is_schedule_spec, parse_schedule

__all__ = ["split_term_weights", "finite_weight", "term_weight", "TERM_WEIGHT_ADVICE", "Weight"]

#: A term weight: a number, or a schedule over the training step.
Weight = float | Schedule

TERM_WEIGHT_ADVICE = "term weights go in 'weights'; a loss's own 'weight' parameter goes in 'params'"

_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlist = 40, 40, 6


def finite_weight(value: Any, where: str) -> float:
    """``value`` as a finite float (numeric strings from YAML included), else a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: a weight must be a finite number, got {_short.repr(value)}") from None
    if not math.isfinite(float(value)):
        raise ConfigError(f"{where}: a weight must be finite, got {value!r}")
    return float(value)


def term_weight(value: Any, where: str) -> Weight:
    """A term weight: a finite number, or a schedule mapping (``{schedule: linear, ...}``)."""
    if is_schedule_spec(value):
        return parse_schedule(value, where)
    return finite_weight(value, where)


def _named_loss(spec: Mapping[str, Any]) -> tuple[str, Any, str] | None:
    """``(label, object, kind)`` of what a term spec names, when it can be told without importing anything.

    A registered name or alias is looked up in the registry; a dotted path is read only from a module that is
    already imported (``vars(module)``: no import, no module ``__getattr__``). Anything else (an unknown name, a
    plugin that fails to load) is left to ``build_loss``, which reports it properly.
    """
    target = next((spec[k] for k in NAME_KEYS if k in spec), None)
    if inspect.isclass(target):
        return target.__qualname__, target, "module"
    if not isinstance(target, str):
        return None
    if target in LOSSES:
        try:
            entry = LOSSES.entry(target)
        except LossKitError:
            return None
        return entry.name, entry.obj, str(entry.metadata.get("kind", "module"))
    module, _, attr = target.rpartition(".")
    found = vars(sys.modules[module]).get(attr) if module in sys.modules else None
    return (target, found, "module") if inspect.isclass(found) else None


def _has_weight_parameter(obj: Any, kind: str) -> bool:
    try:
        return config_parameters(obj, kind).get("weight") is not None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _inline_weight(name: str, spec: Mapping[str, Any], where: str) -> float:
    """The term weight written as ``weight`` inside a term's spec, refused where it could mean anything else."""
    value = spec["weight"]
    try:
        weight = finite_weight(value, where)
    except ConfigError:
        raise ConfigError(
            f"{where}: {_short.repr(value)} is not a term weight (a finite number): {TERM_WEIGHT_ADVICE}, "
            f"e.g. {name}: {{name: ..., params: {{weight: {_short.repr(value)}}}}}"
        ) from None
    named = _named_loss(spec)
    if named is not None and _has_weight_parameter(named[1], named[2]):
        raise ConfigError(
            f"{where}: 'weight' is ambiguous here, loss {named[0]!r} has a 'weight' parameter of its own: "
            f"{TERM_WEIGHT_ADVICE} (e.g. weights: {{{name}: {weight:g}}})"
        )
    return weight


def split_term_weights(
    terms: Mapping[str, Any], weights: Sequence[Any] | Mapping[str, Any] | None, *, path: str = ""
) -> tuple[dict[str, Any], list[Weight]]:
    """Separate the weight of each term from its spec (a number, or a schedule where ``weights`` gives it).

    Weights come from exactly one place: a list in term order, a ``{name: weight}`` mapping (missing terms
    weigh 1), or a ``weight`` key inside each term's spec (missing ones weigh 1, and only where the term's loss
    has no ``weight`` parameter of its own). None of them: all 1.

    Returns:
        ``({term: spec without its inline weight}, [weight per term, in term order])``.

    Raises:
        ConfigError: a non-finite or non-numeric weight, weights given in two places, a list of the wrong
            length, a mapping naming no term (with did-you-mean), an ambiguous inline ``weight``.
    """
    where = f"{path}.weights" if path else "weights"
    prefix = f"{path}.losses" if path else "losses"
    specs: dict[str, Any] = {}
    inline: dict[str, Weight] = {}
    for name, spec in terms.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{prefix}: term names must be non-empty strings, got {name!r}")
        if isinstance(spec, Mapping) and "weight" in spec:
            inline[name] = _inline_weight(name, spec, f"{prefix}.{name}.weight")
            spec = {k: v for k, v in spec.items() if k != "weight"}
        specs[name] = spec
    if inline and weights is not None:
        raise ConfigError(f"{where}: weights are given both as 'weights' and as 'weight' inside terms {sorted(inline)}")
    if weights is None:
        return specs, [inline.get(n, 1.0) for n in specs]
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in specs]
        if unknown:
            close = suggest(str(unknown[0]), specs)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: no term named {unknown[0]!r}.{hint} Terms: {', '.join(specs)}")
        return specs, [term_weight(weights.get(n, 1.0), f"{where}.{n}") for n in specs]
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise ConfigError(f"{where}: expected a list or a mapping of weights, got {type(weights).__name__}")
    if len(weights) != len(specs):
        raise ConfigError(f"{where}: {len(weights)} weight(s) for {len(specs)} term(s) ({', '.join(specs)})")
    return specs, [term_weight(w, f"{where}[{i}]") for i, w in enumerate(weights)]
