"""Binary skeletons in torch (topology-preserving thinning) and the Skeleton Recall loss (Kirchhoff et al. 2024).

:func:`skeletonize` thins a binary mask to a one-pixel-wide skeleton on the mask's device, batched, with no
scipy or scikit-image: Guo and Hall's two-subiteration parallel thinning (Guo & Hall, "Parallel thinning with
two-subiteration algorithms", CACM 1989; the algorithm of ``skimage.morphology.thin``). Each subiteration
codes every pixel's 8-neighbourhood as a byte (one 3x3 convolution with the weights ``2^k``) and deletes the
foreground pixels whose code the subiteration's 256-entry lookup table marks as deletable (conditions G1, G2,
G3 / G3'). The two tables only delete simple, non-end points, so the 8-connected components of the mask and
the 4-connected components of its background are kept, and one-pixel lines (and their end points) are left
as they are.

3-D: a (..., D, H, W) volume is thinned **slice by slice** along D (every (H, W) slice is a 2-D image of the
batch). A tube running along D keeps one voxel per slice (a curve); a structure lying in the (H, W) plane
keeps its per-slice centre lines, which stack into a thin surface where a 3-D curve-skeleton (Lee et al.
1994, skimage's 3-D ``skeletonize``) would keep one curve. For Skeleton Recall that target is a superset of
the curve skeleton: every true centreline voxel is covered, at the cost of a few more voxels to recall.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import shape_str
from ._precision import float32_loss
from ._reduce import reduce
from .segmentation_input import Mode, Reduction, prepare_segmentation
from .topology import _maps

__all__ = ["skeletonize", "tube", "skeleton_recall_loss"]

# Byte code of the 8-neighbourhood, bit k = neighbour x_{k+1} counter-clockwise from east (as skimage's thin):
# (row offset, column offset) of E=1, NE=2, N=4, NW=8, W=16, SW=32, S=64, SE=128.
_NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def _guo_hall_tables() -> tuple[Tensor, Tensor]:
    """The two deletion tables of Guo-Hall thinning over the 256 neighbourhood codes."""
    first, second = [], []
    for n in range(256):
        x = [bool(n >> i & 1) for i in range(8)]  # x[0] = x1 (E) ... x[7] = x8 (SE)
        # G1: exactly one 8-connected foreground run around the pixel (crossing number X_H = 1)
        g1 = sum(1 for i in (0, 2, 4, 6) if not x[i] and (x[i + 1] or x[(i + 2) % 8])) == 1
        # G2: 2 <= min(n1, n2) <= 3 (not an end point, not an interior point)
        n1 = sum(1 for k in (1, 3, 5, 7) if x[k] or x[k - 1])
        n2 = sum(1 for k in (1, 3, 5, 7) if x[k] or x[(k + 1) % 8])
        g2 = min(n1, n2) in (2, 3)
        # G3 / G3': the subiteration's side (south-east boundary first, then north-west)
        g3 = not ((x[1] or x[2] or not x[7]) and x[0])
        g3p = not ((x[5] or x[6] or not x[3]) and x[4])
        first.append(g1 and g2 and g3)
        second.append(g1 and g2 and g3p)
    return torch.tensor(first), torch.tensor(second)


_TABLES = _guo_hall_tables()


@torch.no_grad()
def skeletonize(mask: Tensor, *, max_iterations: int | None = None) -> Tensor:
    """The skeleton of a binary mask by topology-preserving parallel thinning (Guo & Hall 1989), in torch.

    Every 2-D slice over the last two dims is thinned at once (a batch of images), on the mask's device:
    each iteration runs two subiterations, each one 3x3 convolution (the neighbourhood byte code) and one
    lookup. Pixels outside the image count as background (skimage's ``mode="constant"``). The loop stops when
    an iteration deletes nothing, which it reads with one host sync per iteration (about half the thickness
    of the thickest structure in iterations), or after ``max_iterations``.

    A (..., D, H, W) volume is thinned slice by slice along D (see the module docstring): a documented
    approximation of a 3-D curve-skeleton that contains it.

    Properties (tested): the skeleton is a subset of the mask; it has the mask's 8-connected foreground
    components and 4-connected background components; a one-pixel-wide line is its own skeleton; thinning
    a skeleton again changes nothing. The algorithm of ``skimage.morphology.thin``, with the same two lookup
    tables (equal entry by entry to skimage's ``G123_LUT`` / ``G123P_LUT``) and the same stopping rule, so
    a 2-D mask gives ``thin``'s output; ``skimage.morphology.skeletonize`` (Zhang-Suen in 2-D) differs from it
    by a few pixels.

    Args:
        mask: any dtype, shape (..., H, W) with at least two dims; nonzero is foreground.
        max_iterations: stop after this many iterations (>= 0); None (default): until nothing changes.

    Returns:
        a bool tensor of the mask's shape.

    Example:
        >>> m = torch.zeros(7, 9, dtype=torch.bool)
        >>> m[2:5, 1:8] = True
        >>> skeletonize(m).sum(0).tolist()
        [0, 0, 1, 1, 1, 1, 1, 0, 0]
    """
    if not isinstance(mask, Tensor) or mask.dim() < 2:
        got = shape_str(mask) if isinstance(mask, Tensor) else type(mask).__name__
        raise LossInputError(f"skeletonize: expected a mask of shape (..., H, W), got {got}")
    if max_iterations is not None and (
        isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 0
    ):
        raise ValueError(f"skeletonize: max_iterations must be an int >= 0 or None, got {max_iterations!r}")
    shape = mask.shape
    h, w = shape[-2:]
    if mask.numel() == 0:
        return torch.zeros(shape, dtype=torch.bool, device=mask.device)
    x = (mask != 0).reshape(-1, h, w)
    tables = [t.to(x.device) for t in _TABLES]
    # an iteration that changes anything deletes >= 1 pixel: the loop ends after at most |mask| iterations
    limit = max_iterations if max_iterations is not None else h * w
    for _ in range(limit):
        before = x
        for table in tables:
            x = x & ~torch.take(table, _codes(x))
        if torch.equal(before, x):  # the documented sync: the number of iterations depends on the data
            break
    return x.reshape(shape)


def _codes(x: Tensor) -> Tensor:
    """The 8-neighbourhood byte code of every pixel of a (B, H, W) bool map (outside the image: background),
    by eight shifted adds (a 3x3 single-channel float convolution was ~20x slower on CPU)."""
    h, w = x.shape[-2:]
    xp = F.pad(x.to(torch.uint8), (1, 1, 1, 1))
    code = torch.zeros(x.shape, dtype=torch.uint8, device=x.device)  # adds in uint8: int64 ones were ~40x slower
    for bit, (di, dj) in enumerate(_NEIGHBOURS):
        code.add_(xp[:, 1 + di : 1 + di + h, 1 + dj : 1 + dj + w], alpha=1 << bit)
    return code.long()


def _cross_dilate(x: Tensor, radius: int) -> Tensor:
    """``radius`` dilations of a (B, C, *spatial) bool map with the cross (face neighbours): the L1 ball of that
    radius, the ``dilation(dilation(.))`` of skimage's default footprint for ``radius=2``. Shifted ORs on
    uint8 (a 3-tap max-pool per axis was ~10x slower on CPU)."""
    d = x.dim() - 2
    size = x.shape[2:]
    y = x.to(torch.uint8)
    for _ in range(radius):
        yp = F.pad(y, (1, 1) * d)
        out = y.clone()
        for axis in range(d):
            for shift in (0, 2):
                idx = [slice(None), slice(None)] + [slice(1, 1 + n) for n in size]
                idx[2 + axis] = slice(shift, shift + size[axis])
                out.bitwise_or_(yp[tuple(idx)])
        y = out
    return y.bool()


@torch.no_grad()
def tube(target: Tensor, radius: int = 2) -> Tensor:
    """The tubed skeleton of a (N, C, *spatial) {0, 1} map (2-D or 3-D), per channel: :func:`skeletonize`,
    dilated ``radius`` times with the cross, then cut back to the channel's mask (Kirchhoff et al.'s
    ``skel = dilation(dilation(skeletonize(seg))) * seg``). Float {0, 1} of the target's shape and dtype.

    Under ``torch.compile`` the thinning runs as one opaque op (``losskit::skeletonize``): its iteration count
    depends on the data, which a graph cannot hold, and the op keeps the compiled step in one graph."""
    mask = target > 0.5
    skeleton = _skeletonize_op(mask) if torch.compiler.is_compiling() else skeletonize(mask)
    return (_cross_dilate(skeleton, radius) & mask).to(target.dtype)


@torch.library.custom_op("losskit::skeletonize", mutates_args=())
def _skeletonize_op(mask: Tensor) -> Tensor:
    return skeletonize(mask)


@_skeletonize_op.register_fake
def _(mask: Tensor) -> Tensor:
    return torch.empty(mask.shape, dtype=torch.bool, device=mask.device)


def check_skeleton_recall_options(loss: str, smooth: float, tube_radius: int) -> None:
    """The option checks of ``skeleton_recall`` (functional form and constructor): ValueError naming the loss."""
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float)) or not 0 <= smooth < float("inf"):
        raise ValueError(f"{loss}: smooth must be a finite number >= 0, got {smooth!r}")
    if isinstance(tube_radius, bool) or not isinstance(tube_radius, int) or tube_radius < 0:
        raise ValueError(f"{loss}: tube_radius must be an int >= 0, got {tube_radius!r}")


@float32_loss
def skeleton_recall_loss(
    input: Tensor,
    target: Tensor,
    skeleton: Tensor | None = None,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    smooth: float = 1.0,
    tube_radius: int = 2,
    ignore_index: int | None = None,
    include_background: bool = False,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Skeleton Recall loss (Kirchhoff et al., "Skeleton Recall Loss for Connectivity Conserving and Resource
    Efficient Segmentation of Thin Tubular Structures", ECCV 2024): one minus the soft recall of the target's
    tubed skeleton by the prediction, per (sample, class).

    .. math::

        \ell_{n,c} = 1 - \frac{\sum_v p_{n,c,v}\, S_{n,c,v} + s}{\sum_v S_{n,c,v} + s},\qquad
        S = \big(\operatorname{dilate}^{r}(\operatorname{skel}(t)) \wedge t\big)

    ``skel`` is :func:`skeletonize` (Guo-Hall thinning; 3-D slice by slice along D), computed from the target
    on its device with no gradient; ``dilate^r`` the cross dilation ``tube_radius`` times (the paper's 2-pixel
    tube for ``r = 2``). The skeleton is taken per kept channel of the target (class mask ``t > 0.5``);
    ``skeleton=`` takes a precomputed *tubed* skeleton instead, used as is (no thinning, no dilation).

    Args:
        input: logits (probabilities with ``from_logits=False``), (N, C, H, W) or (N, C, D, H, W); binary mode
            also (N, H, W) / (N, D, H, W).
        target: class indices (N, *spatial) (multiclass), class probabilities or {0, 1} masks of the input's
            shape.
        skeleton: optional precomputed tubed skeleton in the target's layout (class indices with 0 off the
            skeleton, as the reference data loader's ``skel``, or a {0, 1} map of the input's shape).
        mode, from_logits, ignore_index, num_classes: as :func:`dice_loss`. Ignored voxels are background for
            the skeleton and count in no sum.
        include_background: False (default, as the reference, which refuses the background): channel 0 is
            dropped when C > 1; True keeps it (its skeleton is that of the background mask).
        smooth: added to the numerator and the denominator (>= 0; 1.0 as the reference). An empty skeleton
            gives recall 1 (loss 0), also with ``smooth=0``.
        tube_radius: dilations of the skeleton (int >= 0, default 2).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (shape (N, C), C - 1 without the background).

    Example:
        >>> x = torch.randn(2, 3, 16, 16)
        >>> y = torch.randint(0, 3, (2, 16, 16))
        >>> skeleton_recall_loss(x, y).shape
        torch.Size([])

    Parity: ``1 - skeleton_recall_loss(x, y, skeleton=s)`` ≡ ``-SoftSkeletonRecallLoss(apply_nonlin=softmax,
    batch_dice=False, do_bg=False, smooth=1)(x, s)`` of MIC-DKFZ/Skeleton-Recall (nnU-Net) with ``s`` its
    tubed skeleton label map; mean over (sample, class). The reference's data loader skeletonizes the union of
    the foreground (skimage, Zhang-Suen in 2-D, Lee in 3-D) and labels it by class; losskit skeletonizes each
    class mask (the same where classes do not touch) with Guo-Hall thinning.
    """
    name = "skeleton_recall_loss"
    target, _ = prepare_segmentation(
        name, input, target, mode=mode, reduction=reduction, ignore_index=ignore_index, num_classes=num_classes
    )
    check_skeleton_recall_options(name, smooth, tube_radius)
    p, t, valid = _maps(name, input, target, mode, from_logits, ignore_index, include_background)
    if skeleton is None:
        s = tube(t, tube_radius)
    else:
        skeleton, _ = prepare_segmentation(name, input, skeleton, mode=mode, reduction=reduction)
        _, s, _v = _maps(name, input, skeleton, mode, False, ignore_index, include_background)
        s = s if valid is None else s * valid  # ignored voxels count nowhere, whatever the skeleton says
    dims = list(range(2, p.dim()))
    num = (p * s).sum(dims) + smooth
    den = s.sum(dims) + smooth
    # an empty skeleton with smooth=0 recalls everything (1), and 1 + 0 * num keeps a NaN input NaN there
    empty = den <= 0
    recall = torch.where(empty, 1.0 + 0.0 * num, num / torch.where(empty, torch.ones_like(den), den))
    return reduce(1.0 - recall, reduction)
