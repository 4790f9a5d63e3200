"""Synthetic datasets generated on the fly (nothing is downloaded), built to make losses disagree.

* :func:`make_cracks`: thin random curves on textured noise, about 2 % foreground, the imbalanced
  "pavement crack" situation where plain cross-entropy learns to predict background almost everywhere.
* :func:`make_imbalanced_blobs`: a long-tailed multi-class set of overlapping Gaussian clusters, where the
  rare classes are the ones an unweighted classifier gives up on.

Both are pure functions of their seed (a NumPy ``Generator`` drives every random choice), so a comparison
sees exactly the same data run after run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Split", "make_cracks", "make_imbalanced_blobs", "DEFAULT_CLASS_SHARES"]

#: Class shares of the default classification set: one frequent class, then a long tail.
DEFAULT_CLASS_SHARES: tuple[float, ...] = (0.70, 0.16, 0.09, 0.05)


@dataclass(frozen=True)
class Split:
    """Inputs ``x`` and targets ``y`` of one split (class indices, or a field for registration), and the masks
    a task needs beside them (registration: moving, fixed and measured-region masks), indexed alike."""

    x: torch.Tensor
    y: torch.Tensor
    masks: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, index: torch.Tensor | slice) -> Split:
        """The samples at ``index`` (a batch, or the first ``n``)."""
        return Split(self.x[index], self.y[index], None if self.masks is None else self.masks[index])


def _smooth_noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Low-frequency texture: coarse noise upsampled bilinearly (cheap, no FFT, no SciPy)."""
    coarse = rng.standard_normal((size // scale + 2, size // scale + 2))
    grid = np.linspace(0, size / scale, size, endpoint=False)
    i0 = grid.astype(int)
    f = grid - i0
    rows = coarse[i0] * (1 - f)[:, None] + coarse[i0 + 1] * f[:, None]
    texture: np.ndarray = rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]
    return texture


def _draw_curve(mask: np.ndarray, rng: np.random.Generator, length: int, width: int) -> None:
    """A random walk with a slowly turning heading, stamped ``width`` pixels thick into ``mask``."""
    size = mask.shape[0]
    y, x = rng.uniform(0.1 * size, 0.9 * size, 2)
    heading = rng.uniform(0, 2 * np.pi)
    turn = 0.0
    for _ in range(length):
        turn = 0.7 * turn + rng.normal(0, 0.12)  # correlated turning: crack-like, not Brownian
        heading += turn
        y += np.sin(heading)
        x += np.cos(heading)
        if not (0 <= y < size and 0 <= x < size):
            break
        r0, c0 = int(y), int(x)
        mask[r0 : r0 + width, c0 : c0 + width] = 1


def make_cracks(n: int, size: int = 64, *, seed: int = 0, foreground: float = 0.02, contrast: float = 2.0) -> Split:
    """``n`` grey images (n, 1, size, size) of textured noise with thin dark curves, and their masks (n, size, size).

    Args:
        n: number of images.
        size: image side in pixels.
        seed: everything is a function of it.
        foreground: target share of crack pixels (about; each image draws its own curve lengths).
        contrast: how much darker a crack is than its surroundings, in units of the texture's std.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, 1, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=np.int64)
    for k in range(n):
        mask = np.zeros((size, size), dtype=np.int64)
        # Curves leaving the image are cut short, hence the 1.3: the *kept* share lands near ``foreground``.
        budget = 1.3 * foreground * size * size
        curves = int(rng.integers(1, 3))
        for _ in range(curves):
            width = int(rng.choice([1, 2], p=[0.6, 0.4]))
            _draw_curve(mask, rng, length=int(budget / curves / width * rng.uniform(0.7, 1.3)), width=width)
        texture = 0.8 * _smooth_noise(rng, size, 16) + 0.5 * _smooth_noise(rng, size, 4)
        texture += 0.45 * rng.standard_normal((size, size))  # grain: makes single dark pixels ambiguous
        depth = contrast * rng.uniform(0.6, 1.4, (size, size))  # cracks fade in and out along their length
        images[k, 0] = texture - depth * mask
        masks[k] = mask
    x = torch.from_numpy(images)
    x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / x.std(dim=(1, 2, 3), keepdim=True)  # per image: split-free
    return Split(x, torch.from_numpy(masks))


def make_imbalanced_blobs(
    n: int,
    *,
    seed: int = 0,
    split: int = 0,
    features: int = 16,
    shares: Sequence[float] = DEFAULT_CLASS_SHARES,
    spread: float = 2.2,
) -> Split:
    """``n`` feature vectors (n, features) from overlapping Gaussian clusters with long-tailed class shares.

    Each class is a mixture of two clusters so that a linear model is not enough; ``spread`` is the cluster
    std relative to the distance scale of the centres (larger: more overlap, harder rare classes). The
    clusters depend on ``seed`` only; ``split`` picks an independent sample of them (train 0, validation 1).
    """
    rng = np.random.default_rng(seed)
    shares_arr = np.asarray(shares, dtype=np.float64)
    shares_arr = shares_arr / shares_arr.sum()
    centres = rng.standard_normal((len(shares_arr), 2, features)) * 1.5
    mixing = rng.standard_normal((features, features)) / np.sqrt(features)  # correlated features
    rng = np.random.default_rng([seed, split])
    counts = np.maximum(1, np.round(shares_arr * n).astype(int))
    counts[0] += n - counts.sum()  # exact total; the frequent class absorbs rounding
    xs, ys = [], []
    for c, count in enumerate(counts):
        which = rng.integers(0, 2, count)
        points = centres[c, which] + spread * rng.standard_normal((count, features))
        xs.append(points @ mixing)
        ys.append(np.full(count, c, dtype=np.int64))
    order = rng.permutation(n)
    # No per-split standardisation: it would shift train and validation differently.
    x = torch.from_numpy(np.concatenate(xs)[order].astype(np.float32))
    return Split(x, torch.from_numpy(np.concatenate(ys)[order]))
