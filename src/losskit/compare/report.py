"""Writing a comparison out: ``results.json`` (everything), ``results.md`` (the table) and ``curves.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .runner import Comparison

__all__ = ["summary_columns", "summary_rows", "write_json", "write_markdown", "write_curves", "write_all"]


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_columns(comparison: Comparison) -> list[str]:
    """Table header: the loss, its final train loss, the task's two leading metrics, ms per step."""
    labels = comparison.task.metric_labels
    return ["loss", "final train loss", *(labels[m] for m in comparison.task.metrics[:2]), "ms / step"]


def summary_rows(comparison: Comparison) -> list[list[str]]:
    """One row per loss; the winner's label carries a star, a failed loss its error."""
    winner = comparison.winner
    rows = []
    for r in comparison.results:
        label = f"{r.label} ★" if r.label == winner else r.label
        if r.error:
            rows.append([label, f"failed: {r.error}", "-", "-", _fmt(r.ms_per_step, 1)])
            continue
        metrics = [_fmt(r.metrics.get(m)) for m in comparison.task.metrics[:2]]
        rows.append([label, _fmt(r.final_train_loss), *metrics, _fmt(r.ms_per_step, 1)])
    return rows


def write_json(comparison: Comparison, path: Path) -> None:
    path.write_text(json.dumps(comparison.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_markdown(comparison: Comparison, path: Path, *, curves: bool = True) -> None:
    task, s = comparison.task, comparison.settings
    header = summary_columns(comparison)
    lines = [
        f"# Loss comparison: {task.name}",
        "",
        f"{task.description}.",
        "",
        f"{comparison.dataset['train']} training / {comparison.dataset['val']} validation samples, "
        f"rarest class {100 * comparison.dataset['rare_share']:.1f}% of the training targets; "
        f"{s['epochs']} epochs, batch {s['batch_size']}, Adam lr {s['lr']:g}, seed {s['seed']}. "
        f"Metrics on the validation set after the last epoch; ★ marks the best {task.metric_labels[task.primary]}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(comparison)]
    if curves:
        lines += ["", f"![{task.metric_labels[task.primary]} per epoch](curves.png)"]
    command = "losskit compare --task {task} --epochs {epochs} --seed {seed} --samples {samples}".format(**s)
    command += (f" --size {s['size']}" if s["size"] else "") + f" --batch-size {s['batch_size']} --lr {s['lr']:g}"
    if all(isinstance(r.config, dict) and set(r.config) <= {"name", "num_classes", "mode"} for r in comparison.results):
        command += " --losses " + ",".join(r.label for r in comparison.results)  # plain names: reproducible inline
    lines += ["", f"Reproduce: `{command}`", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_curves(comparison: Comparison, path: Path) -> None:
    """Validation metric per epoch, one line per loss (matplotlib, Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    task = comparison.task
    metric = task.primary
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    try:
        winner = comparison.winner
        styles = ["-", "--", "-.", ":"]
        markers = ["o", "s", "^", "D", "v", "P", "X"]
        for i, r in enumerate(comparison.results):
            values = r.history.get(metric, [])
            if not values:
                continue
            epochs = list(range(1, len(values) + 1))
            label = f"{r.label} (winner)" if r.label == winner else r.label
            # Distinct dash and marker per loss: losses stuck at the same value stay distinguishable.
            ax.plot(
                epochs,
                values,
                linestyle=styles[i % len(styles)],
                marker=markers[i % len(markers)],
                markersize=4,
                linewidth=2.4 if r.label == winner else 1.5,
                label=label,
            )
        ax.set_title(
            f"{task.name}: validation {task.metric_labels[metric]} per epoch (seed {comparison.settings['seed']})"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {task.metric_labels[metric]}")
        ax.set_ylim(-0.02, 1.02)
        # The default AutoLocator's settings, plus whole epochs only.
        ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def write_all(comparison: Comparison, out: str | Path, *, curves: bool = True) -> dict[str, Path]:
    """Write every report file into ``out`` (created if needed); return ``{kind: path}``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Any] = {"json": folder / "results.json", "markdown": folder / "results.md"}
    write_json(comparison, paths["json"])
    if curves:
        paths["curves"] = folder / "curves.png"
        write_curves(comparison, paths["curves"])
    write_markdown(comparison, paths["markdown"], curves=curves)
    return paths
