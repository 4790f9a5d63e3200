"""The training loop: the same model, data and batch order, once per loss; validation metrics per epoch."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from ..compose.calling import call_loss
from ..config import to_config
from ..errors import ConfigError
from .specs import LossCase, one_hot, prepare_losses, wants_one_hot, wants_probabilities
from .tasks import Task, get_task

__all__ = ["CompareSettings", "LossResult", "Comparison", "Progress", "run_comparison"]


@dataclass(frozen=True)
class CompareSettings:
    """What to compare and how long to train; ``None`` means the task's default."""

    task: str = "segmentation"
    losses: Sequence[Any] | None = None
    epochs: int | None = None
    seed: int = 0
    samples: int | None = None
    size: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    #: torch CPU threads during the run. One by default: the model is too small to gain much from more, and
    #: a fixed count keeps the floating-point reduction order, hence results.json, the same on any machine.
    threads: int | None = 1

    def resolved(self) -> dict[str, Any]:
        """The settings with every default filled in from the task (what the report records)."""
        task = get_task(self.task)
        return {
            "task": task.name,
            "epochs": self.epochs if self.epochs is not None else task.epochs,
            "seed": self.seed,
            "samples": self.samples if self.samples is not None else task.samples,
            "size": self.size if self.size is not None else task.size,
            "batch_size": self.batch_size if self.batch_size is not None else task.batch_size,
            "lr": self.lr if self.lr is not None else task.lr,
            "threads": self.threads,
        }


@dataclass
class LossResult:
    """The outcome of training with one loss. ``history`` holds one value per epoch for each key."""

    label: str
    config: Any
    final_train_loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    ms_per_step: float | None = None
    seconds: float | None = None
    error: str | None = None


@dataclass
class Comparison:
    """Every loss's result, plus what was run."""

    task: Task
    settings: dict[str, Any]
    dataset: dict[str, Any]
    results: list[LossResult]

    @property
    def winner(self) -> str | None:
        """The label with the best final value of the task's deciding metric (first one on a tie); ``None``
        when nothing finished or every loss scored the same (nothing to choose between)."""
        done = [r for r in self.results if r.error is None and r.metrics]
        scores = {r.metrics[self.task.primary] for r in done}
        if not done or (len(scores) == 1 and len(done) > 1):
            return None
        return max(done, key=lambda r: r.metrics[self.task.primary]).label

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.name,
            "description": self.task.description,
            "metric": self.task.primary,
            "metrics": list(self.task.metrics),
            "settings": self.settings,
            "dataset": self.dataset,
            "winner": self.winner,
            "results": [asdict(r) for r in self.results],
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


def _evaluate(
    task: Task, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 64
) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])
    model.train()
    return task.evaluate(logits, y)


def _train_one(
    task: Task, case: LossCase, data: tuple[Any, Any], s: dict[str, Any], progress: Progress | None
) -> LossResult:
    train, val = data
    result = LossResult(label=case.label, config=_config_of(case))
    torch.manual_seed(s["seed"])  # the same initial weights for every loss
    model = task.make_model(s["size"])
    optimiser = torch.optim.Adam(model.parameters(), lr=s["lr"])
    order = torch.Generator().manual_seed(s["seed"])  # the same batch order for every loss
    dense = wants_one_hot(case.module)
    # A loss that takes probabilities gets the model's logits activated: a sigmoid per class against one-hot
    # targets, a softmax over the classes against class indices.
    activate = (torch.sigmoid if dense else lambda z: torch.softmax(z, 1)) if wants_probabilities(case.module) else None
    steps_per_epoch = max(1, len(train) // s["batch_size"])
    if progress:
        progress.start(case.label, s["epochs"] * steps_per_epoch)
    history: dict[str, list[float]] = {"train_loss": [], **{m: [] for m in task.metrics}}
    step_time, steps, started = 0.0, 0, time.perf_counter()
    try:
        for epoch in range(s["epochs"]):
            total, count = 0.0, 0
            for idx in _batches(len(train), s["batch_size"], order):
                x, y = train.x[idx], train.y[idx]
                target = one_hot(y, task.num_classes) if dense else y
                t0 = time.perf_counter()
                out = model(x)
                loss = call_loss(case.module, activate(out) if activate else out, target)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
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
            for name, value in _evaluate(task, model, val.x, val.y).items():
                if name in history:
                    history[name].append(value)
            if progress:
                progress.advance(case.label, epoch + 1, {m: history[m][-1] for m in task.metrics})
    except Exception as exc:  # one failing loss must not sink the comparison; it is reported as failed
        result.error = f"{type(exc).__name__}: {exc}"
    result.history = history
    if history["train_loss"]:
        result.final_train_loss = history["train_loss"][-1]
        result.metrics = {m: history[m][-1] for m in task.metrics}
    result.ms_per_step = 1000 * step_time / steps if steps else None
    result.seconds = time.perf_counter() - started
    if progress:
        progress.finish(result)
    return result


def _config_of(case: LossCase) -> Any:
    try:
        return to_config(case.module)
    except ConfigError:
        return case.spec if isinstance(case.spec, (str, dict, list)) else repr(case.spec)


def run_comparison(settings: CompareSettings, progress: Progress | None = None) -> Comparison:
    """Train the task's model once per loss and collect the results.

    Every loss is built (and checked) before training starts. The run is a function of ``settings``: the
    data, the initial weights and the batch order derive from ``settings.seed``.
    """
    task = get_task(settings.task)
    s = settings.resolved()
    if s["epochs"] < 1 or s["samples"] < 1 or s["batch_size"] < 1:
        raise ValueError("epochs, samples and batch_size must be positive")
    if task.size and (s["size"] < 8 or s["size"] % 4):
        raise ValueError(f"size must be a multiple of 4 and at least 8 (the U-Net pools twice), got {s['size']}")
    train, val = task.make_data(s["samples"], s["size"], s["seed"])
    counts = torch.bincount(train.y.flatten(), minlength=task.num_classes).tolist()
    cases = prepare_losses(
        list(settings.losses or task.default_losses), num_classes=task.num_classes, class_counts=counts
    )
    dataset = {
        "train": len(train),
        "val": len(val),
        "class_counts": counts,
        "rare_share": min(counts) / sum(counts),
    }
    with _deterministic(settings.threads):
        results = [_train_one(task, case, (train, val), s, progress) for case in cases]
    return Comparison(task, s, dataset, results)
