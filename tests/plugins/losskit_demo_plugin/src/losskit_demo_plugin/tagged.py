"""A plugin module that also registers itself with metadata (tasks/tags) when imported."""

from __future__ import annotations

import torch
from torch import nn

import losskit


@losskit.register_loss("tagged_plugin_loss", tasks=["segmentation"], tags=["plugin"])
class TaggedLoss(nn.Module):
    """A plugin loss that registers its own tasks and tags."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).pow(2).mean()
