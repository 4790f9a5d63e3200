"""Registers the composition losses of :mod:`losskit.compose` under their canonical names."""

from __future__ import annotations

from ..compose.combined import CombinedLoss
from ..registration import register_loss

register_loss("combined", CombinedLoss, aliases=["CombinedLoss", "weighted_sum"], tags=["composite"])
