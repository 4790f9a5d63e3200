"""Declared inputs of a loss: what each forward argument is, and how to make a valid example.

Every registered loss can carry an :class:`InputSpec`. Tools use it to describe a loss (``describe_loss``,
``losskit info``) and to make sample inputs (``check_loss``, ``losskit check``) without knowing the loss.

Example::

    @register_loss("my_dice", inputs=InputSpec(
        tensors=(TensorSpec("input", "(N, C, *spatial)", "float", "logits"),
                 TensorSpec("target", "(N, *spatial)", "long", "class indices in [0, C)")),
        example=lambda loss, g: (torch.randn(2, 3, 8, 8, generator=g), torch.randint(0, 3, (2, 8, 8), generator=g)),
    ))
    class MyDice(nn.Module): ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["TensorSpec", "InputSpec", "Example", "ExampleFactory", "make_generator"]


@dataclass(frozen=True)
class TensorSpec:
    """One forward argument.

    Attributes:
        name: the argument's name in ``forward``.
        layout: its shape in words, e.g. ``"(N, C, *spatial)"``.
        dtype: ``"float"``, ``"long"``, ``"bool"``, ``"dict"``, ``"list"`` ...
        doc: what it holds (logits, probabilities, class indices, boxes xyxy ...).
        optional: whether the argument may be left out.
    """

    name: str
    layout: str
    dtype: str = "float"
    doc: str = ""
    optional: bool = False

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@dataclass(frozen=True)
class Example:
    """Sample inputs: positional ``args`` and named ``kwargs`` for one call of the loss."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)


#: Makes sample inputs for a *built* loss (so it can read ``num_classes``, ``mode`` ...) from a generator.
ExampleFactory = Callable[[nn.Module, torch.Generator], "Example | tuple[Any, ...]"]


@dataclass(frozen=True)
class InputSpec:
    """The declared inputs of a loss and a factory of valid examples."""

    tensors: tuple[TensorSpec, ...] = ()
    example: ExampleFactory | None = None

    def make_example(self, loss: nn.Module, generator: torch.Generator | None = None) -> Example:
        """Valid sample inputs for ``loss``. Raises ``LookupError`` when the spec has no factory."""
        if self.example is None:
            raise LookupError("this input spec has no example factory")
        made = self.example(loss, generator if generator is not None else make_generator())
        return made if isinstance(made, Example) else Example(tuple(made))

    @classmethod
    def coerce(cls, value: InputSpec | ExampleFactory | Sequence[TensorSpec] | None) -> InputSpec | None:
        """Accept a spec, a bare example factory, or a sequence of :class:`TensorSpec`."""
        if value is None or isinstance(value, InputSpec):
            return value
        if callable(value):
            return cls(example=value)
        return cls(tensors=tuple(value))


def make_generator(seed: int = 0) -> torch.Generator:
    """A CPU generator with a fixed seed, so examples are reproducible."""
    return torch.Generator().manual_seed(seed)
