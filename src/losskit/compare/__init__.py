"""The loss comparison runner behind ``losskit compare``.

Trains the same small model once per loss on a synthetic dataset generated on the fly, and reports the
validation metric that matters for the task::

    from losskit.compare import CompareSettings, run_comparison, write_all
    result = run_comparison(CompareSettings(task="segmentation", losses=["cross_entropy", "dice"]))
    write_all(result, "compare-results")   # results.md, results.json, curves.png (needs matplotlib)

Loss parameters that depend on the task (``num_classes``, ``mode``, class statistics) are filled in from
what each loss declares, never from a list of loss names.
"""

from __future__ import annotations

from .report import summary_columns, summary_rows, write_all
from .runner import CompareSettings, Comparison, LossResult, Progress, run_comparison
from .specs import fit_spec, read_loss_list, task_params
from .tasks import TASKS, Task, get_task

__all__ = [
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
