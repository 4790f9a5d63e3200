"""``ScheduledLoss``: a loss whose own numeric parameters follow schedules over the training step.

A loss class opts in by naming the parameters that may change during training::

    class VAELoss(nn.Module):
        __losskit_schedulable__ = ("beta",)

and a config then gives a schedule where a number would go (``{name: vae, beta: {schedule: linear, start: 0,
end: 1, steps: 10000}}``). ``build_loss`` builds the loss with each schedule's value at step 0 and wraps it here;
before every call the wrapper writes the values for the current step onto the loss's attributes. Only
declared parameters qualify: a parameter the loss turns into a tensor or a buffer at construction would not
see the new value.

A scheduled value is a Python number: under ``torch.compile`` each new value traces the loss again (prefer
scheduled term weights of a ``CombinedLoss``, which live in a buffer, where the loss is compiled).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from ..errors import ConfigError
from ..signatures import forward_signature
from .schedules import Schedule, check_step

__all__ = ["ScheduledLoss", "SCHEDULABLE_ATTR", "schedulable_params"]

SCHEDULABLE_ATTR = "__losskit_schedulable__"


def schedulable_params(obj: Any) -> tuple[str, ...]:
    """The parameters a loss class (or factory) declares schedulable."""
    names = getattr(obj, SCHEDULABLE_ATTR, ())
    return tuple(names) if isinstance(names, (tuple, list)) else ()


class ScheduledLoss(nn.Module):
    """Wraps ``loss`` and sets ``loss.<param> = schedule(step)`` before each call.

    Args:
        loss: the loss module (built with the schedules' step-0 values).
        schedules: ``{parameter: Schedule}``; each parameter must be an attribute of ``loss``.
    """

    def __init__(self, loss: nn.Module, schedules: Mapping[str, Schedule]) -> None:
        super().__init__()
        missing = [p for p in schedules if not hasattr(loss, p)]
        if missing:
            raise ConfigError(f"{type(loss).__name__} has no attribute {missing[0]!r} to schedule")
        self.loss = loss
        self.schedules = dict(schedules)
        self.step_count = 0
        self._write()

    @property
    def __losskit_signature__(self) -> inspect.Signature:
        return forward_signature(self.loss)

    def _write(self) -> None:
        for name, schedule in self.schedules.items():
            setattr(self.loss, name, schedule(self.step_count))

    def current_values(self) -> dict[str, float]:
        """``{parameter: value now}``."""
        return {name: schedule(self.step_count) for name, schedule in self.schedules.items()}

    def step(self) -> None:
        self.step_count += 1
        self._write()

    def set_step(self, step: int) -> None:
        self.step_count = check_step(step, "scheduled loss")
        self._write()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.loss(*args, **kwargs)

    def get_extra_state(self) -> dict[str, int]:
        return {"step": self.step_count}

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, dict) or not isinstance(state.get("step"), int):
            raise ConfigError(f"unreadable schedule state {state!r}")
        self.set_step(state["step"])

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v.to_config()!r}" for k, v in self.schedules.items()) + f", step={self.step_count}"
