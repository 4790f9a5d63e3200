"""How a combined loss weighs its terms: fixed or scheduled weights, learned (uncertainty) or adaptive (DWA).

``total = sum_i w_i(step) * L_i`` with ``w_i`` a number or a :class:`~losskit.compose.schedules.Schedule`, and:

- ``weighting="uncertainty"`` (Kendall, Gal and Cipolla, CVPR 2018, eq. 7 with ``s_i = log sigma_i^2``): a
  learnable log-variance per term, ``total = sum_i w_i * (exp(-s_i) / 2 * L_i + s_i / 2)``. The ``s_i`` are
  parameters of the loss: **the optimizer must see** ``loss.parameters()``.
- ``weighting="dwa"`` (dynamic weight average, Liu, Johns and Davison, CVPR 2019, eq. 3): the multiplier of term
  ``i`` is ``K exp(r_i / T) / sum_j exp(r_j / T)`` with ``r_i = Lbar_i(t-1) / Lbar_i(t-2)``, ``Lbar_i(t)`` the
  mean of term ``i`` over the training forwards of interval ``t`` (the forwards between two ``step()`` calls)
  and ``T`` the temperature; 1 for the first two intervals.

Weights that change live in a buffer (``values``) that follows the module's device, so a forward reads no
host value and a compiled step does not retrace when a weight moves. The step count and DWA's history are the
module's extra state: in ``state_dict``, so a resumed run continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .schedules import Schedule, check_step, resolve_value
from .weights import Weight

__all__ = ["TermWeights", "Weighting", "WEIGHTINGS", "make_term_weights"]

Weighting = Literal["fixed", "uncertainty", "dwa"]
WEIGHTINGS: tuple[str, ...] = ("fixed", "uncertainty", "dwa")


class TermWeights(nn.Module):
    """The weights of ``n`` terms at the current step, and their update rule (see the module docstring)."""

    values: Tensor
    _dwa_sum: Tensor
    _dwa_count: Tensor

    def __init__(self, weights: Sequence[Weight], weighting: Weighting = "fixed", temperature: float = 2.0) -> None:
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ConfigError(f"combined loss: weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        if not temperature > 0:
            raise ConfigError(f"combined loss: temperature must be > 0, got {temperature!r}")
        self.base: list[Weight] = list(weights)
        self.weighting: Weighting = weighting
        self.temperature = float(temperature)
        self.step_count = 0
        self.dynamic = weighting != "fixed" or any(isinstance(w, Schedule) for w in self.base)
        n = len(self.base)
        if weighting == "uncertainty":
            self.log_vars = nn.Parameter(torch.zeros(n))
        self._history: list[Tensor] = []  # DWA: the last two intervals' mean term values
        if self.dynamic:
            self.register_buffer("values", torch.tensor(self.base_values(), dtype=torch.float32), persistent=False)
        if weighting == "dwa":
            self.register_buffer("_dwa_sum", torch.zeros(n), persistent=False)
            self.register_buffer("_dwa_count", torch.zeros((), dtype=torch.int64), persistent=False)

    def base_values(self) -> list[float]:
        """The configured weights at the current step (schedules evaluated)."""
        return [resolve_value(w, self.step_count) for w in self.base]

    def total(self, terms: list[Tensor]) -> Tensor:
        """The weighted sum of the term values (scalars), recording them for DWA in training mode."""
        if not self.dynamic:
            base = self.base_values()
            total: Tensor = terms[0] * base[0]
            for value, weight in zip(terms[1:], base[1:], strict=True):
                total = total + value * weight
            return total
        stacked = torch.stack([t.float() for t in terms])
        if self.weighting == "dwa" and self.training and torch.is_grad_enabled():
            with torch.no_grad():
                self._dwa_sum.add_(stacked.detach())
                self._dwa_count.add_(1)
        w = self.values.to(stacked.device)
        if self.weighting == "uncertainty":
            s = self.log_vars.to(stacked.device)
            return (w * (torch.exp(-s) * stacked * 0.5 + s * 0.5)).sum()
        return (w * stacked).sum()

    def effective(self) -> Tensor:
        """The multiplier of each term's value now (uncertainty: ``w_i exp(-s_i) / 2``), detached."""
        if not self.dynamic:
            return torch.tensor(self.base_values())
        if self.weighting == "uncertainty":
            return (self.values * torch.exp(-self.log_vars.detach()) * 0.5).detach()
        return self.values.detach().clone()

    def step(self) -> None:
        """Advance one training step: schedules move, DWA closes an interval."""
        self.step_count += 1
        if self.weighting == "dwa" and int(self._dwa_count) > 0:
            self._history = [*self._history[-1:], (self._dwa_sum / self._dwa_count).detach().cpu()]
            self._dwa_sum.zero_()
            self._dwa_count.zero_()
        self._refresh()

    def set_step(self, step: int) -> None:
        self.step_count = check_step(step, "combined loss")
        self._refresh()

    def _refresh(self) -> None:
        if not self.dynamic:
            return
        values = torch.tensor(self.base_values(), dtype=torch.float32)
        if self.weighting == "dwa" and len(self._history) == 2:
            older, prev = self._history
            ratio = prev / older.clamp_min(torch.finfo(torch.float32).tiny)
            values = values * len(self.base) * torch.softmax(ratio / self.temperature, dim=0)
        self.values.copy_(values)

    def config(self) -> list[Any]:
        """The weights as a config holds them: numbers, and schedule mappings."""
        return [w.to_config() if isinstance(w, Schedule) else w for w in self.base]

    def extra_repr(self) -> str:
        return f"weighting={self.weighting!r}, step={self.step_count}"


class _TrackedTermWeights(TermWeights):
    """Weights that change: the step count and DWA's history are extra state (in ``state_dict``). Fixed weights
    keep none, so a plain combined loss's ``state_dict`` holds tensors only, as before."""

    def get_extra_state(self) -> dict[str, Any]:
        return {"step": self.step_count, "dwa_history": [h.tolist() for h in self._history]}

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, dict) or not isinstance(state.get("step"), int):
            raise ConfigError(f"combined loss: unreadable weighting state {state!r}")
        self.step_count = state["step"]
        self._history = [torch.tensor(h, dtype=torch.float32) for h in state.get("dwa_history", [])]
        self._refresh()


def make_term_weights(
    weights: Sequence[Weight], weighting: Weighting = "fixed", temperature: float = 2.0
) -> TermWeights:
    """The :class:`TermWeights` of a combined loss, with its step in ``state_dict`` when its weights change."""
    fixed = weighting == "fixed" and not any(isinstance(w, Schedule) for w in weights)
    return (TermWeights if fixed else _TrackedTermWeights)(weights, weighting, temperature)
