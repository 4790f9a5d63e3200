"""Schedules: a number that follows the training step (term weights, and the parameters a loss declares
schedulable).

A schedule is written as a mapping with a ``schedule`` key::

    {schedule: linear, start: 0.0, end: 1.0, steps: 5000, begin: 1000}

=============== ================================================================== ==========================
kind            value at step ``s`` (``t = clamp((s - begin) / steps, 0, 1)``)      keys
=============== ================================================================== ==========================
``constant``    ``value``                                                          value
``linear``      ``start + (end - start) t``                                        start, end, steps, begin
``cosine``      ``end + (start - end) (1 + cos(pi t)) / 2``                        start, end, steps, begin
``exponential`` ``start (end / start) ** t`` (geometric; start and end same sign,   start, end, steps, begin
                non-zero)
``step``        ``start * gamma ** (number of milestones <= s)``                   start, milestones, gamma
=============== ================================================================== ==========================

``steps: 0`` jumps from ``start`` to ``end`` at ``begin``. Values are plain floats computed on the host from an
integer step: nothing here touches a tensor.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ..errors import ConfigError
from ..registry import suggest

__all__ = [
    "Schedule",
    "ScheduleKind",
    "SCHEDULE_KEYS",
    "is_schedule_spec",
    "parse_schedule",
    "resolve_value",
    "check_step",
]

ScheduleKind = Literal["constant", "linear", "cosine", "exponential", "step"]
KINDS: tuple[str, ...] = get_args(ScheduleKind)
#: The keys each kind takes besides ``schedule`` (the JSON Schema is generated from this table too).
SCHEDULE_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "linear": ("start", "end", "steps", "begin"),
    "cosine": ("start", "end", "steps", "begin"),
    "exponential": ("start", "end", "steps", "begin"),
    "step": ("start", "milestones", "gamma", "begin"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "linear": ("start", "end", "steps"),
    "cosine": ("start", "end", "steps"),
    "exponential": ("start", "end", "steps"),
    "step": ("start", "milestones"),
}


@dataclass(frozen=True)
class Schedule:
    """A value per training step; see the module docstring for each kind's formula."""

    kind: ScheduleKind
    start: float = 1.0
    end: float = 1.0
    steps: int = 0
    begin: int = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1

    def __call__(self, step: int) -> float:
        if self.kind == "constant":
            return self.start
        if self.kind == "step":
            return self.start * self.gamma ** bisect.bisect_right(self.milestones, step)
        if step < self.begin:
            return self.start
        t = 1.0 if self.steps == 0 else min(1.0, (step - self.begin) / self.steps)
        if self.kind == "linear":
            return self.start + (self.end - self.start) * t
        if self.kind == "cosine":
            return self.end + (self.start - self.end) * (1.0 + math.cos(math.pi * t)) / 2.0
        return float(self.start * (self.end / self.start) ** t)  # exponential

    def to_config(self) -> dict[str, Any]:
        """The mapping :func:`parse_schedule` reads back."""
        if self.kind == "constant":
            return {"schedule": "constant", "value": self.start}
        if self.kind == "step":
            out: dict[str, Any] = {"schedule": "step", "start": self.start, "milestones": list(self.milestones)}
            return {**out, "gamma": self.gamma}
        out = {"schedule": self.kind, "start": self.start, "end": self.end, "steps": self.steps}
        return {**out, "begin": self.begin} if self.begin else out


def is_schedule_spec(value: Any) -> bool:
    """A mapping with a ``schedule`` key (or a :class:`Schedule` already)."""
    return isinstance(value, Schedule) or (isinstance(value, Mapping) and "schedule" in value)


def _number(value: Any, where: str, *, integer: bool = False, minimum: float | None = None) -> Any:
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if not ok or not math.isfinite(float(value)) or (minimum is not None and value < minimum):
        want = "an integer" if integer else "a finite number"
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise ConfigError(f"{where}: expected {want}{bound}, got {value!r}")
    return int(value) if integer else float(value)


def parse_schedule(spec: Any, where: str) -> Schedule:
    """A :class:`Schedule` from its mapping; a :class:`~losskit.ConfigError` naming ``where`` for an unknown kind
    or key (with did-you-mean), a missing key or a bad value."""
    if isinstance(spec, Schedule):
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a schedule is a mapping with a 'schedule' key, got {type(spec).__name__}")
    kind = spec.get("schedule")
    if kind not in KINDS:
        close = suggest(str(kind), KINDS)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}.schedule: unknown schedule {kind!r}.{hint} Schedules: {', '.join(KINDS)}")
    allowed = SCHEDULE_KEYS[kind]
    for key in spec:
        if key != "schedule" and key not in allowed:
            close = suggest(str(key), allowed)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: schedule {kind!r} has no key {key!r}.{hint} Keys: {', '.join(allowed)}")
    missing = [k for k in _REQUIRED[kind] if k not in spec]
    if missing:
        raise ConfigError(f"{where}: schedule {kind!r} needs {', '.join(map(repr, missing))}")
    if kind == "constant":
        return Schedule("constant", start=_number(spec["value"], f"{where}.value"))
    start = _number(spec["start"], f"{where}.start")
    begin = _number(spec.get("begin", 0), f"{where}.begin", integer=True, minimum=0)
    if kind == "step":
        raw = spec["milestones"]
        if not isinstance(raw, (list, tuple)):
            raise ConfigError(f"{where}.milestones: expected a list of steps, got {raw!r}")
        milestones = tuple(_number(m, f"{where}.milestones[{i}]", integer=True, minimum=0) for i, m in enumerate(raw))
        if list(milestones) != sorted(milestones):
            raise ConfigError(f"{where}.milestones: must be increasing, got {list(milestones)}")
        gamma = _number(spec.get("gamma", 0.1), f"{where}.gamma")
        return Schedule("step", start=start, milestones=tuple(m + begin for m in milestones), gamma=gamma)
    end = _number(spec["end"], f"{where}.end")
    steps = _number(spec["steps"], f"{where}.steps", integer=True, minimum=0)
    if kind == "exponential" and (start == 0 or end == 0 or (start > 0) != (end > 0)):
        raise ConfigError(
            f"{where}: an exponential schedule needs start and end non-zero and of one sign, got {start:g} -> {end:g}"
            " (use linear or cosine to start from 0)"
        )
    return Schedule(kind, start=start, end=end, steps=steps, begin=begin)


def resolve_value(value: float | Schedule, step: int) -> float:
    """A number as it is, a schedule at ``step``."""
    return value(step) if isinstance(value, Schedule) else value


def check_step(step: Any, who: str) -> int:
    """A training step as ``set_step`` takes it: an integer >= 0 (a bool is not one), else a ConfigError."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ConfigError(f"{who}: set_step takes an integer >= 0, got {step!r}")
    return step
