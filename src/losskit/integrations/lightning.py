"""Lightning: a callback that keeps losskit's schedules in step with the trainer and logs every term.

::

    from losskit.integrations.lightning import LossKitCallback
    trainer = lightning.Trainer(callbacks=[LossKitCallback()])

For every losskit loss found on the LightningModule when the trainer sets up (a :class:`~losskit.CombinedLoss` or
a loss with scheduled parameters, at any depth; nested ones are stepped by their parent), before each training
batch the callback sets
the loss's step to ``trainer.global_step`` (so schedules follow the optimizer steps, gradient accumulation and a
resumed run included), and after each batch it logs, from the loss's last forward::

    train/loss/<term>     the term's value           train/weight/<term>   its current weight
    val/loss/<term>       (validation: epoch means)  val/weight/<term>

With several losses on one module, the keys name the attribute: ``train/loss/<attribute>/<term>``. LightningCLI
configs: ``build_loss`` takes ``{"class_path": ..., "init_args": {...}}``, so ``model.loss`` can be a losskit
spec in any format (annotate the argument ``losskit.integrations.lightning.LossSpec``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

try:
    import lightning.pytorch as pl
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("losskit.integrations.lightning needs Lightning: pip install 'losskit[lightning]'") from exc

from ..compose.combined import CombinedLoss
from ..compose.scheduled import ScheduledLoss

__all__ = ["LossKitCallback", "LossSpec", "find_losses"]

#: The type to annotate a LightningModule's loss argument with: any spec ``build_loss`` takes from a config.
LossSpec = str | dict[str, Any]


def find_losses(module: nn.Module) -> dict[str, CombinedLoss | ScheduledLoss]:
    """``{attribute path: loss}`` for the outermost losskit losses that step or report terms."""
    found: dict[str, CombinedLoss | ScheduledLoss] = {}
    for name, sub in module.named_modules():
        if isinstance(sub, (CombinedLoss, ScheduledLoss)) and not any(name.startswith(f"{p}.") for p in found):
            found[name] = sub
    return found


class LossKitCallback(pl.Callback):
    """Steps losskit's schedules with ``trainer.global_step`` and logs each term and weight.

    Args:
        log: log the terms and weights (``False``: only keep the schedules in step).
        train_prefix, val_prefix: the first part of the logged keys.
    """

    def __init__(self, log: bool = True, train_prefix: str = "train", val_prefix: str = "val") -> None:
        super().__init__()
        self.log, self.train_prefix, self.val_prefix = log, train_prefix, val_prefix
        self._losses: dict[str, CombinedLoss | ScheduledLoss] = {}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # once per fit/validate/test: walking every submodule of a large model on each batch is wasted work
        self._losses = find_losses(pl_module)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        for loss in self._losses.values():
            if loss.step_count != trainer.global_step:
                loss.set_step(trainer.global_step)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        self._log(pl_module, self.train_prefix, on_step=True)

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, idx: int, dl: int = 0
    ) -> None:
        self._log(pl_module, self.val_prefix, on_step=False)

    def _log(self, pl_module: pl.LightningModule, prefix: str, *, on_step: bool) -> None:
        if not self.log:
            return
        losses = self._losses
        for attr, loss in losses.items():
            where = f"/{attr}" if len(losses) > 1 else ""
            metrics: dict[str, Any] = {}
            if isinstance(loss, CombinedLoss):
                metrics.update({f"{prefix}/loss{where}/{k}": v for k, v in loss.last_terms.items()})
                metrics.update({f"{prefix}/weight{where}/{k}": v for k, v in loss.current_weights().items()})
            else:
                metrics.update({f"{prefix}/param{where}/{k}": v for k, v in loss.current_values().items()})
            if metrics:
                pl_module.log_dict(metrics, on_step=on_step, on_epoch=not on_step, batch_size=1)
