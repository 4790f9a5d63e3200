"""Input validation shared by every loss: clear ``LossInputError``s instead of deep torch tracebacks.

Shape and dtype checks read metadata only (no host sync). The label-range check must look at the values,
which costs a device-to-host sync: it is on by default and can be switched off for speed with
:func:`set_label_checks` / :func:`label_checks` (or ``LOSSKIT_CHECK_LABELS=0``). It is skipped while
``torch.compile`` traces, so it never breaks a graph.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TypeVar

import torch

from ..errors import LossInputError
from ..registry.naming import suggest

__all__ = [
    "set_label_checks",
    "label_checks",
    "label_checks_enabled",
    "check_tensor",
    "check_float",
    "check_same_shape",
    "check_broadcast_weight",
    "check_labels",
    "check_reduction",
    "check_choice",
    "check_probabilities",
    "ignored_mask",
    "as_class_weight",
    "shape_str",
    "is_finite",
]

_REDUCTIONS = ("mean", "sum", "none")
S = TypeVar("S")  # an option value: check_choice returns it with its own (Literal) type
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


def is_finite(value: float) -> bool:
    """``math.isfinite`` for an option value, in a form ``torch.compile`` traces: under ``dynamic=True`` a float
    option reaches the loss as a symbolic float, which ``math.isfinite`` rejects (a graph break)."""
    return value == value and -math.inf < value < math.inf


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


def check_broadcast_weight(loss: str, name: str, weight: torch.Tensor | None, input: torch.Tensor) -> None:
    """An elementwise weight (``weight``, ``pos_weight``) is a float tensor broadcastable to the input's shape
    (a per-sample or per-class weight, a positive mask), without growing it; None passes."""
    if weight is None:
        return
    check_float(loss, name, weight)
    try:
        ok = torch.broadcast_shapes(weight.shape, input.shape) == input.shape  # type: ignore[no-untyped-call]
    except RuntimeError:
        ok = False
    if not ok:
        raise LossInputError(f"{loss}: {name} {shape_str(weight)} does not broadcast to the input {shape_str(input)}")


def check_same_shape(
    loss: str, input: torch.Tensor, target: torch.Tensor, names: Sequence[str] = ("input", "target")
) -> None:
    """Same shape, no silent broadcasting (``F.mse_loss`` only warns, then broadcasts)."""
    check_tensor(loss, names[0], input)
    check_tensor(loss, names[1], target)
    if input.shape != target.shape:
        raise LossInputError(
            f"{loss}: expected {names[1]} with the same shape as {names[0]} {shape_str(input)}, got {shape_str(target)}"
        )


def ignored_mask(target: torch.Tensor, ignore_index: int | None) -> torch.Tensor | None:
    """Where ``target == ignore_index``, compared in the value's own terms: None when nothing can be ignored.

    A plain ``target == ignore_index`` casts the index to the target's dtype, so on uint8 labels -100 wraps to
    156 and a real label 156 would be ignored; an index the dtype cannot hold matches nothing.
    """
    if ignore_index is None:
        return None
    if not target.is_floating_point() and target.dtype != torch.bool:
        info = torch.iinfo(target.dtype)
        if not info.min <= ignore_index <= info.max:
            return None
    return target == ignore_index


def _unignored(target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    mask = ignored_mask(target, ignore_index)
    return target if mask is None else torch.where(mask, 0, target)


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
        target = _unignored(target, ignore_index)
    low, high = torch.stack(torch.aminmax(target)).tolist()  # one pass over the labels, one host sync
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        ignored = "" if ignore_index is None else f" (ignore_index={ignore_index} is allowed)"
        raise LossInputError(
            f"{loss}: class label {bad} in {name} is out of range for {num_classes} classes: expected labels in "
            f"[0, {num_classes - 1}]{ignored}"
        )


def check_reduction(loss: str, reduction: S, allowed: Sequence[str] = _REDUCTIONS) -> S:
    return check_choice(loss, "reduction", reduction, allowed)


def check_choice(loss: str, what: str, value: S, allowed: Sequence[str]) -> S:
    """``value`` must be one of ``allowed``: else a ``ValueError`` naming the loss, the choices and the closest one.
    Returns ``value`` with its static type (a ``Literal`` option stays that ``Literal``).

    This is the one check of every string option (``reduction``, ``mode``, ``kernel_type``, ...) in the
    functional core; the config builder reports the same mistake earlier, from the ``Literal`` annotation.
    """
    if isinstance(value, str) and value in allowed:
        return value
    close = suggest(value, allowed, limit=1) if isinstance(value, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{loss}: {what} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}{hint}")


def check_probabilities(loss: str, target: torch.Tensor, ignore_index: int | None = None, name: str = "target") -> None:
    """Dense targets (masks, soft labels) hold values in ``[0, 1]`` (``ignore_index`` allowed).

    Catches a 0/255 PIL mask passed as a binary target. A value check, so it syncs, and it follows the
    label-check switch like :func:`check_labels`. NaN is not flagged here: NaN in gives NaN out.
    """
    check_tensor(loss, name, target)
    if target.dtype == torch.bool or not label_checks_enabled() or target.numel() == 0:
        return
    if ignore_index is not None:
        target = _unignored(target, ignore_index)
    low, high = torch.stack(torch.aminmax(target)).tolist()  # one pass, one host sync
    if low < 0 or high > 1:
        bad = low if low < 0 else high
        ignored = "" if ignore_index is None else f" (ignore_index={ignore_index} is allowed)"
        raise LossInputError(
            f"{loss}: expected {name} values in [0, 1]{ignored}, got {bad:g}; a 0/255 mask needs `mask / 255` or "
            f"`mask > 0`"
        )


def as_class_weight(loss: str, weight: object, name: str = "weight") -> torch.Tensor | None:
    """A per-class weight given as a tensor, list or tuple, as a 1-D floating tensor of finite values >= 0.

    Construction-time (the value check syncs once, when the loss is built, never in ``forward``).
    """
    if weight is None:
        return None
    if isinstance(weight, torch.Tensor):
        tensor = weight if weight.is_floating_point() else weight.float()
    elif isinstance(weight, (list, tuple)) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in weight
    ):
        tensor = torch.tensor([float(w) for w in weight], dtype=torch.float32)
    else:
        raise ValueError(f"{loss}: {name} must be a tensor or a list of numbers, one per class, got {weight!r:.200}")
    if tensor.dim() != 1 or tensor.numel() == 0:
        raise ValueError(f"{loss}: {name} must be 1-D with one entry per class, got shape {shape_str(tensor)}")
    if not bool(torch.isfinite(tensor).all()) or bool((tensor < 0).any()):
        raise ValueError(f"{loss}: {name} must hold finite values >= 0, got {tensor.tolist()!r:.200}")
    return tensor
