"""The small networks the comparison trains: a tiny U-Net for segmentation, an MLP for classification.

They are deliberately small (a few thousand parameters) so that one training run per loss fits in seconds
on a laptop CPU; what the comparison measures is how the loss steers the *same* model, not the model.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TinyUNet", "SmallMLP"]


def _block(cin: int, cout: int) -> nn.Sequential:
    # BatchNorm would make results depend on batch composition in eval; GroupNorm(1) does not.
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.GroupNorm(1, cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.GroupNorm(1, cout),
        nn.ReLU(inplace=True),
    )


class TinyUNet(nn.Module):
    """A two-level U-Net: (N, in_channels, H, W) -> logits (N, num_classes, H, W); H and W divisible by 4."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 8) -> None:
        super().__init__()
        w = width
        self.enc1 = _block(in_channels, w)
        self.enc2 = _block(w, 2 * w)
        self.mid = _block(2 * w, 4 * w)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = _block(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec1 = _block(2 * w, w)
        self.head = nn.Conv2d(w, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        logits: torch.Tensor = self.head(d1)  # Module.__call__ is typed Any in torch's stubs
        return logits


class SmallMLP(nn.Module):
    """Two hidden layers: (N, in_features) -> logits (N, num_classes)."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(x)
        return logits
