"""``losskit compare``: train once per loss with progress bars, print the table, write the report files."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._render import CLI_HINT, CliError, Out, have_rich

__all__ = ["cmd_compare", "RichProgress", "LineProgress"]


class MissingExtra(CliError, ImportError):
    """A ``[cli]`` extra is not installed; the message is the one-line install hint."""


class RichProgress:
    """One rich progress bar per loss, its latest validation metric alongside."""

    def __init__(self, console: Any, metric: str, metric_label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.metric, self.metric_label = metric, metric_label
        self.bars = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        )
        self.ids: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bars.__exit__(*exc)

    def start(self, label: str, total_steps: int) -> None:
        self.ids[label] = self.bars.add_task(label, total=total_steps, status="")

    def step(self, label: str) -> None:
        self.bars.advance(self.ids[label])

    def advance(self, label: str, epoch: int, metrics: dict[str, float]) -> None:
        self.bars.update(self.ids[label], status=f"epoch {epoch}: {self.metric_label} {metrics[self.metric]:.3f}")

    def finish(self, result: Any) -> None:
        status = _status(result, self.metric, self.metric_label)
        self.bars.update(self.ids[result.label], completed=self.bars.tasks[self.ids[result.label]].total, status=status)


class LineProgress:
    """Plain-text progress (``--plain`` or not a terminal): one line per finished loss."""

    def __init__(self, metric: str, metric_label: str) -> None:
        self.metric, self.metric_label = metric, metric_label

    def start(self, label: str, total_steps: int) -> None:
        print(f"training with {label} ({total_steps} steps) ...", flush=True)

    def step(self, label: str) -> None:
        pass

    def advance(self, label: str, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def finish(self, result: Any) -> None:
        print(f"  {result.label}: {_status(result, self.metric, self.metric_label)}", flush=True)


def _status(result: Any, metric: str, label: str) -> str:
    if result.error:
        return f"failed: {result.error}"
    seconds = sum(r.seconds or 0.0 for r in result.runs)
    spread = f" ± {result.std(metric):.4f}" if len(result.runs) > 1 else ""
    return f"{label} {result.mean(metric):.4f}{spread} ({len(result.runs)} seeds, {seconds:.1f} s)"


def _settings(args: argparse.Namespace) -> Any:
    from ..compare import CompareSettings, read_loss_list

    if args.config:
        losses: list[Any] | None = read_loss_list(args.config)
    elif args.losses:
        losses = [name.strip() for name in args.losses.split(",") if name.strip()]
        if not losses:
            raise ValueError("--losses: give at least one loss name")
    else:
        losses = None
    return CompareSettings(
        task=args.task,
        losses=losses,
        dataset=args.dataset,
        data_dir=args.data,
        seeds=args.seeds,
        epochs=args.epochs,
        seed=args.seed,
        samples=args.samples,
        size=args.size,
        batch_size=args.batch_size,
        lr=args.lr,
        threads=args.threads,
    )


def _list(out: Out) -> int:
    from ..compare import TASKS, known_datasets

    rows = []
    for task in TASKS.values():
        for i, d in enumerate(known_datasets(task)):
            state = "installed" if d.available() else "needs pip install 'losskit[data]'"
            kind = "real" if d.real else "synthetic"
            rows.append([task.name if i == 0 else "", d.name, kind, state, d.description])
    out.table(["task", "dataset", "kind", "available", "description"], rows, title="Comparison tasks and datasets")
    out.line("Default losses: " + "; ".join(f"{t.name}: {', '.join(t.default_losses)}" for t in TASKS.values()))
    out.line("Your own segmentation data: --data DIR (DIR/images/*.png, DIR/masks/*.png, paired by name)")
    return 0


def cmd_compare(args: argparse.Namespace, out: Out) -> int:
    if args.list:
        return _list(out)
    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise MissingExtra(f"compare needs matplotlib for curves.png: {CLI_HINT} (or pass --no-plot)") from None
    if not args.plain and not have_rich():
        raise MissingExtra(f"compare needs rich for its progress bars: {CLI_HINT} (or pass --plain)")
    from ..compare import resolve, run_comparison, summary_columns, summary_rows, write_all

    settings = _settings(args)
    task, dataset, s = resolve(settings)  # an unknown task or dataset fails here, before any data is read
    n_losses = len(settings.losses or task.default_losses)
    out.heading(f"losskit compare: {task.name} on {dataset.name}, {n_losses} losses x {s['seeds']} seeds")
    if dataset.fallback_note:
        out.line(f"note: using the synthetic {dataset.name!r} dataset: {dataset.fallback_note}")
    out.line(f"{dataset.description}; {s['epochs']} epochs, seeds {s['seed']}..{s['seed'] + s['seeds'] - 1}")
    started = time.perf_counter()
    label = task.label(task.primary, dataset)
    if out.rich:
        with RichProgress(out.console, task.primary, label) as progress:
            comparison = run_comparison(settings, progress)
    else:
        comparison = run_comparison(settings, LineProgress(task.primary, label))
    elapsed = time.perf_counter() - started
    paths = write_all(comparison, args.out, curves=not args.no_plot)
    out.table(summary_columns(comparison), summary_rows(comparison), title=f"Results ({task.name} on {dataset.name})")
    verdict = comparison.verdict
    out.line(f"winner: {verdict.winner} ({verdict.reason})" if verdict.winner else f"no winner: {verdict.reason}")
    out.line(
        f"{len(comparison.results)} losses x {s['seeds']} seeds in {elapsed:.1f} s; "
        f"results in {', '.join(str(p) for p in paths.values())}"
    )
    return 0 if any(r.error is None for r in comparison.results) else 1
