"""Writing a comparison out: ``results.json`` (every seed's figures), ``results.md`` (the table, how to rerun
it), ``losses.yaml`` (the losses compared, reloadable with ``--config``) and ``curves.png`` (mean and band)."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

import yaml

from .runner import Comparison

__all__ = [
    "summary_columns",
    "summary_rows",
    "reproduce_command",
    "write_json",
    "write_markdown",
    "write_curves",
    "write_losses",
    "write_all",
]

TIED = "≈"
BEST = "★"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def summary_columns(comparison: Comparison) -> list[str]:
    """Table header: the loss, each metric (mean ± std over seeds), the final train loss, ms per step."""
    task, dataset = comparison.task, comparison.dataset
    return ["loss", *(task.label(m, dataset) for m in task.metrics), "final train loss", "ms / step"]


def summary_rows(comparison: Comparison) -> list[list[str]]:
    """One row per loss: ★ marks the winner, ≈ each loss of a tied top group; a failed loss shows its error."""
    verdict = comparison.verdict
    rows = []
    for r in comparison.results:
        mark = BEST if r.label == verdict.winner else TIED if r.label in verdict.tied else ""
        label = f"{r.label} {mark}".rstrip()
        if r.error:
            rows.append([label, f"failed: {r.error}", *["-"] * len(comparison.task.metrics), _fmt(r.ms_per_step, 1)])
            continue
        cells = [
            f"{_fmt(r.mean(m))} ± {_fmt(r.std(m))}" if len(r.runs) > 1 else _fmt(r.mean(m))
            for m in (*comparison.task.metrics, "final_train_loss")
        ]
        rows.append([label, *cells, _fmt(r.ms_per_step, 1)])
    return rows


def _plain_names(comparison: Comparison) -> list[str] | None:
    """The labels, when every loss is a bare name with only what the task fills in (reproducible inline)."""
    names = []
    for r in comparison.results:
        if not (isinstance(r.config, dict) and set(r.config) <= {"name", "num_classes", "mode"}):
            return None
        if r.label != r.config["name"]:
            return None
        names.append(r.label)
    return names


def reproduce_command(comparison: Comparison, out: str | Path) -> str:
    """The ``losskit compare`` command that reruns this comparison (the losses inline or from ``losses.yaml``)."""
    s = comparison.settings
    parts = ["losskit", "compare", "--task", s["task"]]
    parts += ["--data", str(s["data_dir"])] if s["data_dir"] else ["--dataset", s["dataset"]]
    parts += ["--seeds", str(s["seeds"]), "--seed", str(s["seed"]), "--epochs", str(s["epochs"])]
    if s["samples"] is not None:
        parts += ["--samples", str(s["samples"])]
    if s["size"]:
        parts += ["--size", str(s["size"])]
    parts += ["--batch-size", str(s["batch_size"]), "--lr", f"{s['lr']:g}", "--threads", str(s["threads"])]
    names = _plain_names(comparison)
    if names is not None:
        parts += ["--losses", ",".join(names)]
    else:
        parts += ["--config", str(Path(out) / "losses.yaml")]
    return " ".join(shlex.quote(p) for p in parts)


def write_losses(comparison: Comparison, path: Path) -> None:
    """The compared losses as a ``--config`` file: a list of specs, each with its report label."""
    specs = [
        {"label": r.label, **r.config} if isinstance(r.config, dict) else {"label": r.label, "name": r.config}
        for r in comparison.results
    ]
    path.write_text(yaml.safe_dump(specs, sort_keys=False), encoding="utf-8")


def write_json(comparison: Comparison, path: Path) -> None:
    path.write_text(json.dumps(comparison.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_markdown(comparison: Comparison, path: Path, *, curves: bool = True) -> None:
    task, dataset, s = comparison.task, comparison.dataset, comparison.settings
    header = summary_columns(comparison)
    data = comparison.data
    rare = f", rarest class {100 * data['rare_share']:.1f}% of the training targets" if "rare_share" in data else ""
    seeds = f"seeds {s['seed']}..{s['seed'] + s['seeds'] - 1}" if s["seeds"] > 1 else f"seed {s['seed']}"
    lines = [
        f"# Loss comparison: {task.name} on {dataset.name}",
        "",
        f"{task.description}. Data: {dataset.description}.",
        "",
        f"Source: {dataset.source}.",
        "",
    ]
    if dataset.fallback_note:
        lines += [f"**Synthetic stand-in**: {dataset.fallback_note}.", ""]
    lines += [
        f"{data['train']} training / {data['val']} validation samples{rare}; {s['epochs']} epochs, batch "
        f"{s['batch_size']}, Adam lr {s['lr']:g}, {seeds} (each seed: initial weights and batch order; the data is "
        f"the same). Validation metrics after the last epoch, mean ± standard deviation over the seeds.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(comparison)]
    verdict = comparison.verdict
    lines += [
        "",
        f"Deciding metric: {task.label(task.primary, dataset)}. {BEST} marks a loss whose mean beats the runner-up's "
        f"by more than the sum of their standard deviations; otherwise {TIED} marks the tied top group. "
        f"Verdict: {verdict.reason}.",
    ]
    if curves:
        lines += ["", f"![{task.label(task.primary, dataset)} per epoch](curves.png)"]
    lines += ["", f"Reproduce: `{reproduce_command(comparison, path.parent)}`", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_curves(comparison: Comparison, path: Path) -> None:
    """The deciding metric per epoch: each loss's mean over seeds, with a ±1 std band (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    task, metric = comparison.task, comparison.task.primary
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    try:
        verdict = comparison.verdict
        styles = ["-", "--", "-.", ":"]
        markers = ["o", "s", "^", "D", "v", "P", "X"]
        for i, r in enumerate(comparison.results):
            curves = [run.history.get(metric, []) for run in r.runs]
            length = min((len(c) for c in curves), default=0)
            if not length:
                continue
            values = np.array([c[:length] for c in curves])
            mean, std = values.mean(0), values.std(0, ddof=1) if len(values) > 1 else np.zeros(length)
            epochs = np.arange(1, length + 1)
            label = f"{r.label} (best)" if r.label == verdict.winner else r.label
            # Distinct dash and marker per loss: losses stuck at the same value stay distinguishable.
            (line,) = ax.plot(
                epochs,
                mean,
                linestyle=styles[i % len(styles)],
                marker=markers[i % len(markers)],
                markersize=4,
                linewidth=2.4 if r.label == verdict.winner else 1.5,
                label=label,
            )
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0)
        s = comparison.settings
        band = f"mean ± std over {s['seeds']} seeds" if s["seeds"] > 1 else f"seed {s['seed']}"
        ax.set_title(f"{task.name} on {comparison.dataset.name}: validation {task.label(metric, comparison.dataset)}")
        ax.set_xlabel(f"epoch ({band})")
        ax.set_ylabel(task.label(metric, comparison.dataset))
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, metadata={"Software": None})
    finally:
        plt.close(fig)


def write_all(comparison: Comparison, out: str | Path, *, curves: bool = True) -> dict[str, Path]:
    """Write every report file into ``out`` (created if needed); return ``{kind: path}``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Any] = {
        "json": folder / "results.json",
        "markdown": folder / "results.md",
        "losses": folder / "losses.yaml",
    }
    write_json(comparison, paths["json"])
    write_losses(comparison, paths["losses"])
    if curves:
        paths["curves"] = folder / "curves.png"
        write_curves(comparison, paths["curves"])
    write_markdown(comparison, paths["markdown"], curves=curves)
    return paths
