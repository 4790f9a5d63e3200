"""Summaries over seeds and the rule that names a best loss only when its lead is larger than the noise."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["mean_std", "Verdict", "judge"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0.0 for a single value)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


@dataclass(frozen=True)
class Verdict:
    """The outcome of a comparison on its deciding metric.

    ``winner`` is set only when the best mean beats the runner-up's by more than the sum of their standard
    deviations (their ±1 std intervals do not overlap) over at least two seeds. Otherwise ``tied`` lists the
    top group: every loss whose mean is within that distance of the best one. ``reason`` says which case it is,
    in a sentence for the report.
    """

    winner: str | None
    tied: tuple[str, ...]
    reason: str


def judge(scores: Mapping[str, Sequence[float]], *, higher_is_better: bool = True) -> Verdict:
    """Apply the rule to ``{label: per-seed values}`` of the deciding metric (losses that failed left out)."""
    if len(scores) < 2:
        return Verdict(None, (), "fewer than two losses finished: nothing to compare")
    sign = 1.0 if higher_is_better else -1.0
    summary = {label: mean_std(values) for label, values in scores.items()}
    order = sorted(summary, key=lambda label: -sign * summary[label][0])
    best, runner_up = order[0], order[1]
    (m1, s1), (m2, s2) = summary[best], summary[runner_up]
    seeds = min(len(v) for v in scores.values())
    if seeds < 2:
        return Verdict(None, (), f"one seed: no spread to tell a lead from noise (highest: {best}; use --seeds 3)")
    if sign * (m1 - m2) > s1 + s2:
        return Verdict(
            best, (), f"{best} leads {runner_up} by {abs(m1 - m2):.4f}, more than their spread {s1 + s2:.4f}"
        )
    tied = tuple(label for label in order if sign * (m1 - summary[label][0]) <= s1 + summary[label][1])
    return Verdict(
        None,
        tied,
        f"tied: {', '.join(tied)} (the lead of {best} over {runner_up}, {abs(m1 - m2):.4f}, is within their "
        f"spread {s1 + s2:.4f})",
    )
