"""A config is data, not code: known bypasses of string-to-callable configs are refused and nothing runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import losskit
from losskit import ConfigError
from losskit.config.targets import resolve_target


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the dangerous callables by recorders: a refused config must never reach them."""
    import builtins
    import os
    import subprocess

    calls: list[str] = []

    def record(name: str):  # type: ignore[no-untyped-def]
        def fake(*args: object, **kwargs: object) -> None:
            calls.append(name)

        return fake

    monkeypatch.setattr(os, "system", record("os.system"))
    monkeypatch.setattr(subprocess, "Popen", record("subprocess.Popen"))
    monkeypatch.setattr(subprocess, "run", record("subprocess.run"))
    monkeypatch.setattr(builtins, "eval", record("eval"))
    monkeypatch.setattr(builtins, "exec", record("exec"))
    return calls


@pytest.mark.parametrize(
    "target",
    [
        "os.system",
        "logging.os.system",  # Hydra GHSA-37p2-j732-x8pj: an alias path to os.system
        "builtins.eval",
        "builtins.exec",
        "subprocess.Popen",
        "subprocess.run",
        "shutil.rmtree",
        "importlib.import_module",
        "pathlib.Path",
    ],
)
def test_dangerous_targets_are_refused_before_import(target: str, tripwire: list[str]) -> None:
    root = target.split(".")[0]
    was_loaded = root in sys.modules
    with pytest.raises(ConfigError, match="refused"):
        losskit.build_loss({"_target_": target, "args": "touch /tmp/pwned"})
    assert tripwire == []
    if not was_loaded:
        assert root not in sys.modules, "the package was imported before the target was refused"


@pytest.mark.parametrize(
    "target",
    [
        "torch.serialization.os.system",  # allowed package, alias path into os
        "torch.load",  # a function, not a loss
        "torch.Tensor",  # a class, not an nn.Module
        "torch.nn.functional.mse_loss",  # a module-level function
        "torch.nn.modules.module.sys",  # a module
        "losskit.config.builder.build_loss",
    ],
)
def test_allowed_packages_still_only_yield_module_classes(target: str, tripwire: list[str]) -> None:
    with pytest.raises(ConfigError, match="refused|non-module|no attribute"):
        losskit.build_loss({"_target_": target})
    assert tripwire == []


def test_allow_imports_widens_packages_but_never_to_non_modules(tripwire: list[str]) -> None:
    with pytest.raises(ConfigError, match="not a loss class"):
        losskit.build_loss({"_target_": "os.system"}, allow_imports=losskit.ImportPolicy(any_package=True))
    with pytest.raises(ConfigError, match="not a loss class"):
        policy = losskit.ImportPolicy(packages=["subprocess"])
        losskit.build_loss({"_target_": "subprocess.Popen"}, allow_imports=policy)
    assert tripwire == []


@pytest.mark.parametrize("value", [True, False, "monai", ["unittest"], ("os",), {"packages": ["x"]}, 1])
def test_allow_imports_only_takes_a_policy_made_in_code(value: object) -> None:
    """What a config could pass through **params is refused, saying why (issue 9, finding 2)."""
    with pytest.raises(ConfigError, match="ImportPolicy made in code") as info:
        losskit.build_loss("mse", allow_imports=value)
    assert "config" in str(info.value)
    with pytest.raises(ConfigError, match="ImportPolicy made in code"):
        losskit.build_loss("unittest.__main__.X", **{"allow_imports": value})
    with pytest.raises(ConfigError):
        losskit.ImportPolicy(packages="monai")  # type: ignore[arg-type]  # a string is not a list of packages
    with pytest.raises(ConfigError):
        losskit.ImportPolicy(packages=["_private"])


def test_allowed_dotted_paths_build() -> None:
    assert isinstance(losskit.build_loss({"_target_": "torch.nn.SmoothL1Loss", "beta": 0.5}), nn.SmoothL1Loss)
    assert isinstance(losskit.build_loss({"_target_": "losskit.zoo.regression.MSELoss"}), nn.MSELoss)
    assert resolve_target("torch.nn.modules.loss.L1Loss") is nn.L1Loss


def test_extra_modules_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_losses_pkg.py").write_text(
        "import torch\nfrom torch import nn\n\nclass Scaled(nn.Module):\n    def __init__(self, s: float = 1.0):\n"
        "        super().__init__()\n        self.s = s\n\n    def forward(self, a, b):\n"
        "        return self.s * (a - b).abs().mean()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="allow_imports"):
        losskit.build_loss({"_target_": "my_losses_pkg.Scaled"})
    assert "my_losses_pkg" not in sys.modules
    policy = losskit.ImportPolicy(packages=["my_losses_pkg"])
    loss = losskit.build_loss({"_target_": "my_losses_pkg.Scaled", "s": 2.0}, allow_imports=policy)
    assert loss.s == 2.0
    # parameters of imported classes are validated too
    with pytest.raises(ConfigError, match="Did you mean 's'"):
        any_package = losskit.ImportPolicy(any_package=True)
        losskit.build_loss({"_target_": "my_losses_pkg.Scaled", "ss": 2.0}, allow_imports=any_package)


def test_malformed_dotted_paths() -> None:
    for target in ["os.system; rm -rf /", "torch..nn", "__import__('os').system", "torch.nn.NoSuchLoss"]:
        with pytest.raises((ConfigError, losskit.UnknownLossError)):
            losskit.build_loss({"_target_": target})


PYTHON_TAGS = [
    "!!python/object/apply:os.system ['touch /tmp/pwned']",
    "!!python/object/new:subprocess.Popen [['touch', '/tmp/pwned']]",
    "!!python/name:builtins.eval",
    "name: !!python/object/apply:builtins.eval ['1+1']",
    "_target_: !!python/module:os",
]


@pytest.mark.parametrize("document", PYTHON_TAGS)
def test_yaml_python_tags_are_refused(document: str, tmp_path: Path, tripwire: list[str]) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(document)
    with pytest.raises(ConfigError, match="only plain data"):
        losskit.build_loss(str(path))
    assert tripwire == []


def test_a_config_cannot_call_a_registered_function_with_code() -> None:
    """Values are data: a string parameter is never evaluated or imported."""
    loss = losskit.build_loss({"name": "cross_entropy", "reduction": "mean"})
    with pytest.raises(ConfigError, match="expects"):
        losskit.build_loss({"name": "cross_entropy", "weight": "__import__('os').system('x')"})
    assert isinstance(loss(torch.randn(2, 3), torch.tensor([0, 1])), torch.Tensor)


@pytest.mark.parametrize("key", ["_target_", "type", "class", "name"])
@pytest.mark.parametrize(
    "target", ["torch.utils.model_dump.__main__.X", "torch.utils.bottleneck.X", "unittest.__main__.X"]
)
def test_every_spec_format_resolves_without_importing(key: str, target: str) -> None:
    """Issue 9, finding 1, in-process: whichever key names the target, nothing is imported."""
    before = set(sys.modules)
    with pytest.raises(ConfigError, match="refused"):
        losskit.build_loss({key: target})
    with pytest.raises(ConfigError, match="refused"):
        losskit.build_loss({"losses": {"a": {key: target}}})
    assert set(sys.modules) == before


def test_contract_copy_is_exact() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "CONTRACT.md"
    if not shared.exists():
        pytest.skip("no ../shared/CONTRACT.md next to this checkout")
    assert (Path(__file__).resolve().parents[1] / "docs" / "contract.md").read_text() == shared.read_text()
