"""check_loss over every registered built-in, and proof that each of its checks can fail."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

import losskit
from losskit.testing import check_loss

#: The backend of the every-built-in compile test. ``make test`` uses aot_eager: the one graph (fullgraph), the
#: dynamic batch and the joint forward/backward graph are decided before any backend, and inductor's code generation
#: takes ~9 minutes over the whole zoo on 2 cores, past the suite's budget. ``make test-inductor`` sets
#: ``LOSSKIT_TEST_COMPILE_BACKEND=inductor`` (every built-in, ~6 min); :data:`INDUCTOR_EVERY_RUN` runs in both.
BACKEND = os.environ.get("LOSSKIT_TEST_COMPILE_BACKEND", "aot_eager")
#: Built-ins compiled with inductor in every ``make test`` (each costs 5-10 s of inductor's own compile time): the
#: custom autograd functions and opaque ops of the hot losses, and one contrastive loss.
INDUCTOR_EVERY_RUN = (
    "focal",  # _SigmoidFocalSum
    "dice_ce",  # _GramStats with the cross-entropy
    "lovasz",
    "ssim",  # losskit::ssim_mean
    "boundary",  # losskit::distance
    "info_nce",
)
#: Inputs inductor needs larger than the generated example, with the reason: its CPU reductions pick an accumulation
#: helper by size (a guard ``numel <= 4096`` in ``need_use_acc_helper``), so a batch size that crosses 4096 summed
#: elements compiles once more. Above the threshold from the first call (2 x 16^3 = 8192 elements here; 2 x 12^3 was
#: below it), a new batch size does not recompile.
INDUCTOR_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    name: {"warped": (2, 1, 16, 16, 16), "fixed": (2, 1, 16, 16, 16), "pred_dvf": (2, 3, 16, 16, 16)}
    for name in ("dice_smooth", "lncc_dvf")
}


def _builtins() -> list[str]:
    return [
        e.name
        for e in losskit.LOSSES.entries()
        if not e.is_lazy and e.source.startswith("losskit.") and e.name != "combined"
    ]


#: Relative error of the input gradient against float64 that a built-in may show under autocast (issue 14). The
#: float32 rule gives ~1e-7; the large-output losses run their matmuls in the autocast dtype (the point of autocast
#: there), so their bound is the dtype's rounding: bf16 keeps 8 bits of mantissa, fp16 11.
GRAD_BOUND = {"bfloat16": 1e-3, "float16": 1e-3}
LOW_PRECISION_MATMUL = {"linear_cross_entropy", "linear_kd", "linear_jsd"}
LOW_PRECISION_BOUND = {"bfloat16": 5e-2, "float16": 5e-3}
#: Built-ins whose example check_loss cannot resize to another batch size, with the reason (a stale entry fails).
NO_BATCH_RESIZE: dict[str, str] = {
    "deep_supervision": "its input is a list of outputs at several resolutions",
    "fcos": "its inputs are per-level lists",
    "sae": "its inputs are dicts of model outputs",
    "vae": "its inputs are dicts of model outputs",
    "jsd": "its input stacks three augmented views (3N, C) against N targets: doubling the input alone is invalid",
}
#: Built-ins that recompile for a new batch size, with the reason (a stale entry fails: the check must fail).
RECOMPILES_WITH_BATCH: dict[str, str] = {
    name: "walks the rows in chunks, a Python loop whose length follows N and that torch.compile unrolls: a new N "
    "traces again (pad to a fixed N, or compile once per size)"
    for name in ("linear_cross_entropy", "linear_kd", "linear_jsd")
}


@pytest.mark.parametrize("name", _builtins())
def test_every_builtin_passes_check_loss(name: str) -> None:
    """check_loss over every built-in: the checks pass, the loss compiles in one graph (aot_eager, label checks
    skipped while tracing) with the eager value and gradients, a new batch size does not recompile, and the
    gradient under bf16/fp16 autocast stays within :data:`GRAD_BOUND` of float64."""
    compiled = f"torch.compile[{BACKEND}] fullgraph"
    if name in RECOMPILES_WITH_BATCH:
        with pytest.raises(AssertionError, match="dynamic batch"):
            check_loss(name, compile="aot_eager")  # a recompilation is decided by dynamo, before any backend
        report = check_loss(name, compile=BACKEND, dynamic=False)
        assert compiled in report.passed, str(report)
        return
    shapes = INDUCTOR_SHAPES.get(name) if BACKEND == "inductor" else None
    report = check_loss(name, compile=BACKEND, shapes=shapes)
    assert "finite value" in report.passed and compiled in report.passed, str(report)
    if name in NO_BATCH_RESIZE:
        assert "torch.compile dynamic batch" in report.skipped, f"{name}: stale NO_BATCH_RESIZE entry"
    else:
        assert "torch.compile dynamic batch (no recompilation)" in report.passed, str(report)
    bound = LOW_PRECISION_BOUND if name in LOW_PRECISION_MATMUL else GRAD_BOUND
    for dtype, err in report.grad_error.items():
        assert err <= bound[dtype], f"{name}: gradient error {err:.3g} under {dtype} autocast > {bound[dtype]:g}"
    assert "autocast gradient error" in report.skipped or set(report.grad_error) == {"bfloat16", "float16"}


def test_combined_passes_check_loss_with_its_terms_inputs() -> None:
    report = check_loss({"losses": {"a": "mse", "b": "l1"}, "weights": [0.5, 0.5]})
    assert "deterministic" in report.passed
    assert "value" in str(report)


@pytest.mark.parametrize("name", INDUCTOR_EVERY_RUN)
def test_inductor_compiles_a_representative_of_each_kernel(name: str) -> None:
    """Inductor, fullgraph, dynamic batch, the eager value and gradients (skipped where the machine has no
    compiler: then check_loss reports it skipped, and this test says so)."""
    report = check_loss(name, compile="inductor", shapes=INDUCTOR_SHAPES.get(name))
    if "torch.compile[inductor] fullgraph" in report.skipped:
        pytest.skip(report.skipped["torch.compile[inductor] fullgraph"])
    assert "torch.compile[inductor] fullgraph" in report.passed, str(report)
    assert "torch.compile dynamic batch (no recompilation)" in report.passed, str(report)


class _Base(nn.Module):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).pow(2).mean()


class NaNLoss(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(input, target) * float("nan")


class NotScalar(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).pow(2)


class NaNGrad(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input.abs() * 0).sqrt().sum()  # d sqrt(0) = inf -> inf * 0 = NaN


class NoGrad(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(input.detach(), target) + torch.zeros((), requires_grad=True)


class Random(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(input, target) + torch.rand(())


class Unpicklable(_Base):
    def __init__(self) -> None:
        super().__init__()
        self.fn = lambda x: x


class ReturnsFloat(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> float:  # type: ignore[override]
        return 0.5


class BadStateDict(_Base):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(()))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.scale += 1  # state that changes every call breaks the round trip
        return super().forward(input, target) * self.scale


@pytest.mark.parametrize(
    ("module", "check"),
    [
        (NaNLoss(), "finite value"),
        (NotScalar(), "scalar output"),
        (NaNGrad(), "finite gradients"),
        (NoGrad(), "no gradient reached"),
        (Random(), "determinism"),
        (Unpicklable(), "pickling"),
        (ReturnsFloat(), "tensor output"),
        (BadStateDict(), "determinism|pickling/state_dict"),
    ],
)
def test_each_check_can_fail(module: nn.Module, check: str) -> None:
    with pytest.raises(AssertionError, match=check):
        check_loss(module, compile=None)


class GraphBreak(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        torch._dynamo.graph_break()  # what a host sync or an untraceable call does under torch.compile
        return super().forward(input, target)


class ShapeBranch(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if input.shape[0] > 5:  # a Python branch on the batch size: a guard, so a new batch recompiles
            return super().forward(input, target) * 2
        return super().forward(input, target)


class Bf16Sloppy(_Base):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # a matmul is an autocast op: under bf16 autocast it runs in bf16, unlike the float64 reference
        return torch.nn.functional.linear(input, target).square().mean()


def test_a_graph_break_fails_the_fullgraph_check() -> None:
    x = torch.randn(3, 4)
    with pytest.raises(AssertionError, match=r"torch.compile\[aot_eager\] fullgraph"):
        check_loss(GraphBreak(), inputs=(x, x.flip(0)), compile="aot_eager")
    report = check_loss(GraphBreak(), inputs=(x, x.flip(0)), compile="aot_eager", fullgraph=False)
    assert "torch.compile[aot_eager]" in report.passed


def test_a_recompile_on_a_new_batch_size_fails_the_dynamic_check() -> None:
    # generated inputs (the fallback (4, 8) from the forward's annotations): check_loss then tries batch 6
    with pytest.raises(AssertionError, match="dynamic batch"):
        check_loss(ShapeBranch(), compile="aot_eager")
    report = check_loss(ShapeBranch(), compile="aot_eager", dynamic=False)
    assert "torch.compile dynamic batch (no recompilation)" not in report.passed


def test_the_gradient_tolerance_can_fail() -> None:
    x = torch.randn(16, 8)
    report = check_loss(_Base(), inputs=(x, x.flip(0)), compile=None)
    assert report.grad_error["bfloat16"] < 1e-6 and report.grad_error["float16"] < 1e-6
    with pytest.raises(AssertionError, match="bfloat16 gradient"):
        check_loss(Bf16Sloppy(), inputs=(x, x.flip(0)), compile=None, grad_tolerance=1e-3)


def test_user_loss_with_own_inputs() -> None:
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    report = check_loss(_Base(), inputs=(x, y), compile=None)
    assert report.value == pytest.approx(float((x - y).pow(2).mean()), rel=1e-6)
    assert report.loss == "_Base"


@pytest.mark.parametrize("name", _builtins())
def test_every_builtin_round_trips_through_to_config(name: str) -> None:
    import yaml

    from losskit.inputs import make_generator
    from losskit.testing import example_for

    loss = losskit.build_loss(name)
    config = losskit.to_config(loss)
    rebuilt = losskit.build_loss(yaml.safe_load(yaml.safe_dump(config)))
    assert type(rebuilt) is type(loss) and losskit.to_config(rebuilt) == config
    torch.manual_seed(0)
    rebuilt.load_state_dict(loss.state_dict())  # learnable losses (arcface) start from random weights
    example = example_for(loss, make_generator(0))
    torch.testing.assert_close(rebuilt(*example.args, **example.kwargs), loss(*example.args, **example.kwargs))
