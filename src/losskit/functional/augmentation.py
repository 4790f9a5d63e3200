"""Classification losses of the augmentation recipes: the AugMix Jensen-Shannon consistency loss (``jsd``) and the
focal cosine loss (``focal_cosine``).

Both take logits (N, C) and class indices (N,) of any integer dtype (``jsd``: the ``num_splits`` views stacked
along dim 0). Every form follows the zoo's edge policy: an empty batch gives 0 with a zero gradient, NaN in gives
NaN out, float32 under autocast (``@float32_loss``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_labels, check_reduction, shape_str
from ._precision import float32_loss
from ._reduce import reduce
from .classification import check_class_input

__all__ = ["jsd_loss", "focal_cosine_loss", "check_jsd_options"]

Reduction = Literal["mean", "sum", "none"]

_MIXTURE_MIN = 1e-7  # AugMix's (and timm's) clamp of the mixture distribution before its log


def check_jsd_options(loss: str, num_splits: int, alpha: float, smoothing: float) -> None:
    """``num_splits`` an int >= 1, ``alpha`` >= 0, ``smoothing`` in [0, 1)."""
    if isinstance(num_splits, bool) or not isinstance(num_splits, int) or num_splits < 1:
        raise ValueError(f"{loss}: num_splits must be an int >= 1, got {num_splits!r}")
    if not alpha >= 0:
        raise ValueError(f"{loss}: alpha must be >= 0, got {alpha}")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"{loss}: smoothing must be in [0, 1), got {smoothing}")


@float32_loss
def jsd_loss(
    input: Tensor,
    target: Tensor,
    *,
    num_splits: int = 3,
    alpha: float = 12.0,
    smoothing: float = 0.1,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""AugMix's Jensen-Shannon consistency loss (Hendrycks et al., "AugMix: A Simple Data Processing Method to
    Improve Robustness and Uncertainty", ICLR 2020): cross-entropy on the clean view plus the Jensen-Shannon
    divergence between the softmax of the ``S = num_splits`` views of each sample.

    .. math::

        \ell_i = \mathrm{CE}_\epsilon(x^{(1)}_i, y_i)
            + \frac{\alpha}{S} \sum_{s=1}^{S} \mathrm{KL}\big(p^{(s)}_i \,\|\, M_i\big), \qquad
        M_i = \operatorname{clamp}\Big(\frac{1}{S} \sum_s p^{(s)}_i,\ 10^{-7},\ 1\Big)

    with :math:`p^{(s)} = \operatorname{softmax}(x^{(s)})` and :math:`\mathrm{CE}_\epsilon` the cross-entropy with
    label smoothing ``smoothing`` (:math:`(1 - \epsilon)\,\mathrm{NLL} + \epsilon \cdot` the mean over the classes
    of :math:`-\log p`, timm's ``LabelSmoothingCrossEntropy`` and torch's ``label_smoothing``).

    Args:
        input: logits (S * N, C): the S views stacked along dim 0, the clean view first (``torch.cat([clean,
            aug1, aug2])``, as timm's AugMix loader gives them).
        target: class indices (N,) of any integer dtype, or (S * N,) (timm's: the labels of every view; the
            first N are used).
        num_splits: S, the number of views (int >= 1; timm's default 3: clean + 2 AugMix views).
        alpha: weight of the consistency term (>= 0; AugMix and timm: 12).
        smoothing: label smoothing of the clean-view cross-entropy in [0, 1) (timm's default 0.1).
        reduction: ``"mean"`` over the N samples (0 when N = 0) | ``"sum"`` | ``"none"``: (N,).

    Returns:
        a scalar for ``"mean"`` and ``"sum"``, (N,) for ``"none"``.

    Example:
        >>> x = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # one sample, S = 2 views: clean, augmented
        >>> jsd_loss(x, torch.tensor([0]), num_splits=2, alpha=1.0, smoothing=0.0)
        tensor(0.2165)

    Parity: timm ``JsdCrossEntropy(num_splits, alpha, smoothing)(input, target)`` = this ``"mean"`` (a
    ``smoothing`` of 0 or None there: plain cross-entropy, as 0 here).
    """
    name = "jsd"
    check_reduction(name, reduction)
    check_jsd_options(name, num_splits, alpha, smoothing)
    check_float(name, "input", input, "(S * N, C)")
    if input.dim() != 2:
        raise LossInputError(f"{name}: expected input of shape (num_splits * N, C), got {shape_str(input)}")
    total, c = input.shape
    if total % num_splits:
        raise LossInputError(
            f"{name}: the input's {total} rows do not split into num_splits={num_splits} views of equal size"
        )
    n = total // num_splits
    check_labels(name, target, c)
    if target.dim() != 1 or (target.shape[0] != n and target.shape[0] != total):  # (not `in`: traced sizes)
        raise LossInputError(
            f"{name}: expected target of shape ({n},) or ({total},) for an input {shape_str(input)} with "
            f"num_splits={num_splits}, got {shape_str(target)}"
        )
    labels = target[:n].long()
    views = input.reshape(num_splits, n, c)
    ce = F.cross_entropy(views[0], labels, label_smoothing=smoothing, reduction="none")
    logp = torch.log_softmax(views, dim=-1)
    p = logp.exp()
    log_mixture = p.mean(0).clamp(_MIXTURE_MIN, 1.0).log()
    # KL(p || M) = sum p (log p - log M): p = 0 (an underflowed softmax) contributes 0, as F.kl_div's xlogy
    kl = (p * (logp - log_mixture)).sum(-1)
    return reduce(ce + alpha * kl.mean(0), reduction)


@float32_loss
def focal_cosine_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 1.0,
    gamma: float = 2.0,
    xent: float = 0.1,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Focal cosine loss (Kim et al., "Data-Efficient Deep Learning Method for Image Classification Using Data
    Augmentation, Focal Cosine Loss, and Ensemble", 2020): the cosine distance between the logits and the one-hot
    target plus a focal cross-entropy on the L2-normalised logits.

    .. math::

        \ell_i = 1 - \frac{x_{i, y_i}}{\sqrt{\lVert x_i \rVert^2 + 10^{-12}}}
            + \text{xent} \cdot \alpha\, (1 - p_{i})^{\gamma}\, \mathrm{CE}_i, \qquad
        \mathrm{CE}_i = -\log \operatorname{softmax}\Big(\frac{x_i}{\max(\lVert x_i \rVert, 10^{-12})}\Big)_{y_i},
        \quad p_i = e^{-\mathrm{CE}_i}

    Args:
        input: logits (N, C).
        target: class indices (N,) of any integer dtype.
        alpha: scale of the focal term (default 1.0).
        gamma: focusing parameter >= 0 (default 2.0).
        xent: weight of the focal cross-entropy term (default 0.1).
        reduction: ``"mean"`` over the N samples (0 when N = 0) | ``"sum"`` | ``"none"``: (N,).

    Returns:
        a scalar for ``"mean"`` and ``"sum"``, (N,) for ``"none"``.

    Example:
        >>> x = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
        >>> focal_cosine_loss(x, torch.tensor([1, 1]), reduction="none")
        tensor([0.2121, 0.0023])

    Parity: pytorch-toolbelt ``FocalCosineLoss(alpha, gamma, xent, reduction)`` for ``"mean"`` and ``"none"``
    (toolbelt's ``"sum"`` returns the (N,) focal term added to the summed cosine term; here ``"sum"`` is the sum
    of the per-sample losses). The cosine term is ``F.cosine_embedding_loss(input, one_hot, 1)``.
    """
    name = "focal_cosine"
    check_reduction(name, reduction)
    if not gamma >= 0:
        raise ValueError(f"{name}: gamma must be >= 0, got {gamma}")
    check_class_input(name, input, target, num_classes=None, ignore_index=None, allow_dense=False)
    if input.dim() != 2:
        raise LossInputError(f"{name}: expected input of shape (N, C), got {shape_str(input)}")
    labels = target.long().unsqueeze(1)
    # torch's cosine_embedding_loss adds its EPSILON = 1e-12 to each squared norm (the one-hot's is 1)
    cosine = 1.0 - input.gather(1, labels).squeeze(1) / (input.square().sum(1) + 1e-12).sqrt()
    ce = -torch.log_softmax(F.normalize(input, dim=1), dim=1).gather(1, labels).squeeze(1)
    # 1 - p = -expm1(-CE): exact where p is close to 1 (the focal factor of a confident sample)
    focal = alpha * (-torch.expm1(-ce)).pow(gamma) * ce
    return reduce(cosine + xent * focal, reduction)
