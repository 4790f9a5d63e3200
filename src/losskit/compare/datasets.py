"""The datasets of the comparisons (``losskit compare --list``): real ones read from installed packages, and
the synthetic ones generated on the fly that stand in when those packages are missing.

Every dataset is a pure function of its arguments: real data is cut by a fixed recipe, synthetic data is
drawn from the run's ``--seed``; the per-seed repeats of ``--seeds`` vary the initial weights and the batch
order only, so their spread is the spread of training, on the same data.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .data import Split, make_cracks, make_imbalanced_blobs
from .real_data import load_digits_long_tailed, load_mni152_slices
from .registration import make_pairs

__all__ = ["Dataset", "DATASETS", "Loader"]

#: ``(samples or None for the dataset's own, size, seed) -> (train, val)``
Loader = Callable[[int | None, int, int], tuple[Split, Split]]

_MNI_SOURCE = (
    "MNI ICBM152 2009a symmetric template (T1 and grey-matter probability), as shipped in nilearn's "
    "datasets/data folder; (c) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, MNI, McGill University "
    "(use and redistribution permitted with the copyright notice; Fonov et al., NeuroImage 2011)"
)


@dataclass(frozen=True)
class Dataset:
    """One dataset of one task, with the training recipe that suits it.

    Attributes:
        name: ``--dataset`` name. task: the task it serves. description: one line for reports.
        real: real data (from a package) or synthetic. source: where the data comes from and its licence.
        requires: importable modules the data needs (``pip install 'losskit[data]'``).
        target: what the deciding metric measures, for labels (``grey-matter``, ``crack``).
        num_classes, in_channels: the model's output and input widths (features for tabular data).
        rare_class: the training set's rarest class (classification), for the minority-recall metric.
        epochs, samples, size, batch_size, lr: the run's defaults (``samples`` None: every training sample).
        load: the loader. fallback_note: set when this synthetic dataset stands in for a missing real one.
    """

    name: str
    task: str
    description: str
    real: bool
    source: str
    requires: tuple[str, ...]
    target: str
    num_classes: int
    in_channels: int
    epochs: int
    samples: int | None
    size: int
    batch_size: int
    lr: float
    load: Loader
    rare_class: int | None = None
    fallback_note: str | None = None

    def available(self) -> bool:
        """True when every module the data needs can be imported."""
        return all(importlib.util.find_spec(module) is not None for module in self.requires)


def _limit(split: Split, samples: int | None) -> Split:
    return split if samples is None or samples >= len(split) else split.take(slice(0, samples))


def _mni_slices(samples: int | None, size: int, seed: int) -> tuple[Split, Split]:
    train, val = load_mni152_slices(size)
    return _limit(train, samples), val


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Intensities rescaled to [0, 1] over the set (what MI's Parzen bins and the warp's zero padding expect)."""
    return (x - x.min()) / (x.max() - x.min()).clamp_min(1e-6)


def _cracks(samples: int | None, size: int, seed: int) -> tuple[Split, Split]:
    n = samples or 128
    # Validation is a quarter of the training size (at least 8), from a disjoint seed stream.
    return make_cracks(n, size, seed=seed), make_cracks(max(8, n // 4), size, seed=seed + 10_000)


def _mni_pairs(samples: int | None, size: int, seed: int) -> tuple[Split, Split]:
    train, val = _mni_slices(samples, size, seed)
    low, high = train.x.min(), train.x.max()

    def unit(x: torch.Tensor) -> torch.Tensor:  # the training set's range maps to [0, 1]
        return ((x - low) / (high - low)).clamp(0, 1)

    magnitude = 0.05 * size
    return (
        make_pairs(unit(train.x), train.y, seed=seed, magnitude=magnitude),
        make_pairs(unit(val.x), val.y, seed=seed + 10_000, magnitude=magnitude),
    )


def _crack_pairs(samples: int | None, size: int, seed: int) -> tuple[Split, Split]:
    train, val = _cracks(samples, size, seed)
    magnitude = 0.05 * size
    return (
        make_pairs(_unit(train.x), train.y, seed=seed, magnitude=magnitude),
        make_pairs(_unit(val.x), val.y, seed=seed + 20_000, magnitude=magnitude),
    )


def _digits(samples: int | None, size: int, seed: int) -> tuple[Split, Split]:
    train, val = load_digits_long_tailed()
    return _limit(train, samples), val


def _blobs(samples: int | None, size: int, seed: int) -> tuple[Split, Split]:
    n = samples or 2000
    return make_imbalanced_blobs(n, seed=seed), make_imbalanced_blobs(max(64, n // 2), seed=seed, split=1)


_ALL = (
    Dataset(
        name="mni152",
        task="segmentation",
        description="grey-matter ribbon of the MNI152 brain template: 2D axial and coronal slices, split by slab "
        "(about 16% foreground, a thin folded structure)",
        real=True,
        source=_MNI_SOURCE,
        requires=("nilearn", "nibabel"),
        target="grey-matter",
        num_classes=2,
        in_channels=1,
        epochs=6,
        samples=None,
        size=64,
        batch_size=8,
        lr=1e-2,
        load=_mni_slices,
    ),
    Dataset(
        name="cracks",
        task="segmentation",
        description="synthetic thin random cracks on textured noise (about 2% foreground)",
        real=False,
        source="generated by losskit.compare.data.make_cracks",
        requires=(),
        target="crack",
        num_classes=2,
        in_channels=1,
        epochs=8,
        samples=128,
        size=64,
        batch_size=8,
        lr=1e-2,
        load=_cracks,
    ),
    Dataset(
        name="digits",
        task="classification",
        description="scikit-learn's handwritten digits (8x8), long-tailed: 150 down to 3 training images per "
        "class (imbalance ratio 50), balanced validation (24 per class)",
        real=True,
        source="scikit-learn's bundled copy of the UCI Optical Recognition of Handwritten Digits data "
        "(scikit-learn BSD-3; the data CC BY 4.0, Alpaydin & Kaynak 1998)",
        requires=("sklearn",),
        target="digit",
        num_classes=10,
        in_channels=64,
        epochs=40,
        samples=None,
        size=0,
        batch_size=32,
        lr=3e-3,
        load=_digits,
        rare_class=9,
    ),
    Dataset(
        name="blobs",
        task="classification",
        description="synthetic long-tailed Gaussian clusters (4 classes, shares 70/16/9/5%)",
        real=False,
        source="generated by losskit.compare.data.make_imbalanced_blobs",
        requires=(),
        target="class",
        num_classes=4,
        in_channels=16,
        epochs=15,
        samples=2000,
        size=0,
        batch_size=64,
        lr=3e-3,
        load=_blobs,
        rare_class=3,
    ),
    Dataset(
        name="mni152-pairs",
        task="registration",
        description="MNI152 template slices (as for segmentation) warped by random smooth fields of std "
        "5% of the image side; the grey-matter masks are warped alike",
        real=True,
        source=_MNI_SOURCE,
        requires=("nilearn", "nibabel"),
        target="grey-matter",
        num_classes=2,
        in_channels=2,
        epochs=6,
        samples=None,
        size=64,
        batch_size=8,
        lr=3e-3,
        load=_mni_pairs,
    ),
    Dataset(
        name="cracks-pairs",
        task="registration",
        description="synthetic crack images warped by random smooth fields of std 5% of the image side",
        real=False,
        source="generated by losskit.compare.data.make_cracks",
        requires=(),
        target="crack",
        num_classes=2,
        in_channels=2,
        epochs=6,
        samples=128,
        size=64,
        batch_size=8,
        lr=3e-3,
        load=_crack_pairs,
    ),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in _ALL}
