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
certified exact once ``max D~ < s_a (r_a + 1)`` for every axis (or the window covers the whole line).

The transform starts with the radius the previous call of the same kind needed (two voxels on the first
call), checks the bound with one host read of a scalar, and otherwise reruns once with the radius set to
``max D~`` (exact by the same argument), doubling first while some map still has an unreached element. The
cost is O(r) per element and axis, ``r`` about the largest distance in the chunk: a few voxels for the
fragmented masks of a network's predictions, tens for a label map's large objects.

With an isotropic spacing the squared distances are integers (in voxels): they are kept in uint8 (radius up
to 11) or int16 (up to 127), a quarter or half of float32's memory traffic per offset, with a cap value that
no addition overflows, and turned into distances by a table lookup. An anisotropic spacing, or a radius
beyond 127 voxels, runs in the output's floating dtype. Beyond a radius of 11 the first (last-axis) pass is
exact for any distance by two cumulative max/min scans of the zero positions, so only the other axes pay
the window.

Two-sided mode (the distance of *every* element to the nearest element of the other class, which the
Hausdorff and boundary losses need) runs the mask and its complement as one batch: ``edt(m) + edt(~m)``.
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
_CHUNK = 1 << 18


def _pass(h: Tensor, dim: int, r: int, s: float, cap: float) -> Tensor:
    """``h(i) <- min_{|o| <= r} h(i + o) + (o s)^2`` along ``dim`` (an integer ``h`` takes ``s = 1``)."""
    n = h.shape[dim]
    r = min(r, n - 1)
    if r <= 0:
        return h
    last = dim == h.dim() - 1
    if last:
        # the last axis as one flat line with r cap values after each row (no shift reaches the next row): a
        # shift of a 1-D contiguous tensor takes torch's fast path, a narrow of the last dim a slow strided one
        padded = torch.full((*h.shape[:-1], n + r), cap, dtype=h.dtype, device=h.device)
        padded[..., :n] = h
        work, dim, size = padded.view(-1), 0, padded.numel()
    else:
        work, size = h, n
    src_h = work.clone()  # the candidates stay the pass's input while work takes the minimum
    tmp = torch.empty_like(work)  # preallocated: a fresh multi-MB tensor per offset costs page faults
    for o in range(1, r + 1):
        c: float | int = (o * s) ** 2 if h.is_floating_point() else o * o
        for dst, src in ((o, 0), (0, o)):  # j = i - o, then j = i + o
            t = tmp.narrow(dim, 0, size - o)
            torch.add(src_h.narrow(dim, src, size - o), c, out=t)
            view = work.narrow(dim, dst, size - o)
            torch.minimum(view, t, out=view)
    return padded[..., :n] if last else work


#: Integer tiers of the isotropic case: (dtype, "unreached" value, largest radius). Squared distances in voxels
#: are integers; a value stays below the cap + r^2 <= the dtype's max, so no addition overflows, and anything at
#: the cap counts as unreached. uint8 moves a quarter of float32's bytes per offset.
_TIERS = ((torch.uint8, 128, 11), (torch.int16, 16384, 127))


def _windowed(fg: Tensor, radii: Sequence[int], sampling: Sequence[float], dtype: torch.dtype, cap: float) -> Tensor:
    """Squared distances of a (B, *spatial) chunk with per-axis window radii: an upper bound, exact where the
    nearest zero lies inside the windows; ``cap`` where nothing was reached."""
    last = len(sampling) - 1
    if radii[last] > _TIERS[0][2]:
        # a wide window: the last axis exactly by two cumulative scans of the zero positions (cost independent
        # of the distance), clamped at the cap; a clamped candidate costs >= the cap > anything certified
        n = fg.shape[-1]
        idx = torch.arange(n, dtype=torch.float32 if dtype == torch.int16 else dtype, device=fg.device)
        inf = torch.tensor(math.inf, dtype=idx.dtype, device=fg.device)
        before = torch.where(fg, -inf, idx).cummax(-1).values
        after = torch.where(fg, inf, idx).flip(-1).cummin(-1).values.flip(-1)
        g = torch.minimum(idx - before, after - idx).mul_(sampling[last]).square_().clamp_(max=cap)
        h = g.to(dtype)
        radii = [*radii[:last], 0]
    elif not dtype.is_floating_point:
        h = fg.to(dtype).mul_(int(cap))
    else:
        h = torch.where(fg, torch.tensor(cap, dtype=dtype, device=fg.device), torch.zeros((), dtype=dtype))
    for k in reversed(range(len(sampling))):  # the last (contiguous) axis first
        h = _pass(h, 1 + k, radii[k], sampling[k], cap)
    return h


#: The largest distance (in voxels) the last call of each kind needed: the next call's first window, so that a
#: training loop's similar masks take one windowed run. Only a speed hint: any value gives the same result.
_LAST_REACH: dict[tuple[object, ...], float] = {}


def _squared(fg: Tensor, sampling: Sequence[float], dtype: torch.dtype) -> tuple[Tensor, float, float]:
    """Exact squared distances to the nearest zero of a (B, *spatial) chunk, in units of ``unit`` (integers in an
    integer dtype when the spacing is isotropic), the value ``cap`` on a map without a zero: ``(sq, cap, unit)``."""
    spatial = tuple(fg.shape[1:])
    full = [n - 1 for n in spatial]
    iso = all(v == sampling[0] for v in sampling)
    # isotropic: integer voxel units (scaled once at the end); else the spacing goes into every offset
    unit = sampling[0] if iso else 1.0
    steps = [1.0] * len(spatial) if iso else list(sampling)
    key = (spatial, tuple(sampling))
    reach = _LAST_REACH.get(key, 2.0 * max(steps))

    def radii_for(reach: float) -> list[int]:
        return [min(n, math.floor(reach / v)) for n, v in zip(full, steps, strict=True)]

    exact = False
    while True:
        radii = radii_for(reach)
        # an integer tier holds every in-window squared distance below its cap (sum r_a^2 < cap): a value at the cap
        # is then never a clamped real distance of the windows, only "farther" or unreached
        tier = next(
            ((t, c) for t, c, rmax in _TIERS if iso and max(radii) <= rmax and sum(r * r for r in radii) < c),
            (dtype, math.inf),
        )
        sq = _windowed(fg, radii, steps, tier[0], tier[1])
        if exact:
            break
        # one host read: the largest distance found, the cap if a map with a zero (its minimum is 0) left an
        # element unreached; a map without a zero is the cap everywhere and does not count
        low, high = torch.aminmax(sq.flatten(1), dim=1)
        top = float(torch.where(low == 0, high, torch.zeros_like(high)).amax())
        if top >= tier[1] and radii != full:
            reach *= 2.0
            continue
        d = math.sqrt(top) if top < tier[1] else reach
        # the hint follows the data down as well as up (a full-line run is exact, but its D sets the next window)
        _LAST_REACH[key] = max(d * (1.0 + 1e-6) + 1e-9, min(steps))
        if radii == full or all(r == n or d < v * (r + 1) for r, n, v in zip(radii, full, steps, strict=True)):
            break
        # the rerun is exact: every nearest zero now lies inside the windows (|b_a - i_a| s_a <= D <= d)
        reach, exact = _LAST_REACH[key], True
    return sq, tier[1], unit


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
    return _distance(mask, spacing, spatial_dims, dtype, two_sided, 1.0)


def _distance(
    mask: Tensor,
    spacing: Sequence[float],
    spatial_dims: int,
    dtype: torch.dtype,
    two_sided: bool,
    power: float = 1.0,
    *,
    signed: bool = False,
    out: Tensor | None = None,
) -> Tensor:
    """``distance ** power`` of validated arguments (``power`` > 0), written (or, with ``out``, added) into a
    tensor of the mask's shape. ``signed`` (two-sided): ``1 - distance`` on the mask's nonzero elements (the
    boundary loss's map). The losses take d^alpha straight from the squared distances, chunk by chunk into one
    output: no full-size temporaries beyond it.

    Under ``torch.compile`` the transform runs as one opaque op (``losskit::distance``): its window proof reads a
    number back per chunk, which a graph cannot hold, and the op keeps the compiled step in one graph."""
    if torch.compiler.is_compiling():
        d = _distance_op(mask.detach(), [float(v) for v in spacing], spatial_dims, dtype, two_sided, power, signed)
        return d if out is None else out.add_(d)
    return _distance_eager(mask, spacing, spatial_dims, dtype, two_sided, power, signed=signed, out=out)


@torch.library.custom_op("losskit::distance", mutates_args=())
def _distance_op(
    mask: Tensor,
    spacing: list[float],
    spatial_dims: int,
    dtype: torch.dtype,
    two_sided: bool,
    power: float,
    signed: bool,
) -> Tensor:
    return _distance_eager(mask, spacing, spatial_dims, dtype, two_sided, power, signed=signed)


@_distance_op.register_fake
def _(
    mask: Tensor,
    spacing: list[float],
    spatial_dims: int,
    dtype: torch.dtype,
    two_sided: bool,
    power: float,
    signed: bool,
) -> Tensor:
    return torch.empty(mask.shape, dtype=dtype, device=mask.device)


def _distance_eager(
    mask: Tensor,
    spacing: Sequence[float],
    spatial_dims: int,
    dtype: torch.dtype,
    two_sided: bool,
    power: float = 1.0,
    *,
    signed: bool = False,
    out: Tensor | None = None,
) -> Tensor:
    spatial = mask.shape[mask.dim() - spatial_dims :]
    result = torch.zeros(mask.shape, dtype=dtype, device=mask.device) if out is None else out
    if mask.numel() == 0:
        return result
    fg = (mask if mask.dtype == torch.bool else mask != 0).reshape(-1, *spatial)
    flat = result.view(-1, *spatial)
    step = max(1, _CHUNK // (math.prod(spatial) * (2 if two_sided else 1)))
    for start in range(0, fg.shape[0], step):
        part = fg[start : start + step]
        # two-sided: the transforms of the mask and of its complement, as one batch (edt(m) + edt(~m))
        sq, cap, unit = _squared(torch.cat((part, ~part)) if two_sided else part, spacing, dtype)
        # each element is a zero of the mask or of its complement: one of the two terms is 0; the cap (inf) is
        # only left on a map without a zero (certified), 0 by the documented convention
        dest = flat[start : start + step]
        for k, half in enumerate((sq[: len(part)], sq[len(part) :]) if two_sided else (sq,)):
            inner = signed and k == 0
            if half.is_floating_point():
                v = half.pow(power / 2).mul_(unit**power)
                v = torch.where((half > 0) & (half < cap), 1.0 - v, 0.0) if inner else v.masked_fill_(half >= cap, 0)
            else:  # integer squared distances: a table of the values (a float pow/sqrt per element is slower)
                table = torch.arange(int(cap) + 1, dtype=dtype, device=sq.device).pow_(power / 2).mul_(unit**power)
                if inner:
                    table = (1.0 - table).index_fill_(0, torch.tensor([0], device=sq.device), 0.0)
                table[-1] = 0.0
                v = table.index_select(0, half.reshape(-1).int()).view(half.shape)
            dest.add_(v)
    return result
