"""The comparison tasks and their datasets: which data, which model, how a loss is fed, which metrics.

A task knows nothing about particular losses: the parameters a loss gets (``num_classes``, ``mode``, class
statistics) and the form of its inputs (one-hot or indices, logits or probabilities, images or masks) are
decided from what the loss declares (:mod:`losskit.compare.specs`).
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..compose.calling import CallPlan, call_loss, loss_label
from ..discovery import describe_loss
from ..errors import ConfigError
from .data import Split
from .datasets import DATASETS, Dataset
from .metrics import classification_metrics, segmentation_metrics
from .models import SmallMLP, TinyUNet
from .registration import registration_metrics, warp
from .specs import LossCase, one_hot, wants_one_hot, wants_probabilities

__all__ = ["Task", "TASKS", "get_task", "get_dataset", "known_datasets"]


@dataclass(frozen=True)
class Task:
    """Everything task-specific the runner needs.

    Attributes:
        name: the task's name (``--task``).
        description: one line for reports.
        default_losses: losses compared when none are given.
        metrics: metric names reported, the deciding one first.
        metric_labels: readable names, ``{target}`` standing for the dataset's target (``grey-matter IoU``).
        lower_is_better: the metrics where less is better (the deciding one is always higher-is-better).
        datasets: names of the task's datasets in :data:`~losskit.compare.datasets.DATASETS`; the first
            real one whose package is installed is the default, else the first synthetic one.
        make_model: ``(dataset) -> model``; called right after seeding, so every loss starts from the same weights.
        loss_value: ``(case, model, batch, dataset) -> loss`` for one training batch.
        predict: ``(model, x) -> output`` at evaluation (logits or a field).
        evaluate: ``(output, split, dataset, final) -> {metric: value}`` over the whole validation set; the
            costly metrics (clDice's skeletons) only when ``final`` (after the last epoch).
        check: ``(case) -> None``, raises a :class:`ConfigError` for a loss the task cannot train (before training).
    """

    name: str
    description: str
    default_losses: tuple[str, ...]
    metrics: tuple[str, ...]
    metric_labels: dict[str, str]
    lower_is_better: frozenset[str]
    datasets: tuple[str, ...]
    make_model: Callable[[Dataset], nn.Module]
    loss_value: Callable[[LossCase, nn.Module, Split, Dataset], torch.Tensor]
    evaluate: Callable[[torch.Tensor, Split, Dataset, bool], dict[str, float]]
    check: Callable[[LossCase], None] = lambda case: None

    @property
    def primary(self) -> str:
        return self.metrics[0]

    def label(self, metric: str, dataset: Dataset) -> str:
        """The readable name of ``metric`` on ``dataset``, with its direction when lower is better."""
        text = self.metric_labels[metric].format(target=dataset.target)
        return f"{text} (lower is better)" if metric in self.lower_is_better else text


def _labelled_loss(case: LossCase, model: nn.Module, batch: Split, dataset: Dataset) -> torch.Tensor:
    """Segmentation and classification: the model's logits (activated when the loss wants probabilities)
    against class indices, or one-hot targets when the loss declares float targets."""
    dense = wants_one_hot(case.module)
    out = model(batch.x)
    if wants_probabilities(case.module):
        out = torch.sigmoid(out) if dense else torch.softmax(out, 1)
    target = one_hot(batch.y, dataset.num_classes) if dense else batch.y
    value: torch.Tensor = call_loss(case.module, out, target)
    return value


@functools.cache
def _tagged_segmentation(name: str) -> bool:
    try:
        return "segmentation" in describe_loss(name).tags
    except ConfigError:
        return False


def _compares_masks(module: nn.Module) -> bool:
    """A registration loss tagged ``segmentation`` compares warped masks, not intensities (e.g. dice_smooth)."""
    return _tagged_segmentation(loss_label(module))


def _registration_loss(case: LossCase, model: nn.Module, batch: Split, dataset: Dataset) -> torch.Tensor:
    """Warp the moving image (or mask) by the predicted field; the loss sees ``(warped, fixed, pred_dvf=...,
    gt_dvf=...)`` through :func:`~losskit.call_loss`, which passes each loss the inputs it declares."""
    ddf = model(batch.x)
    if batch.masks is None:
        raise ValueError("registration batches carry masks")
    if _compares_masks(case.module):
        warped, fixed = warp(batch.masks[:, :1], ddf), batch.masks[:, 1:2]
    else:
        warped, fixed = warp(batch.x[:, :1], ddf), batch.x[:, 1:2]
    value: torch.Tensor = call_loss(case.module, warped, fixed, pred_dvf=ddf, gt_dvf=batch.y)
    return value


def _check_pairwise(case: LossCase) -> None:
    """A registration loss compares ``(warped, fixed)``; a regulariser of the field alone cannot be trained here."""
    plan = CallPlan.of(case.module)
    if not plan.varargs and len(plan.positional) < 2:
        takes = ", ".join(plan.positional) or "no positional input"
        raise ConfigError(
            f"loss {case.label!r} takes only ({takes}): a regulariser of the displacement field alone, which "
            "registration cannot be trained on. The comparison feeds (warped, fixed, pred_dvf=..., gt_dvf=...): "
            "choose a similarity loss (lncc, mse, mutual_information) or one with a field term (lncc_dvf, dice_smooth)"
        )


def _registration_model(dataset: Dataset) -> nn.Module:
    model = TinyUNet(in_channels=2, num_classes=2, width=8)
    with torch.no_grad():  # start from the identity map: a zero field
        model.head.weight.zero_()
        if model.head.bias is not None:
            model.head.bias.zero_()
    return model


SEGMENTATION = Task(
    name="segmentation",
    description="2-class segmentation of a thin, rare structure with a tiny U-Net",
    default_losses=("cross_entropy", "dice", "focal_pixelwise", "combined_segmentation", "lovasz", "cldice"),
    metrics=("iou", "dice", "cldice", "recall"),
    metric_labels={"iou": "{target} IoU", "dice": "{target} Dice", "cldice": "clDice", "recall": "{target} recall"},
    lower_is_better=frozenset(),
    datasets=("mni152", "cracks"),
    make_model=lambda d: TinyUNet(in_channels=d.in_channels, num_classes=d.num_classes, width=8),
    loss_value=_labelled_loss,
    evaluate=lambda logits, split, d, final: segmentation_metrics(logits, split.y, skeletons=final),
)

CLASSIFICATION = Task(
    name="classification",
    description="long-tailed classification with a small MLP",
    default_losses=("cross_entropy", "focal", "logit_adjusted_cross_entropy", "asymmetric", "poly"),
    metrics=("macro_f1", "minority_recall", "accuracy"),
    metric_labels={"macro_f1": "macro-F1", "minority_recall": "minority recall", "accuracy": "accuracy"},
    lower_is_better=frozenset(),
    datasets=("digits", "blobs"),
    make_model=lambda d: SmallMLP(d.in_channels, d.num_classes),
    loss_value=_labelled_loss,
    evaluate=lambda logits, split, d, final: classification_metrics(logits, split.y, d.rare_class),
)

REGISTRATION = Task(
    name="registration",
    description="2D deformable registration of image pairs related by a known smooth field, tiny U-Net",
    default_losses=("mse", "lncc", "mutual_information", "lncc_dvf", "dice_smooth"),
    metrics=("dice", "epe", "folding"),
    metric_labels={"dice": "{target} Dice after warping", "epe": "end-point error (px)", "folding": "folding share"},
    lower_is_better=frozenset({"epe", "folding"}),
    datasets=("mni152-pairs", "cracks-pairs"),
    make_model=_registration_model,
    loss_value=_registration_loss,
    evaluate=lambda ddf, split, d, final: registration_metrics(ddf, split),
    check=_check_pairwise,
)

TASKS: dict[str, Task] = {t.name: t for t in (SEGMENTATION, CLASSIFICATION, REGISTRATION)}


def _unknown(kind: str, name: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown comparison {kind} {name!r}{hint} Choose from: {', '.join(known)}")


def get_task(name: str) -> Task:
    """The task called ``name``; a :class:`ConfigError` with the known ones (and a did-you-mean) otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise _unknown("task", name, list(TASKS)) from None


def known_datasets(task: Task) -> list[Dataset]:
    return [DATASETS[name] for name in task.datasets]


def get_dataset(task: Task, name: str | None) -> Dataset:
    """``name`` among the task's datasets; ``None``: the first real one that is installed, else the first
    synthetic one (:attr:`Dataset.fallback_note` then says why)."""
    if name is None:
        options = known_datasets(task)
        real = [d for d in options if d.real]
        for dataset in real:
            if dataset.available():
                return dataset
        synthetic = next(d for d in options if not d.real)
        if not real:
            return synthetic
        missing = ", ".join(m for m in real[0].requires if importlib.util.find_spec(m) is None) or "its packages"
        return replace(synthetic, fallback_note=f"{real[0].name} needs {missing}: pip install 'losskit[data]'")
    if name not in task.datasets:
        raise _unknown(f"dataset for {task.name}", name, list(task.datasets))
    return DATASETS[name]
