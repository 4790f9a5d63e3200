"""Registers the composition losses of :mod:`losskit.compose` under their canonical names."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..compose.combined import CombinedLoss
from ..inputs import InputSpec
from ..registration import register_loss
from ..testing.examples import example_for


def _combined_example(loss: nn.Module, generator: torch.Generator) -> Any:
    """Sample inputs of a combined loss: those of its first term (every term takes the same inputs)."""
    if not isinstance(loss, CombinedLoss):
        raise TypeError(f"the 'combined' example factory takes a CombinedLoss, got {type(loss).__name__}")
    return example_for(next(iter(loss.terms.values())), generator)


register_loss(
    "combined",
    CombinedLoss,
    aliases=["CombinedLoss", "weighted_sum"],
    tags=["composite"],
    inputs=InputSpec(example=_combined_example),
)
