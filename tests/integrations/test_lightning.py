"""Issue 15: a real Lightning Trainer with LossKitCallback, and a LightningCLI parse of a losskit spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

pl = pytest.importorskip("lightning.pytorch")
from lightning.pytorch.cli import LightningCLI  # noqa: E402

import losskit  # noqa: E402
from losskit.integrations.lightning import LossKitCallback, LossSpec, find_losses  # noqa: E402


class TinySeg(pl.LightningModule):
    def __init__(self, loss: LossSpec = "dice", lr: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Conv2d(1, 3, 3, padding=1)
        self.loss = losskit.build_loss(loss)
        self.lr = lr

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        return torch.randn(2, 1, 8, 8, generator=g), torch.randint(0, 3, (2, 8, 8), generator=g)

    def training_step(self, batch: Any, idx: int) -> torch.Tensor:
        x, y = batch
        return self.loss(self.net(x), y)

    def validation_step(self, batch: Any, idx: int) -> None:
        x, y = batch
        self.loss(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def train_dataloader(self) -> Any:
        x, y = self._batch()
        return torch.utils.data.DataLoader(list(zip(x, y, strict=True)), batch_size=2)

    val_dataloader = train_dataloader


SPEC = {
    "losses": {"dice": "dice", "ce": "cross_entropy"},
    "weights": {"dice": 1.0, "ce": {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 4}},
}


def test_callback_steps_schedules_and_logs_terms_and_weights(tmp_path: Path) -> None:
    model = TinySeg(SPEC)
    trainer = pl.Trainer(
        max_steps=3,
        limit_val_batches=1,
        callbacks=[LossKitCallback()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    trainer.fit(model)
    assert model.loss.step_count == 2  # set from trainer.global_step before each of the 3 batches: 0, 1, 2
    logged = trainer.callback_metrics
    for key in ("train/loss/dice", "train/loss/ce", "train/weight/dice", "train/weight/ce", "val/loss/dice"):
        assert key in logged, sorted(logged)
    assert float(logged["train/weight/ce"]) == pytest.approx(0.5)
    assert float(logged["train/weight/dice"]) == 1.0


def test_fast_dev_run_with_the_callback(tmp_path: Path) -> None:
    model = TinySeg(SPEC)
    trainer = pl.Trainer(fast_dev_run=True, callbacks=[LossKitCallback()], default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(model)
    assert "train/loss/ce" in trainer.callback_metrics
    assert list(find_losses(model)) == ["loss"]


def test_lightning_cli_parses_a_losskit_spec_from_yaml(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "model:\n"
        "  loss:\n"
        "    class_path: dice\n"
        "    init_args:\n"
        "      smooth: 0.5\n"
        "trainer:\n"
        "  max_steps: 1\n"
        "  logger: false\n"
        "  enable_checkpointing: false\n",
        encoding="utf-8",
    )
    cli = LightningCLI(TinySeg, run=False, args=["--config", str(config)], save_config_callback=None)
    assert isinstance(cli.model.loss, losskit.zoo.segmentation.DiceLoss)
    assert losskit.to_config(cli.model.loss)["smooth"] == 0.5
    combined = tmp_path / "combined.yaml"
    combined.write_text(
        "model:\n  loss:\n    losses: {dice: dice, ce: cross_entropy}\n"
        "    weights: {ce: {schedule: cosine, start: 1.0, end: 0.0, steps: 10}}\n",
        encoding="utf-8",
    )
    cli = LightningCLI(TinySeg, run=False, args=["--config", str(combined)], save_config_callback=None)
    assert cli.model.loss.current_weights() == {"dice": 1.0, "ce": 1.0}
