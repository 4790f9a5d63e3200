"""Exact Euclidean distance transform in torch: batched, on the mask's device, any number of spatial dims.

The squared Euclidean distance is separable (Saito and Toriwaki 1994; Felzenszwalb and Huttenlocher 2012):
one pass per spatial axis ``a`` computes ``d(i) = min_j h(j) + ((i - j) s_a)^2`` along every line of that
axis, where ``h`` is the previous passes' squared distance (0 on the zeros, inf elsewhere before the first
pass). Each pass is a *windowed* min over the offsets ``|i - j| <= r_a``, one shifted ``add``/``minimum`` per
offset on the whole chunk at once: no per-line Python loop, no (n, n) temporary, no host round trip of the
data.

Exactness. Every candidate value is the squared distance to a real zero, so a windowed result ``D~`` is an
upper bound of the true ``D``; and it equals ``D`` wherever the nearest zero ``b`` of ``i`` lies inside the
windows, i.e. ``|b_a - i_a| <= r_a`` on every axis. Since ``|b_a - i_a| s_a <= D(i) <= D~(i)``, the result is
certified exact once ``max D~ < s_a (r_a + 1)`` for every axis (or the window covers the whole line). The
transform starts with a radius of two voxels (the fragmented masks of a network's predictions need no
more), checks that bound with one host read of a scalar, and otherwise reruns once with the radius set to
``max D~`` (exact by the same argument), doubling first while some map still has an unreached element. The
cost is O(r) per element and axis, ``r`` about the largest distance in the chunk.

Two-sided mode (the distance of *every* element to the nearest element of the other class, which the
Hausdorff and boundary losses need) is the same passes with the candidates of the other class taken at
value 0: one transform instead of MONAI's two (``edt(fg) + edt(bg)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_tensor, shape_str

__all__ = ["distance_transform", "check_sampling"]

#: Elements per chunk of the batch: bounds the transform's temporaries (a few arrays of this size).
_CHUNK = 1 << 20


def _pass(h: Tensor, fg: Tensor | None, dim: int, r: int, s: float) -> Tensor:
    """``min_{|o| <= r} cand(i + o) + (o s)^2`` along ``dim``, in place in ``h``; ``cand(j) = h(j)``, or in
    two-sided mode (``fg`` given) 0 where ``j`` is of the other class than ``i``."""
    n = h.shape[dim]
    r = min(r, n - 1)
    if r <= 0:
        return h
    src_h = h.clone()  # the candidates stay the pass's input while h takes the minimum
    tmp = torch.empty_like(h)  # preallocated: a fresh multi-MB tensor per offset costs page faults
    other = torch.empty_like(fg) if fg is not None else None
    for o in range(1, r + 1):
        c = (o * s) ** 2
        for dst, src in ((o, 0), (0, o)):  # j = i - o, then j = i + o
            t = tmp.narrow(dim, 0, n - o)
            torch.add(src_h.narrow(dim, src, n - o), c, out=t)
            if fg is not None and other is not None:
                b = other.narrow(dim, 0, n - o)
                torch.ne(fg.narrow(dim, src, n - o), fg.narrow(dim, dst, n - o), out=b)
                t.masked_fill_(b, c)
            view = h.narrow(dim, dst, n - o)
            torch.minimum(view, t, out=view)
    return h


def _windowed(
    fg: Tensor, two_sided: bool, radii: Sequence[int], sampling: Sequence[float], dtype: torch.dtype
) -> Tensor:
    """Squared distances of a (B, *spatial) chunk with per-axis window radii (an upper bound, see the module)."""
    if two_sided:
        h = torch.full(fg.shape, math.inf, dtype=dtype, device=fg.device)
    else:
        h = torch.zeros(fg.shape, dtype=dtype, device=fg.device).masked_fill_(fg, math.inf)
    cls = fg if two_sided else None
    for k in reversed(range(len(sampling))):  # the last (contiguous) axis first
        h = _pass(h, cls, 1 + k, radii[k], sampling[k])
    return h


#: The largest distance the last call of each kind needed (spatial shape, sampling, mode): the next call's
#: first window, so that a training loop's similar masks take one windowed run. Only a speed hint: any value
#: gives the same (exact) result.
_LAST_REACH: dict[tuple[object, ...], float] = {}


def _squared(fg: Tensor, two_sided: bool, sampling: Sequence[float], dtype: torch.dtype) -> Tensor:
    """Exact squared distances of a (B, *spatial) chunk (inf on a map without the other class)."""
    spatial = tuple(fg.shape[1:])
    # maps whose elements all have something to reach: a zero (and, two-sided, a foreground element)
    flat = fg.flatten(1)
    defined = ~flat.all(1) & flat.any(1) if two_sided else ~flat.all(1)
    defined = defined.view(-1, *([1] * len(spatial)))
    full = [n - 1 for n in spatial]
    key = (spatial, tuple(sampling), two_sided)
    reach = _LAST_REACH.get(key, 2.0 * max(sampling))

    def radii_for(reach: float) -> list[int]:
        return [min(n, math.floor(reach / s)) for n, s in zip(full, sampling, strict=True)]

    while True:
        radii = radii_for(reach)
        sq = _windowed(fg, two_sided, radii, sampling, dtype)
        if radii == full or sq.numel() == 0:
            return sq
        # one host read: the largest distance found, inf if a map with a target left an element unreached
        inf = torch.tensor(math.inf, dtype=dtype, device=sq.device)
        top = float(torch.where(torch.isfinite(sq), sq, torch.where(defined, inf, 0.0)).amax())
        if math.isinf(top):
            reach *= 2.0
            continue
        d = math.sqrt(top)
        _LAST_REACH[key] = max(d * (1.0 + 1e-6) + 1e-9, min(sampling))
        if all(r == n or d < s * (r + 1) for r, n, s in zip(radii, full, sampling, strict=True)):
            return sq
        # exact: every nearest zero now lies inside the windows (|b_a - i_a| s_a <= D <= d < s_a (r_a + 1))
        return _windowed(fg, two_sided, radii_for(_LAST_REACH[key]), sampling, dtype)


def check_sampling(loss: str, value: object, dims: int | None) -> tuple[float, ...]:
    """The voxel spacing as ``dims`` floats (one number for all, or one per dim; finite, > 0; None: 1), or a
    ValueError naming ``loss``. ``dims=None`` checks the values only (a constructor, before the input is seen)."""
    if value is None:
        return (1.0,) * (dims or 1)
    values = list(value) if isinstance(value, (list, tuple)) else [value] * (dims or 1)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
            raise ValueError(
                f"{loss}: sampling must be finite numbers > 0 (one, or one per spatial dim), got {value!r}"
            )
    if dims is not None and len(values) != dims:
        raise ValueError(f"{loss}: sampling needs {dims} values (one per spatial dim), got {len(values)}")
    return tuple(float(v) for v in values if isinstance(v, (int, float)))


@torch.no_grad()
def distance_transform(
    mask: Tensor,
    *,
    sampling: float | Sequence[float] | None = None,
    spatial_dims: int | None = None,
    dtype: torch.dtype | None = None,
    two_sided: bool = False,
) -> Tensor:
    r"""Exact Euclidean distance transform: the distance of each nonzero element to the nearest zero element.

    .. math::

        D(x) = \min_{y:\ \text{mask}(y) = 0} \Big(\sum_a \big((x_a - y_a)\, s_a\big)^2\Big)^{1/2}
        \quad (D = 0 \text{ on the zeros})

    over the last ``spatial_dims`` dims of ``mask``; every leading dim is a batch dim (each map has its own
    zeros). Computed on the mask's device, batched, by the separable exact method of the module
    (1-D scans along the last axis, then an exact windowed min-plus per other axis): the same values as
    ``scipy.ndimage.distance_transform_edt`` (float64: equal to rounding). No gradient (a mask has none).

    A map with no zero element at all (an all-foreground mask) gives **0 everywhere**: its distance is not
    defined (scipy then measures to a virtual zero outside the array, a value that depends on the array's
    corner), and 0 is the convention of MONAI's distance-based losses, which skip such maps.

    Args:
        mask: (*, *spatial) tensor of any dtype; nonzero elements (NaN included) are the foreground.
        sampling: the spacing of each spatial axis (one number for all, or one per spatial dim, finite > 0),
            like scipy's ``sampling``; default 1.
        spatial_dims: number of trailing spatial dims (>= 1); None (default): ``len(sampling)`` when a
            sequence is given, else every dim of ``mask`` (scipy's convention).
        dtype: floating dtype of the result; None: the mask's dtype when it is floating, else float32.
        two_sided: False (default): the zeros get 0; True: every element gets its distance to the nearest
            element of the other class (zeros: to the nearest nonzero), i.e. ``edt(m) + edt(~m)`` in one pass
            (a map with a single class: 0).

    Returns:
        the distances, the mask's shape, on its device.

    Example:
        >>> m = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
        >>> distance_transform(m)
        tensor([[0.0000, 1.0000, 2.0000, 3.0000],
                [1.0000, 1.4142, 2.2361, 3.1623]])

    Parity: ``distance_transform(m, sampling=s, dtype=torch.float64)`` ≡
    ``scipy.ndimage.distance_transform_edt(m.numpy(), sampling=s)`` per map, for any map with a zero element.
    """
    check_tensor("distance_transform", "mask", mask)
    if mask.is_complex():
        raise LossInputError(f"distance_transform: expected a real mask, got {mask.dtype}")
    if spatial_dims is None:
        spatial_dims = len(sampling) if isinstance(sampling, (list, tuple)) else mask.dim()
    if isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int) or spatial_dims < 1:
        raise ValueError(f"distance_transform: spatial_dims must be an int >= 1, got {spatial_dims!r}")
    if mask.dim() < spatial_dims:
        raise LossInputError(
            f"distance_transform: expected at least {spatial_dims} dims (spatial_dims={spatial_dims}), "
            f"got shape {shape_str(mask)}"
        )
    spacing = check_sampling("distance_transform", sampling, spatial_dims)
    if dtype is None:
        dtype = mask.dtype if mask.is_floating_point() else torch.float32
    if not dtype.is_floating_point:
        raise ValueError(f"distance_transform: dtype must be a floating dtype, got {dtype}")
    spatial = mask.shape[mask.dim() - spatial_dims :]
    if mask.numel() == 0:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    fg = (mask != 0).reshape(-1, *spatial)
    out = torch.empty(fg.shape, dtype=dtype, device=mask.device)
    step = max(1, _CHUNK // math.prod(spatial))
    for start in range(0, fg.shape[0], step):
        sq = _squared(fg[start : start + step], two_sided, spacing, dtype)
        # a map without a zero is inf everywhere: 0 by the documented convention
        out[start : start + step] = torch.where(torch.isfinite(sq), sq.sqrt_(), torch.zeros_like(sq))
    return out.reshape(mask.shape)
