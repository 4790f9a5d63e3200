"""The hot losses of the sweep (issue 14) and every implementation each is measured against.

A :class:`Hot` loss names its input kind (which grid it walks: ``seg`` (logits (N, C, *S) and labels), ``ml``
(logits and a same-shape {0, 1} target), ``reg`` (two images (N, 1, *S)), ``img`` (two images (N, 3, H, W)),
``box`` (N boxes) or ``lm`` (hidden states, a head weight, targets)), losskit's implementation, the peers
(MONAI, kornia, segmentation_models_pytorch, pytorch-toolbelt, torchvision's formulas) and the naive formula of
``naive.py``. Peers compute the same loss under their own conventions (smp's Dice averages over the batch, kornia's
focal divides by C...): the sweep compares cost, the parity tests compare values.

smp and toolbelt are loaded file by file (``tests/_references.load_file``): their packages need torchvision. A
peer that cannot load or run at a point is a skipped row there, never a failed sweep.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cases import Impl, Inputs, LossFn, box_pair, image_pair, kornia, lk, monai, multilabel_inputs, seg_inputs
from naive import NAIVE

__all__ = ["Hot", "HOT", "inputs_for"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Hot:
    """One hot loss: its grid kind, losskit's implementation, the peers, and the naive formula's input keys."""

    name: str
    kind: str
    losskit: Impl
    peers: tuple[Impl, ...]
    naive_keys: tuple[str, ...] | None = None  # None: no naive formula in naive.py
    dims: tuple[int, ...] = (2, 3)  # spatial ranks the loss (and the grid) covers

    def naive(self) -> Impl | None:
        if self.naive_keys is None:
            return None
        fn, keys = NAIVE[self.name], self.naive_keys
        return Impl(f"naive {self.name}", "naive", lambda: lambda d: fn(*(d[k] for k in keys)), "benchmarks/naive.py")


def _load(package: str, module: str) -> Any:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests._references import load_file

    return load_file(package, module)


def _peer_file(package: str, lib: str, cls: str, module: str, keys: tuple[str, ...], **options: Any) -> Impl:
    """A peer's loss class loaded from its own file (``package.losses.module``)."""

    def make() -> LossFn:
        loss = getattr(_load(package, f"losses.{module}"), cls)(**options)
        return lambda d: loss(*(d[k] for k in keys))

    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return Impl(f"{lib} {cls}", lib, make, opts)


def smp(cls: str, module: str, keys: tuple[str, ...] = ("pred", "labels"), **options: Any) -> Impl:
    """A segmentation_models_pytorch loss class."""
    return _peer_file("segmentation_models_pytorch", "smp", cls, module, keys, **options)


def toolbelt(cls: str, module: str, keys: tuple[str, ...] = ("pred", "labels"), **options: Any) -> Impl:
    """A pytorch-toolbelt loss class."""
    return _peer_file("pytorch_toolbelt", "toolbelt", cls, module, keys, **options)


def torchvision_formula(name: str) -> Impl:
    """torchvision's formula (torchvision has no CPU build here; naive.py transcribes it)."""
    fn = NAIVE[name]
    return Impl(f"torchvision {name} (formula)", "torchvision", lambda: lambda d: fn(d["pred"], d["target"]))


def _linear_ce() -> Impl:
    """losskit's linear_cross_entropy on (hidden, weight, target) (``cases.lk`` calls two inputs)."""

    def make() -> LossFn:
        import losskit

        loss = losskit.build_loss("linear_cross_entropy")
        return lambda d: loss(d["pred"], d["weight"], d["labels"])

    return Impl("losskit linear_cross_entropy", "losskit", make)


_SOFT = {"softmax": True, "to_onehot_y": True}
_ML = ("pred", "target")
_MC = {"mode": "multiclass", "from_logits": True}


def _seg(name: str, peers: tuple[Impl, ...], naive: bool = True, dims: tuple[int, ...] = (2, 3), **opts: Any) -> Hot:
    return Hot(name, "seg", lk(name, **opts), peers, ("pred", "labels") if naive else None, dims)


HOT: tuple[Hot, ...] = (
    _seg(
        "dice",
        (monai("DiceLoss", **_SOFT), kornia("dice_loss", average="macro"), smp("DiceLoss", "dice", **_MC)),
    ),
    _seg(
        "jaccard",
        (
            monai("DiceLoss", label="MONAI DiceLoss(jaccard)", jaccard=True, **_SOFT),
            smp("JaccardLoss", "jaccard", **_MC),
        ),
    ),
    _seg(
        "tversky",
        (
            monai("TverskyLoss", alpha=0.5, beta=0.5, **_SOFT),
            kornia("tversky_loss", alpha=0.5, beta=0.5),
            smp("TverskyLoss", "tversky", alpha=0.5, beta=0.5, **_MC),
        ),
    ),
    _seg("focal_tversky", (smp("TverskyLoss", "tversky", alpha=0.3, beta=0.7, gamma=0.75, **_MC),)),
    _seg("generalized_dice", (monai("GeneralizedDiceLoss", **_SOFT),), naive=False),
    _seg("dice_ce", (monai("DiceCELoss", **_SOFT),)),
    _seg("dice_focal", (monai("DiceFocalLoss", **_SOFT),), naive=False),
    Hot(
        "focal_pixelwise",
        "seg",
        lk("focal_pixelwise", ignore_index=255),
        (
            monai("FocalLoss", use_softmax=True, to_onehot_y=True, gamma=2.0, alpha=0.25),
            kornia("focal_loss", alpha=0.25, gamma=2.0, reduction="mean"),
        ),
        ("pred", "labels"),
    ),
    Hot(
        "focal",
        "ml",
        lk("focal", _ML, alpha=0.25, gamma=2.0),
        (
            monai("FocalLoss", _ML, gamma=2.0, alpha=0.25),
            kornia("binary_focal_loss_with_logits", _ML, alpha=0.25, gamma=2.0, reduction="mean"),
            smp("FocalLoss", "focal", _ML, mode="multilabel", alpha=0.25, gamma=2.0),
            torchvision_formula("focal"),
        ),
        _ML,
    ),
    _seg(
        "lovasz",
        (
            kornia("lovasz_softmax_loss"),
            smp("LovaszLoss", "lovasz", mode="multiclass", per_image=True, from_logits=True),
            toolbelt("LovaszLoss", "lovasz", per_image=True),
        ),
    ),
    Hot(
        "lncc",
        "reg",
        lk("lncc", _ML, kernel_size=3),
        (monai("LocalNormalizedCrossCorrelationLoss", _ML, kernel_size=3, spatial_dims=3),),
        _ML,
        (3,),
    ),
    Hot(
        "mutual_information",
        "reg",
        lk("mutual_information", _ML),
        (monai("GlobalMutualInformationLoss", _ML),),
        None,
        (3,),
    ),
    Hot(
        "ssim",
        "img",
        lk("ssim", _ML),
        (kornia("ssim_loss", _ML, window_size=11), monai("SSIMLoss", _ML, spatial_dims=2)),
        _ML,
        (2,),
    ),
    Hot("giou", "box", lk("giou", _ML), (torchvision_formula("giou"),), None, ()),
    Hot(
        "linear_cross_entropy",
        "lm",
        _linear_ce(),
        (),
        ("pred", "weight", "labels"),
        (),
    ),
)


def _lm_inputs(shape: tuple[int, ...]) -> Inputs:
    n, h, v = shape
    g = torch.Generator().manual_seed(0)
    return {
        "pred": torch.randn(n, h, generator=g).requires_grad_(),
        "weight": (torch.randn(v, h, generator=g) / h**0.5).requires_grad_(),
        "labels": torch.randint(0, v, (n,), generator=g),
    }


_INPUTS: dict[str, Callable[[tuple[int, ...]], Inputs]] = {
    "seg": seg_inputs,
    "ml": multilabel_inputs,
    "reg": image_pair,
    "img": image_pair,
    "box": box_pair,
    "lm": _lm_inputs,
}


def inputs_for(kind: str, shape: tuple[int, ...], device: str) -> Inputs:
    """The kind's inputs at ``shape`` on ``device`` (leaves that required grad still do)."""
    made = _INPUTS[kind](shape)
    out = {}
    for k, t in made.items():
        moved = t.detach().to(device)
        out[k] = moved.requires_grad_(t.requires_grad)
    return out
