"""Large inputs for the autocast check: a 512x512 image and a 64^3 volume for dense losses, a big batch otherwise.

A loss is *dense* when its first declared input's layout has ``*spatial``; its input kind (class indices,
a binary mask, an image pair, a displacement field, images plus DVFs) is read from its small example, so a
new dense built-in gets large inputs without an edit here. Every other loss gets many of its own examples
concatenated along dim 0 (about 2^18 elements in the first input; at most 2048 samples for pairwise losses).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from losskit.inputs import Example
from losskit.registration import LOSSES

from ._cases import cat, example, tensors

IMAGE = (512, 512)
VOLUME = (64, 64, 64)
TARGET_NUMEL = 1 << 18
MAX_PAIRWISE_BATCH = 2048
#: Losses whose cost grows faster than N^2: triplet mining "all" builds an (N, N, N) table.
MAX_BATCH = {"triplet": 256}
#: Volumetric image losses whose declared layout is "(B, *)" rather than "*spatial".
DENSE_ALSO = {"mutual_information"}


def is_dense(name: str) -> bool:
    spec = LOSSES.entry(name).metadata.get("inputs")
    return name in DENSE_ALSO or (bool(spec and spec.tensors) and "spatial" in spec.tensors[0].layout)


def dense_kind(loss: nn.Module, ex: Example) -> str:
    args = ex.args
    x = args[0]
    if len(args) == 1 and not ex.kwargs:
        return "ddf"
    if "pred_dvf" in ex.kwargs or "gt_dvf" in ex.kwargs:
        return "reg_dvf"
    y = args[1]
    if not y.is_floating_point():
        return "seg_index"
    if y.shape == x.shape and x.shape[1] == 1 and bool(((y == 0) | (y == 1)).all()):
        return "seg_binary"
    if y.shape == x.shape:
        return "image_pair"
    raise LookupError(f"no large-input generator for example shapes {[tuple(t.shape) for t in tensors(args)]}")


def _pair_images(n: int, c: int, sp: tuple[int, ...], g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.rand((n, c, *sp), generator=g)
    return a, (0.7 * a + 0.3 * torch.rand((n, c, *sp), generator=g)).clamp(0, 1)


def dense_inputs(loss: nn.Module, spatial: tuple[int, ...], device: Any, seed: int = 0) -> Example:
    ex = example(loss)
    kind = dense_kind(loss, ex)
    g = torch.Generator().manual_seed(seed)
    n = 1  # one 512x512 image or one 64^3 volume: the per-sample sums are what overflow in half precision
    s = len(spatial)
    if kind == "seg_index":
        c = int(ex.args[0].shape[1])
        made = Example((torch.randn((n, c, *spatial), generator=g), torch.randint(0, c, (n, *spatial), generator=g)))
    elif kind == "seg_binary":
        made = Example(
            (torch.randn((n, 1, *spatial), generator=g), torch.randint(0, 2, (n, 1, *spatial), generator=g).float())
        )
    elif kind == "image_pair":
        made = Example(_pair_images(n, int(ex.args[0].shape[1]), spatial, g))
    elif kind == "ddf":
        made = Example((0.3 * torch.randn((n, s, *spatial), generator=g),))
    else:  # reg_dvf: warped, fixed images and displacement fields
        kwargs = {k: 0.3 * torch.randn((n, s, *spatial), generator=g) for k in ex.kwargs}
        made = Example(_pair_images(n, int(ex.args[0].shape[1]), spatial, g), kwargs)
    return Example(tuple(t.to(device) for t in made.args), {k: v.to(device) for k, v in made.kwargs.items()})


def batch_inputs(name: str, loss: nn.Module, device: Any) -> Example:
    """Many examples of ``loss`` concatenated along dim 0 (labels stay in range: each example is valid)."""
    first = example(loss)
    lead = tensors(first.args[0])[0]
    k = max(1, math.ceil(TARGET_NUMEL / max(1, lead.numel())))
    if "metric_learning" in LOSSES.entry(name).metadata.get("tasks", ()):
        k = max(1, min(k, MAX_PAIRWISE_BATCH // max(1, lead.shape[0])))
    if name in MAX_BATCH:
        k = max(1, min(k, MAX_BATCH[name] // max(1, lead.shape[0])))
    k = min(k, 4096)
    parts = [first] + [example(loss, seed=i) for i in range(1, k)]
    args = tuple(cat([p.args[i] for p in parts]) for i in range(len(first.args)))
    kwargs = {key: cat([p.kwargs[key] for p in parts]) for key in first.kwargs}
    from ._cases import to

    return Example(to(args, device), to(kwargs, device))
