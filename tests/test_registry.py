"""The generic Registry and the loss registration layer on top of it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn

import losskit
from losskit import RegistrationError, Registry, RegistryOverrideWarning, UnknownLossError
from losskit.registry import UnknownNameError

from .conftest import subprocess_env


class Dummy(nn.Module):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).abs().mean()


class Other(nn.Module):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).pow(2).mean()


# ---------------------------------------------------------------- generic registry
def test_generic_registry_holds_any_object() -> None:
    metrics: Registry[object] = Registry("metric")

    @metrics.register("acc", aliases=["accuracy"])
    def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
        return 1.0

    assert metrics.get("accuracy") is accuracy
    assert "acc" in metrics and "accuracy" in metrics and "nope" not in metrics
    assert list(metrics) == ["acc"] and len(metrics) == 1
    with pytest.raises(UnknownNameError, match="unknown metric 'acurracy'.*Did you mean 'accuracy'"):
        metrics.get("acurracy")
    assert isinstance(UnknownNameError("x"), KeyError)
    assert UnknownNameError is losskit.UnknownLossError  # one class for a missing name, the old name kept


def test_registry_describe_hook_checks_and_describes_what_is_added() -> None:
    def describe(obj: object) -> dict[str, object]:
        if not callable(obj):
            raise TypeError(f"not a metric: {obj!r}")
        return {"kind": "function", "tags": ()}

    metrics: Registry[object] = Registry("metric", describe=describe)
    entry = metrics.add("acc", len, metadata={"tags": ("x",)})
    assert dict(entry.metadata) == {"kind": "function", "tags": ("x",)}  # what is given wins
    with pytest.raises(TypeError, match="not a metric"):
        metrics.add("bad", 3)
    assert losskit.LOSSES.entry("dice").metadata["kind"] == "module"


def test_moved_error_classes_keep_their_old_import_names() -> None:
    from losskit.discovery import UnknownFilterError
    from losskit.testing import ExampleError, ExampleTooLarge
    from losskit.testing.budget import ExampleTooLarge as BudgetTooLarge

    assert UnknownFilterError is losskit.UnknownFilterError and ExampleError is losskit.ExampleError
    assert ExampleTooLarge is BudgetTooLarge is losskit.ExampleTooLarge
    assert issubclass(ExampleTooLarge, ExampleError) and issubclass(ExampleError, losskit.LossKitError)


def test_alias_never_shadows_a_name_or_alias() -> None:
    reg: Registry[object] = Registry("thing")
    reg.add("a", Dummy, aliases=["x"])
    with pytest.raises(RegistrationError, match="'x'"):
        reg.add("b", Other, aliases=["x"])
    with pytest.raises(RegistrationError, match="'a'"):
        reg.add("c", Other, aliases=["a"])
    with pytest.raises(RegistrationError):
        reg.add("x", Other)  # a name may not take an existing alias either
    assert reg.get("x") is Dummy and reg.names() == ["a"]


def test_identical_reregistration_is_a_noop_and_override_warns_with_provenance() -> None:
    reg: Registry[object] = Registry("thing")
    first = reg.add("a", Dummy)
    assert reg.add("a", Dummy) is first
    with pytest.warns(RegistryOverrideWarning, match=r"test_registry:Other replaces 'a' \(.*test_registry:Dummy\)"):
        entry = reg.add("a", Other, override=True)
    assert reg.get("a") is Other
    assert entry.replaced is not None and entry.replaced.source.endswith("test_registry:Dummy")
    assert entry.source.endswith("test_registry:Other")


def test_override_through_an_alias_keeps_the_rest_of_the_old_entry() -> None:
    reg: Registry[object] = Registry("thing")
    reg.add("a", Dummy, aliases=["x", "y"])
    with pytest.warns(RegistryOverrideWarning):
        reg.add("b", Other, aliases=["x"], override=True)
    assert reg.get("a") is Dummy and reg.get("y") is Dummy and reg.get("x") is Other


def test_unregister_removes_aliases_and_scoped_restores() -> None:
    reg: Registry[object] = Registry("thing")
    reg.add("keep", Dummy)
    with reg.scoped():
        reg.add("a", Other, aliases=["x"])
        reg.unregister("x")
        assert "a" not in reg and "x" not in reg
        reg.add("tmp", Other)
    assert reg.names() == ["keep"]


def test_temporarily_restores_the_previous_owner() -> None:
    reg: Registry[object] = Registry("thing")
    reg.add("a", Dummy, aliases=["x"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistryOverrideWarning)
        with reg.temporarily("a", Other, override=True):
            assert reg.get("a") is Other and "x" not in reg
    assert reg.get("a") is Dummy and reg.get("x") is Dummy


def test_natural_sort_and_patterns() -> None:
    reg: Registry[object] = Registry("thing")
    for n in ["loss10", "loss2", "Loss1", "dice_x"]:
        reg.add(n, type(n, (Dummy,), {}))
    assert reg.names() == ["dice_x", "Loss1", "loss2", "loss10"]
    assert reg.list("loss*") == ["Loss1", "loss2", "loss10"]
    assert reg.list(["*1*", "dice*"], exclude="loss10") == ["dice_x", "Loss1"]


def test_empty_or_padded_names_are_refused() -> None:
    reg: Registry[object] = Registry("thing")
    for bad in ["", "  ", " a", None]:
        with pytest.raises(RegistrationError):
            reg.add(bad, Dummy)  # type: ignore[arg-type]


# ---------------------------------------------------------------- loss registration
def test_register_forms_and_kinds(scoped_registry: Registry) -> None:
    @losskit.register_loss
    class MyDice(nn.Module):
        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return input.mean()

    @losskit.register_loss("my_factory")
    def create(mse_weight: float = 1.0) -> nn.Module:
        return Dummy()

    @losskit.register_loss("my_fn")
    def my_fn(model_output: dict, targets: dict, beta: float = 1.0, **kwargs: object) -> torch.Tensor:
        return model_output["x"].sum() * beta

    def unannotated_factory(scale=1.0):  # type: ignore[no-untyped-def]
        return Dummy()

    losskit.register_loss("unannotated", unannotated_factory)
    losskit.register_loss("balanced", Dummy, alias="bal")
    assert losskit.describe_loss("MyDice").kind == "module"
    assert losskit.describe_loss("my_factory").kind == "factory"
    assert losskit.describe_loss("my_fn").kind == "function"
    assert losskit.describe_loss("unannotated").kind == "factory"
    assert losskit.LOSSES.get("bal") is Dummy and losskit.has_loss("bal")
    forced = losskit.register_loss("forced_fn", kind="function")(unannotated_factory)
    assert forced is unannotated_factory and losskit.describe_loss("forced_fn").kind == "function"


@pytest.mark.parametrize("bad", [Dummy(), object, 42, "text", type("NotAModule", (), {})])
def test_register_refuses_non_losses(bad: object, scoped_registry: Registry) -> None:
    with pytest.raises(TypeError):
        losskit.register_loss("bad", bad)


def test_forced_kind_must_fit(scoped_registry: Registry) -> None:
    with pytest.raises(TypeError):
        losskit.register_loss("x", Dummy, kind="function")
    with pytest.raises(TypeError):
        losskit.register_loss("y", lambda a: a, kind="module")


def test_duplicate_builtin_name_raises_unless_override(scoped_registry: Registry) -> None:
    with pytest.raises(RegistrationError, match="'mse'"):
        losskit.register_loss("mse", Dummy)
    with pytest.raises(RegistrationError, match="'MSELoss'"):
        losskit.register_loss("my_mse", Dummy, aliases=["MSELoss"])
    with pytest.warns(RegistryOverrideWarning):
        losskit.register_loss("mse", Dummy, override=True)
    assert isinstance(losskit.build_loss("mse"), Dummy)


def test_unregister_loss_and_unknown(scoped_registry: Registry) -> None:
    losskit.register_loss("gone", Dummy, aliases=["gone_alias"])
    losskit.unregister_loss("gone")
    assert not losskit.has_loss("gone") and not losskit.has_loss("gone_alias")
    with pytest.raises(UnknownLossError):
        losskit.unregister_loss("gone")


def test_temporary_loss_context() -> None:
    with losskit.temporary_loss("temp_loss", Dummy, tasks=["regression"]):
        assert "temp_loss" in losskit.list_losses(task="regression")
    assert not losskit.has_loss("temp_loss")


def test_unknown_loss_error_is_keyerror_and_valueerror_with_suggestions() -> None:
    with pytest.raises(UnknownLossError) as info:
        losskit.build_loss("cross_entrpy")
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, ValueError) and isinstance(err, losskit.LossKitError)
    assert "Did you mean 'cross_entropy'" in str(err) and "list_losses" in str(err)
    assert not str(err).startswith("'")  # not KeyError's quoted repr


def test_discovery_filters_include_user_losses(scoped_registry: Registry) -> None:
    losskit.register_loss("zz_seg", Dummy, tags=["segmentation", "imbalanced"])  # a task given as a tag
    losskit.register_loss("zz_cls", Other, tasks="classification", tags="imbalanced")
    assert "zz_seg" in losskit.list_losses(task="segmentation")
    assert losskit.list_losses("zz_*", tag="imbalanced") == ["zz_cls", "zz_seg"]
    assert losskit.list_losses("zz_*", task="classification", tag="imbalanced") == ["zz_cls"]
    info = losskit.loss_info()
    assert "zz_seg" in info["segmentation"] and "zz_cls" in info["classification"]
    assert losskit.list_losses() == sorted(losskit.list_losses(), key=losskit.registry.natural_key)


def test_describe_loss_fields() -> None:
    info = losskit.describe_loss("CrossEntropyLoss")
    assert info.name == "cross_entropy" and "CrossEntropyLoss" in info.aliases
    assert "classification" in info.tasks and info.kind == "module"
    params = {p.name: p for p in info.params}
    assert params["label_smoothing"].default == 0.0 and params["label_smoothing"].annotation == "float"
    assert [i.name for i in info.inputs] == ["input", "target"]
    assert info.source == "losskit.zoo.classification:CrossEntropyLoss"
    assert info["name"] == "cross_entropy" and info.summary.startswith("Softmax cross-entropy")


def test_describe_function_and_factory(scoped_registry: Registry) -> None:
    @losskit.register_loss("VAELike")
    def vae(
        model_output: dict, targets: dict, beta: float = 1.0, reconstruction_weight: float = 1.0, **kwargs: object
    ) -> torch.Tensor:
        """A VAE-style loss."""
        return model_output["p"].sum()

    info = losskit.describe_loss("VAELike")
    assert [p.name for p in info.params] == ["beta", "reconstruction_weight"] and info.var_kwargs
    assert [i.name for i in info.inputs] == ["model_output", "targets"]


def test_main_module_double_import_is_not_a_duplicate(tmp_path: object) -> None:
    """A script run as __main__ that is also imported by its module path registers the same class twice."""
    pkg = tmp_path / "dbl_pkg"  # type: ignore[operator]
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn
            import losskit

            @losskit.register_loss("double_import_loss")
            class DoubleLoss(nn.Module):
                def forward(self, input, target):
                    return (input - target).abs().mean()

            if __name__ == "__main__":
                import dbl_pkg.mod  # the same file again, under its package name
                print("ok", losskit.LOSSES.get("double_import_loss").__module__)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "dbl_pkg.mod"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    assert "ok __main__" in out.stdout
