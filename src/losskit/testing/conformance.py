"""``check_loss``: the conformance suite every loss, built-in or yours, should pass.

Usage::

    from losskit.testing import check_loss
    report = check_loss("dice")                      # a registered name (its declared example inputs)
    report = check_loss(MyLoss(), inputs=(pred, y))  # your module, your inputs
    print(report)

The inputs are yours (``inputs=``) or made from the loss's declared input spec, optionally at the ``shapes``
you ask for (``shapes={"input": (2, 3, 16, 16)}``: the other inputs follow; see
:mod:`losskit.testing.shapes`), never over ``max_elements`` elements in all (:data:`MAX_EXAMPLE_ELEMENTS`).

Checks, in order: the loss runs (an exception it raises is a failed check, not a crash of the suite); a tensor
output, scalar unless ``reduction="none"``; a finite value; finite gradients that
reach the inputs; determinism; pickling and a ``state_dict`` round trip; a finite value under
``torch.autocast("cpu", dtype=torch.bfloat16)`` close to float32; and, when ``compile`` names a backend,
the same value through ``torch.compile``. The first failure raises ``AssertionError`` naming the check.
"""

from __future__ import annotations

import copy
import io
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..compose.calling import loss_label
from ..config.builder import build_loss
from ..inputs import Example, make_generator
from .examples import MAX_EXAMPLE_ELEMENTS, example_for

__all__ = ["check_loss", "ConformanceReport"]


@dataclass
class ConformanceReport:
    """What ``check_loss`` ran and saw."""

    loss: str
    value: float
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"check_loss({self.loss!r}): value {self.value:.6g}, {len(self.passed)} checks passed"]
        lines += [f"  ok    {name}" for name in self.passed]
        lines += [f"  skip  {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _map(obj: Any, fn: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(v, fn) for v in obj)
    return obj


def _fresh(example: Example, grad: bool) -> tuple[Example, list[torch.Tensor]]:
    """Clone the inputs; with ``grad``, every floating tensor of the first argument requires grad."""
    leaves: list[torch.Tensor] = []

    def clone(t: torch.Tensor, track: bool) -> torch.Tensor:
        c = t.detach().clone()
        if track and c.is_floating_point():
            c.requires_grad_(True)
            leaves.append(c)
        return c

    args = tuple(_map(a, lambda t, i=i: clone(t, grad and i == 0)) for i, a in enumerate(example.args))
    kwargs = {k: _map(v, lambda t: clone(t, False)) for k, v in example.kwargs.items()}
    return Example(args, kwargs), leaves


def _call(loss: nn.Module, example: Example, label: str = "", check: str = "runs") -> Any:
    """Call the loss; an exception it raises becomes the AssertionError of the check being run."""
    try:
        return loss(*example.args, **example.kwargs)
    except Exception as exc:
        raise _fail(label, check, f"the loss raised {type(exc).__name__}: {exc}") from exc


def _fail(label: str, check: str, why: str) -> AssertionError:
    return AssertionError(f"check_loss({label!r}): {check} failed: {why}")


def _as_example(inputs: Any) -> Example:
    if isinstance(inputs, Example):
        return inputs
    if isinstance(inputs, dict):
        return Example((), inputs)
    return Example(tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,))


def check_loss(
    loss: Any,
    inputs: Any = None,
    *,
    shapes: Mapping[str, Sequence[int]] | None = None,
    max_elements: int = MAX_EXAMPLE_ELEMENTS,
    compile: str | None = "aot_eager",
    bf16_tolerance: float = 0.05,
    seed: int = 0,
) -> ConformanceReport:
    """Run the conformance checks on a loss.

    Args:
        loss: a registered name, a spec (anything ``build_loss`` takes) or a module.
        inputs: a tuple of sample inputs (or an :class:`~losskit.inputs.Example`); made from the entry's
            declared input spec when omitted.
        shapes: ``{input name: shape}`` for the generated inputs, e.g. ``{"input": (2, 3, 16, 16)}``; inputs
            not named follow a named one where they can (labels lose the class dimension). Not with ``inputs``.
        max_elements: cap on the elements of the generated inputs together; over it is an
            :class:`~losskit.testing.ExampleTooLarge` (a ``ValueError``) and nothing that large is allocated.
        compile: the ``torch.compile`` backend to check (``"inductor"``, ``"aot_eager"``...), or ``None``.
            A machine where compilation itself cannot run skips the check (reported as skipped).
        bf16_tolerance: relative tolerance of the bfloat16-autocast value against float32.
        seed: seed of the generated inputs.

    Raises:
        AssertionError: the first failing check, named, with the reason; a loss that raises fails the check
            it was called in.
        ValueError: ``inputs`` together with ``shapes``.
        ExampleError: no example inputs can be made as asked (``shapes`` naming an input the loss lacks, a
            dict input without declared keys; pass ``inputs``); ExampleTooLarge, a subclass: over ``max_elements``.
    """
    module = build_loss(loss)
    label = loss if isinstance(loss, str) else loss_label(module)
    if inputs is not None and shapes:
        raise ValueError("check_loss: give inputs or shapes, not both (shapes resize the generated inputs)")
    example = (
        _as_example(inputs)
        if inputs is not None
        else example_for(module, make_generator(seed), shapes=shapes, max_elements=max_elements)
    )
    reduction = getattr(module, "reduction", "mean")
    report = ConformanceReport(label, float("nan"))

    # 1. output type and shape
    run, leaves = _fresh(example, grad=True)
    out = _call(module, run, label, "runs on the inputs")
    if not isinstance(out, torch.Tensor):
        raise _fail(label, "tensor output", f"returned {type(out).__name__}")
    if reduction in ("mean", "sum", "batchmean") and out.dim() != 0:
        raise _fail(label, "scalar output", f"reduction={reduction!r} gave shape {tuple(out.shape)}")
    report.passed.append("tensor output" + (" (scalar)" if out.dim() == 0 else f" {tuple(out.shape)}"))
    # 2. finite value
    if not bool(torch.isfinite(out).all()):
        raise _fail(label, "finite value", f"got {out.detach()}")
    value = out.detach().double().sum()
    report.value = float(value)
    report.passed.append("finite value")
    # 3. gradients
    if out.requires_grad:
        try:
            out.sum().backward()  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise _fail(label, "gradients", f"backward raised {type(exc).__name__}: {exc}") from exc
        reached = [t.grad for t in leaves if t.grad is not None]
        if leaves and not reached:
            raise _fail(label, "gradients", "no gradient reached the inputs")
        for g in reached:
            if not bool(torch.isfinite(g).all()):
                raise _fail(label, "finite gradients", "an input gradient has NaN or inf")
        report.passed.append(f"finite gradients ({len(reached)} input tensor(s))")
    elif leaves:
        # the prediction required grad and the loss does not: a detached loss trains nothing
        raise _fail(label, "gradients", "the output does not depend on the inputs (no gradient can reach them)")
    else:
        report.skipped["gradients"] = "the output does not require grad"
    # 4. determinism
    again = _call(module, _fresh(example, grad=False)[0], label, "determinism").detach().double().sum()
    if not torch.allclose(again, value, rtol=1e-6, atol=1e-8):
        raise _fail(label, "determinism", f"{float(value)!r} then {float(again)!r}")
    report.passed.append("deterministic")
    # 5. pickle and state_dict round trip
    try:
        restored = pickle.loads(pickle.dumps(module))
    except Exception as exc:
        raise _fail(label, "pickling", f"{type(exc).__name__}: {exc}") from exc
    try:
        clone = copy.deepcopy(module)
        buffer = io.BytesIO()
        torch.save(module.state_dict(), buffer)
        buffer.seek(0)
        clone.load_state_dict(torch.load(buffer, weights_only=True))
    except Exception as exc:
        raise _fail(label, "pickling/state_dict", f"{type(exc).__name__}: {exc}") from exc
    for which, other in (("pickled copy", restored), ("state_dict copy", clone)):
        v = _call(other, _fresh(example, grad=False)[0], label, "pickling/state_dict").detach().double().sum()
        if not torch.allclose(v, value, rtol=1e-6, atol=1e-8):
            raise _fail(label, "pickling/state_dict", f"the {which} gives {float(v)!r}, expected {float(value)!r}")
    report.passed.append("pickle and state_dict round trip")
    # 6. bfloat16 autocast
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = _call(module, _fresh(example, grad=False)[0], label, "bfloat16 autocast")
    low_value = low.detach().double().sum()
    if not bool(torch.isfinite(low_value)):
        raise _fail(label, "bfloat16 autocast", f"value {float(low_value)!r} is not finite")
    if not math.isclose(float(low_value), float(value), rel_tol=bf16_tolerance, abs_tol=bf16_tolerance):
        raise _fail(label, "bfloat16 autocast", f"{float(low_value)!r} vs float32 {float(value)!r}")
    report.passed.append("bfloat16 autocast")
    # 7. torch.compile
    if compile:
        _check_compiled(module, example, value, compile, label, report)
    return report


def _check_compiled(
    module: nn.Module, example: Example, value: torch.Tensor, backend: str, label: str, report: ConformanceReport
) -> None:
    import torch._dynamo  # only needed here

    torch._dynamo.reset()
    compiled = torch.compile(module, backend=backend)
    try:
        run = _fresh(example, grad=False)[0]
        out = compiled(*run.args, **run.kwargs)
    except Exception as exc:
        if type(exc).__name__ in ("BackendCompilerFailed", "InductorError") and "compiler" in str(exc).lower():
            report.skipped[f"torch.compile[{backend}]"] = f"cannot compile on this machine: {exc}"
            return
        raise _fail(label, f"torch.compile[{backend}]", f"{type(exc).__name__}: {exc}") from exc
    got = out.detach().double().sum()
    if not torch.allclose(got, value, rtol=1e-4, atol=1e-6):
        raise _fail(label, f"torch.compile[{backend}]", f"{float(got)!r} vs eager {float(value)!r}")
    report.passed.append(f"torch.compile[{backend}]")
