"""The plain PyTorch formulas that losskit's hand-made kernels replace: a few lines each, as a user would write them.

Each function takes the inputs of the losskit loss of the same name, built with its default options, and returns
the same value. They are the "naive formula" rows of the sweep (eager and under ``torch.compile``, the baseline a
user gets for free) and the yardstick of the numerics test (``tests/test_numerics.py``: a losskit kernel's
gradient under bf16/fp16 autocast must be no further from float64 than this formula's).

Only torch: no peer library, no losskit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["NAIVE"]

Tensor = torch.Tensor
SMOOTH = 1e-5


def _region_stats(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(intersection, sum of probabilities, sum of the one-hot target) per (sample, class)."""
    p = x.softmax(1)
    onehot = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(p.dtype)
    dims = tuple(range(2, x.dim()))
    return (p * onehot).sum(dims), p.sum(dims), onehot.sum(dims)


def dice(x: Tensor, y: Tensor) -> Tensor:
    inter, ps, ts = _region_stats(x, y)
    return (1 - (2 * inter + SMOOTH) / (ps + ts + SMOOTH)).mean()


def jaccard(x: Tensor, y: Tensor) -> Tensor:
    inter, ps, ts = _region_stats(x, y)
    return (1 - (inter + SMOOTH) / (ps + ts - inter + SMOOTH)).mean()


def _tversky_index(x: Tensor, y: Tensor, alpha: float, beta: float) -> Tensor:
    inter, ps, ts = _region_stats(x, y)
    return (inter + SMOOTH) / (inter + alpha * (ps - inter) + beta * (ts - inter) + SMOOTH)


def tversky(x: Tensor, y: Tensor) -> Tensor:
    return (1 - _tversky_index(x, y, 0.5, 0.5)).mean()


def focal_tversky(x: Tensor, y: Tensor) -> Tensor:
    return (1 - _tversky_index(x, y, 0.3, 0.7)).pow(0.75).mean()


def dice_ce(x: Tensor, y: Tensor) -> Tensor:
    return dice(x, y) + F.cross_entropy(x, y)


def focal(x: Tensor, t: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """torchvision's ``sigmoid_focal_loss``, "mean"."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    return ((alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - p_t) ** gamma).mean()


def focal_pixelwise(x: Tensor, y: Tensor, alpha: float = 0.25, gamma: float = 2.0, ignore: int = 255) -> Tensor:
    """Softmax focal loss ``-alpha (1 - p_y)^gamma log p_y``, mean over the pixels that are not ``ignore``."""
    valid = y != ignore
    log_p = x.log_softmax(1).gather(1, torch.where(valid, y, 0).unsqueeze(1)).squeeze(1)
    loss = -alpha * (1 - log_p.exp()) ** gamma * log_p
    return torch.where(valid, loss, 0).sum() / valid.sum().clamp_min(1)


def _lovasz_grad(gt_sorted: Tensor) -> Tensor:
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jac = 1 - intersection / union
    return torch.cat([jac[:1], jac[1:] - jac[:-1]])


def lovasz(x: Tensor, y: Tensor) -> Tensor:
    """Lovász-softmax per image over the classes present (Berman et al.'s reference, one image at a time)."""
    p = x.softmax(1)
    per_image = []
    for n in range(x.shape[0]):
        probs, labels = p[n].flatten(1), y[n].flatten()
        losses = []
        for c in range(x.shape[1]):
            fg = (labels == c).to(probs.dtype)
            if fg.sum() == 0:
                continue
            errors = (fg - probs[c]).abs()
            errors_sorted, perm = torch.sort(errors, descending=True)
            losses.append(torch.dot(errors_sorted, _lovasz_grad(fg[perm])))
        per_image.append(torch.stack(losses).mean() if losses else p.sum() * 0)
    return torch.stack(per_image).mean()


def lncc(pred: Tensor, target: Tensor, kernel_size: int = 3, smooth_dr: float = 1e-5) -> Tensor:
    """MONAI's local normalised cross-correlation with a box window (zero padding), ``-mean(ncc)``."""
    dims = pred.dim() - 2
    conv = (F.conv1d, F.conv2d, F.conv3d)[dims - 1]
    c = pred.shape[1]
    kernel = torch.ones((c, 1) + (kernel_size,) * dims, dtype=pred.dtype, device=pred.device)

    def window(v: Tensor) -> Tensor:
        return conv(v, kernel, padding=kernel_size // 2, groups=c)

    vol = kernel_size**dims
    t_sum, p_sum = window(target), window(pred)
    t2_sum, p2_sum, tp_sum = window(target * target), window(pred * pred), window(target * pred)
    t_avg, p_avg = t_sum / vol, p_sum / vol
    cross = tp_sum - p_avg * t_sum
    t_var = (t2_sum - t_avg * t_sum).clamp_min(0)
    p_var = (p2_sum - p_avg * p_sum).clamp_min(0)
    return -(cross * cross / (t_var * p_var + smooth_dr)).mean()


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(x: Tensor, y: Tensor, size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """``1 - mean(SSIM map)`` with a separable Gaussian window, "valid" padding, data range 1."""
    c = x.shape[1]
    g = _gaussian_window(size, sigma, x.dtype, x.device)
    kernel = (g[:, None] * g[None, :]).expand(c, 1, size, size)

    def blur(v: Tensor) -> Tensor:
        return F.conv2d(v, kernel, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = k1**2, k2**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return 1 - s.mean()


def linear_cross_entropy(hidden: Tensor, weight: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(F.linear(hidden, weight), target, ignore_index=-100)


def giou(pred: Tensor, target: Tensor) -> Tensor:
    """torchvision's ``generalized_box_iou_loss`` formula on (x1, y1, x2, y2) boxes, "mean"."""
    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = target.unbind(-1)
    inter = (torch.min(x2, x2g) - torch.max(x1, x1g)).clamp_min(0) * (
        torch.min(y2, y2g) - torch.max(y1, y1g)
    ).clamp_min(0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + 1e-7)
    hull = (torch.max(x2, x2g) - torch.min(x1, x1g)) * (torch.max(y2, y2g) - torch.min(y1, y1g))
    return (1 - (iou - (hull - union) / (hull + 1e-7))).mean()


NAIVE: dict[str, Callable[..., Tensor]] = {
    "dice": dice,
    "jaccard": jaccard,
    "tversky": tversky,
    "focal_tversky": focal_tversky,
    "dice_ce": dice_ce,
    "focal": focal,
    "focal_pixelwise": focal_pixelwise,
    "lovasz": lovasz,
    "lncc": lncc,
    "ssim": ssim,
    "linear_cross_entropy": linear_cross_entropy,
    "giou": giou,
}
