"""Sample inputs for any built loss, from its declared input spec, within an element budget.

Where they come from, in order: the module's own ``example_inputs(generator)`` method; the example factory of
its registry entry's :class:`~losskit.inputs.InputSpec`; the tensors the spec declares (each made with its
declared dtype: ``long`` class indices below the class count of the logits before them, ``bool`` masks,
``dict`` inputs from a ``{key: (shape), ...}`` layout); and as a last resort the forward's annotations
(float tensors of shape (4, 8), right for elementwise losses such as ``mse``). ``shapes`` then resizes them
(see :mod:`losskit.testing.shapes`). Every tensor created on the way counts against ``max_elements``.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..inputs import Example, TensorSpec
from ..registration import LOSSES
from ..signatures import forward_signature, type_hints
from .budget import MAX_EXAMPLE_ELEMENTS, ExampleError, ExampleTooLarge, element_budget
from .shapes import reshape_example

__all__ = ["example_for", "spec_for", "ExampleError", "ExampleTooLarge", "MAX_EXAMPLE_ELEMENTS"]

_BATCH, _WIDTH = 4, 8  # the fallback's (N, D)
_DICT_ITEM = re.compile(r"(\w+)\s*:\s*\(([^)]*)\)")


def spec_for(module: nn.Module) -> Any:
    """The :class:`~losskit.inputs.InputSpec` of a built loss, found through its registry entry."""
    config = getattr(module, "_losskit_config", None)
    name = config.get("name") if isinstance(config, dict) else None
    if name is None:
        name = getattr(module, "loss_name", None)
    if isinstance(name, str) and name in LOSSES:
        spec = LOSSES.entry(name).metadata.get("inputs")
        if spec is not None:
            return spec
    entry = LOSSES.find(type(module))
    return None if entry is None else entry.metadata.get("inputs")


def _label(module: nn.Module) -> str:
    return str(getattr(module, "loss_name", None) or type(module).__name__)


def _dict_input(label: str, spec: TensorSpec, g: torch.Generator) -> dict[str, torch.Tensor]:
    items = _DICT_ITEM.findall(spec.layout)
    if not items:
        raise ExampleError(
            f"cannot make example inputs for {label!r}: input {spec.name!r} is a dict and its layout "
            f"{spec.layout!r} does not list its keys; declare it as '{{key: (N, D), ...}}' or pass inputs=(...)"
        )
    sizes = {"N": _BATCH, "B": _BATCH}
    return {
        key: torch.randn(
            tuple(
                int(d) if d.strip().isdigit() else sizes.get(d.strip(), _WIDTH) for d in dims.split(",") if d.strip()
            ),
            generator=g,
        )
        for key, dims in items
    }


def _declared(label: str, tensors: Sequence[TensorSpec], g: torch.Generator) -> Example:
    """One value per required declared input, of its declared dtype (the first of ``"long | float"``)."""
    made: list[Any] = []
    first: torch.Tensor | None = None  # the first float tensor: the others are shaped after it
    for spec in (t for t in tensors if not t.optional):
        dtype = spec.dtype.split("|")[0].strip().lower()
        same = "same" in spec.layout or first is None or first.dim() < 2
        shape = (_BATCH, _WIDTH) if first is None else tuple(first.shape)
        if dtype in ("long", "int", "int64"):
            if same or first is None:
                made.append(torch.randint(0, 2, shape, generator=g))
            else:  # class indices for the logits before them: (N, *S) in [0, C)
                made.append(torch.randint(0, first.shape[1], first.shape[:1] + first.shape[2:], generator=g))
        elif dtype == "bool":
            made.append(torch.randint(0, 2, shape, generator=g).bool())
        elif dtype == "dict":
            made.append(_dict_input(label, spec, g))
        elif dtype in ("float", "double", "half", ""):
            made.append(torch.randn(shape, generator=g))
            first = made[-1] if first is None else first
        else:
            raise ExampleError(
                f"cannot make example inputs for {label!r}: input {spec.name!r} has dtype {spec.dtype!r}; "
                f"declare an example factory in its InputSpec or pass inputs=(...)"
            )
    return Example(tuple(made))


def _annotated(module: nn.Module) -> list[TensorSpec]:
    """The required positional forward inputs as specs, typed from their annotations."""
    sig = forward_signature(module)
    hints = type_hints(type(module).forward) if not hasattr(module, "__losskit_signature__") else {}
    specs = []
    for p in sig.parameters.values():
        if p.default is not inspect.Parameter.empty or p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        ann = hints.get(p.name, p.annotation)
        origin = typing.get_origin(ann) or ann
        text = ann.split("[")[0].lower() if isinstance(ann, str) else ""
        is_dict = origin in (dict, Mapping) or text in ("dict", "mapping")
        specs.append(TensorSpec(p.name, "", "dict" if is_dict else "float"))
    return specs or [TensorSpec("input", ""), TensorSpec("target", "same as input")]


def _base(module: nn.Module, generator: torch.Generator) -> Example:
    own = getattr(module, "example_inputs", None)
    if callable(own):
        made = own(generator)
        return made if isinstance(made, Example) else Example(tuple(made))
    spec = spec_for(module)
    if spec is not None and spec.example is not None:
        made_by_spec: Example = spec.make_example(module, generator)
        return made_by_spec
    if spec is not None and spec.tensors:
        return _declared(_label(module), spec.tensors, generator)
    return _declared(_label(module), _annotated(module), generator)


def example_for(
    module: nn.Module,
    generator: torch.Generator,
    *,
    shapes: Mapping[str, Sequence[int]] | None = None,
    max_elements: int = MAX_EXAMPLE_ELEMENTS,
    notes: list[str] | None = None,
) -> Example:
    """Valid sample inputs for ``module``.

    Args:
        module: a built loss.
        generator: the source of randomness (``losskit.inputs.make_generator(seed)``).
        shapes: ``{input name: shape}`` to resize the example (the others follow where they can; see
            :mod:`losskit.testing.shapes`).
        max_elements: cap on the elements of all tensors made together (default :data:`MAX_EXAMPLE_ELEMENTS`).
        notes: a list that receives one line per input whose shape ``shapes`` changed.

    Raises:
        ExampleTooLarge: the inputs would exceed ``max_elements`` (nothing that large is allocated).
        ExampleError: nothing tells how to make an input (a dict without declared keys, ...).
            ``shapes`` names an input the loss does not have.
    """
    with element_budget(max_elements, lambda: f"loss {_label(module)!r}"):
        example = _base(module, generator)
        if shapes:
            example, changed = reshape_example(module, example, shapes, generator)
            if notes is not None:
                notes.extend(changed)
    return example
