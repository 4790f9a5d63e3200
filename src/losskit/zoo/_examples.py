"""Example-input factories shared by the zoo's input specs (small, valid, reproducible)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Example = Callable[[nn.Module, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
"""A factory of (prediction, target) example inputs for a built loss."""

__all__ = ["Example", "pair", "logits_and_labels", "probs_and_binary", "logits_and_binary", "num_classes_of"]


def num_classes_of(loss: nn.Module, default: int = 3) -> int:
    n = getattr(loss, "num_classes", None)
    return int(n) if isinstance(n, int) and n > 0 else default


def pair(shape: tuple[int, ...] = (4, 8)) -> Example:
    """Two float tensors of the same shape (prediction, target)."""

    def make(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(shape, generator=g), torch.randn(shape, generator=g)

    return make


def logits_and_labels(batch: int = 4, spatial: tuple[int, ...] = ()) -> Example:
    """Logits (N, C, *spatial) and class indices (N, *spatial), C from the loss's ``num_classes``."""

    def make(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        c = num_classes_of(loss)
        return torch.randn((batch, c, *spatial), generator=g), torch.randint(0, c, (batch, *spatial), generator=g)

    return make


def logits_and_binary(shape: tuple[int, ...] = (4, 8)) -> Example:
    """Logits and a {0, 1} float target of the same shape."""

    def make(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(shape, generator=g), torch.randint(0, 2, shape, generator=g).float()

    return make


def probs_and_binary(shape: tuple[int, ...] = (4, 8)) -> Example:
    """Probabilities in (0, 1) and a {0, 1} float target of the same shape."""

    def make(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.rand(shape, generator=g) * 0.98 + 0.01, torch.randint(0, 2, shape, generator=g).float()

    return make
