"""``CombinedLoss``: a weighted sum of named terms, with per-term values (nested ones too) for logging.

This module builds nothing from a spec itself: ``compose/`` imports nothing from ``config/``. Terms given as
specs go through the config builder, which ``losskit.config`` installs here when it is imported
(:func:`install_term_builder`), so ``CombinedLoss({...})`` and ``build_loss({"losses": {...}})`` take one path
and report one config path (``losses.a.smoth``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, LossInputError
from .calling import CallPlan
from .schedules import Schedule
from .terms import with_terms
from .weighting import Weighting, make_term_weights
from .weights import Weight, split_term_weights

__all__ = ["CombinedLoss", "split_term_weights", "install_term_builder", "TermBuilder"]

_KW = inspect.Parameter.KEYWORD_ONLY

#: ``(terms, weights) -> ({name: module}, [weight per term])``: builds the terms of a combined spec.
TermBuilder = Callable[[Mapping[str, Any], Any], tuple[dict[str, nn.Module], list[Weight]]]

_term_builder: TermBuilder | None = None


def install_term_builder(builder: TermBuilder) -> None:
    """Let ``CombinedLoss`` build terms given as specs (``losskit.config`` installs its builder at import)."""
    global _term_builder
    _term_builder = builder


def _build_terms(terms: Mapping[str, Any], weights: Any) -> tuple[dict[str, nn.Module], list[Weight]]:
    if all(isinstance(term, nn.Module) for term in terms.values()):
        return split_term_weights(terms, weights)
    if _term_builder is None:  # importing any part of losskit imports losskit.config first
        raise ConfigError("CombinedLoss: terms given as specs need losskit.config's builder, which is not installed")
    return _term_builder(terms, weights)


class CombinedLoss(nn.Module):
    r"""A weighted sum of named loss terms: ``total = sum_i w_i * term_i(inputs)``.

    .. math::

        \mathcal{L}(\text{inputs}) = \sum_i w_i \, \mathcal{L}_i(\text{inputs})

    Each term is called like :func:`~losskit.call_loss`, with a call plan read from its signature once: it
    receives the positional inputs and only the named inputs its ``forward`` accepts, so an image-similarity
    term and a DVF-supervision term can share one call. A named input that *no* term accepts is an error (a
    misspelt ``mask=`` must not be dropped silently); through :func:`~losskit.call_loss` such an input is
    dropped instead, as for any loss.

    Args:
        terms: ``{name: module or spec}``; specs are built by :func:`~losskit.build_loss`'s own path (errors
            name the config path, ``losses.<name>.<parameter>``).
        weights: one weight per term, as a list in term order or a ``{name: weight}`` mapping; a weight is a
            finite number or a schedule (``{schedule: linear, start: 0, end: 1, steps: 5000}``, see
            :mod:`losskit.compose.schedules`). A ``weight`` key inside a term's spec works too, unless that term's
            loss has a ``weight`` parameter of its own (then it is ambiguous: a :class:`~losskit.ConfigError`).
            Default: all 1.
        losses: synonym of ``terms`` (seed 000's configs say ``losses``).
        weighting: ``"fixed"`` (the weights as given), ``"uncertainty"`` (learned log-variances, Kendall et al.
            2018: the optimizer must see ``loss.parameters()``) or ``"dwa"`` (dynamic weight average, Liu et al.
            2019, updated by :meth:`step`); see :mod:`losskit.compose.weighting`.
        temperature: DWA's temperature ``T``.

    Training steps: :meth:`step` advances one step (schedules, DWA), :meth:`set_step` jumps,
    :meth:`current_weights` gives ``{term: weight now}``; the step count is in ``state_dict``. With weights that
    change, ``return_terms=True`` also reports each term's current multiplier as ``"weight/<term>"``.

    Shape:
        - Inputs: whatever the terms take (e.g. logits :math:`(N, C, *)` and labels :math:`(N, *)`).
        - Output: a scalar; with ``return_terms=True``, ``(total, {name: scalar})``, where a term that takes
          ``return_terms`` itself adds its own terms as ``"name.term"`` (``"seg"``, ``"seg.dice"``,
          ``"seg.ce"``). Term values are detached, ready for logging; the total keeps its graph.

    Raises:
        LossInputError: a named input that no term accepts, a term that returns a non-scalar, or a term's
            own input error (naming that term's loss).

    Example:
        >>> import torch, losskit
        >>> combo = losskit.CombinedLoss({"mse": "mse", "l1": "l1"}, weights={"mse": 0.5, "l1": 2.0})
        >>> x, y = torch.ones(2, 3), torch.zeros(2, 3)
        >>> total, terms = combo(x, y, return_terms=True)
        >>> total.item(), {k: v.item() for k, v in terms.items()}
        (2.5, {'mse': 1.0, 'l1': 1.0})
        >>> outer = losskit.CombinedLoss({"seg": combo, "reg": "mse"})
        >>> sorted(outer(x, y, return_terms=True)[1])
        ['reg', 'seg', 'seg.l1', 'seg.mse']
    """

    def __init__(
        self,
        terms: Mapping[str, Any] | None = None,
        weights: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        losses: Mapping[str, Any] | None = None,
        weighting: Weighting = "fixed",
        temperature: float = 2.0,
    ) -> None:
        super().__init__()
        if (terms is None) == (losses is None):
            raise ConfigError("CombinedLoss takes its terms as 'terms' or 'losses' (exactly one)")
        given = terms if terms is not None else losses
        if not isinstance(given, Mapping) or not given:
            raise ConfigError("CombinedLoss needs a non-empty mapping of named terms")
        modules, weight_list = _build_terms(given, weights)
        self.terms = nn.ModuleDict(modules)
        self.balance = make_term_weights(weight_list, weighting, temperature)
        self.last_terms: dict[str, torch.Tensor] = {}  # each term's value in the last forward, detached
        # decided once per term object; (term, plan) so a term added or replaced later gets its own plan
        self._plans: dict[str, tuple[nn.Module, CallPlan]] = {}
        self._current_plans()

    @property
    def weights(self) -> list[Weight]:
        """The configured weight of each term in term order (numbers and schedules); a term added after
        construction needs its weight appended here."""
        return self.balance.base

    @weights.setter
    def weights(self, value: list[Weight]) -> None:
        self.balance.base = list(value)

    @property
    def weighting(self) -> Weighting:
        return self.balance.weighting

    @property
    def term_weights(self) -> dict[str, Weight]:
        """``{term: configured weight}`` in term order (a schedule stays a schedule: see :meth:`current_weights`)."""
        self._check_weights()
        return dict(zip(self.terms, self.weights, strict=True))

    def current_weights(self) -> dict[str, float]:
        """``{term: the multiplier of its value now}``: schedules at the current step, DWA's factors, and
        ``w exp(-s) / 2`` under uncertainty weighting."""
        self._check_weights()
        return dict(zip(self.terms, self.balance.effective().tolist(), strict=True))

    def step(self) -> None:
        """Advance one training step (schedules, DWA's interval), here and in every term that steps too."""
        self.balance.step()
        for term in self.terms.values():
            advance = getattr(term, "step", None)
            if callable(advance) and callable(getattr(term, "set_step", None)):
                advance()

    def set_step(self, step: int) -> None:
        """Jump to training step ``step`` (a resumed run restores it from ``state_dict`` by itself)."""
        self.balance.set_step(step)
        for term in self.terms.values():
            jump = getattr(term, "set_step", None)
            if callable(jump):
                jump(step)

    @property
    def step_count(self) -> int:
        return self.balance.step_count

    def _check_weights(self) -> None:
        n_dynamic = len(self.balance.values) if self.balance.dynamic else len(self.weights)
        if len(self.weights) != len(self.terms) or n_dynamic != len(self.terms):  # public: edited after construction
            raise ConfigError(
                f"combined loss has {len(self.terms)} term(s) ({', '.join(self.terms) or 'none'}) but "
                f"{len(self.weights)} weight(s); a term added after construction needs its weight appended"
            )

    def _current_plans(self) -> list[tuple[str, nn.Module, CallPlan]]:
        self._check_weights()
        out = []
        for name, term in self.terms.items():
            cached = self._plans.get(name)
            if cached is None or cached[0] is not term:
                cached = self._plans[name] = (term, CallPlan.of(term))
            out.append((name, term, cached[1]))
        return out

    @property
    def __losskit_signature__(self) -> inspect.Signature:
        """The call signature :func:`~losskit.call_loss` reads: the named inputs some term accepts."""
        plans = [plan for _, _, plan in self._current_plans()]
        cached: tuple[list[CallPlan], inspect.Signature] | None = self.__dict__.get("_signature_cache")
        if cached is not None and len(cached[0]) == len(plans):
            if all(a is b for a, b in zip(cached[0], plans, strict=True)):
                return cached[1]
        signature = self._signature_of(plans)
        self.__dict__["_signature_cache"] = (plans, signature)  # plain attribute: not a module, not a buffer
        return signature

    @staticmethod
    def _signature_of(plans: list[CallPlan]) -> inspect.Signature:
        params = [inspect.Parameter("_inputs", inspect.Parameter.VAR_POSITIONAL)]
        params.append(inspect.Parameter("return_terms", _KW, default=False, annotation=bool))
        if any(plan.accepted is None for plan in plans):
            return inspect.Signature([*params, inspect.Parameter("_named", inspect.Parameter.VAR_KEYWORD)])
        names = dict.fromkeys(n for plan in plans for n in sorted(plan.accepted or ()) if n != "_inputs")
        return inspect.Signature(params + [inspect.Parameter(n, _KW, default=None) for n in names])

    def _check_named(self, plans: list[tuple[str, nn.Module, CallPlan]], named: Mapping[str, Any]) -> None:
        unused = [k for k in named if not any(plan.accepts(k) for _, _, plan in plans)]
        if unused:
            takes = "; ".join(f"{name} takes {', '.join(sorted(plan.accepted or ()))}" for name, _, plan in plans)
            raise LossInputError(
                f"combined loss: named input(s) {', '.join(map(repr, unused))} are accepted by none of its terms "
                f"({takes}); check the spelling, or call it through losskit.call_loss to drop inputs no term takes"
            )

    def forward(self, *inputs: Any, return_terms: bool = False, **named: Any) -> Any:
        plans = self._current_plans()
        if named:
            self._check_named(plans, named)
        outputs: list[torch.Tensor] = []
        values: dict[str, torch.Tensor] = {}
        for name, term, plan in plans:
            nested = return_terms and plan.return_terms
            out = plan.call(term, inputs, named, return_terms=nested)
            value, sub = _split_output(name, out) if nested else (out, None)
            if not isinstance(value, torch.Tensor) or value.dim() != 0:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise LossInputError(
                    f"combined loss term {name!r} returned {shape}, expected a scalar tensor "
                    f"(give its loss {plan.label!r} reduction='mean' or 'sum')"
                )
            if return_terms:
                _add_term(values, name, value)
                for key, sub_value in (sub or {}).items():
                    _add_term(values, f"{name}.{key}", sub_value)
            outputs.append(value)
        if not outputs:  # every term was deleted after construction (ModuleDict allows it)
            raise ConfigError("combined loss has no terms")
        total = self.balance.total(outputs)
        # detached, for loggers (losskit.integrations.lightning reads them after the step): no host sync here
        self.last_terms = {name: v.detach() for name, v in zip(self.terms, outputs, strict=True)}
        if return_terms and self.balance.dynamic:
            for name, w in zip(self.terms, self.balance.effective().to(total.device).unbind(), strict=True):
                _add_term(values, f"weight/{name}", w)
        return with_terms(total, values, return_terms)

    def extra_repr(self) -> str:
        weights = {k: v.to_config() if isinstance(v, Schedule) else v for k, v in self.term_weights.items()}
        return f"weights={weights!r}"


def _split_output(name: str, out: Any) -> tuple[Any, Mapping[str, Any]]:
    """A term asked for ``return_terms=True`` must return ``(total, {term: value})``."""
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping):
        return out[0], out[1]
    raise LossInputError(
        f"combined loss term {name!r} takes return_terms but did not return (total, {{term: value}}) with "
        f"return_terms=True; got {type(out).__name__} (losskit.compose.terms.with_terms makes that pair)"
    )


def _add_term(values: dict[str, torch.Tensor], key: str, value: Any) -> None:
    if key in values:  # a term named "seg.dice" beside a term "seg" reporting "dice"
        raise ConfigError(f"combined loss: two terms report {key!r}; rename one of them")
    values[key] = value
