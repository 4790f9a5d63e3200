"""The element budget of generated example inputs (``check_loss``, ``losskit check``).

Example factories size their tensors from the loss's options (``num_classes``, ...), and a config is data from
anyone: ``num_classes: 250000000`` would make 4-byte logits of a billion elements. Every tensor-creating torch
call made while examples are generated is counted *before* it allocates, and the total over all of them is
capped at :data:`MAX_EXAMPLE_ELEMENTS` (or the ``max_elements`` a caller passes); going over raises
:class:`ExampleTooLarge` instead of allocating.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from ..errors import ExampleError, ExampleTooLarge

__all__ = ["MAX_EXAMPLE_ELEMENTS", "ExampleError", "ExampleTooLarge", "element_budget"]

#: Default cap on the elements of all example tensors together: 2**24 = 16.8 million (64 MiB as float32),
#: ample for a 3-D volume of 2 x 4 x 64^3 and far below what a machine under test can spare.
MAX_EXAMPLE_ELEMENTS = 2**24

# Creation functions whose size is in their arguments; each is checked before it runs.
_SIZED = {
    "randn",
    "rand",
    "zeros",
    "ones",
    "empty",
    "full",
    "randint",
    "normal",
    "new_zeros",
    "new_ones",
    "new_empty",
    "new_full",
    "new_tensor",
}
_LIKE = {"randn_like", "rand_like", "randint_like", "zeros_like", "ones_like", "empty_like", "full_like"}


def _size_of(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int | None:
    """The number of elements a creation call will allocate, from its arguments; None if unknown."""
    if name in _LIKE:
        return args[0].numel() if args and isinstance(args[0], torch.Tensor) else None
    size = kwargs.get("size")
    if size is None:
        if name.startswith("new_"):
            args = args[1:]  # the tensor the method is called on
        if name in ("randint", "full", "normal", "new_full"):
            size = next((a for a in args if isinstance(a, (tuple, list, torch.Size))), None)
        elif args and isinstance(args[0], (tuple, list, torch.Size)):
            size = args[0]
        elif args and all(isinstance(a, int) for a in args):
            size = args
    if size is None:
        return None
    try:
        return math.prod(int(d) for d in size)
    except (TypeError, ValueError):
        return None


class _Budget(TorchFunctionMode):
    def __init__(self, limit: int, what: Callable[[], str]) -> None:
        super().__init__()
        self.limit, self.used, self.what = limit, 0, what

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _SIZED or name in _LIKE:
            n = _size_of(name, args, kwargs)
            if n is not None:
                self.used += n
                if self.used > self.limit:
                    raise ExampleTooLarge(
                        f"{self.what()}: the example inputs would hold over {self.used:,} elements "
                        f"(a {name}() of {n:,}), over the budget of {self.limit:,} elements (the loss's options, "
                        f"such as num_classes, or the shapes asked for size them); nothing was allocated. Pass "
                        f"smaller shapes (check_loss(shapes=...), losskit check --shape), your own inputs, or a "
                        f"larger max_elements"
                    )
        return func(*args, **kwargs)


@contextmanager
def element_budget(limit: int, what: Callable[[], str] = lambda: "losskit") -> Iterator[None]:
    """Count the elements of every tensor torch creates inside the block; over ``limit``: ExampleTooLarge."""
    if limit <= 0:
        raise ValueError(f"max_elements must be positive, got {limit}")
    with _Budget(limit, what):
        yield
