"""Real data for the comparisons, read from files that installed packages ship (nothing is downloaded).

* :func:`load_digits_long_tailed`: scikit-learn's bundled handwritten digits (1797 8x8 images, BSD-3),
  made long-tailed by a fixed recipe: class ``c`` keeps ``round(150 * 50 ** (-c / 9))`` training images
  (150 down to 3: imbalance ratio 50); validation is balanced, 24 images per class, drawn first.
* :func:`load_mni152_slices`: 2D slices of the MNI ICBM152 2009a symmetric template that nilearn ships
  (``nilearn/datasets/data/mni_icbm152_{t1,gm}_tal_nlin_sym_09a_converted.nii.gz``, read with nibabel), with
  the grey-matter ribbon (GM probability > 0.5) as the mask: a thin structure, about 15% of a slice.

Neither function imports the package that ships the data: the files are located with
:func:`importlib.util.find_spec` (importing ``nilearn`` or ``sklearn`` would pull in pandas, SciPy and more) and
read with NumPy (``sklearn/datasets/data/digits.csv.gz``, what ``load_digits`` reads) and nibabel (the templates).

Licences: scikit-learn BSD-3 (the digits are the UCI "Optical Recognition of Handwritten Digits" set, CC BY
4.0); the ICBM 2009a template is (c) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal
Neurological Institute, McGill University, free to use and distribute with that notice (see docs/compare.md).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import Split

__all__ = [
    "MissingData",
    "load_digits_long_tailed",
    "load_mni152_slices",
    "mni152_volumes",
    "DIGITS_MAX_PER_CLASS",
    "DIGITS_IMBALANCE",
]

DIGITS_MAX_PER_CLASS = 150
DIGITS_IMBALANCE = 50
DIGITS_VAL_PER_CLASS = 24
_MNI_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


class MissingData(ImportError):
    """The package that ships a dataset is not installed; the message says what to install."""


def _need(module: str, dataset: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingData(
            f"the {dataset!r} dataset needs the {module} package: pip install 'losskit[data]' "
            "(or choose a synthetic dataset: losskit compare --list)"
        )


def _package_data(package: str, relative: str, dataset: str) -> Path:
    """The path of a data file that ``package`` ships, found without importing the package."""
    _need(package, dataset)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingData(f"{package} is installed as a single module, not a package: its data files are missing")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise MissingData(f"the installed {package} does not ship {relative} (looked in {path.parent})")
    return path


def load_digits_long_tailed() -> tuple[Split, Split]:
    """The long-tailed digits: (train, val) of (N, 64) features in [0, 1] and labels 0-9 (class 0 most common)."""
    table = np.loadtxt(_package_data("sklearn", "datasets/data/digits.csv.gz", "digits"), delimiter=",")
    x = table[:, :-1].astype(np.float32) / 16.0
    y = table[:, -1].astype(np.int64)
    rng = np.random.default_rng(0)  # the recipe is fixed: every run sees the same images
    train_idx: list[np.ndarray] = []
    val_idx: list[np.ndarray] = []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(y == c))
        keep = round(DIGITS_MAX_PER_CLASS * DIGITS_IMBALANCE ** (-c / 9))
        val_idx.append(members[:DIGITS_VAL_PER_CLASS])
        train_idx.append(members[DIGITS_VAL_PER_CLASS : DIGITS_VAL_PER_CLASS + keep])
    tr = rng.permutation(np.concatenate(train_idx))
    va = np.concatenate(val_idx)
    return (
        Split(torch.from_numpy(x[tr]), torch.from_numpy(y[tr])),
        Split(torch.from_numpy(x[va]), torch.from_numpy(y[va])),
    )


@lru_cache(maxsize=1)
def mni152_volumes() -> dict[str, np.ndarray]:
    """The 1 mm template volumes (197 x 233 x 189, x/y/z = left-right, posterior-anterior, inferior-superior),
    as float32 in [0, 1]: ``t1`` (intensity), ``gm`` and ``wm`` (tissue probabilities)."""
    _need("nibabel", "mni152")
    import nibabel

    paths = {key: _package_data("nilearn", f"datasets/data/{name}", "mni152") for key, name in _MNI_FILES.items()}
    return {
        key: np.asarray(nibabel.Nifti1Image.from_filename(path).dataobj, dtype=np.float32) / 255.0
        for key, path in paths.items()
    }


def _square(volume: np.ndarray, axis: int, size: int) -> torch.Tensor:
    """Every slice along ``axis`` as (S, 1, size, size): padded to a square with zeros, area-downsampled."""
    slices = torch.from_numpy(np.moveaxis(volume, axis, 0).copy())  # (S, a, b)
    slices = slices.transpose(1, 2).flip(1)  # rows run superior/anterior first: the usual radiological view
    a, b = slices.shape[1:]
    side = max(a, b)
    pad = (side - b) // 2, side - b - (side - b) // 2, (side - a) // 2, side - a - (side - a) // 2
    return F.interpolate(F.pad(slices[:, None], pad), size=(size, size), mode="area")


def load_mni152_slices(size: int = 64, *, val_every: int = 5, slab: int = 8, gap: int = 3) -> tuple[Split, Split]:
    """Axial and coronal slices of the template with more than 5% tissue, as (train, val).

    ``x`` is the T1 slice (N, 1, size, size) standardised with the training set's statistics, ``y`` the
    grey-matter mask (N, size, size) of class indices (0 background, 1 grey matter). Neighbouring slices are
    nearly the same image, so the split is by slab: slices are grouped in runs of ``slab`` (1 mm apart) along
    each axis, every ``val_every``-th run goes to validation, and training slices closer than ``gap`` mm to a
    validation slice are dropped.
    """
    vols = mni152_volumes()
    xs_train, ys_train, xs_val, ys_val = [], [], [], []
    for axis in (2, 1):  # axial, coronal
        t1 = _square(vols["t1"], axis, size)
        gm = _square(vols["gm"], axis, size)
        tissue = _square(vols["gm"] + vols["wm"], axis, size)
        keep = (tissue > 0.5).float().mean(dim=(1, 2, 3)) > 0.05
        position = torch.arange(len(t1))
        val = keep & ((position // slab) % val_every == val_every // 2)
        distance = (position[:, None] - position[val][None, :]).abs().min(dim=1).values
        train = keep & ~val & (distance >= gap)
        xs_train.append(t1[train])
        ys_train.append((gm[train, 0] > 0.5).long())
        xs_val.append(t1[val])
        ys_val.append((gm[val, 0] > 0.5).long())
    x_train, x_val = torch.cat(xs_train), torch.cat(xs_val)
    mean, std = x_train.mean(), x_train.std()
    return Split((x_train - mean) / std, torch.cat(ys_train)), Split((x_val - mean) / std, torch.cat(ys_val))
