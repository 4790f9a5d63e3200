"""The benchmark cases of issue 11's ``hausdorff_er`` and ``skeleton_recall`` (topology family, part 2).

- ``hausdorff_er`` against kornia ``HausdorffERLoss`` (2-D) / ``HausdorffERLoss3D`` (3-D), same semantics:
  softmax of the logits, every class scored (class 0 too), alpha 2, k 10, mean. kornia takes probabilities,
  so its row includes the softmax (as losskit's does). kornia runs one single-channel convolution per class
  and erosion; losskit one pass of shifted adds over all classes. Goals: time and peak memory <= kornia's.
- ``skeleton_recall`` has no peer (the reference computes the skeleton with scikit-image on the host, in the
  data loader): losskit alone, the time recorded, with the floor. Its target is a thin-structure label map
  (sparse seeds dilated to blobs of 5 px, a random foreground class each), so the thinning runs the number of
  iterations a vessel-like mask needs; the skeleton is recomputed from the target in every call.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from cases import Case, Goal, Impl, Inputs, LossFn, floor, lk, seg_inputs

__all__ = ["make_topology_cases"]

_KORNIA_2D = "kornia HausdorffERLoss"
_KORNIA_3D = "kornia HausdorffERLoss3D"


def kornia_hausdorff(three_d: bool, **options: Any) -> Impl:
    """kornia's erosion Hausdorff on ``softmax(pred)`` and the (N, 1, *) labels."""
    cls = "HausdorffERLoss3D" if three_d else "HausdorffERLoss"

    def make() -> LossFn:
        import kornia.losses

        loss = getattr(kornia.losses, cls)(**options)
        return lambda d: loss(d["pred"].softmax(1), d["labels1"])

    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return Impl(f"kornia {cls}", "kornia", make, opts, "on softmax(logits)")


def thin_inputs(shape: tuple[int, ...]) -> Inputs:
    """Logits (N, C, *) requiring grad and a thin-structure label map (N, *): blobs of 5 px around sparse
    seeds, each voxel of a blob a random foreground class, background 0."""
    g = torch.Generator().manual_seed(0)
    n, c, spatial = shape[0], shape[1], shape[2:]
    seeds = (torch.rand(n, 1, *spatial, generator=g) < 0.004).float()
    pool = F.max_pool2d if len(spatial) == 2 else F.max_pool3d
    blobs = pool(seeds, 5, 1, 2)[:, 0] > 0
    labels = torch.where(blobs, torch.randint(1, c, (n, *spatial), generator=g), 0)
    logits = torch.randn(shape, generator=g).requires_grad_()
    return {"pred": logits, "labels": labels, "labels1": labels.unsqueeze(1)}


def _quick(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[:2], *(max(s // 4, 16) for s in shape[2:]))


def make_topology_cases(quick: bool = False) -> list[Case]:
    """hausdorff_er vs kornia at (8, 3, 256, 256) and (2, 3, 64, 64, 64); skeleton_recall alone at both."""
    q = _quick if quick else (lambda s: s)
    cases: list[Case] = []
    for shape, three_d in (((8, 3, 256, 256), False), ((2, 3, 64, 64, 64), True)):
        ours = lk("hausdorff_er", alpha=2.0, k=10)
        peer = kornia_hausdorff(three_d, alpha=2.0, k=10)
        cases.append(
            Case(
                11,
                "hausdorff_er",
                q(shape),
                seg_inputs,
                (ours, peer, floor()),
                (Goal(ours.label, "time", 1.0, (peer.label,)), Goal(ours.label, "memory", 1.0, (peer.label,))),
                budget_s=10.0,
                note="kornia's kernel is float32-rounded (0.2, 1/7): values agree to ~1e-7 relative",
            )
        )
    for shape in ((8, 3, 256, 256), (2, 3, 64, 64, 64)):
        cases.append(
            Case(
                11,
                "skeleton_recall",
                q(shape),
                thin_inputs,
                (lk("skeleton_recall", mode="multiclass"), floor()),
                (),
                budget_s=10.0,
                note="no peer (the reference skeletonizes with scikit-image on the host); skeleton recomputed per call",
            )
        )
    return cases
