"""The benchmark cases of issue 11 that the benchmark module owns: ``ssim``, ``ms_ssim`` and ``cldice``.

Goals (issue 11, "Speed and memory"): ``cldice`` <= 0.8x MONAI ``SoftclDiceLoss``'s time; ``ssim`` and
``ms_ssim`` <= 0.8x the faster of MONAI and kornia; each at <= the lowest peer's peak memory; on a 2D
(8, 3, 256, 256) and a 3D (2, 3, 64, 64, 64) case, plus at least one more shape per family.

Matched options (the loss values are printed so the rows can be compared):

- ``ssim``: Gaussian window 11, sigma 1.5, data range 1, k1 0.01, k2 0.03, "valid" windows. MONAI ``SSIMLoss``
  is the same value; kornia ``SSIMLoss`` / ``SSIM3DLoss(11, padding="valid", eps=0)`` averages ``(1 - SSIM) / 2``,
  so its value is half of ours.
- ``ms_ssim``: MONAI has no MS-SSIM loss: the peer is ``1 - monai.metrics.compute_ms_ssim(...)`` (the function
  behind ``MultiScaleSSIMMetric``, differentiable), batch mean. MONAI needs every spatial size // 16 > 10 for
  5 scales and an 11 window (>= 176), so 64^3 cannot run 5 scales: the 3D case uses 3 scales (MONAI then needs
  size // 4 > 10, i.e. >= 44). kornia ``MS_SSIMLoss(alpha=1, compensation=1)`` is pure MS-SSIM in kornia's
  sense, but a different quantity (five Gaussians at full resolution, zero padding, per-pixel product, no
  dyadic pyramid; 2D only): shown for reference, not a goal peer.
- ``cldice``: softmax over the classes, one-hot labels, 3 skeleton iterations, smoothing 1, eps 1e-4 (MONAI
  ``smooth``); the binary case uses a sigmoid and a float {0, 1} target.
"""

from __future__ import annotations

from typing import Any

import torch

from cases import Case, Goal, Impl, Inputs, LossFn, image_pair, lk, monai, multilabel_inputs, seg_inputs

__all__ = ["make_issue11_cases"]

_IMG = ("pred", "target")
_SSIM = {"window": "gaussian", "window_size": 11, "sigma": 1.5, "data_range": 1.0, "k1": 0.01, "k2": 0.03}


def kornia_module(cls: str, keys: tuple[str, str] = _IMG, label: str = "", note: str = "", **options: Any) -> Impl:
    """A ``kornia.losses`` class built with ``options``."""

    def make() -> LossFn:
        import kornia.losses

        loss = getattr(kornia.losses, cls)(**options)
        a, b = keys
        return lambda d: loss(d[a], d[b])

    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return Impl(label or f"kornia {cls}", "kornia", make, opts, note)


def monai_ms_ssim(spatial_dims: int, weights: tuple[float, ...] | None = None) -> Impl:
    """``1 - monai.metrics.compute_ms_ssim`` (batch mean): MONAI's MS-SSIM, which it has as a metric only."""
    extra: dict[str, Any] = {} if weights is None else {"weights": weights}

    def make() -> LossFn:
        from monai.metrics import compute_ms_ssim

        def fn(d: Inputs) -> torch.Tensor:
            ms = compute_ms_ssim(d["pred"], d["target"], spatial_dims, kernel_size=11, kernel_sigma=1.5, **extra)
            return (1 - ms).mean()

        return fn

    opts = f"spatial_dims={spatial_dims}, kernel_size=11, kernel_sigma=1.5"
    opts += f", weights={weights}" if weights else ""
    return Impl("MONAI compute_ms_ssim", "monai", make, opts, "1 - metric, batch mean")


def _quick(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[:2], *(max(s // 4, 16) for s in shape[2:]))


def _ssim_case(shape: tuple[int, ...]) -> Case:
    d = len(shape) - 2
    half = "value = losskit / 2 (kornia averages (1 - SSIM) / 2)"
    kor = (
        kornia_module("SSIMLoss", note=half, window_size=11, max_val=1.0, eps=0.0, padding="valid")
        if d == 2
        else kornia_module("SSIM3DLoss", note=half, window_size=11, max_val=1.0, eps=0.0, padding="valid")
    )
    impls = (
        lk("ssim", _IMG, **_SSIM),
        monai("SSIMLoss", _IMG, spatial_dims=d, data_range=1.0, kernel_type="gaussian", win_size=11, kernel_sigma=1.5),
        kor,
    )
    goals = (Goal("losskit ssim", "time", 0.8), Goal("losskit ssim", "memory", 1.0))
    return Case(11, "ssim", shape, image_pair, impls, goals, budget_s=8.0)


def _ms_ssim_case(
    shape: tuple[int, ...], weights: tuple[float, ...] | None, note: str = "", with_kornia: bool = False
) -> Case:
    d = len(shape) - 2
    opts: dict[str, Any] = dict(_SSIM)
    if weights is not None:
        opts["weights"] = weights
    impls: list[Impl] = [lk("ms_ssim", _IMG, **opts), monai_ms_ssim(d, weights)]
    if with_kornia:
        impls.append(
            kornia_module(
                "MS_SSIMLoss",
                note="a different MS-SSIM (5 full-resolution Gaussians, zero padding): value differs; not a goal peer",
                alpha=1.0,
                compensation=1.0,
            )
        )
    mon = ("MONAI compute_ms_ssim",)
    goals = (Goal("losskit ms_ssim", "time", 0.8, mon), Goal("losskit ms_ssim", "memory", 1.0, mon))
    return Case(11, "ms_ssim", shape, image_pair, tuple(impls), goals, budget_s=8.0, note=note)


def _cldice_case(shape: tuple[int, ...], binary: bool = False) -> Case:
    common = {"iterations": 3, "smooth_nr": 1.0, "smooth_dr": 1.0}
    if binary:
        impls = (
            lk("cldice", ("pred", "target"), mode="binary", eps=1e-4, **common),
            monai("SoftclDiceLoss", ("pred", "target"), sigmoid=True, iter_=3, smooth=1e-4),
        )
        inputs, family = multilabel_inputs, "cldice (binary)"
    else:
        impls = (
            lk("cldice", mode="multiclass", eps=1e-4, **common),
            monai("SoftclDiceLoss", softmax=True, to_onehot_y=True, iter_=3, smooth=1e-4),
        )
        inputs, family = seg_inputs, "cldice"
    goals = (Goal("losskit cldice", "time", 0.8), Goal("losskit cldice", "memory", 1.0))
    return Case(11, family, shape, inputs, impls, goals)


def make_issue11_cases(quick: bool = False) -> list[Case]:
    """The ssim, ms_ssim and cldice cases of issue 11 (small shapes when ``quick``)."""
    q = _quick if quick else (lambda s: s)
    ms3d = "3 scales (weights 0.2/0.3/0.5): MONAI needs size >= 176 for 5 scales with an 11 window"
    cases = [_ssim_case(q(s)) for s in ((8, 3, 256, 256), (2, 3, 64, 64, 64), (4, 1, 512, 512))]
    slow = "kornia MS_SSIMLoss left out: ~1 min a step here (33x33 2-D windows); see ms_ssim/1x1x192x192"
    cases += [
        _ms_ssim_case((8, 3, 256, 256) if not quick else (2, 3, 192, 192), None, slow),
        _ms_ssim_case((2, 3, 64, 64, 64) if not quick else (1, 2, 48, 48, 48), (0.2, 0.3, 0.5), ms3d),
        _ms_ssim_case((4, 1, 512, 512) if not quick else (1, 1, 256, 256), None, slow),
        _ms_ssim_case((1, 1, 192, 192), None, with_kornia=True),
    ]
    cases += [_cldice_case(q(s)) for s in ((8, 3, 256, 256), (2, 3, 64, 64, 64))]
    cases.append(_cldice_case(q((4, 1, 512, 512)), binary=True))
    return cases
