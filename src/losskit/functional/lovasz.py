"""Lovász losses (Berman et al., CVPR 2018): the Lovász extension of the Jaccard loss, vectorised.

All (sample, class) problems are solved at once: the errors form an (N, C, S) matrix (or (C, N*S) pooled over
the batch) sorted along its last dimension in one call; the Jaccard gradient of every row comes from one
``cumsum``. No Python loop over classes or images, no one-hot target (the foreground of the sorted errors is
read from the labels through the sort permutation).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._reduce import acc_dtype

__all__ = ["lovasz_loss", "lovasz_grad"]


def lovasz_grad(fg_sorted: Tensor) -> Tensor:
    """Gradient of the Lovász extension of the Jaccard loss at the sorted errors of each row (last dim):
    ``J_i - J_{i-1}`` with ``J_i = 1 - |fg \\ first i| / |fg  union  first i|``."""
    total = fg_sorted.sum(-1, keepdim=True)
    cum = fg_sorted.cumsum(-1)
    rank = torch.arange(1, fg_sorted.shape[-1] + 1, dtype=fg_sorted.dtype, device=fg_sorted.device)
    union = (total + rank).sub_(cum)  # >= 1 at every position: never divides by 0
    jac = (total - cum).div_(union).neg_().add_(1.0)
    del cum, union
    return torch.diff(jac, dim=-1, prepend=torch.zeros_like(jac[..., :1]))


def _rows(t: Tensor, batch: bool) -> Tensor:
    """(N, C, S) -> itself, or (C, N*S) when pooling over the batch."""
    return t.transpose(0, 1).reshape(t.shape[1], -1) if batch else t


def lovasz_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str = "multiclass",
    from_logits: bool = True,
    ignore_index: int | None = None,
    batch: bool = False,
    classes: str = "present",
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Lovász hinge (binary, logits), or Lovász-softmax (multiclass: softmax probabilities; multilabel: per-class
    sigmoid probabilities) with errors ``|fg - p|``.

    ``classes="present"`` averages over the (sample, class) entries whose target is not empty (multiclass and
    multilabel; Berman's default); ``"all"`` over every entry. Binary mode always uses every entry.
    "none" shape: (N, C) (or (C,) with ``batch``), C = 1 in binary mode; excluded entries hold 0 there.
    """
    dt = acc_dtype(input)
    n = input.shape[0]
    binary = mode == "binary"
    x = input.reshape(n, 1, -1) if binary else input.reshape(n, input.shape[1], -1)
    c = x.shape[1]
    labels: Tensor | None = None
    valid: Tensor | None = None
    if mode == "multiclass" and not target.is_floating_point():
        y = target.reshape(n, -1)
        if ignore_index is not None:
            keep = y != ignore_index
            valid = keep.to(dt).unsqueeze(1)
            y = torch.where(keep, y, torch.zeros_like(y))
        y = y.long()
        p = torch.softmax(x, dim=1, dtype=dt) if from_logits else x.to(dt)
        idx = y.unsqueeze(1)
        errors = p.scatter(1, idx, 1.0 - p.gather(1, idx))
        # -1 marks ignored voxels: it matches no class when the foreground is read back through the permutation.
        small = torch.int16 if c < 2**15 else torch.int32
        labels = (y if ignore_index is None else torch.where(keep, y, torch.full_like(y, -1))).to(small)
    else:
        t = target.reshape(x.shape).detach().to(dt)
        if ignore_index is not None and mode != "multiclass":
            keep = t != ignore_index
            valid = keep.to(dt)
            t = torch.where(keep, t, torch.zeros_like(t))
        if binary and from_logits:
            errors = torch.relu(1.0 - x.to(dt) * (2.0 * t - 1.0))
        else:
            p = x.to(dt) if not from_logits else (torch.softmax(x, 1, dtype=dt) if mode == "multiclass" else torch.sigmoid(x.to(dt)))
            errors = (p - t).abs()
        fg = t if valid is None else t * valid
    if valid is not None:
        errors = errors * valid
    rows = _rows(errors, batch)
    with torch.no_grad():
        sorted_err, perm = rows.detach().sort(dim=-1, descending=True)
        del sorted_err
        if labels is not None:
            lab = labels.unsqueeze(1).expand(n, c, -1)
            lab = _rows(lab, batch) if batch else lab
            cls = torch.arange(c, device=x.device, dtype=lab.dtype).view(-1, 1)
            fg_sorted = lab.gather(-1, perm).eq_(cls if batch else cls.unsqueeze(0)).to(dt)
        else:
            fg_rows = _rows(fg, batch)
            fg_sorted = fg_rows.gather(-1, perm)
        present = fg_sorted.sum(-1) > 0
        g = lovasz_grad(fg_sorted)
        del fg_sorted
        g_unsorted = torch.empty_like(g).scatter_(-1, perm, g)
        del g, perm
    loss = (rows * g_unsorted).sum(-1)  # d loss / d errors = the Lovász gradient, in the original order
    if binary or classes == "all":
        counted = torch.ones_like(loss)
    else:
        counted = present.to(dt)
        loss = loss * counted
    if weight is not None:
        loss = loss * weight.to(dt)
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else total / counted.sum().clamp_min(1.0)
