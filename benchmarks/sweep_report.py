"""The sweep's markdown section (goals per loss, then every point) and its heat map (PNG)."""

from __future__ import annotations

import math
from pathlib import Path

from sweep import GOALS, LossResult, PointResult, summary

__all__ = ["sweep_markdown", "heatmap", "goal_counts"]

MiB = 2**20


def _fmt(v: float | None) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:.2f}x"


def goal_counts(results: list[LossResult]) -> tuple[int, int]:
    """(met, measured) over every loss and goal."""
    met = total = 0
    for lr in results:
        for key, (value, _) in summary(lr).items():
            if value is not None:
                total += 1
                met += value <= GOALS[key]
    return met, total


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v * 1e3:.2f} ms"


def _point_rows(lr: LossResult, p: PointResult) -> list[str]:
    lk = lr.hot.losskit.label
    shape = "x".join(map(str, p.shape))
    rows = []
    for label, t in sorted(p.times.items(), key=lambda kv: kv[1]):
        mem = p.memory.get(label)
        mark = "**" if label.startswith(lk) else ""
        rows.append(f"| {shape} | {mark}{label}{mark} | {_ms(t)} | {'–' if mem is None else f'{mem / MiB:.1f} MiB'} |")
    if p.eager_again is not None:
        rows.append(f"| {shape} | {lk} (again, with the compiled rows) | {_ms(p.eager_again)} | |")
    rows += [f"| {shape} | {label} | skipped: {why} | |" for label, why in p.skipped.items()]
    return rows


def sweep_markdown(results: list[LossResult], grid: str, device: str) -> list[str]:
    met, total = goal_counts(results)
    out = [
        f"## Sweep ({grid} grid, {device}): {met} of {total} goals met",
        "",
        "Per hot loss over its grid (issue 14; `benchmarks/sweep.py`): losskit's forward+backward time over the "
        "fastest eager peer at each point (median and worst), over the fastest compiled baseline (`torch.compile` "
        "of the naive formula and of the fastest eager peer), its peak memory over the lowest peer's, and "
        "compiled losskit over eager losskit. A loss without a peer library is compared with torchvision's "
        "formula or the naive formula. Heat map: `benchmarks/sweep-heatmap.png`.",
        "",
        "| Loss | Goal | Bound | Figure | Where | Met |",
        "|---|---|---:|---:|---|---|",
    ]
    for lr in results:
        for key, (value, where) in summary(lr).items():
            ok = "–" if value is None else ("**met**" if value <= GOALS[key] else "**NOT met**")
            out.append(f"| {lr.hot.name} | {key} | {GOALS[key]:g}x | {_fmt(value)} | {where} | {ok} |")
    out += [
        "",
        "### Every point",
        "",
        "| Point | Implementation | Time (median) | Peak memory |",
        "|---|---|---:|---:|",
    ]
    for lr in results:
        out.append(f"| **{lr.hot.name}** | | | |")
        for p in lr.points:
            out += _point_rows(lr, p)
    return out + [""]


def heatmap(results: list[LossResult], path: Path) -> str:
    """A PNG of losskit's time over the fastest eager peer, one row per loss, one column per point of the
    segmentation grid (other kinds fill their first columns); returns a note (written, or why not)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import TwoSlopeNorm
    except ImportError as exc:
        return f"no heat map: {exc}"
    width = max(len(lr.points) for lr in results)
    grid = [[math.nan] * width for _ in results]
    labels = [["" for _ in range(width)] for _ in results]
    for i, lr in enumerate(results):
        for j, p in enumerate(lr.points):
            ratio, _ = p.ratio_time_peer(lr.hot.losskit.label)
            grid[i][j] = math.nan if ratio is None else ratio
            labels[i][j] = "x".join(map(str, p.shape))
    fig, ax = plt.subplots(figsize=(1.3 * width + 3, 0.45 * len(results) + 1.5))
    finite = [v for row in grid for v in row if not math.isnan(v)]
    top = max([2.0, *finite])
    image = ax.imshow(grid, cmap="RdYlGn_r", norm=TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=top), aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if not math.isnan(v):
                ax.text(j, i, f"{v:.2f}\n{labels[i][j]}", ha="center", va="center", fontsize=6)
    ax.set_yticks(range(len(results)), [lr.hot.name for lr in results], fontsize=8)
    ax.set_xticks([])
    ax.set_title("losskit time / fastest eager peer (forward+backward; < 1 is faster)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"heat map: {path.name}"
