"""Input validation shared by every loss: clear ``LossInputError``s instead of deep torch tracebacks.

Shape and dtype checks read metadata only (no host sync). The label-range check must look at the values,
which costs a device-to-host sync: it is on by default and can be switched off for speed with
:func:`set_label_checks` / :func:`label_checks` (or ``LOSSKIT_CHECK_LABELS=0``). It is skipped while
``torch.compile`` traces, so it never breaks a graph.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence

import torch

from ..errors import LossInputError

__all__ = [
    "set_label_checks",
    "label_checks",
    "label_checks_enabled",
    "check_tensor",
    "check_float",
    "check_same_shape",
    "check_labels",
    "check_reduction",
    "check_choice",
    "shape_str",
]

_REDUCTIONS = ("mean", "sum", "none")
_state = threading.local()
_default = os.environ.get("LOSSKIT_CHECK_LABELS", "1").strip().lower() not in ("0", "false", "no", "off")


def set_label_checks(enabled: bool) -> None:
    """Turn the label-range check (one host sync per call) on or off, process-wide."""
    global _default
    _default = bool(enabled)


@contextlib.contextmanager
def label_checks(enabled: bool) -> Iterator[None]:
    """Turn the label-range check on or off inside a ``with`` block (this thread only)."""
    previous = getattr(_state, "enabled", None)
    _state.enabled = bool(enabled)
    try:
        yield
    finally:
        _state.enabled = previous


def label_checks_enabled() -> bool:
    local = getattr(_state, "enabled", None)
    enabled = _default if local is None else local
    return enabled and not torch.compiler.is_compiling()


def shape_str(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_tensor(loss: str, name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise LossInputError(f"{loss}: expected {name} to be a torch.Tensor, got {type(value).__name__}")
    return value


def check_float(loss: str, name: str, t: torch.Tensor, layout: str = "") -> None:
    check_tensor(loss, name, t)
    if not t.is_floating_point():
        raise LossInputError(
            f"{loss}: expected {name} {layout + ' ' if layout else ''}to be floating point, got {t.dtype} "
            f"with shape {shape_str(t)}"
        )


def check_same_shape(loss: str, input: torch.Tensor, target: torch.Tensor, names: Sequence[str] = ("input", "target")) -> None:
    """Same shape, no silent broadcasting (``F.mse_loss`` only warns, then broadcasts)."""
    check_tensor(loss, names[0], input)
    check_tensor(loss, names[1], target)
    if input.shape != target.shape:
        raise LossInputError(
            f"{loss}: expected {names[1]} with the same shape as {names[0]} {shape_str(input)}, got {shape_str(target)}"
        )


def check_labels(
    loss: str, target: torch.Tensor, num_classes: int, ignore_index: int | None = None, name: str = "target"
) -> None:
    """Integer class labels in ``[0, num_classes)`` (``ignore_index`` allowed). The range check syncs."""
    check_tensor(loss, name, target)
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise LossInputError(
            f"{loss}: expected {name} to hold integer class indices (torch.long), got {target.dtype} with shape "
            f"{shape_str(target)}; for one-hot or soft targets use the same shape as the input"
        )
    if not label_checks_enabled() or target.numel() == 0:
        return
    if ignore_index is not None:
        # ignored labels must not decide the range: map them to 0 (always valid) instead of indexing them out
        target = torch.where(target == ignore_index, 0, target)
    low, high = torch.stack(torch.aminmax(target)).tolist()  # one pass over the labels, one host sync
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        ignored = "" if ignore_index is None else f" (ignore_index={ignore_index} is allowed)"
        raise LossInputError(
            f"{loss}: class label {bad} in {name} is out of range for {num_classes} classes: expected labels in "
            f"[0, {num_classes - 1}]{ignored}"
        )


def check_reduction(loss: str, reduction: str, allowed: Sequence[str] = _REDUCTIONS) -> str:
    return check_choice(loss, "reduction", reduction, allowed)


def check_choice(loss: str, what: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{loss}: {what} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value
