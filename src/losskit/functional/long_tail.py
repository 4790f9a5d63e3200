"""Long-tail and class-imbalance losses: class-balanced (``class_balanced``), label-distribution-aware margin
(``ldam``) and AUC-margin (``aucm``).

``class_balanced`` and ``ldam`` take logits (N, C) or (N, C, *spatial) and class indices (N, *spatial) of any
integer dtype, with the training set's ``samples_per_class`` (C,) (``losskit compare`` fills it from the task's
data). ``aucm`` takes binary scores. Every form follows the zoo's edge policy: an empty or all-ignored batch
gives 0 with a zero gradient, NaN in gives NaN out, float32 under autocast (``@float32_loss``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_same_shape, label_checks_enabled
from ._precision import float32_loss
from ._reduce import reduce
from .classification import check_class_input, class_ce, class_weight
from .focal import sigmoid_focal_loss
from .noisy_labels import target_log_prob

__all__ = [
    "check_class_counts",
    "class_balanced_weights",
    "ldam_margins",
    "class_balanced_loss",
    "ldam_loss",
    "aucm_loss",
]

Reduction = Literal["mean", "sum", "none"]
BalancedBase = Literal["cross_entropy", "focal", "sigmoid"]
AUCMVersion = Literal["v1", "v2"]
Counts = Tensor | Sequence[float]


def check_class_counts(loss: str, samples_per_class: Counts) -> Tensor:
    """Class counts as a 1-D float tensor of finite values > 0 (a zero count has no effective number)."""
    n = samples_per_class if isinstance(samples_per_class, Tensor) else torch.tensor(samples_per_class)
    n = n.flatten().to(torch.float64 if n.dtype == torch.float64 else torch.float32)
    if n.numel() == 0 or (
        n.device.type == "cpu" and (not bool(torch.isfinite(n).all()) or bool((n <= 0).any()))  # sync-free on GPU
    ):
        raise ValueError(
            f"{loss}: samples_per_class must be finite counts > 0, one per class (give an empty class a "
            f"pseudo-count of 1), got {n.tolist()!r:.200}"
        )
    return n


def class_balanced_weights(samples_per_class: Counts, beta: float = 0.9999, loss: str = "class_balanced") -> Tensor:
    r"""Cui et al.'s class weights ``w_c = (1 - beta) / (1 - beta^n_c)``, the inverse effective number of
    samples, normalised to sum to C. ``beta = 0``: all 1; ``beta -> 1``: inverse class frequency.
    ``1 - beta^n`` is evaluated as ``-expm1(n log1p(beta - 1))``, exact in float32 for ``beta = 0.9999``."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"{loss}: beta must be in [0, 1), got {beta}")
    n = check_class_counts(loss, samples_per_class)
    if beta == 0.0:
        return torch.ones_like(n)
    effective = torch.expm1(n * torch.log1p(torch.tensor(beta - 1.0, dtype=n.dtype))).neg()
    w = (1.0 - beta) / effective
    return w * (n.numel() / w.sum())


def ldam_margins(samples_per_class: Counts, max_m: float = 0.5, loss: str = "ldam") -> Tensor:
    """Cao et al.'s per-class margins ``m_c = C' n_c^(-1/4)``, scaled so that the rarest class gets ``max_m``."""
    if not max_m >= 0.0:
        raise ValueError(f"{loss}: max_m must be >= 0, got {max_m}")
    m = check_class_counts(loss, samples_per_class).pow(-0.25)
    return m * (max_m / m.max())


def _per_class(loss: str, values: Tensor, c: int, what: str) -> None:
    if values.numel() != c:
        raise LossInputError(f"{loss}: {what} has {values.numel()} entries for an input with {c} classes")


@float32_loss
def class_balanced_loss(
    input: Tensor,
    target: Tensor,
    samples_per_class: Counts | None = None,
    *,
    beta: float = 0.9999,
    base: BalancedBase = "cross_entropy",
    gamma: float = 2.0,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Class-balanced loss (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019):
    a base loss weighted by the inverse effective number of samples of the target's class.

    .. math::

        \ell_i = w_{y_i}\, L_{\text{base}}(x_i, y_i), \qquad
        w_c = \frac{1 - \beta}{1 - \beta^{n_c}} \cdot \frac{C}{\sum_k \frac{1 - \beta}{1 - \beta^{n_k}}}

    with base ``"cross_entropy"`` ``-log softmax(x)_y``, ``"sigmoid"`` the one-vs-rest BCE summed over the
    classes, or ``"focal"`` the one-vs-rest sigmoid focal loss ``sum_c (1 - p_t)^gamma BCE`` (the paper's
    CB focal). "mean" is the plain mean over the valid targets (the weights are normalised to sum to C, as the
    paper does, so they are not renormalised per batch).

    Args:
        input: logits (N, C) or (N, C, *spatial).
        target: class indices (N, *spatial) of any integer dtype.
        samples_per_class: (C,) training-set count of each class (> 0); None: every weight 1 (the base loss).
        beta: in [0, 1) (the paper: 0.9, 0.99, 0.999, 0.9999).
        base: ``"cross_entropy"`` | ``"focal"`` | ``"sigmoid"``.
        gamma: focusing parameter (>= 0) of the ``"focal"`` base.
        ignore_index: target value that counts nowhere; None (default): none.
        num_classes: checked against C when given.
        reduction: ``"mean"`` over the valid targets (0 when none) | ``"sum"`` | ``"none"`` (N, *spatial).

    Example:
        >>> x, y = torch.zeros(2, 2), torch.tensor([0, 1])
        >>> class_balanced_loss(x, y, [90, 10], beta=0.9, reduction="none")  # the rare class weighs more
        tensor([0.5468, 0.8395])

    Parity: the paper's code (richardaecn/class-balanced-loss) and its PyTorch port (vandit15) for (N, C):
    ``"sigmoid"``: port's ``F.binary_cross_entropy_with_logits(x, one_hot, weights)`` = this "mean" / C;
    ``"focal"``: port's ``focal_loss(one_hot, x, weights, gamma)`` (sum / N) = this "mean". The port's
    ``"softmax"`` (a BCE on softmax probabilities) is not the paper's softmax CB loss, which this ``"cross_entropy"``
    base is (``F.cross_entropy(x, y, reduction="none") * w[y]``, averaged).
    """
    name = "class_balanced"
    check_reduction(name, reduction)
    base = check_choice(name, "base", base, ("cross_entropy", "focal", "sigmoid"))
    if not gamma >= 0:
        raise ValueError(f"{name}: gamma must be >= 0, got {gamma}")
    w = None if samples_per_class is None else class_balanced_weights(samples_per_class, beta, name)
    check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, allow_dense=False)
    c = input.shape[1]
    if w is not None:
        _per_class(name, w, c, "samples_per_class")
        w = w.to(device=input.device, dtype=input.dtype)
    if base == "cross_entropy":
        _, logp_t, valid = target_log_prob(input, target, ignore_index)
        out = -logp_t
        labels = target.long()
    else:
        labels = target.long()
        valid = None if ignore_index is None else labels != ignore_index
        # the focal helper ignores negative labels; its "none" is (N, C, *): one-vs-rest, summed over the classes
        marked = labels if valid is None else torch.where(valid, labels, -1)
        g = gamma if base == "focal" else 0.0
        out = sigmoid_focal_loss(input, marked, alpha=None, gamma=g, reduction="none").sum(1)
    if w is not None:
        out = out * w[labels if valid is None else torch.where(valid, labels, 0)]
    if valid is not None:
        out = torch.where(valid, out, torch.zeros((), dtype=out.dtype, device=out.device))
    return reduce(out, reduction, valid)


@float32_loss
def ldam_loss(
    input: Tensor,
    target: Tensor,
    samples_per_class: Counts | None = None,
    *,
    max_m: float = 0.5,
    s: float = 30.0,
    weight: Tensor | Sequence[float] | None = None,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""LDAM loss (Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
    NeurIPS 2019): cross-entropy on scaled logits with a class-dependent margin subtracted from the target's.

    .. math::

        \ell = -\log \frac{e^{s (x_y - m_y)}}{e^{s (x_y - m_y)} + \sum_{j \ne y} e^{s x_j}}, \qquad
        m_c = \text{max\_m} \cdot (\min_k n_k / n_c)^{1/4}

    Deferred re-weighting (DRW) is a class ``weight`` switched on late in training: pass
    :func:`class_balanced_weights` (``beta=0.9999``) as ``weight`` from then on (the module does it with its
    ``reweight`` switch). ``x`` should be cosine logits (normalised features and weights), as in the paper.

    Args:
        input: logits (N, C) or (N, C, *spatial).
        target: class indices (N, *spatial) of any integer dtype.
        samples_per_class: (C,) training-set count of each class (> 0); None: the margin ``max_m`` for every
            class.
        max_m: the largest margin, the rarest class's (>= 0).
        s: logit scale (> 0).
        weight: (C,) class weight (the DRW weights), torch's weighted mean; None: unweighted.
        ignore_index: target value that counts nowhere; None (default): none.
        num_classes: checked against C when given.
        reduction: ``"mean"`` ((weighted) mean over the valid targets, 0 when none) | ``"sum"`` | ``"none"``.

    Example:
        >>> x, y = torch.zeros(1, 2), torch.tensor([1])
        >>> round(float(ldam_loss(x, y, [100, 1], max_m=0.5, s=1.0)), 4)  # CE of (0, -0.5)
        0.9741

    Parity: the authors' ``LDAMLoss(cls_num_list, max_m, weight, s)`` (kaidic/LDAM-DRW) for (N, C) logits:
    ``F.cross_entropy(s * (x - m_y one_hot), y, weight)``; DRW: their per-class weights at ``betas[1]=0.9999``.
    """
    name = "ldam"
    check_reduction(name, reduction)
    if not s > 0:
        raise ValueError(f"{name}: s must be > 0, got {s}")
    m = None if samples_per_class is None else ldam_margins(samples_per_class, max_m, name)
    if m is None and not max_m >= 0.0:
        raise ValueError(f"{name}: max_m must be >= 0, got {max_m}")
    w = class_weight(name, weight)
    check_class_input(name, input, target, num_classes=num_classes, ignore_index=ignore_index, weight=w)
    if target.is_floating_point():
        raise LossInputError(f"{name}: expected integer class indices as target, got {target.dtype}")
    c = input.shape[1]
    labels = target.long()
    safe = labels if ignore_index is None else torch.where(labels != ignore_index, labels, 0)
    if m is None:
        margin = torch.full(safe.shape, max_m, dtype=input.dtype, device=input.device)
    else:
        _per_class(name, m, c, "samples_per_class")
        margin = m.to(device=input.device, dtype=input.dtype)[safe]
    idx = safe.unsqueeze(1)
    shifted = input.scatter(1, idx, input.gather(1, idx) - margin.unsqueeze(1))
    return class_ce(s * shifted, labels, weight=w, ignore_index=ignore_index, label_smoothing=0.0, reduction=reduction)


@float32_loss
def aucm_loss(
    input: Tensor,
    target: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    alpha: Tensor | None = None,
    *,
    margin: float = 1.0,
    imratio: float | None = None,
    version: AUCMVersion = "v1",
) -> Tensor:
    r"""AUC-margin loss (Yuan et al., "Large-scale Robust Deep AUC Maximization", ICCV 2021), the min-max
    surrogate of the AUROC with a squared-hinge margin; ``a``, ``b`` (class means) are minimised over and
    ``alpha`` maximised over (LibAUC's PESG optimiser ascends on it).

    v1, with ``p`` the positive ratio (``imratio``, else the batch's) and means over all N scores:

    .. math::

        (1-p)\,E[(x-a)^2 [y=1]] + p\,E[(x-b)^2 [y=0]]
        + 2\alpha\,(p(1-p)m + E[p\,x [y=0] - (1-p)\,x [y=1]]) - p(1-p)\alpha^2

    v2, with class-conditional means: ``E[(x-a)^2|y=1] + E[(x-b)^2|y=0] + 2 alpha (m + E[x|y=0] - E[x|y=1])
    - alpha^2`` (a class absent from the batch contributes 0).

    Args:
        input: scores (N, 1, *) or (N,) (LibAUC feeds sigmoid probabilities; MONAI takes them as given); any
            other shape, e.g. (N, C) one-vs-rest, is pooled into one binary problem.
        target: labels 0 or 1 (float or any integer dtype), the input's shape.
        a: one-element tensor, the positive-class mean (None: 0).
        b: one-element tensor, the negative-class mean (None: 0).
        alpha: one-element tensor, the dual variable (None: 0).
        margin: the margin ``m`` (> 0).
        imratio: positive ratio of the training set in [0, 1] (v1); None: the batch's.
        version: ``"v1"`` (with the class prior) | ``"v2"`` (class-conditional means, no prior).

    Returns a scalar; an empty batch gives 0 with a zero gradient (MONAI raises).

    Example:
        >>> aucm_loss(torch.tensor([1.0, 0.0]), torch.tensor([1, 0]), version="v2")  # a = b = alpha = 0
        tensor(1.)

    Parity: MONAI ``AUCMLoss(margin, imratio, version)`` with its parameters ``a``, ``b``, ``alpha`` passed here.
    """
    name = "aucm"
    version = check_choice(name, "version", version, ("v1", "v2"))
    if not margin > 0:
        raise ValueError(f"{name}: margin must be > 0, got {margin}")
    if imratio is not None and not 0.0 <= imratio <= 1.0:
        raise ValueError(f"{name}: imratio must be in [0, 1], got {imratio}")
    check_float(name, "input", input)
    check_same_shape(name, input, target)
    variables = []
    for what, v in (("a", a), ("b", b), ("alpha", alpha)):
        if v is None:
            v = input.new_zeros(())
        elif not isinstance(v, Tensor) or v.numel() != 1:
            raise LossInputError(f"{name}: expected {what} to be a one-element tensor or None, got {v!r:.80}")
        variables.append(v.reshape(()).to(input.dtype))
    if label_checks_enabled() and target.numel():
        other = (target != 0) & (target != 1)
        if bool(other.any()):  # one sync, under the label-check switch
            raise LossInputError(f"{name}: expected target labels 0 or 1, got {float(target[other].flatten()[0]):g}")
    x = input.flatten()
    pos = (target.flatten() == 1).to(x.dtype)
    neg = (target.flatten() == 0).to(x.dtype)
    va, vb, valpha = variables
    n = x.numel()
    if n == 0:  # no scores: 0, still connected to the input and the three parameters (zero gradients)
        return (x.sum() + va + vb + valpha) * 0.0
    if version == "v1":
        p = pos.mean() if imratio is None else torch.tensor(imratio, dtype=x.dtype, device=x.device)
        q = 1.0 - p
        mean_pos = ((x - va).square() * pos).mean()
        mean_neg = ((x - vb).square() * neg).mean()
        inter = (p * x * neg - q * x * pos).mean()
        return q * mean_pos + p * mean_neg + 2.0 * valpha * (p * q * margin + inter) - p * q * valpha.square()

    def cmean(v: Tensor, mask: Tensor) -> Tensor:  # E[v | mask], 0 for an empty class (MONAI's rule)
        return (v * mask).sum() / mask.sum().clamp_min(1)

    return (
        cmean((x - va).square(), pos)
        + cmean((x - vb).square(), neg)
        + 2.0 * valpha * (margin + cmean(x, neg) - cmean(x, pos))
        - valpha.square()
    )
