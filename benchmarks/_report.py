"""Results of the runner, goal checks and the markdown of ``RESULTS.md``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from _harness import Timing
from cases import Case, Goal, Impl

__all__ = ["Row", "CaseResult", "GoalResult", "check_goals", "case_table", "goals_table"]

MiB = 2**20
#: Peak-memory figures this close count as equal: RSS moves by pages for Python objects and interpreter state.
MEMORY_TIE = 256 * 1024


@dataclass
class Row:
    """One implementation's figures in one case (``skipped`` holds the reason when it could not run)."""

    impl: Impl
    skipped: str = ""
    value: float | None = None
    timing: Timing | None = None
    memory: int | None = None

    @property
    def time(self) -> float | None:
        return self.timing.median if self.timing and self.timing.samples else None


@dataclass
class CaseResult:
    case: Case
    rows: list[Row] = field(default_factory=list)

    def row(self, label: str) -> Row | None:
        return next((r for r in self.rows if r.impl.label == label), None)

    def peers(self, against: tuple[str, ...] = ()) -> list[Row]:
        """The peer rows that ran (those named by ``against``, or every MONAI/kornia row)."""
        rows = [r for r in self.rows if (r.impl.label in against if against else r.impl.is_peer)]
        return [r for r in rows if not r.skipped]

    def best(self, metric: str, against: tuple[str, ...] = ()) -> tuple[float | None, str]:
        """The lowest peer figure for ``metric`` ("time" | "memory") and whose it is."""
        vals = [(getattr(r, metric), r.impl.label) for r in self.peers(against)]
        vals = [(v, n) for v, n in vals if v is not None]
        return min(vals) if vals else (None, "")


@dataclass
class GoalResult:
    case: Case
    goal: Goal
    figure: str
    met: bool | None  # None: could not be measured


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def check_goals(result: CaseResult) -> list[GoalResult]:
    """Evaluate the case's goals against the figures in ``result``."""
    out = []
    for goal in result.case.goals:
        row = result.row(goal.impl)
        if row is None or row.skipped:
            why = row.skipped if row else "no such implementation"
            out.append(GoalResult(result.case, goal, f"not measured: {why}", None))
            continue
        if goal.metric == "value":
            peers = result.peers(goal.against)
            if not peers or row.value is None or peers[0].value is None:
                out.append(GoalResult(result.case, goal, "peer value missing", None))
                continue
            ref = peers[0].value
            ok = math.isclose(row.value, ref, rel_tol=1e-4, abs_tol=1e-6)
            out.append(GoalResult(result.case, goal, f"{row.value:.6g} vs {ref:.6g}", ok))
            continue
        best, who = result.best(goal.metric, goal.against)
        mine = getattr(row, goal.metric)
        ratio = _ratio(mine, best)
        if ratio is None:
            out.append(GoalResult(result.case, goal, "peer figure missing", None))
            continue
        fmt = _ms if goal.metric == "time" else _mib
        figure = f"{ratio:.2f}x ({fmt(mine)} vs {fmt(best)} {who})"
        met = ratio <= goal.factor
        if goal.metric == "memory" and not met and mine - goal.factor * best <= MEMORY_TIE:
            figure += f"; a tie within {MEMORY_TIE // 1024} KiB"
            met = True
        out.append(GoalResult(result.case, goal, figure, met))
    return out


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e3:.1f} ms"


def _mib(nbytes: float | None) -> str:
    if nbytes is None:
        return "–"
    return f"{nbytes / MiB:.1f} MiB" if nbytes < 10 * MiB else f"{nbytes / MiB:.0f} MiB"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def case_table(results: list[CaseResult]) -> list[str]:
    """A markdown table: one line per implementation, grouped by case."""
    lines = [
        "| Case | Implementation | Loss value | Time (median) | min | n | Time / best peer | Peak memory "
        "| Memory / best peer |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        best_t, _ = res.best("time")
        best_m, _ = res.best("memory")
        for i, row in enumerate(res.rows):
            case = (f"**{res.case.id}**" + (f"<br>*{res.case.note}*" if res.case.note else "")) if i == 0 else ""
            name = row.impl.label + (f" ({row.impl.options})" if row.impl.options else "")
            name += f" *{row.impl.note}*" if row.impl.note else ""
            if row.skipped:
                lines.append(f"| {case} | {name} | skipped: {row.skipped} | | | | | | |")
                continue
            value = "–" if row.value is None else f"{row.value:.6g}"
            n = len(row.timing.samples) if row.timing else 0
            fastest = min(row.timing.samples) if row.timing and row.timing.samples else None
            lines.append(
                f"| {case} | {name} | {value} | {_ms(row.time)} | {_ms(fastest)} | {n} "
                f"| {_x(_ratio(row.time, best_t))} "
                f"| {_mib(row.memory)} | {_x(_ratio(row.memory, best_m))} |"
            )
    return lines


def goals_table(goals: list[GoalResult]) -> list[str]:
    """A markdown table of every goal with its figure and met / not met."""
    lines = ["| Issue | Case | Goal | Figure | Met |", "|---|---|---|---|---|"]
    for g in goals:
        met = "n/a" if g.met is None else ("**met**" if g.met else "**NOT met**")
        lines.append(f"| {g.case.issue} | {g.case.id} | {g.goal.describe()} | {g.figure} | {met} |")
    return lines
