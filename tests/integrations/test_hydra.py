"""Issue 15: losskit's structured configs in Hydra's ConfigStore, composed and instantiated through real Hydra."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("hydra")
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.errors import ConfigCompositionException, InstantiationException  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

import losskit  # noqa: E402
from losskit.integrations.hydra import register_configs  # noqa: E402


def test_compose_and_instantiate_every_way(tmp_path: Path) -> None:
    stored = register_configs()
    builtins = [e.name for e in losskit.LOSSES.entries() if e.source.startswith("losskit.") and e.name != "combined"]
    assert set(builtins) <= set(stored)
    (tmp_path / "train.yaml").write_text("defaults:\n  - loss: dice\n  - _self_\n", encoding="utf-8")
    with initialize_config_dir(config_dir=str(tmp_path), version_base=None):
        cfg = compose("train", overrides=["loss=dice", "loss.smooth=0.5"])
        loss = instantiate(cfg.loss)
        assert isinstance(loss, losskit.zoo.segmentation.DiceLoss)
        assert losskit.to_config(loss)["smooth"] == 0.5
        focal = instantiate(compose("train", overrides=["loss=focal", "loss.gamma=3"]).loss)
        assert losskit.to_config(focal)["gamma"] == 3.0
        with pytest.raises(ConfigCompositionException, match="smoth"):
            compose("train", overrides=["loss.smoth=0.5"])
        with pytest.raises(ConfigCompositionException):
            compose("train", overrides=["loss=focal", "loss.gamma=abc"])
        with pytest.raises(InstantiationException, match="ConfigError.*reduction"):  # losskit's own check
            instantiate(compose("train", overrides=["loss.reduction=avg"]).loss)
