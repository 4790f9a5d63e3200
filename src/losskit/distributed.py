"""Cross-rank batches for pairwise, contrastive and proxy losses under ``torch.distributed`` (DDP).

A pairwise loss computed on each rank's local batch only sees local pairs. :class:`GatherLoss` all-gathers
the batch so every rank computes the loss over the *global* batch, while autograd reaches only the local
slice (``all_gather`` carries no gradient; the local tensor is put back in its slot).

The scaling rule (PML#363): every rank then holds the same global loss ``L`` but only ``dL/dx_r`` for its
own rows ``x_r``. DDP *averages* parameter gradients over the W ranks, which gives
``(1/W) sum_r dL/dx_r dx_r/dtheta = (1/W) dL/dtheta``: a factor W is missing. pytorch-metric-learning
returns ``W * L``. That is right for parameter-free losses but wrong for a loss with its own parameters
(ArcFace class centres, proxies): every rank already computes their *full* gradient from the gathered batch,
so ``W * L`` makes them W times too large. By default :class:`GatherLoss` therefore returns ``L`` itself and
multiplies by W only the gradient that flows back into the local rows (an identity whose backward scales by
W). After DDP's averaging the model and the loss's own parameters both receive exactly the gradient of the
single-process loss over the concatenated batch, and the logged value is the global loss.
``scale="loss"`` gives PML's ``W * L`` instead.

When ``torch.distributed`` is not available or not initialised, the wrapper calls the loss unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

from .config.builder import build_loss
from .functional._checks import check_choice

__all__ = ["GatherLoss", "DistributedLossWrapper", "gather_with_grad", "is_distributed"]


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group is initialised (and has more than one rank)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_with_grad(tensor: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank along dim 0, in rank order; the local slice keeps its autograd
    history, the other ranks' slices are constants. Ranks may hold different batch sizes (the sizes are
    exchanged first, one small collective). Without an initialised group, returns ``tensor`` itself.
    """
    if not is_distributed():
        return tensor
    world = dist.get_world_size(group)
    rank = dist.get_rank(group)
    local_n = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    sizes = [torch.zeros_like(local_n) for _ in range(world)]
    dist.all_gather(sizes, local_n, group=group)
    counts = [int(s) for s in sizes]  # the collective needs equal shapes, so sizes must reach the host
    longest = max(counts)
    padded = tensor.detach()
    if padded.shape[0] < longest:
        pad = padded.new_zeros((longest - padded.shape[0], *padded.shape[1:]))
        padded = torch.cat([padded, pad], dim=0)
    slots = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(slots, padded.contiguous(), group=group)
    parts = [slot[:n] for slot, n in zip(slots, counts, strict=True)]
    parts[rank] = tensor  # the local rows keep their gradient
    return torch.cat(parts, dim=0)


class GatherLoss(nn.Module):
    """Compute ``loss`` over the batch gathered from every rank, times ``world_size`` (see the module doc).

    Args:
        loss: the loss to wrap: a module, or anything :func:`losskit.build_loss` takes (``"supcon"``, a dict).
            It must be a function of the whole batch whose rows it treats symmetrically (pairwise, contrastive,
            proxy losses: ``contrastive``, ``triplet``, ``info_nce``, ``supcon``, ``multi_similarity``,
            ``arcface``...).
        scale: "gradient" (default): return the global loss and scale the gradient reaching the local rows
            by ``world_size``; "loss": return ``world_size * loss`` (PML's ``DistributedLossWrapper``, exact
            only for losses without parameters); "none": no scaling (when gradients are summed, not
            averaged, across ranks).
        group: the process group (default: the world).

    ``forward(*inputs, **named)``: every tensor positional input with a batch dim (embeddings, labels, a second
    view) is gathered along dim 0; named inputs and non-tensors pass through unchanged.
    """

    def __init__(self, loss: Any, scale: Literal["gradient", "loss", "none"] = "gradient", group: Any = None) -> None:
        super().__init__()
        if not isinstance(loss, nn.Module):
            loss = build_loss(loss)
        self.loss = loss
        self.scale = check_choice("GatherLoss", "scale", scale, ("gradient", "loss", "none"))
        self.group = group

    def forward(self, *inputs: Any, **named: Any) -> Any:
        if not is_distributed():
            return self.loss(*inputs, **named)
        world = dist.get_world_size(self.group)
        gathered = []
        for x in inputs:
            if isinstance(x, torch.Tensor) and x.dim() > 0:
                if self.scale == "gradient" and x.requires_grad:
                    x = _ScaleGrad.apply(x, float(world))  # type: ignore[no-untyped-call]
                x = gather_with_grad(x, self.group)
            gathered.append(x)
        out = self.loss(*gathered, **named)
        return out * world if self.scale == "loss" else out


class _ScaleGrad(torch.autograd.Function):
    """Identity whose backward multiplies the gradient by a constant."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


#: pytorch-metric-learning's name for the same wrapper.
DistributedLossWrapper = GatherLoss
