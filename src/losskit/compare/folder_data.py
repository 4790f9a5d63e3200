"""A user's own segmentation data: ``DIR/images/*.png`` and ``DIR/masks/*.png``, paired by file name.

Masks hold class indices (0 = background, 1, 2, ...) or, for a binary mask, 0 and 255. Images are grey or
colour (alpha is dropped); every pair is resized to ``size`` x ``size`` (images bilinear, masks nearest), and
the pairs are split into training and validation by a fixed seed. Anything that does not fit is a
:class:`FolderDataError` that names the file and what was wrong.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import Split
from .real_data import MissingData

__all__ = ["FolderDataError", "FolderData", "load_folder", "VAL_SHARE", "MAX_CLASSES"]

VAL_SHARE = 0.2
MAX_CLASSES = 64


class FolderDataError(ValueError):
    """A ``--data`` folder that does not hold matching image and mask PNGs."""


@dataclass(frozen=True)
class FolderData:
    """The loaded folder: splits, class count, channels, and the pair names of each split."""

    train: Split
    val: Split
    num_classes: int
    in_channels: int
    train_names: tuple[str, ...]
    val_names: tuple[str, ...]


def _names(folder: Path, root: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir())[:10]
        raise FolderDataError(
            f"--data {root}: expected a folder {folder.name}/ with the {what} (PNG files), found {found or 'nothing'}"
        )
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() == ".png" and p.is_file()}
    if not files:
        raise FolderDataError(f"--data {root}: {folder.name}/ holds no .png files")
    return files


def _read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        array = np.asarray(im)
    if array.ndim == 3:  # a grey mask saved as RGB(A): fine when every colour channel agrees
        if not (array[..., :3] == array[..., :1]).all():
            raise FolderDataError(f"{path}: a mask must be single-channel (class indices), got a colour image")
        array = array[..., 0]
    if array.shape != shape:
        raise FolderDataError(f"{path}: mask is {array.shape[1]}x{array.shape[0]}, its image {shape[1]}x{shape[0]}")
    values = np.unique(array)
    if set(values.tolist()) <= {0, 255}:
        binary: np.ndarray = (array == 255).astype(np.int64)
        return binary
    if values.max() >= MAX_CLASSES:
        raise FolderDataError(
            f"{path}: mask values must be class indices 0..{MAX_CLASSES - 1} (or 0/255 for a binary mask), "
            f"got {values.tolist()[:8]}"
        )
    labels: np.ndarray = array.astype(np.int64)
    return labels


def load_folder(root: str | Path, size: int, seed: int) -> FolderData:
    """Read, check, resize and split the pairs of ``root`` (see the module docs)."""
    if importlib.util.find_spec("PIL") is None:
        raise MissingData("--data needs Pillow to read PNG files: pip install 'losskit[data]'")
    from PIL import Image

    root = Path(root)
    if not root.is_dir():
        raise FolderDataError(f"--data {root}: not a folder (expected one with images/ and masks/ inside)")
    images, masks = _names(root / "images", root, "images"), _names(root / "masks", root, "masks")
    lonely = sorted(set(images) ^ set(masks))
    if lonely:
        no_mask = [n for n in lonely if n in images][:5]
        no_image = [n for n in lonely if n in masks][:5]
        raise FolderDataError(
            f"--data {root}: images and masks are paired by file name; "
            + "; ".join(
                part
                for part in (
                    f"no mask for {', '.join(no_mask)}" if no_mask else "",
                    f"no image for {', '.join(no_image)}" if no_image else "",
                )
                if part
            )
        )
    names = sorted(images)
    if len(names) < 2:
        raise FolderDataError(f"--data {root}: needs at least 2 pairs (training and validation), found {len(names)}")
    pictures = []
    for name in names:
        with Image.open(images[name]) as im:
            pictures.append(np.asarray(im.convert("RGB") if im.mode not in ("L", "I;16", "I", "F") else im))
    colour = any(p.ndim == 3 for p in pictures)
    xs, ys = [], []
    for name, picture in zip(names, pictures, strict=True):
        mask = _read_mask(masks[name], picture.shape[:2])
        image = torch.from_numpy(picture.astype(np.float32))
        image = image.permute(2, 0, 1) if image.ndim == 3 else image[None].expand(3 if colour else 1, -1, -1)
        xs.append(F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False))
        ys.append(F.interpolate(torch.from_numpy(mask)[None, None].float(), size=(size, size), mode="nearest"))
    x = torch.cat(xs)
    y = torch.cat(ys)[:, 0].long()
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(VAL_SHARE * len(names)))
    val_idx, train_idx = order[:n_val], order[n_val:]
    mean = x[train_idx].mean(dim=(0, 2, 3), keepdim=True)
    std = x[train_idx].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    x = (x - mean) / std
    return FolderData(
        train=Split(x[train_idx], y[train_idx]),
        val=Split(x[val_idx], y[val_idx]),
        num_classes=max(2, int(y.max()) + 1),
        in_channels=int(x.shape[1]),
        train_names=tuple(names[i] for i in train_idx.tolist()),
        val_names=tuple(names[i] for i in val_idx.tolist()),
    )
