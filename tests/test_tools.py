"""Issue 8, "tools that tell the truth": list filters, check_loss inputs, reprs, loss_name, parameter docs."""

from __future__ import annotations

from typing import Literal

import pytest
import torch
from torch import nn

import losskit
from losskit.discovery import UnknownFilterError, parse_arg_docs
from losskit.inputs import make_generator
from losskit.testing import ExampleError, ExampleTooLarge, check_loss, example_for


@pytest.fixture
def scope():  # type: ignore[no-untyped-def]
    with losskit.LOSSES.scoped():
        yield


# ----------------------------------------------------------------------------------------------- list_losses


@pytest.mark.parametrize(
    ("kw", "right"), [({"task": "segmantation"}, "segmentation"), ({"tag": "imbalancd"}, "imbalanced")]
)
def test_unknown_task_or_tag_is_an_error(kw: dict[str, str], right: str) -> None:
    with pytest.raises(UnknownFilterError, match=f"Did you mean '{right}'") as info:
        losskit.list_losses(**kw)
    assert isinstance(info.value, ValueError) and isinstance(info.value, losskit.LossKitError)
    assert "Known" in str(info.value)
    assert losskit.list_losses(task="Segmentation") == losskit.list_losses(task="segmentation") != []
    with pytest.raises(UnknownFilterError):
        losskit.list_losses(task=["segmentation", "segmantation"])


def test_a_tag_registered_by_a_user_is_known(scope: None) -> None:
    @losskit.register_loss("tagged_mine", tags=["brand_new_tag"])
    class Tagged(nn.Module):
        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (input - target).mean()

    assert losskit.list_losses(tag="brand_new_tag") == ["tagged_mine"]


# ------------------------------------------------------------------------------------------------ check_loss


class _LongTarget(nn.Module):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(input, target)  # raises for a float target of the wrong shape


def test_declared_long_target_is_made_long(scope: None) -> None:
    # Was: a float (4, 8) target, and cross_entropy failed on it.
    losskit.register_loss(
        "long_mine",
        _LongTarget,
        inputs=[losskit.TensorSpec("input", "(N, C)", "float"), losskit.TensorSpec("target", "(N,)", "long")],
    )
    example = example_for(losskit.build_loss("long_mine"), make_generator(0))
    assert example.args[1].dtype == torch.int64 and example.args[1].shape == (4,)
    assert int(example.args[1].max()) < example.args[0].shape[1]
    assert "finite value" in check_loss("long_mine", compile=None).passed


def vae_like(model_output: dict, targets: dict, beta: float = 1.0) -> torch.Tensor:  # picklable: module level
    return (model_output["recon"] - targets["x"]).pow(2).mean() + beta * model_output["mu"].pow(2).mean()


def test_dict_inputs_get_dicts(scope: None) -> None:
    losskit.register_loss(
        "vae_declared",
        vae_like,
        inputs=[
            losskit.TensorSpec("model_output", "{recon: (N, 8), mu: (N, 2)}", "dict"),
            losskit.TensorSpec("targets", "{x: (N, 8)}", "dict"),
        ],
    )
    example = example_for(losskit.build_loss("vae_declared"), make_generator(0))
    assert set(example.args[0]) == {"recon", "mu"} and example.args[0]["mu"].shape == (4, 2)
    assert "finite value" in check_loss("vae_declared", compile=None).passed
    # Undeclared keys: a clear error (was: tensors handed to a function that indexes them by key).
    losskit.register_loss("vae_undeclared", vae_like)
    with pytest.raises(ExampleError, match="'model_output' is a dict"):
        check_loss("vae_undeclared", compile=None)
    x = {"recon": torch.randn(2, 8), "mu": torch.randn(2, 2)}
    assert check_loss("vae_undeclared", inputs=(x, {"x": torch.randn(2, 8)}), compile=None).value > 0


def test_user_shapes() -> None:
    report = check_loss("dice", shapes={"input": (2, 3, 16, 16)}, compile=None)
    assert "finite value" in report.passed
    notes: list[str] = []
    example = example_for(losskit.build_loss("dice"), make_generator(0), shapes={"input": (1, 2, 4, 4, 4)}, notes=notes)
    x, y = example.args
    assert x.shape == (1, 2, 4, 4, 4) and y.shape == (1, 4, 4, 4) and y.dtype == torch.int64 and int(y.max()) <= 1
    assert notes == ["input (1, 2, 4, 4, 4): given", "target (1, 4, 4, 4): follows input"]
    example = example_for(losskit.build_loss("mse"), make_generator(0), shapes={"input": (3, 5)})
    assert [tuple(a.shape) for a in example.args] == [(3, 5), (3, 5)]
    with pytest.raises(ExampleError, match="unknown input 'inptu'.*input, target"):
        check_loss("dice", shapes={"inptu": (2, 3)}, compile=None)
    with pytest.raises(ValueError, match="not both"):
        check_loss("mse", inputs=(torch.zeros(2), torch.zeros(2)), shapes={"input": (2,)})


def test_user_shapes_of_a_combined_loss_use_its_terms_input_names() -> None:
    combo = losskit.build_loss({"losses": {"d": "dice", "ce": "cross_entropy"}})
    example = example_for(combo, make_generator(0), shapes={"input": (2, 4, 8, 8)})
    assert [tuple(a.shape) for a in example.args] == [(2, 4, 8, 8), (2, 8, 8)]
    assert "finite value" in check_loss(combo, shapes={"input": (2, 4, 8, 8)}, compile=None).passed


class _Crashes(nn.Module):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input @ torch.ones(3, 3)).mean()


def test_a_crashing_loss_is_a_failed_check() -> None:
    # Was: the RuntimeError escaped check_loss; the contract promises an AssertionError naming the check.
    with pytest.raises(AssertionError, match=r"runs on the inputs failed: the loss raised RuntimeError: mat1") as info:
        check_loss(_Crashes(), compile=None)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_example_budget_refuses_before_allocating() -> None:
    loss = losskit.build_loss("cross_entropy", num_classes=250_000_000)
    with pytest.raises(ExampleTooLarge, match="over the budget of 16,777,216 elements"):
        example_for(loss, make_generator(0))
    with pytest.raises(ExampleTooLarge, match="budget of 100 elements"):
        example_for(losskit.build_loss("dice"), make_generator(0), max_elements=100)
    with pytest.raises(ExampleTooLarge):
        check_loss("dice", shapes={"input": (64, 4, 256, 256)}, compile=None)


# ----------------------------------------------------------------------------------------------------- reprs


def test_reprs_show_non_default_options() -> None:
    dice = losskit.build_loss("dice")
    assert repr(dice) == f"{type(dice).__name__}()"
    smooth = repr(losskit.build_loss("dice", smooth=1.0))  # was "DiceLoss()"
    assert "smooth" in smooth and "1.0" in smooth
    weighted = repr(losskit.build_loss("cross_entropy", weight=[1.0] * 20, label_smoothing=0.1))
    assert "label_smoothing=0.1" in weighted and "tensor(shape=(20,), dtype=float32)" in weighted
    assert "tensor([1.0, 2.0], dtype=float32)" in repr(losskit.build_loss("cross_entropy", weight=[1.0, 2.0]))


def test_repr_is_one_generic_mechanism(scope: None) -> None:
    @losskit.register_loss("repr_mine")
    class Mine(nn.Module):
        def __init__(self, alpha: float = 0.5, mode: str = "a", scale: torch.Tensor | None = None) -> None:
            super().__init__()
            self.alpha, self.mode = alpha, mode
            self.register_buffer("scale", scale)

        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (input - target).abs().mean() * self.alpha

    @losskit.register_loss("repr_own")
    class Own(Mine):
        def extra_repr(self) -> str:
            return "mine"

    assert repr(Mine()) == "Mine()"
    assert repr(Mine(alpha=2.0, scale=torch.ones(3))) == "Mine(alpha=2.0, scale=tensor([1.0, 1.0, 1.0], dtype=float32))"
    assert repr(Own(alpha=3.0)) == "Own(mine)"  # a class's own extra_repr wins
    losskit.register_loss("repr_torch", nn.SmoothL1Loss)
    assert nn.SmoothL1Loss.extra_repr is nn.Module.extra_repr  # torch's classes are never patched
    assert "loss_name" not in nn.SmoothL1Loss.__dict__


# ------------------------------------------------------------------------------------------------- loss_name


def test_register_loss_sets_loss_name(scope: None) -> None:
    class Base(nn.Module):
        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (input - target).mean()

    class Child(Base):
        pass

    class Unregistered(Base):
        pass

    class Explicit(Base):
        loss_name = "explicit_by_hand"

    losskit.register_loss("base_mine", Base, aliases=["BaseMine"])
    losskit.register_loss("child_mine", Child)
    losskit.register_loss("explicit_mine", Explicit)
    losskit.register_loss("second_name", Base)  # the same class again: it keeps its first (canonical) name
    assert Base.loss_name == "base_mine" and Child.loss_name == "child_mine"
    assert Unregistered.loss_name == "base_mine"  # inherits: it is a base_mine in all but name
    assert Explicit.loss_name == "explicit_by_hand"
    with losskit.temporary_loss("temp_mine", Unregistered):
        assert Unregistered.loss_name == "temp_mine" and Base.loss_name == "base_mine"


def test_builtins_have_their_canonical_loss_name() -> None:
    for entry in losskit.LOSSES.entries():
        if entry.is_lazy or not entry.source.startswith("losskit.") or not isinstance(entry.obj, type):
            continue
        assert entry.obj.loss_name in entry.keys, (entry.name, entry.obj.loss_name)


# ------------------------------------------------------------------------------------------- parameter docs


def test_describe_loss_has_parameter_docs_and_choices(scope: None) -> None:
    @losskit.register_loss("documented_mine")
    class Documented(nn.Module):
        """Summary.

        Args:
            margin (float): how far
                apart.
            reduction: the batch reduction.
        """

        def __init__(self, margin: float = 1.0, reduction: Literal["mean", "sum"] | None = "mean") -> None:
            super().__init__()

        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return input.mean()

    params = {p.name: p for p in losskit.describe_loss("documented_mine").params}
    assert params["margin"].doc == "how far apart." and params["margin"].choices == ()
    assert params["reduction"].choices == ("mean", "sum") and params["reduction"].doc == "the batch reduction."


def test_parse_arg_docs_edge_cases() -> None:
    assert parse_arg_docs("No sections here.") == {}
    doc = "S.\n\nArgs:\n    a: one\n\n    b: two\n        more\nReturns:\n    c: not an arg\n"
    assert parse_arg_docs(doc) == {"a": "one", "b": "two more"}
