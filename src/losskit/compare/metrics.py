"""Validation metrics of the comparison tasks, pooled over the whole validation set."""

from __future__ import annotations

import torch

from ..functional.skeleton import skeletonize

__all__ = ["segmentation_metrics", "classification_metrics", "cldice"]


def _ratio(num: torch.Tensor | int, den: torch.Tensor | int) -> float:
    """``num / den``, and 1.0 for 0/0 (nothing to find and nothing found is a perfect score)."""
    return float(num) / float(den) if float(den) else 1.0


def cldice(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """Centerline Dice (Shit et al., CVPR 2021) of boolean masks (N, H, W), pooled over the set:
    ``2 Tprec Tsens / (Tprec + Tsens)`` with ``Tprec = |S(P) & T| / |S(P)|``, ``Tsens = |S(T) & P| / |S(T)|``
    and ``S`` the Guo-Hall skeleton (:func:`losskit.functional.skeleton.skeletonize`)."""
    skel_pred, skel_truth = skeletonize(pred.float()) > 0, skeletonize(truth.float()) > 0
    tprec = _ratio((skel_pred & truth).sum(), skel_pred.sum())
    tsens = _ratio((skel_truth & pred).sum(), skel_truth.sum())
    return 2 * tprec * tsens / (tprec + tsens) if tprec + tsens else 0.0


def segmentation_metrics(logits: torch.Tensor, target: torch.Tensor, *, skeletons: bool = True) -> dict[str, float]:
    """Foreground IoU, Dice and recall (averaged over the foreground classes 1..C-1, each pooled over every
    pixel of the set, so images without a class do not contribute 0/0) and, with ``skeletons``, clDice of the
    foreground as a whole (the slowest of them: the runner asks for it after the last epoch only)."""
    pred = logits.argmax(1)
    ious, dices, recalls = [], [], []
    for k in range(1, logits.shape[1]):
        p, t = pred == k, target == k
        tp, fp, fn = (p & t).sum(), (p & ~t).sum(), (~p & t).sum()
        ious.append(_ratio(tp, tp + fp + fn))
        dices.append(_ratio(2 * tp, 2 * tp + fp + fn))
        recalls.append(_ratio(tp, tp + fn))
    n = len(ious)
    metrics = {"iou": sum(ious) / n, "dice": sum(dices) / n, "recall": sum(recalls) / n}
    if skeletons:
        metrics["cldice"] = cldice(pred > 0, target > 0)
    return metrics


def classification_metrics(
    logits: torch.Tensor, target: torch.Tensor, rare_class: int | None = None
) -> dict[str, float]:
    """Macro-F1 over classes, recall of ``rare_class`` (the training set's rarest; ``None``: the rarest class
    present in ``target``), and accuracy."""
    c = logits.shape[1]
    pred = logits.argmax(1)
    f1s, recalls = [], []
    for k in range(c):
        tp = ((pred == k) & (target == k)).sum()
        fp = ((pred == k) & (target != k)).sum()
        fn = ((pred != k) & (target == k)).sum()
        f1s.append(_ratio(2 * tp, 2 * tp + fp + fn))
        recalls.append(_ratio(tp, tp + fn))
    if rare_class is None:
        counts = torch.bincount(target, minlength=c)
        rare_class = int(torch.where(counts > 0, counts, counts.max() + 1).argmin())
    return {
        "macro_f1": sum(f1s) / c,
        "minority_recall": recalls[rare_class],
        "accuracy": float((pred == target).float().mean()),
    }
