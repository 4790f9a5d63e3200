"""Entry-point plugins, with real installed distributions (tests/plugins/*, installed by `make`)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest
import torch

import losskit
from losskit import RegistrationError

from .conftest import subprocess_env

pytestmark = pytest.mark.skipif(
    not any(ep.name == "focal_dice_plugin" for ep in metadata.entry_points(group="losskit.losses")),
    reason="the test plugins are not installed (run `make test`, which installs tests/plugins/*)",
)


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=subprocess_env()
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_plugins_are_listed_and_found_without_importing_them() -> None:
    out = _run(
        "import sys, losskit\n"
        "names = losskit.list_losses('*plugin*')\n"
        "print(names, losskit.has_loss('focal_dice_plugin'), 'focal_dice_plugin' in losskit.LOSSES,\n"
        "      'losskit_demo_plugin.losses' in sys.modules, 'losskit_broken_plugin.bad' in sys.modules)\n"
    )
    assert out == (
        "['broken_plugin_loss', 'focal_dice_plugin', 'scaled_l1_plugin', 'tagged_plugin_loss'] True True False False"
    )


def test_plugin_is_imported_on_first_describe_or_build() -> None:
    out = _run(
        "import sys, losskit\n"
        "info = losskit.describe_loss('focal_dice_plugin')\n"
        "print(info.kind, info.source, 'losskit_demo_plugin.losses' in sys.modules)\n"
        "loss = losskit.build_loss({'name': 'focal_dice_plugin', 'gamma': 2.0})\n"
        "print(type(loss).__name__, loss.gamma)\n"
    )
    assert out.splitlines() == ["module losskit_demo_plugin.losses:FocalDice True", "FocalDice 2.0"]


def test_plugin_factory_and_validation() -> None:
    loss = losskit.build_loss("scaled_l1_plugin", scale=3.0)
    assert loss(torch.ones(2), torch.zeros(2)).item() == pytest.approx(3.0)
    with pytest.raises(losskit.ConfigError, match="Did you mean 'scale'"):
        losskit.build_loss("scaled_l1_plugin", scal=3.0)


def test_plugin_that_registers_itself_keeps_its_metadata() -> None:
    assert "tagged_plugin_loss" in losskit.list_losses(task="segmentation", tag="plugin")
    assert losskit.describe_loss("tagged_plugin_loss").tags == ("plugin",)


def test_broken_plugin_breaks_nothing_else() -> None:
    with pytest.raises(RegistrationError) as info:
        losskit.build_loss("broken_plugin_loss")
    assert "losskit-broken-plugin" in str(info.value) and "unobtainium_dependency" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)
    with pytest.raises(RegistrationError):  # same answer the second time (not a half-loaded state)
        losskit.describe_loss("broken_plugin_loss")
    assert isinstance(losskit.build_loss("focal_dice_plugin"), torch.nn.Module)
    assert "broken_plugin_loss" in losskit.list_losses()  # still listed by name
    assert "broken_plugin_loss" not in losskit.list_losses(task="segmentation")
    assert "mse" in losskit.loss_info()["regression"]


def test_plugin_packages_are_allowed_dotted_targets() -> None:
    loss = losskit.build_loss({"_target_": "losskit_demo_plugin.losses.FocalDice", "smooth": 0.5})
    assert type(loss).__name__ == "FocalDice" and loss.smooth == 0.5
