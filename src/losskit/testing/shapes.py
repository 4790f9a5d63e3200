"""Example inputs at the shapes a user asks for: ``check_loss(..., shapes={"input": (2, 3, 16, 16)})``.

The loss's own example is the template: each input keeps its dtype and its *value domain* (class indices stay
integers in the template's range, binary masks stay {0, 1}, probabilities stay in [0, 1], logits stay
normal); only shapes change. Inputs the user does not name follow a named one where their template shapes
show how: the same shape, the same without the class dimension (dim 1: logits ``(N, C, *S)`` and labels
``(N, *S)``), the same batch (``(N,)``), or a broadcast companion of the same rank and batch (a mask
``(N, 1, *S)``; where either side has size 1 the companion keeps its size).
Any other input keeps its template shape. Labels that follow a logit tensor stay below its new class count.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ..inputs import Example
from ..signatures import forward_signature
from .budget import ExampleError

__all__ = ["parse_shape", "reshape_example"]


def parse_shape(text: str) -> tuple[int, ...]:
    """``"2,3,16,16"`` (or ``"2x3x16x16"``) as a tuple of positive ints; a ValueError says what is wrong."""
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"a shape is comma-separated sizes such as 2,3,16,16; got {text!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"sizes must be >= 0, got {text!r}")
    return shape


def input_names(module: nn.Module) -> list[str]:
    """The positional input names of a loss's forward; a ``*args`` forward (a combined loss) takes its first
    term's names."""
    names: list[str] = []
    for p in forward_signature(module).parameters.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            terms = getattr(module, "terms", None)
            if isinstance(terms, nn.ModuleDict) and len(terms):
                return names + input_names(next(iter(terms.values())))[len(names) :]
            break
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    return names


def _names(module: nn.Module, example: Example) -> list[str]:
    positional = input_names(module)
    names = [positional[i] if i < len(positional) else f"arg{i}" for i in range(len(example.args))]
    return names + list(example.kwargs)


def _follow(template: tuple[int, ...], src_old: tuple[int, ...], src_new: tuple[int, ...]) -> tuple[int, ...] | None:
    """The new shape of an input whose template shape relates to ``src_old`` (which became ``src_new``)."""
    if template == src_old:
        return src_new
    if len(src_old) >= 2 and len(src_new) >= 2 and template == src_old[:1] + src_old[2:]:
        return src_new[:1] + src_new[2:]
    if len(template) == 1 and src_old and template[0] == src_old[0] and src_new:
        return src_new[:1]
    if (
        len(template) == len(src_old) == len(src_new)
        and template[0] == src_old[0]
        and all(t == o or 1 in (t, o) for t, o in zip(template, src_old, strict=True))
    ):  # a broadcast companion: a mask (N, 1, *S) of logits (N, C, *S), an image (N, 3, *S) of a depth (N, 1, *S)
        return tuple(n if t == o else t for t, o, n in zip(template, src_old, src_new, strict=True))
    return None


def _like(t: torch.Tensor, shape: tuple[int, ...], g: torch.Generator, classes: int | None) -> torch.Tensor:
    """A new tensor of ``shape`` in the value domain of the template ``t``."""
    if t.dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if not t.is_floating_point():
        lo, hi = (int(t.min()), int(t.max())) if t.numel() else (0, 1)
        lo = max(lo, 0) if hi >= 0 else lo  # drop ignore markers (-100) from the range: they are not classes
        if classes is not None:
            hi = min(hi, classes - 1)
        return torch.randint(lo, max(hi, lo) + 1, shape, generator=g).to(t.dtype)
    low, high = (float(t.min()), float(t.max())) if t.numel() else (0.0, 1.0)
    if t.numel() and bool(((t == 0) | (t == 1)).all()):
        return torch.randint(0, 2, shape, generator=g).to(t.dtype)
    if low >= 0.0:  # non-negative values (probabilities, distances, bin positions) keep their range
        return (torch.rand(shape, generator=g) * (high - low) + low).to(t.dtype)
    return torch.randn(shape, generator=g).to(t.dtype)


def reshape_example(
    module: nn.Module, template: Example, shapes: Mapping[str, Sequence[int]], generator: torch.Generator
) -> tuple[Example, list[str]]:
    """``template`` with the named inputs (and those that follow them) regenerated at the requested shapes.

    Returns the new example and one note per changed input (``"target (2, 16, 16): follows input"``).
    """
    names = _names(module, template)
    values = [*template.args, *template.kwargs.values()]
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise ExampleError(f"shapes: unknown input {unknown[0]!r}; the loss's inputs are {', '.join(names)}")
    for name in shapes:
        if not isinstance(values[names.index(name)], torch.Tensor):
            raise ExampleError(f"shapes: input {name!r} is not a tensor ({type(values[names.index(name)]).__name__})")
    new: dict[str, tuple[int, tuple[int, ...], str]] = {}  # name -> (index, shape, note)
    sources = [(n, tuple(values[names.index(n)].shape), tuple(int(d) for d in s)) for n, s in shapes.items()]
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        if name in shapes:
            new[name] = (i, tuple(int(d) for d in shapes[name]), "given")
        elif isinstance(value, torch.Tensor):
            for src, old, shape in sources:
                followed = _follow(tuple(value.shape), old, shape)
                if followed is not None:
                    new[name] = (i, followed, f"follows {src}")
                    break
    # Labels that follow a tensor whose class dimension changed stay below the new class count.
    classes = next((shape[1] for _, old, shape in sources if len(shape) >= 2 and len(old) >= 2), None)
    out = list(values)
    notes = []
    for name, (i, shape, note) in new.items():
        t = values[i]
        out[i] = _like(t, shape, generator, classes if not t.is_floating_point() else None)
        notes.append(f"{name} {shape}: {note}")
    n_args = len(template.args)
    return Example(tuple(out[:n_args]), dict(zip(list(template.kwargs), out[n_args:], strict=True))), notes
