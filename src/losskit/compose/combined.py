"""``CombinedLoss``: a weighted sum of named terms, with per-term values for logging."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, LossInputError
from ..registry import suggest
from .calling import CallPlan

__all__ = ["CombinedLoss", "split_term_weights"]


def _finite_weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numeric strings from YAML
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: a weight must be a finite number, got {value!r}") from None
    if not math.isfinite(float(value)):
        raise ConfigError(f"{where}: a weight must be finite, got {value!r}")
    return float(value)


def split_term_weights(
    terms: Mapping[str, Any], weights: Sequence[float] | Mapping[str, float] | None, *, path: str = ""
) -> tuple[dict[str, Any], list[float]]:
    """Separate the weight of each term from its spec.

    Weights come from exactly one place: a list in term order, a ``{name: weight}`` mapping (missing terms
    weigh 1), or a ``weight`` key inside each term's spec (missing ones weigh 1). None of them: all 1.
    """
    where = f"{path}.weights" if path else "weights"
    specs: dict[str, Any] = {}
    inline: dict[str, float] = {}
    for name, spec in terms.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: term names must be non-empty strings, got {name!r}")
        if isinstance(spec, Mapping) and "weight" in spec:
            inline[name] = _finite_weight(spec["weight"], f"{path + '.' if path else ''}losses.{name}.weight")
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
        return specs, [_finite_weight(weights.get(n, 1.0), f"{where}.{n}") for n in specs]
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise ConfigError(f"{where}: expected a list or a mapping of weights, got {type(weights).__name__}")
    if len(weights) != len(specs):
        raise ConfigError(f"{where}: {len(weights)} weight(s) for {len(specs)} term(s) ({', '.join(specs)})")
    return specs, [_finite_weight(w, f"{where}[{i}]") for i, w in enumerate(weights)]


def _term_config(config: dict[str, Any]) -> dict[str, Any]:
    """A term's parameters go under ``params``: a top-level ``weight`` in a term is the term's weight."""
    from ..config.builder import NAME_KEYS

    key = next((k for k in NAME_KEYS if k in config), None)
    if key is None:
        return config
    params = {k: v for k, v in config.items() if k != key}
    return {key: config[key], "params": params} if params else {key: config[key]}


class CombinedLoss(nn.Module):
    """A weighted sum of named loss terms: ``total = sum_i w_i * term_i(inputs)``.

    Each term is called like :func:`~losskit.call_loss` (with a call plan made once, at construction), so a term receives only the named inputs its
    ``forward`` accepts (an image-similarity term and a DVF-supervision term can share one call).

    Args:
        terms: ``{name: module or spec}``; specs are built with :func:`~losskit.build_loss`.
        weights: one finite weight per term, as a list in term order or a ``{name: weight}`` mapping; a
            ``weight`` key inside a term's spec works too. Default: all 1.
        losses: synonym of ``terms`` (seed 000's configs say ``losses``).

    ``forward(*inputs, return_terms=False, **named)`` returns the total as a scalar tensor, or
    ``(total, {name: detached term value})`` with ``return_terms=True``, ready for logging.
    """

    def __init__(
        self,
        terms: Mapping[str, Any] | None = None,
        weights: Sequence[float] | Mapping[str, float] | None = None,
        *,
        losses: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if (terms is None) == (losses is None):
            raise ConfigError("CombinedLoss takes its terms as 'terms' or 'losses' (exactly one)")
        given = terms if terms is not None else losses
        if not isinstance(given, Mapping) or not given:
            raise ConfigError("CombinedLoss needs a non-empty mapping of named terms")
        specs, weight_list = split_term_weights(given, weights)
        from ..config.builder import build_loss  # the builder imports this module

        self.terms = nn.ModuleDict({name: build_loss(spec) for name, spec in specs.items()})
        self.weights: list[float] = weight_list
        # decided once per term object; (term, plan) so a term added or replaced later gets its own plan
        self._plans = {name: (term, CallPlan.of(term)) for name, term in self.terms.items()}

    @property
    def term_weights(self) -> dict[str, float]:
        return dict(zip(self.terms, self.weights))

    def forward(self, *inputs: Any, return_terms: bool = False, **named: Any) -> Any:
        total: torch.Tensor | None = None
        values: dict[str, torch.Tensor] = {}
        for (name, term), weight in zip(self.terms.items(), self.weights):
            cached = self._plans.get(name)
            if cached is None or cached[0] is not term:
                cached = self._plans[name] = (term, CallPlan.of(term))
            value = cached[1].call(term, inputs, named)
            if not isinstance(value, torch.Tensor) or value.dim() != 0:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise LossInputError(
                    f"combined loss term {name!r} returned {shape}, expected a scalar tensor "
                    f"(give the term reduction='mean' or 'sum')"
                )
            values[name] = value.detach()
            weighted = value * weight
            total = weighted if total is None else total + weighted
        assert total is not None  # terms is never empty (checked in __init__)
        return (total, values) if return_terms else total

    def to_config(self) -> dict[str, Any]:
        from ..config.serialize import to_config

        return {
            "name": "combined",
            "losses": {name: _term_config(to_config(term)) for name, term in self.terms.items()},
            "weights": list(self.weights),
        }

    def example_inputs(self, generator: torch.Generator) -> Any:
        """Sample inputs: those of the first term that declares any."""
        from ..testing.examples import example_for

        return example_for(next(iter(self.terms.values())), generator)

    def extra_repr(self) -> str:
        return "weights=" + ", ".join(f"{n}={w:g}" for n, w in self.term_weights.items())
