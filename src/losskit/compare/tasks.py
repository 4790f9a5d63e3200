"""The comparison tasks: which data, which model, which metrics and which losses by default.

A task knows nothing about particular losses: the parameters a loss gets (``num_classes``, ``mode``, class
statistics) are decided from what the loss declares, in :mod:`losskit.compare.specs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .data import Split, make_cracks, make_imbalanced_blobs
from .models import SmallMLP, TinyUNet

__all__ = ["Task", "TASKS", "get_task", "segmentation_metrics", "classification_metrics"]


@dataclass(frozen=True)
class Task:
    """Everything task-specific the runner needs.

    Attributes:
        name: the task's name (``--task``).
        description: one line for reports.
        num_classes: number of output channels / classes of the model.
        default_losses: losses compared when none are given.
        metrics: metric names reported, the deciding one (higher is better) first.
        metric_labels: readable names of the metrics, for tables and plots.
        epochs, samples, size, batch_size, lr: defaults of the run (``size`` is the image side; unused by
            tasks without images).
        make_data: ``(samples, size, seed) -> (train, val)``.
        make_model: ``(size) -> model``; called right after seeding, so every loss starts from the same weights.
        evaluate: ``(logits, targets) -> {metric: value}`` over the whole validation set.
    """

    name: str
    description: str
    num_classes: int
    default_losses: tuple[str, ...]
    metrics: tuple[str, ...]
    metric_labels: dict[str, str]
    epochs: int
    samples: int
    size: int
    batch_size: int
    lr: float
    make_data: Callable[[int, int, int], tuple[Split, Split]]
    make_model: Callable[[int], nn.Module]
    evaluate: Callable[[torch.Tensor, torch.Tensor], dict[str, float]]

    @property
    def primary(self) -> str:
        return self.metrics[0]


def segmentation_metrics(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Rare-class (foreground, class 1) IoU and Dice, pooled over every pixel of the set.

    Pooling (rather than averaging per image) keeps images with no crack from contributing 0/0.
    """
    pred = logits.argmax(1) == 1
    truth = target == 1
    tp = (pred & truth).sum().item()
    fp = (pred & ~truth).sum().item()
    fn = (~pred & truth).sum().item()
    return {
        "iou": tp / (tp + fp + fn) if tp + fp + fn else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
    }


def classification_metrics(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Macro-F1 over classes, recall of the rarest class (in ``target``), and accuracy."""
    c = logits.shape[1]
    pred = logits.argmax(1)
    f1s, recalls = [], []
    for k in range(c):
        tp = ((pred == k) & (target == k)).sum().item()
        fp = ((pred == k) & (target != k)).sum().item()
        fn = ((pred != k) & (target == k)).sum().item()
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
        recalls.append(tp / (tp + fn) if tp + fn else 1.0)
    rarest = int(torch.bincount(target, minlength=c).argmin())
    return {
        "macro_f1": sum(f1s) / c,
        "minority_recall": recalls[rarest],
        "accuracy": (pred == target).float().mean().item(),
    }


def _crack_data(samples: int, size: int, seed: int) -> tuple[Split, Split]:
    # Validation is a quarter of the training size (at least 8), from a disjoint seed stream.
    return make_cracks(samples, size, seed=seed), make_cracks(max(8, samples // 4), size, seed=seed + 10_000)


def _blob_data(samples: int, size: int, seed: int) -> tuple[Split, Split]:
    return make_imbalanced_blobs(samples, seed=seed), make_imbalanced_blobs(max(64, samples // 2), seed=seed, split=1)


SEGMENTATION = Task(
    name="segmentation",
    description="thin random cracks on textured noise (about 2% foreground), tiny U-Net, 2-class logits",
    num_classes=2,
    default_losses=("cross_entropy", "dice", "focal_pixelwise", "combined_segmentation", "lovasz"),
    metrics=("iou", "dice", "recall"),
    metric_labels={"iou": "crack IoU", "dice": "crack Dice", "recall": "crack recall"},
    epochs=8,
    samples=128,
    size=64,
    batch_size=8,
    lr=1e-2,
    make_data=_crack_data,
    make_model=lambda size: TinyUNet(in_channels=1, num_classes=2, width=8),
    evaluate=segmentation_metrics,
)

CLASSIFICATION = Task(
    name="classification",
    description="long-tailed Gaussian clusters (4 classes, shares 70/16/9/5%), small MLP",
    num_classes=4,
    default_losses=("cross_entropy", "focal", "logit_adjusted_cross_entropy", "asymmetric", "poly"),
    metrics=("macro_f1", "minority_recall", "accuracy"),
    metric_labels={"macro_f1": "macro-F1", "minority_recall": "minority recall", "accuracy": "accuracy"},
    epochs=15,
    samples=2000,
    size=0,
    batch_size=64,
    lr=3e-3,
    make_data=_blob_data,
    make_model=lambda size: SmallMLP(16, 4),
    evaluate=classification_metrics,
)

TASKS: dict[str, Task] = {t.name: t for t in (SEGMENTATION, CLASSIFICATION)}


def get_task(name: str) -> Task:
    """The task called ``name``; a ``ValueError`` listing the known ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown comparison task {name!r}; choose from {', '.join(TASKS)}") from None
