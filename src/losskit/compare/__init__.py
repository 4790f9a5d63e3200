"""The loss comparison runner behind ``losskit compare``.

Trains the same small model once per loss and seed, on real data read from installed packages (the
``[data]`` extra) or on synthetic data generated on the fly, and reports the validation metrics that matter
for the task, mean ± std over the seeds::

    from losskit.compare import CompareSettings, run_comparison, write_all
    result = run_comparison(CompareSettings(task="segmentation", losses=["cross_entropy", "dice"]))
    write_all(result, "compare-results")   # results.md, results.json, curves.png (needs matplotlib)

Loss parameters that depend on the task (``num_classes``, ``mode``, class statistics) are filled in from
what each loss declares, never from a list of loss names.
"""

from __future__ import annotations

from .datasets import DATASETS, Dataset
from .report import reproduce_command, summary_columns, summary_rows, write_all
from .runner import CompareSettings, Comparison, LossResult, Progress, SeedRun, resolve, run_comparison
from .specs import fit_spec, read_loss_list, spec_label, task_params
from .stats import Verdict, judge, mean_std
from .tasks import TASKS, Task, get_dataset, get_task, known_datasets

__all__ = [
    "DATASETS",
    "Dataset",
    "SeedRun",
    "resolve",
    "reproduce_command",
    "spec_label",
    "Verdict",
    "judge",
    "mean_std",
    "get_dataset",
    "known_datasets",
    "CompareSettings",
    "Comparison",
    "LossResult",
    "Progress",
    "run_comparison",
    "write_all",
    "summary_columns",
    "summary_rows",
    "read_loss_list",
    "fit_spec",
    "task_params",
    "TASKS",
    "Task",
    "get_task",
]
