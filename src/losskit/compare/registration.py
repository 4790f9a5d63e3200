"""Registration pairs with known displacement fields, the warp, and the metrics of a predicted field.

A pair is a moving image and the fixed image made from it by a random smooth displacement field ``u``:
``fixed(x) = moving(x + u(x))`` (bilinear, zeros outside). A network that sees both predicts a field ``v``;
``warp(moving, v)`` should match ``fixed``, and ``v`` should match ``u`` wherever there is anatomy to see.

Fields are (N, 2, H, W) in pixels, channel 0 along the rows (y), channel 1 along the columns (x).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..functional.deformation import jacobian_determinant
from .data import Split

__all__ = ["warp", "random_fields", "make_pairs", "folding_fraction", "registration_metrics"]


def warp(image: torch.Tensor, ddf: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """``image`` (N, C, H, W) sampled at ``x + ddf(x)`` (``ddf`` (N, 2, H, W) in pixels, y then x)."""
    n, _, h, w = image.shape
    ys = torch.arange(h, dtype=ddf.dtype, device=ddf.device)
    xs = torch.arange(w, dtype=ddf.dtype, device=ddf.device)
    gy = (ys[:, None] + ddf[:, 0]) * (2.0 / max(h - 1, 1)) - 1.0
    gx = (xs[None, :] + ddf[:, 1]) * (2.0 / max(w - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)  # grid_sample wants (x, y) in [-1, 1]
    return F.grid_sample(image, grid, mode=mode, padding_mode="zeros", align_corners=True)


def random_fields(n: int, size: int, *, generator: torch.Generator, magnitude: float, knots: int = 5) -> torch.Tensor:
    """``n`` smooth random fields (n, 2, size, size): Gaussian displacements of std ``magnitude`` pixels on a
    ``knots`` x ``knots`` grid, interpolated bicubically. A field that would fold (Jacobian determinant below
    0.2 anywhere) is scaled down until it does not, so every true map is invertible."""
    coarse = torch.randn(n, 2, knots, knots, generator=generator) * magnitude
    fields = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)
    for _ in range(20):
        folds = jacobian_determinant(fields).flatten(1).amin(1) < 0.2
        if not bool(folds.any()):
            break
        fields = torch.where(folds[:, None, None, None], 0.8 * fields, fields)
    return fields


def make_pairs(images: torch.Tensor, masks: torch.Tensor, *, seed: int, magnitude: float) -> Split:
    """Registration pairs from ``images`` (N, 1, H, W) in [0, 1] and their ``masks`` (N, H, W) of {0, 1}.

    Returns a :class:`Split` with ``x`` = (N, 2, H, W) moving and fixed images, ``y`` = the true field
    (N, 2, H, W) and ``masks`` = (N, 3, H, W): the moving mask, the fixed mask (the moving one warped by the
    true field, soft) and the region where the field is measured (pixels with anatomy in the fixed image).
    """
    generator = torch.Generator().manual_seed(seed)
    fields = random_fields(len(images), images.shape[-1], generator=generator, magnitude=magnitude)
    fixed = warp(images, fields)
    moving_mask = masks[:, None].float()
    fixed_mask = warp(moving_mask, fields)
    region = (fixed > 0.05).float()
    return Split(torch.cat([images, fixed], 1), fields, torch.cat([moving_mask, fixed_mask, region], 1))


def folding_fraction(ddf: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Share of ``region`` pixels where the map ``x + ddf(x)`` folds: Jacobian determinant <= 0, from
    :func:`losskit.functional.deformation.jacobian_determinant` (central differences, interior pixels)."""
    inside = region[:, 0, 1:-1, 1:-1] > 0
    return ((jacobian_determinant(ddf) <= 0) & inside).sum() / inside.sum().clamp_min(1)


def registration_metrics(ddf: torch.Tensor, data: Split) -> dict[str, float]:
    """Dice of the warped moving mask against the fixed mask (thresholded at 0.5, pooled over the set), the
    mean end-point error of the field in pixels and the folding share, both over the anatomy of the fixed image."""
    if data.masks is None:
        raise ValueError("registration data carries masks")
    moving_mask, fixed_mask, region = data.masks[:, :1], data.masks[:, 1:2], data.masks[:, 2:3]
    warped = warp(moving_mask, ddf) > 0.5
    truth = fixed_mask > 0.5
    overlap = 2 * (warped & truth).sum()
    total = warped.sum() + truth.sum()
    error = (ddf - data.y).norm(dim=1, keepdim=True)
    inside = region > 0
    return {
        "dice": float(overlap / total) if int(total) else 1.0,
        "epe": float((error * inside).sum() / inside.sum().clamp_min(1)),
        "folding": float(folding_fraction(ddf, region)),
    }
