"""Sample inputs for any built loss, from its declared input spec."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ..inputs import Example
from ..registration import LOSSES
from ..signatures import forward_signature

__all__ = ["example_for", "spec_for"]


def spec_for(module: nn.Module) -> Any:
    """The :class:`~losskit.inputs.InputSpec` of a built loss, found through its registry entry."""
    config = getattr(module, "_losskit_config", None)
    name = config.get("name") if isinstance(config, dict) else None
    if name is None:
        name = getattr(module, "loss_name", None)
    if name is not None and name in LOSSES:
        spec = LOSSES.entry(name).metadata.get("inputs")
        if spec is not None:
            return spec
    entry = LOSSES.find(type(module))
    return None if entry is None else entry.metadata.get("inputs")


def example_for(module: nn.Module, generator: torch.Generator) -> Example:
    """Valid sample inputs for ``module``.

    In order: the module's own ``example_inputs(generator)`` method, the example factory of its registry
    entry, and as a last resort a guess of float tensors of shape (4, 8), one per required forward input
    (right for elementwise losses such as ``mse``).
    """
    own = getattr(module, "example_inputs", None)
    if callable(own):
        made = own(generator)
        return made if isinstance(made, Example) else Example(tuple(made))
    spec = spec_for(module)
    if spec is not None and spec.example is not None:
        return spec.make_example(module, generator)
    required = [
        p
        for p in forward_signature(module).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return Example(tuple(torch.rand(4, 8, generator=generator) for _ in required or [0, 1]))
