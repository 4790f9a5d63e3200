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
``torch.autocast("cpu", dtype=torch.bfloat16)`` close to float32; the gradient's relative error under bfloat16 and
float16 autocast against float64 (reported as ``grad_error``; a failure only over ``grad_tolerance``); and, when
``compile`` names a backend, the same value and gradients through ``torch.compile`` in one graph
(``fullgraph=True``), and no recompilation when only the batch size changes (a dynamic batch dim). The first
failure raises ``AssertionError`` naming the check.
"""

from __future__ import annotations

import copy
import io
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from ..compose.calling import loss_label
from ..config.builder import build_loss
from ..inputs import Example, make_generator
from .examples import MAX_EXAMPLE_ELEMENTS, example_for
from .numerics import autocast_grad_error, map_tensors
from .shapes import input_names

__all__ = ["check_loss", "ConformanceReport"]


@dataclass
class ConformanceReport:
    """What ``check_loss`` ran and saw."""

    loss: str
    value: float
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    #: relative error of the input gradient under autocast against float64, by dtype ("bfloat16", "float16")
    grad_error: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"check_loss({self.loss!r}): value {self.value:.6g}, {len(self.passed)} checks passed"]
        lines += [f"  ok    {name}" for name in self.passed]
        lines += [f"  skip  {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _fresh(example: Example, grad: bool) -> tuple[Example, list[torch.Tensor]]:
    """Clone the inputs; with ``grad``, every floating tensor of the first argument requires grad."""
    leaves: list[torch.Tensor] = []

    def clone(t: torch.Tensor, track: bool) -> torch.Tensor:
        c = t.detach().clone()
        if track and c.is_floating_point():
            c.requires_grad_(True)
            leaves.append(c)
        return c

    args = tuple(map_tensors(a, partial(clone, track=grad and i == 0)) for i, a in enumerate(example.args))
    kwargs = {k: map_tensors(v, lambda t: clone(t, False)) for k, v in example.kwargs.items()}
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
    fullgraph: bool = True,
    dynamic: bool = True,
    bf16_tolerance: float = 0.05,
    grad_tolerance: float | None = None,
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
            A machine where compilation itself cannot run skips the check (reported as skipped). Label checks
            (host syncs) are skipped while compiling, as in any compiled training step.
        fullgraph: require one graph (``torch.compile(fullgraph=True)``): a graph break fails the check.
        dynamic: compile with the batch dim dynamic (``torch._dynamo.mark_dynamic`` on dim 0 of the inputs of the
            first input's batch size) and call again with the batch size doubled (generated inputs only): a loss
            that specializes the batch size, or a recompilation, fails the check.
        bf16_tolerance: relative tolerance of the bfloat16-autocast value against float32.
        grad_tolerance: fail when the gradient's relative error under bfloat16 or float16 autocast (against
            float64) is over this; None (default) only reports it in ``report.grad_error``.
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
    # 7. the gradient under bfloat16 / float16 autocast against float64
    _check_grad_error(module, example, label, grad_tolerance, report)
    # 8. torch.compile
    if compile:
        resized = None
        if dynamic and inputs is None:
            resized = _batch_resized(module, example, seed, max_elements)
            if resized is None:
                report.skipped["torch.compile dynamic batch"] = "the example's batch size cannot be changed"
        compiled = _check_compiled(module, example, value, compile, label, report, fullgraph=fullgraph, dynamic=dynamic)
        if compiled is not None and resized is not None:
            _check_no_recompile(compiled, resized, label, report)
    return report


def _check_grad_error(
    module: nn.Module, example: Example, label: str, tolerance: float | None, report: ConformanceReport
) -> None:
    for dtype in (torch.bfloat16, torch.float16):
        name = str(dtype).removeprefix("torch.")
        try:
            err = autocast_grad_error(module, example, dtype)
        except Exception as exc:
            raise _fail(label, f"{name} gradient", f"the loss raised {type(exc).__name__}: {exc}") from exc
        if err is None:
            report.skipped["autocast gradient error"] = "the output does not require grad"
            return
        report.grad_error[name] = err
        if tolerance is not None and not err <= tolerance:
            raise _fail(label, f"{name} gradient", f"relative error {err:.3g} against float64 > {tolerance:g}")
    errors = ", ".join(f"{k} {v:.2g}" for k, v in report.grad_error.items())
    report.passed.append(f"autocast gradient error vs float64 ({errors})")


def _batch_resized(module: nn.Module, example: Example, seed: int, max_elements: int) -> Example | None:
    """The generated example with the first input's batch size doubled (a loss that splits its batch into views
    keeps a valid one), or None where it cannot be changed. A batch of 1 is left alone: ``torch.compile``
    specializes sizes 0 and 1 by design."""
    names = input_names(module)
    first = example.args[0] if example.args else None
    if not names or not isinstance(first, torch.Tensor) or first.dim() == 0 or first.shape[0] < 2:
        return None
    shape = (first.shape[0] * 2, *first.shape[1:])
    try:
        resized = example_for(module, make_generator(seed + 1), shapes={names[0]: shape}, max_elements=max_elements)
        copy.deepcopy(module)(*resized.args, **resized.kwargs)  # inputs that do not follow the batch: not valid
    except Exception:  # noqa: BLE001 - any failure means "cannot be changed", reported as skipped
        return None
    return resized


def _check_compiled(
    module: nn.Module,
    example: Example,
    value: torch.Tensor,
    backend: str,
    label: str,
    report: ConformanceReport,
    *,
    fullgraph: bool,
    dynamic: bool,
) -> Any:
    """The compiled loss after checking its value and gradients against eager; None when this machine cannot
    compile (reported as skipped)."""
    import torch._dynamo  # only needed here

    check = f"torch.compile[{backend}]" + (" fullgraph" if fullgraph else "")
    torch._dynamo.reset()
    compiled = torch.compile(module, backend=backend, fullgraph=fullgraph)
    try:
        run, leaves = _fresh(example, grad=True)
        if dynamic:
            _mark_batch_dynamic(run)
        out = compiled(*run.args, **run.kwargs)
        if out.requires_grad and leaves:
            grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
    except Exception as exc:
        if type(exc).__name__ in ("BackendCompilerFailed", "InductorError") and "compiler" in str(exc).lower():
            report.skipped[check] = f"cannot compile on this machine: {exc}"
            return None
        if type(exc).__name__ == "ConstraintViolationError":  # the marked-dynamic batch was specialized
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            why = "the loss specializes the batch size: " + " ".join(lines[:3])
            raise _fail(label, "torch.compile dynamic batch (no recompilation)", why) from exc
        raise _fail(label, check, f"{type(exc).__name__}: {exc}") from exc
    got = out.detach().double().sum()
    if not torch.allclose(got, value, rtol=1e-4, atol=1e-6):
        raise _fail(label, check, f"{float(got)!r} vs eager {float(value)!r}")
    if out.requires_grad and leaves:
        eager_run, eager_leaves = _fresh(example, grad=True)
        eager = torch.autograd.grad(_call(module, eager_run, label, check).sum(), eager_leaves, allow_unused=True)
        for g, e in zip(grads, eager, strict=True):
            if (g is None) != (e is None) or (
                g is not None and e is not None and not torch.allclose(g, e, rtol=1e-3, atol=1e-6)
            ):
                raise _fail(label, check, "the compiled gradient differs from the eager one")
    report.passed.append(check)
    return compiled


def _mark_batch_dynamic(example: Example) -> None:
    """Mark dim 0 of the example's tensors that share the first input's batch size as dynamic: the batch is a
    symbol from the first compile on (the other sizes stay static, as in a training loop), so a loss that
    specializes it fails here, and one that does not runs any batch size without recompiling."""
    import torch._dynamo

    first = example.args[0] if example.args else None
    if not isinstance(first, torch.Tensor) or first.dim() == 0 or first.shape[0] < 2:
        return
    batch = first.shape[0]
    for value in (*example.args, *example.kwargs.values()):
        if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == batch:
            torch._dynamo.mark_dynamic(value, 0)


def _check_no_recompile(compiled: Any, example: Example, label: str, report: ConformanceReport) -> None:
    import torch._dynamo

    check = "torch.compile dynamic batch (no recompilation)"
    try:
        with torch._dynamo.config.patch(error_on_recompile=True):
            run, leaves = _fresh(example, grad=True)  # as the first call: only the batch size differs
            _mark_batch_dynamic(run)
            out = compiled(*run.args, **run.kwargs)
            if out.requires_grad and leaves:
                torch.autograd.grad(out.sum(), leaves, allow_unused=True)
    except Exception as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        why = " ".join(lines[:3]) if lines else type(exc).__name__
        raise _fail(
            label, check, f"a new batch size recompiled the loss or failed: {type(exc).__name__}: {why}"
        ) from exc
    report.passed.append(check)
