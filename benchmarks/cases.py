"""The benchmark cases of issues 3 (segmentation/classification) and 4 (registration, boxes), and the classes
the issue-11 case modules build theirs with (``cases_issue11.py``, ``cases_boundary.py``, ``cases_topology.py``).

A :class:`Case` is one loss family at one input shape: the losskit implementation(s), the peers (MONAI,
kornia) built with the *same* semantics (softmax on logits, one-hot labels, same alpha/beta/gamma), a floor
(one ``log_softmax``/``logsigmoid`` forward+backward over the same logits), and the goals of the issue.
Builders run lazily: a loss that does not exist yet, a peer that is not installed, or a build that raises
becomes a skipped row with the reason, never a failed run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["Impl", "Goal", "Case", "Inputs", "LossFn", "PEER_LIBS", "make_cases"]

Inputs = dict[str, torch.Tensor]
#: The libraries whose rows are peers ("best peer" columns and goals without an explicit ``against``).
PEER_LIBS = ("monai", "kornia", "scipy", "pml")
LossFn = Callable[[Inputs], torch.Tensor]


@dataclass(frozen=True)
class Impl:
    """One implementation of a case: ``make()`` returns ``fn(inputs) -> scalar loss`` (or raises: skipped)."""

    label: str
    lib: str  # "losskit" | "monai" | "kornia" | "scipy" (peers) | "torch" (a floor)
    make: Callable[[], LossFn]
    options: str = ""
    note: str = ""

    @property
    def is_peer(self) -> bool:
        return self.lib in PEER_LIBS


@dataclass(frozen=True)
class Goal:
    """``impl``'s ``metric`` must be <= ``factor`` x the best of ``against`` (labels; empty: every peer)."""

    impl: str
    metric: str  # "time" | "memory" | "value"
    factor: float = 1.0
    against: tuple[str, ...] = ()

    def describe(self) -> str:
        peers = " / ".join(self.against) if self.against else "the best peer"
        if self.metric == "value":
            return f"{self.impl}: same value as {peers} (rtol 1e-4)"
        what = "time" if self.metric == "time" else "peak memory"
        return f"{self.impl}: {what} <= {self.factor:g} x {peers}"


@dataclass(frozen=True)
class Case:
    """One family at one shape."""

    issue: int
    family: str
    shape: tuple[int, ...]
    inputs: Callable[[tuple[int, ...]], Inputs]
    impls: tuple[Impl, ...]
    goals: tuple[Goal, ...] = ()
    budget_s: float = 6.0
    note: str = ""
    min_repeats: int = 3  # 1 for a case whose every call takes tens of seconds
    shape_text: str = field(default="")

    @property
    def id(self) -> str:
        return f"{self.family}/{self.shape_text or 'x'.join(map(str, self.shape))}"


# ---------------------------------------------------------------------------------------------- inputs
def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def seg_inputs(shape: tuple[int, ...]) -> Inputs:
    """Logits (N, C, *) requiring grad, class labels (N, *) int64 and the (N, 1, *) view MONAI wants."""
    g = _gen()
    logits = torch.randn(shape, generator=g).requires_grad_()
    labels = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    return {"pred": logits, "labels": labels, "labels1": labels.unsqueeze(1)}


def multilabel_inputs(shape: tuple[int, ...]) -> Inputs:
    """Logits (N, C, *) requiring grad and a same-shape {0, 1} float target."""
    g = _gen()
    logits = torch.randn(shape, generator=g).requires_grad_()
    target = (torch.rand(shape, generator=g) < 0.3).float()
    return {"pred": logits, "target": target}


def image_pair(shape: tuple[int, ...]) -> Inputs:
    """Two correlated images in [0, 1] (prediction requires grad), e.g. (2, 1, 64, 64, 64)."""
    g = _gen()
    target = torch.rand(shape, generator=g)
    pred = (0.7 * target + 0.3 * torch.rand(shape, generator=g)).requires_grad_()
    return {"pred": pred, "target": target}


def box_pair(shape: tuple[int, ...]) -> Inputs:
    """``shape[0]`` xyxy boxes (x1 < x2, y1 < y2), predictions jittered around the targets."""
    g = _gen()
    n = shape[0]
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 1
    target = torch.cat([xy, xy + wh], 1)
    pred = (target + torch.randn(n, 4, generator=g) * 5).detach()
    pred = torch.cat([pred[:, :2], torch.maximum(pred[:, 2:], pred[:, :2] + 0.5)], 1).requires_grad_()
    return {"pred": pred, "target": target}


# ---------------------------------------------------------------------------------------------- impls
def lk(name: str, keys: tuple[str, str] = ("pred", "labels"), **options: Any) -> Impl:
    """A losskit loss built with ``losskit.build_loss(name, **options)``, called as ``loss(*keys)``."""

    def make() -> LossFn:
        import losskit

        loss = losskit.build_loss(name, **options)
        a, b = keys
        return lambda d: loss(d[a], d[b])

    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return Impl(f"losskit {name}", "losskit", make, opts)


def monai(cls: str, keys: tuple[str, str] = ("pred", "labels1"), label: str = "", **options: Any) -> Impl:
    """A ``monai.losses`` class built with ``options``."""

    def make() -> LossFn:
        import monai.losses

        loss = getattr(monai.losses, cls)(**options)
        a, b = keys
        return lambda d: loss(d[a], d[b])

    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return Impl(label or f"MONAI {cls}", "monai", make, opts)


def kornia(fn: str, keys: tuple[str, str] = ("pred", "labels"), **options: Any) -> Impl:
    """A ``kornia.losses`` function called with ``options``."""

    def make() -> LossFn:
        import kornia.losses

        f = getattr(kornia.losses, fn)
        a, b = keys
        return lambda d: f(d[a], d[b], **options)

    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return Impl(f"kornia {fn}", "kornia", make, opts)


def floor(kind: str = "log_softmax") -> Impl:
    """The floor: one ``log_softmax`` over C (or ``logsigmoid``) forward+backward on the same logits."""
    if kind == "log_softmax":
        return Impl("floor: log_softmax", "torch", lambda: lambda d: F.log_softmax(d["pred"], 1).mean())
    return Impl("floor: logsigmoid", "torch", lambda: lambda d: F.logsigmoid(d["pred"]).mean())


def _note(impl: Impl, note: str) -> Impl:
    """``impl`` with a note for the table (e.g. a documented scale difference in the value)."""
    return Impl(impl.label, impl.lib, impl.make, impl.options, note)


SEG_SHAPES = ((8, 4, 256, 256), (4, 21, 256, 256), (2, 3, 64, 64, 64))
_SOFT = {"softmax": True, "to_onehot_y": True}


def _quick(shape: tuple[int, ...], kind: str) -> tuple[int, ...]:
    """A small version of a shape for ``--quick`` smoke runs."""
    if kind == "boxes":
        return (max(shape[0] // 10, 1),)
    return (*shape[:2], *(max(s // 4, 8) for s in shape[2:]))


def _region_cases(shape: tuple[int, ...]) -> list[Case]:
    is2d = len(shape) == 4
    fam: list[tuple[str, list[Impl]]] = [
        (
            "dice",
            [lk("dice", mode="multiclass"), monai("DiceLoss", **_SOFT)]
            + ([kornia("dice_loss", average="macro")] if is2d else []),
        ),
        (
            "jaccard",
            [
                lk("jaccard", mode="multiclass"),
                monai("DiceLoss", label="MONAI DiceLoss(jaccard)", jaccard=True, **_SOFT),
            ],
        ),
        (
            "tversky",
            [lk("tversky", mode="multiclass", alpha=0.3, beta=0.7), monai("TverskyLoss", alpha=0.3, beta=0.7, **_SOFT)]
            + ([kornia("tversky_loss", alpha=0.3, beta=0.7)] if is2d else []),
        ),
        ("generalized_dice", [lk("generalized_dice", mode="multiclass"), monai("GeneralizedDiceLoss", **_SOFT)]),
        ("dice_ce", [lk("dice_ce", mode="multiclass"), monai("DiceCELoss", **_SOFT)]),
        (
            "focal_pixelwise",
            [
                _note(
                    lk("focal_pixelwise", alpha=None, gamma=2.0, ignore_index=None),
                    "value = peers x C (mean over pixels; MONAI/kornia divide by C x pixels)",
                ),
                monai("FocalLoss", use_softmax=True, to_onehot_y=True, gamma=2.0),
                kornia("focal_loss", alpha=None, gamma=2.0, reduction="mean"),
            ],
        ),
    ]
    cases = []
    for family, impls in fam:
        lbl = impls[0].label
        cases.append(
            Case(3, family, shape, seg_inputs, (*impls, floor()), (Goal(lbl, "time", 0.8), Goal(lbl, "memory", 1.0)))
        )
    return cases


def make_cases(quick: bool = False) -> list[Case]:
    """Every case of issues 3 and 4 (small shapes when ``quick``)."""
    q = (lambda s, k="": _quick(s, k)) if quick else (lambda s, k="": s)
    cases: list[Case] = []
    for shape in SEG_SHAPES:
        cases += _region_cases(q(shape))
    ml = q((8, 4, 256, 256))
    cases.append(
        Case(
            3,
            "focal (sigmoid)",
            ml,
            multilabel_inputs,
            (
                lk("focal", ("pred", "target"), alpha=0.25, gamma=2.0),
                monai("FocalLoss", ("pred", "target"), gamma=2.0, alpha=0.25),
                kornia("binary_focal_loss_with_logits", ("pred", "target"), alpha=0.25, gamma=2.0, reduction="mean"),
                floor("logsigmoid"),
            ),
            (Goal("losskit focal", "time", 0.8), Goal("losskit focal", "memory", 1.0)),
        )
    )
    for shape in SEG_SHAPES[:2]:
        cases.append(
            Case(
                3,
                "lovasz",
                q(shape),
                seg_inputs,
                (
                    lk("lovasz", mode="multiclass"),
                    kornia("lovasz_softmax_loss"),
                    floor(),
                ),
                (Goal("losskit lovasz", "time", 0.8, ("kornia lovasz_softmax_loss",)),),
                budget_s=10.0,
            )
        )
    vol = q((2, 1, 64, 64, 64))
    mon_lncc = "MONAI LocalNormalizedCrossCorrelationLoss"
    cases.append(
        Case(
            4,
            "lncc k=9",
            vol,
            image_pair,
            (
                lk("lncc", ("pred", "target"), spatial_dims=3, kernel_size=9),
                monai("LocalNormalizedCrossCorrelationLoss", ("pred", "target"), spatial_dims=3, kernel_size=9),
            ),
            (Goal("losskit lncc", "time", 0.25, (mon_lncc,)), Goal("losskit lncc", "value", 1.0, (mon_lncc,))),
        )
    )
    boxes = q((100_000,), "boxes")
    cases.append(
        Case(
            4,
            "box IoU losses",
            boxes,
            box_pair,
            (
                lk("giou", ("pred", "target")),
                lk("diou", ("pred", "target")),
                lk("ciou", ("pred", "target")),
                monai("BoxGIoULoss", ("pred", "target")),
            ),
            tuple(Goal(f"losskit {n}", "time", 0.8, ("MONAI BoxGIoULoss",)) for n in ("giou", "diou", "ciou")),
            shape_text=f"{boxes[0]} boxes",
        )
    )
    mi = q((1, 1, 96, 96, 96))
    mon_mi = "MONAI GlobalMutualInformationLoss"
    cases.append(
        Case(
            4,
            "mutual_information",
            mi,
            image_pair,
            (
                lk("mutual_information", ("pred", "target"), num_bins=23),
                monai("GlobalMutualInformationLoss", ("pred", "target"), num_bins=23),
            ),
            (Goal("losskit mutual_information", "memory", 0.25, (mon_mi,)),),
            budget_s=8.0,
        )
    )
    return cases
