"""Benchmark cases of issue 11 for ``ms_ssim_l1`` (kornia ``MS_SSIMLoss``) and ``nmi`` (kornia
``normalized_mutual_information_loss``), side by side with kornia in the same process.

The issue sets no goal for these two; the goals here are the engineer's: ``ms_ssim_l1`` <= 0.8x kornia's time
(separable 1-D filters against kornia's 33x33 2-D masks at the default sigmas), ``nmi`` <= kornia's peak memory
(the chunked joint histogram of ``mutual_information`` against kornia's two (B, bins, N) kernel tensors).

Matched options: kornia's defaults for both (``ms_ssim_l1``: sigmas (0.5, 1, 2, 4, 8), data range 1, K (0.01,
0.03), alpha 0.025, compensation 200, mean; ``nmi``: the Xu kernel, 64 bins, window radius 1). kornia's NMI
takes flat (B, N) signals and returns one value per sample: the peer flattens each sample and averages, which is
losskit's "mean". The values agree to float32 rounding. kornia is slow on the larger shapes (about 25 s per
forward+backward for (2, 3, 256, 256) on one core), so the shapes stay moderate.
"""

from __future__ import annotations

import torch

from cases import Case, Goal, Impl, Inputs, LossFn, image_pair, lk

__all__ = ["make_image_registration_extra_cases"]

_IMG = ("pred", "target")


def _kornia_ms_ssim_l1() -> Impl:
    def make() -> LossFn:
        import kornia.losses

        loss = kornia.losses.MS_SSIMLoss()
        return lambda d: loss(d["pred"], d["target"])

    return Impl("kornia MS_SSIMLoss", "kornia", make, "defaults")


def _kornia_nmi() -> Impl:
    def make() -> LossFn:
        import kornia.losses

        def fn(d: Inputs) -> torch.Tensor:
            a, b = d["pred"].flatten(1), d["target"].flatten(1)
            return kornia.losses.normalized_mutual_information_loss(a, b).mean()

        return fn

    return Impl("kornia normalized_mutual_information_loss", "kornia", make, "defaults", "flatten(1), mean")


def _ms_ssim_l1_case(shape: tuple[int, ...]) -> Case:
    impls = (lk("ms_ssim_l1", _IMG), _kornia_ms_ssim_l1())
    return Case(11, "ms_ssim_l1", shape, image_pair, impls, (Goal("losskit ms_ssim_l1", "time", 0.8),), budget_s=8.0)


def _nmi_case(shape: tuple[int, ...]) -> Case:
    impls = (lk("nmi", _IMG), _kornia_nmi())
    return Case(11, "nmi", shape, image_pair, impls, (Goal("losskit nmi", "memory", 1.0),), budget_s=8.0)


def make_image_registration_extra_cases(quick: bool = False) -> list[Case]:
    """The ms_ssim_l1 and nmi cases (small shapes when ``quick``)."""
    if quick:
        return [_ms_ssim_l1_case((1, 3, 64, 64)), _nmi_case((1, 1, 32, 32, 32))]
    return [
        _ms_ssim_l1_case((2, 3, 128, 128)),
        _ms_ssim_l1_case((1, 1, 256, 256)),
        _nmi_case((1, 1, 64, 64, 64)),
        _nmi_case((4, 1, 128, 128)),
    ]
