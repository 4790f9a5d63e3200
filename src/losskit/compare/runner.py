"""The training loop: the same model, data and batch order, once per loss and seed; metrics per epoch."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import torch

from ..config import to_config
from ..errors import ConfigError
from .data import Split
from .datasets import Dataset
from .folder_data import load_folder
from .specs import LossCase, prepare_losses
from .stats import Verdict, judge, mean_std
from .tasks import Task, get_dataset, get_task

__all__ = ["CompareSettings", "SeedRun", "LossResult", "Comparison", "Progress", "run_comparison", "resolve"]

MAX_SEEDS = 100


@dataclass(frozen=True)
class CompareSettings:
    """What to compare and how long to train; ``None`` means the dataset's default.

    ``seeds`` repeats of every loss: seed ``seed``, ``seed + 1``, ... each gives the initial weights and the batch
    order; the data is the same in every repeat (a function of ``seed`` for the synthetic sets, a fixed recipe
    for the real ones). ``data_dir`` (``--data``): a folder of the user's own image/mask PNGs (segmentation).
    """

    task: str = "segmentation"
    losses: Sequence[Any] | None = None
    dataset: str | None = None
    data_dir: str | None = None
    seeds: int = 3
    epochs: int | None = None
    seed: int = 0
    samples: int | None = None
    size: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    #: torch CPU threads during the run. One by default: the model is too small to gain much from more, and
    #: a fixed count keeps the floating-point reduction order, hence results.json, the same on any machine.
    threads: int | None = 1


def resolve(settings: CompareSettings) -> tuple[Task, Dataset, dict[str, Any]]:
    """The task, the dataset and the settings with every default filled in (what the report records)."""
    task = get_task(settings.task)
    if settings.data_dir is not None:
        if task.name != "segmentation":
            raise ConfigError(f"--data holds segmentation images and masks; it cannot be used with --task {task.name}")
        if settings.dataset not in (None, "folder"):
            raise ConfigError("--data and --dataset choose the data both; give one of them")
        dataset = replace(get_dataset(task, "cracks"), name="folder", real=True, fallback_note=None)
        dataset = replace(dataset, description=f"your images and masks in {settings.data_dir}", target="foreground")
    else:
        dataset = get_dataset(task, settings.dataset)
    s: dict[str, Any] = {
        "task": task.name,
        "dataset": dataset.name,
        "data_dir": settings.data_dir,
        "seeds": settings.seeds,
        "seed": settings.seed,
        "epochs": settings.epochs if settings.epochs is not None else dataset.epochs,
        "samples": settings.samples if settings.samples is not None else dataset.samples,
        "size": settings.size if settings.size is not None else dataset.size,
        "batch_size": settings.batch_size if settings.batch_size is not None else dataset.batch_size,
        "lr": settings.lr if settings.lr is not None else dataset.lr,
        "threads": settings.threads,
    }
    if not 1 <= s["seeds"] <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be between 1 and {MAX_SEEDS}, got {s['seeds']}")
    if s["epochs"] < 1 or (s["samples"] is not None and s["samples"] < 1) or s["batch_size"] < 1:
        raise ConfigError("epochs, samples and batch_size must be positive")
    if dataset.size and (s["size"] < 8 or s["size"] % 4):
        raise ConfigError(f"size must be a multiple of 4 and at least 8 (the U-Net pools twice), got {s['size']}")
    return task, dataset, s


@dataclass
class SeedRun:
    """One training run. ``history`` holds one value per epoch for each key."""

    seed: int
    final_train_loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    ms_per_step: float | None = None
    seconds: float | None = None
    error: str | None = None


@dataclass
class LossResult:
    """Every seed's run of one loss, and their summary."""

    label: str
    config: Any
    runs: list[SeedRun] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """The first failed run's error (a loss counts as failed when any of its seeds did)."""
        return next((f"seed {r.seed}: {r.error}" for r in self.runs if r.error), None)

    def values(self, metric: str) -> list[float]:
        return [r.metrics[metric] for r in self.runs if metric in r.metrics]

    def mean(self, metric: str) -> float:
        return mean_std(self.values(metric))[0]

    def std(self, metric: str) -> float:
        return mean_std(self.values(metric))[1]

    @property
    def ms_per_step(self) -> float | None:
        times = [r.ms_per_step for r in self.runs if r.ms_per_step is not None]
        return sum(times) / len(times) if times else None

    def to_dict(self, metrics: Sequence[str]) -> dict[str, Any]:
        done = self.error is None and bool(self.runs)
        return {
            "label": self.label,
            "config": self.config,
            "error": self.error,
            "mean": {m: self.mean(m) for m in (*metrics, "final_train_loss")} if done else {},
            "std": {m: self.std(m) for m in (*metrics, "final_train_loss")} if done else {},
            "seeds": [asdict(r) for r in self.runs],
        }


@dataclass
class Comparison:
    """Every loss's result, plus what was run."""

    task: Task
    dataset: Dataset
    settings: dict[str, Any]
    data: dict[str, Any]
    results: list[LossResult]

    @property
    def verdict(self) -> Verdict:
        done = {r.label: r.values(self.task.primary) for r in self.results if r.error is None and r.runs}
        return judge(done, higher_is_better=self.task.primary not in self.task.lower_is_better)

    @property
    def winner(self) -> str | None:
        """The loss whose lead on the deciding metric is larger than the spread over seeds, if any."""
        return self.verdict.winner

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict
        d = self.dataset
        metrics = self.task.metrics
        return {
            "task": self.task.name,
            "description": self.task.description,
            "metric": self.task.primary,
            "metrics": list(metrics),
            "lower_is_better": sorted(self.task.lower_is_better),
            "settings": self.settings,
            "dataset": {
                "name": d.name,
                "description": d.description,
                "real": d.real,
                "source": d.source,
                "fallback_note": d.fallback_note,
                **self.data,
            },
            "winner": verdict.winner,
            "tied": list(verdict.tied),
            "verdict": verdict.reason,
            "results": [r.to_dict(metrics) for r in self.results],
        }


class Progress(Protocol):
    """Receives progress; the CLI draws bars with it. Every method is optional to act upon."""

    def start(self, label: str, total_steps: int) -> None: ...

    def step(self, label: str) -> None: ...

    def advance(self, label: str, epoch: int, metrics: dict[str, float]) -> None: ...

    def finish(self, result: LossResult) -> None: ...


@contextlib.contextmanager
def _deterministic(threads: int | None) -> Iterator[None]:
    """Deterministic kernels and a fixed thread count for the run, the caller's settings restored afterwards."""
    before, threads_before = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        torch.set_num_threads(threads_before)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
        yield order[start : start + batch_size]


def _predict(model: torch.nn.Module, x: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])
    model.train()
    return out


def _train_one(
    task: Task,
    dataset: Dataset,
    case: LossCase,
    data: tuple[Split, Split],
    s: dict[str, Any],
    seed: int,
    progress: Progress | None,
) -> SeedRun:
    train, val = data
    run = SeedRun(seed=seed)
    torch.manual_seed(seed)  # the same initial weights for every loss
    model = task.make_model(dataset)
    optimiser = torch.optim.Adam(model.parameters(), lr=s["lr"])
    order = torch.Generator().manual_seed(seed)  # the same batch order for every loss
    history: dict[str, list[float]] = {"train_loss": [], **{m: [] for m in task.metrics}}
    step_time, steps, started = 0.0, 0, time.perf_counter()
    try:
        for epoch in range(s["epochs"]):
            total, count = 0.0, 0
            for idx in _batches(len(train), s["batch_size"], order):
                t0 = time.perf_counter()
                loss = task.loss_value(case, model, train.take(idx), dataset)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
                step_time += time.perf_counter() - t0
                steps += 1
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(f"the loss became {value} at epoch {epoch + 1}")
                total, count = total + value, count + 1
                if progress:
                    progress.step(case.label)
            history["train_loss"].append(total / max(count, 1))
            final = epoch == s["epochs"] - 1
            for name, value in task.evaluate(_predict(model, val.x), val, dataset, final).items():
                if name in history:
                    history[name].append(value)
            if progress:
                progress.advance(case.label, epoch + 1, {m: history[m][-1] for m in task.metrics if history[m]})
    except Exception as exc:  # one failing loss must not sink the comparison; it is reported as failed
        run.error = f"{type(exc).__name__}: {exc}"
    run.history = history
    if history["train_loss"]:
        run.final_train_loss = history["train_loss"][-1]
        run.metrics = {m: history[m][-1] for m in task.metrics if history[m]}
        run.metrics["final_train_loss"] = run.final_train_loss
    run.ms_per_step = 1000 * step_time / steps if steps else None
    run.seconds = time.perf_counter() - started
    return run


def _config_of(case: LossCase) -> Any:
    try:
        return to_config(case.module)
    except ConfigError:
        return case.spec if isinstance(case.spec, (str, dict, list)) else repr(case.spec)


def _load(dataset: Dataset, settings: CompareSettings, s: dict[str, Any]) -> tuple[Dataset, Split, Split]:
    if settings.data_dir is None:
        train, val = dataset.load(s["samples"], s["size"], s["seed"])
        return dataset, train, val
    folder = load_folder(settings.data_dir, s["size"], s["seed"])
    train = folder.train if s["samples"] is None else folder.train.take(slice(0, s["samples"]))
    dataset = replace(dataset, num_classes=folder.num_classes, in_channels=folder.in_channels)
    return dataset, train, folder.val


def run_comparison(settings: CompareSettings, progress: Progress | None = None) -> Comparison:
    """Train the task's model once per loss and seed, and collect the results.

    Every loss is built (and checked) before training starts. The run is a function of ``settings``: the
    data, the initial weights and the batch order derive from the seeds.
    """
    task, dataset, s = resolve(settings)
    dataset, train, val = _load(dataset, settings, s)
    labelled = task.name != "registration"
    counts = torch.bincount(train.y.flatten(), minlength=dataset.num_classes).tolist() if labelled else None
    # A class absent from a small training subset gets a pseudo-count of 1: priors and effective numbers
    # need every class to be positive (the losses say so too), and one sample changes little else.
    stats = None if counts is None else [max(c, 1) for c in counts]
    cases = prepare_losses(
        list(settings.losses or task.default_losses), num_classes=dataset.num_classes, class_counts=stats
    )
    for case in cases:
        task.check(case)
    data: dict[str, Any] = {"train": len(train), "val": len(val)}
    if counts is not None:
        data.update(class_counts=counts, rare_share=min(c for c in counts if c) / sum(counts))
    seeds = [s["seed"] + k for k in range(s["seeds"])]
    results = []
    with _deterministic(settings.threads):
        for case in cases:
            result = LossResult(label=case.label, config=_config_of(case))
            if progress:
                steps = s["epochs"] * max(1, len(train) // s["batch_size"]) * len(seeds)
                progress.start(case.label, steps)
            result.runs = [_train_one(task, dataset, case, (train, val), s, seed, progress) for seed in seeds]
            if progress:
                progress.finish(result)
            results.append(result)
    return Comparison(task, dataset, s, data, results)
