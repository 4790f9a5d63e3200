"""The benchmark cases of issue 11's distance-transform losses (``hausdorff_dt``, ``boundary``) and of
``distance_transform`` itself.

- ``hausdorff_dt`` against MONAI ``HausdorffDTLoss(softmax=True, to_onehot_y=True)`` (MONAI's default
  ``include_background=False``, given to losskit too; alpha 2, mean) and ``boundary`` against MONAI
  ``BoundaryLoss(softmax=True, to_onehot_y=True)`` (every class), at (8, 3, 256, 256) and (2, 3, 64, 64, 64).
  MONAI runs scipy's transform on the host twice per sample, class and mask; losskit one two-sided transform
  per mask for the whole batch, in torch. Goals: time <= 0.2x MONAI's, peak memory <= MONAI's.
- The same two losses on a *blob* target (a few disks/balls per class on background 0, the shape of a real
  label map, distances of tens of voxels), where the transform's window is wide: recorded, no goal.
- ``distance_transform`` of a batch of masks against ``scipy.ndimage.distance_transform_edt`` looped over the
  maps (the way MONAI calls it): time recorded, no goal. The transform has no gradient; the step's backward
  runs through a zero-weighted term of a one-element ``pred`` (negligible), which the harness needs.
"""

from __future__ import annotations

import math

import torch

from cases import Case, Goal, Impl, Inputs, LossFn, floor, lk, monai, seg_inputs

__all__ = ["make_boundary_cases"]

_SOFT = {"softmax": True, "to_onehot_y": True}


def blob_inputs(shape: tuple[int, ...]) -> Inputs:
    """Logits (N, C, *) requiring grad and a blob label map (N, *): 3 disks (balls) per foreground class of
    radius 8-40 % of the smallest side, background 0."""
    g = torch.Generator().manual_seed(0)
    n, c, spatial = shape[0], shape[1], shape[2:]
    grid = torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in spatial], indexing="ij"))
    labels = torch.zeros(n, *spatial, dtype=torch.long)
    side = min(spatial)
    for i in range(n):
        for cls in range(1, c):
            for _ in range(3):
                centre = torch.rand(len(spatial), generator=g) * torch.tensor(spatial, dtype=torch.float32)
                radius = float(side * (0.08 + 0.32 * torch.rand((), generator=g)))
                d2 = ((grid - centre.view(-1, *([1] * len(spatial)))) ** 2).sum(0)
                labels[i][d2 < radius**2] = cls
    logits = torch.randn(shape, generator=g).requires_grad_()
    return {"pred": logits, "labels": labels, "labels1": labels.unsqueeze(1)}


def mask_inputs(shape: tuple[int, ...]) -> Inputs:
    """A batch of random {0, 1} masks (N, *spatial) (35 % foreground) and a one-element ``pred``."""
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(shape, generator=g) < 0.35
    return {"mask": mask, "pred": torch.zeros(1, requires_grad=True)}


def _ours_transform() -> Impl:
    def make() -> LossFn:
        from losskit.functional import distance_transform

        def fn(d: Inputs) -> torch.Tensor:
            m = d["mask"]
            return distance_transform(m, spatial_dims=m.dim() - 1).sum() + 0.0 * d["pred"].sum()

        return fn

    return Impl("losskit distance_transform", "losskit", make, "batched, float32")


def _scipy_transform() -> Impl:
    def make() -> LossFn:
        from scipy.ndimage import distance_transform_edt

        def fn(d: Inputs) -> torch.Tensor:
            total = sum(float(distance_transform_edt(m).sum()) for m in d["mask"].numpy())
            return torch.tensor(total) + 0.0 * d["pred"].sum()

        return fn

    return Impl("scipy distance_transform_edt", "scipy", make, "one call per map (as MONAI)")


def _quick(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[:2], *(max(s // 4, 16) for s in shape[2:]))


def make_boundary_cases(quick: bool = False) -> list[Case]:
    """hausdorff_dt and boundary vs MONAI at (8, 3, 256, 256) and (2, 3, 64, 64, 64) (noise and blob targets);
    distance_transform vs scipy."""
    q = _quick if quick else (lambda s: s)
    cases: list[Case] = []
    for inputs, kind in ((seg_inputs, ""), (blob_inputs, " (blob target)")):
        for shape in ((8, 3, 256, 256), (2, 3, 64, 64, 64)):
            pairs = (
                (lk("hausdorff_dt", include_background=False), monai("HausdorffDTLoss", **_SOFT), "hausdorff_dt"),
                (lk("boundary"), monai("BoundaryLoss", **_SOFT), "boundary"),
            )
            for ours, peer, family in pairs:
                goals = (
                    ()
                    if kind
                    else (Goal(ours.label, "time", 0.2, (peer.label,)), Goal(ours.label, "memory", 1.0, (peer.label,)))
                )
                cases.append(Case(11, family + kind, q(shape), inputs, (ours, peer, floor()), goals, budget_s=10.0))
    for shape in ((24, 256, 256), (6, 64, 64, 64)):
        shape = (shape[0], *(max(s // 4, 16) for s in shape[1:])) if quick else shape
        cases.append(
            Case(
                11,
                "distance_transform",
                shape,
                mask_inputs,
                (_ours_transform(), _scipy_transform()),
                budget_s=10.0,
                shape_text=f"{shape[0]} maps of {'x'.join(map(str, shape[1:]))}",
                note=f"{math.prod(shape[1:])} voxels per map, 35 % foreground",
            )
        )
    return cases
