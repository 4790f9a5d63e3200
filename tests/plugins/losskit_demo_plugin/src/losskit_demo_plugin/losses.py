"""Losses this plugin provides. losskit imports this module only when one of them is first used."""

from __future__ import annotations

import torch
from torch import nn

IMPORTED = True  # tests read sys.modules to check this module was (not) imported


class FocalDice(nn.Module):
    """A plugin loss: 1 - soft Dice of sigmoid probabilities, raised to ``gamma``."""

    def __init__(self, gamma: float = 1.0, smooth: float = 1.0) -> None:
        super().__init__()
        self.gamma = gamma
        self.smooth = smooth

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(input)
        inter = (p * target).sum()
        dice = (2 * inter + self.smooth) / (p.sum() + target.sum() + self.smooth)
        return (1 - dice).clamp_min(0) ** self.gamma


class ScaledL1(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.scale * (input - target).abs().mean()


def make_scaled_l1(scale: float = 2.0) -> nn.Module:
    """A plugin factory."""
    return ScaledL1(scale)
