"""Focal losses (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017), sigmoid and softmax forms.

Both are custom ``torch.autograd.Function``\\ s that save only the logits and labels (plus one per-pixel
float for the softmax form) and recompute the activation in backward, so fwd+bwd keeps at most one
input-sized buffer alive besides the gradient itself. Every formula is evaluated in log space in float32
(float64 stays float64); the modulating factor ``(1 - p_t)^gamma`` is differentiated analytically in a form
that never evaluates ``(1 - p_t)^(gamma - 1)``, so gradients stay finite for ``0 <= gamma < 1`` at saturated
logits (kornia#918) and ``0 * log 0`` never appears (kornia#2115).

``alpha``/``weight`` enter through ordinary autograd ops; for the sigmoid form a target that requires grad
(distillation-style soft targets) switches to a plain autograd formulation so its gradient is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import LossInputError
from ._checks import check_float, check_probabilities, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .classification import check_class_input, class_weight

Reduction = Literal["mean", "sum", "none"]

__all__ = ["sigmoid_focal_loss", "softmax_focal_loss"]


def _upcast(x: Tensor) -> Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.to(acc_dtype(x))


def _check_gamma(loss: str, gamma: float) -> None:
    if not gamma >= 0:  # also rejects NaN
        raise ValueError(f"{loss}: gamma must be >= 0, got {gamma}")


# --------------------------------------------------------------------------------------------- sigmoid


def _sigmoid_terms(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(ce, sigmoid(x), sigmoid(-x))`` for logits ``x`` and soft targets ``y``, three fresh buffers."""
    sp = F.softplus(x)  # -log sigmoid(-x); one buffer, unlike F.logsigmoid which also allocates a scratch one
    ce = torch.addcmul(sp, y, x, value=-1.0)  # softplus(x) - y x = -(y log s(x) + (1 - y) log s(-x))
    s_pos = torch.sub(x, sp).exp_()
    s_neg = sp.neg_().exp_()
    return ce, s_pos, s_neg


def _alpha_t(y: Tensor, alpha: float, out: Tensor) -> Tensor:
    return torch.mul(y, 2.0 * alpha - 1.0, out=out).add_(1.0 - alpha)  # alpha y + (1 - alpha)(1 - y)


class _SigmoidFocal(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, alpha: float, gamma: float) -> Tensor:
        xf, yf = _upcast(x), y.to(acc_dtype(x))
        ce, s_pos, s_neg = _sigmoid_terms(xf, yf)
        if gamma != 0:
            # q = 1 - p_t = y s(-x) + (1 - y) s(x); lerp is exact at y in {0, 1}. Clamped at the smallest
            # normal so that q^gamma and the backward ratio stay finite for gamma < 1.
            q = s_pos.lerp_(s_neg, yf).clamp_min_(torch.finfo(s_pos.dtype).tiny)
            ce.mul_(q.pow_(gamma))
        if alpha >= 0:
            ce.mul_(_alpha_t(yf, alpha, s_neg))
        ctx.save_for_backward(x, y)
        ctx.alpha, ctx.gamma = alpha, gamma
        return ce

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None, None, None]:
        x, y = ctx.saved_tensors
        alpha, gamma = ctx.alpha, ctx.gamma
        xf, yf = _upcast(x), y.to(acc_dtype(x))
        ce, s_pos, s_neg = _sigmoid_terms(xf, yf)
        if gamma != 0:
            # dL/dx = a_t q^g [g (1 - 2y) ce s(x) s(-x) / q + s(x) - y]: the ratio s(x) s(-x) / q is <= 1 for
            # y in [0, 1], so (1 - p_t)^(g - 1), infinite at saturation for g < 1, is never formed.
            q = torch.lerp(s_pos, s_neg, yf).clamp_min_(torch.finfo(s_pos.dtype).tiny)
            ratio = s_neg.mul_(s_pos).div_(q).mul_(ce)
            ratio.mul_(torch.mul(yf, -2.0, out=ce).add_(1.0))
            grad = s_pos.sub_(yf).add_(ratio, alpha=gamma).mul_(q.pow_(gamma))
            scratch = ratio
        else:
            grad, scratch = s_pos.sub_(yf), s_neg
        if alpha >= 0:
            grad.mul_(_alpha_t(yf, alpha, scratch))
        grad.mul_(grad_out)
        return grad.to(x.dtype), None, None, None


def _sigmoid_focal_sum_and_grad(
    x: Tensor, y: Tensor, alpha: float, gamma: float, grad: bool
) -> tuple[Tensor, Tensor | None]:
    """The summed loss (in the accumulation dtype) and, with ``grad``, its gradient with respect to ``x``, from one
    evaluation of the sigmoid terms (the backward formula of :class:`_SigmoidFocal`, without the upstream factor)."""
    xf, yf = _upcast(x), y.to(acc_dtype(x))
    ce, s_pos, s_neg = _sigmoid_terms(xf, yf)
    a_t = _alpha_t(yf, alpha, torch.empty_like(ce)) if alpha >= 0 else None
    if gamma != 0:
        q = torch.lerp(s_pos, s_neg, yf).clamp_min_(torch.finfo(s_pos.dtype).tiny)
        ratio = s_neg.mul_(s_pos).div_(q).mul_(ce).mul_(torch.mul(yf, -2.0).add_(1.0)) if grad else None
        q_g = q.pow_(gamma)
        loss = ce.mul_(q_g)
        d = s_pos.sub_(yf).add_(ratio, alpha=gamma).mul_(q_g) if ratio is not None else None
    else:
        loss, d = ce, (s_pos.sub_(yf) if grad else None)
    if a_t is not None:
        loss.mul_(a_t)
        if d is not None:
            d.mul_(a_t)
    return loss.sum(dtype=acc_dtype(loss)), d


class _SigmoidFocalSum(torch.autograd.Function):
    """The summed sigmoid focal loss ("mean"/"sum"), its gradient formed in the same pass as the value (the upstream
    gradient of a scalar is one number, applied in backward): the sigmoid terms are evaluated once, not again in
    backward. The gradient is held from forward to backward (the one input-sized buffer the backward would make
    anyway); a second backward through a retained graph recomputes it."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, alpha: float, gamma: float) -> Tensor:
        total, d = _sigmoid_focal_sum_and_grad(x, y, alpha, gamma, bool(ctx.needs_input_grad[0]))
        ctx.save_for_backward(x, y)
        ctx.alpha, ctx.gamma, ctx.grad = alpha, gamma, d
        return total

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None, None, None]:
        x, y = ctx.saved_tensors
        d, ctx.grad = ctx.grad, None  # used once, scaled in place
        if d is None:  # with grad=True the helper always forms the gradient
            d = cast(Tensor, _sigmoid_focal_sum_and_grad(x, y, ctx.alpha, ctx.gamma, True)[1])
        return d.mul_(grad_out.to(d.dtype)).to(x.dtype), None, None, None


def _sigmoid_focal_autograd(x: Tensor, y: Tensor, alpha: float, gamma: float) -> Tensor:
    xf, yf = _upcast(x), y.to(acc_dtype(x))
    ce = F.softplus(xf) - yf * xf
    q = yf * torch.sigmoid(-xf) + (1.0 - yf) * torch.sigmoid(xf)
    # the clamp keeps d(q^g)/dq finite for g < 1 where q underflows to 0
    out = ce * q.clamp_min(torch.finfo(q.dtype).tiny).pow(gamma)
    if alpha >= 0:
        out = out * (alpha * yf + (1.0 - alpha) * (1.0 - yf))
    return out


def _sigmoid_focal_indices(
    x: Tensor, target: Tensor, alpha: float, gamma: float, weight: Tensor | None, reduction: str
) -> Tensor:
    """One-vs-rest sigmoid focal against class indices (N, *) for logits (N, C, *); negative labels ignored.

    Every element as a negative (a stride-0 zero target, no memory), then the target class corrected by a
    gather: no one-hot tensor is built. "mean" is over the elements of the non-ignored rows.
    """
    labels = target if target.dtype == torch.long else target.long()
    valid = labels >= 0
    safe = torch.where(valid, labels, 0).unsqueeze(1)
    neg: Tensor = _SigmoidFocal.apply(x, x.new_zeros(()).expand_as(x), alpha, gamma)  # type: ignore[no-untyped-call]
    x_t = x.gather(1, safe)
    ones = x_t.new_ones(()).expand_as(x_t)
    pos: Tensor = _SigmoidFocal.apply(x_t, ones, alpha, gamma)  # type: ignore[no-untyped-call]
    corr = pos - neg.gather(1, safe)
    mask = valid.unsqueeze(1)
    zero = torch.zeros((), dtype=neg.dtype, device=neg.device)
    dtype = acc_dtype(neg)
    if reduction == "none" or weight is not None:
        full = torch.where(mask, neg.scatter_add(1, safe, corr), zero)
        if weight is not None:
            full = full * weight.to(full.dtype)
        if reduction == "none":
            return full
        total = full.sum(dtype=dtype)
    else:
        total = torch.where(valid, neg.sum(1, dtype=dtype) + corr.squeeze(1), zero).sum(dtype=dtype)
    if reduction == "sum":
        return total
    return total / (valid.sum(dtype=total.dtype) * x.shape[1]).clamp_min(1)


@float32_loss
def sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    weight: Tensor | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Sigmoid focal loss (RetinaNet), elementwise over logits, for binary / multilabel / detection targets.

    ``FL = a_t (1 - p_t)^gamma BCE(x, y)`` with ``p = sigmoid(x)``, ``p_t = p y + (1 - p)(1 - y)``,
    ``a_t = alpha y + (1 - alpha)(1 - y)``.

    Args:
        input: logits, any shape (*); (N, C, *) with class-index targets.
        target: same shape, float in [0, 1] (hard or soft; checked under the label-check switch), or class
            indices (N, *) of any integer dtype for logits (N, C, *) (AutoTimm's ``FocalLoss``): each element
            is one-vs-rest against the target class, a negative label marks an ignored row.
        alpha: positive-class balance in [0, 1]; ``None`` or negative disables it (torchvision semantics).
        gamma: focusing parameter >= 0; ``gamma=0, alpha=None`` is ``binary_cross_entropy_with_logits``.
        weight: optional tensor broadcastable to ``input``, multiplies the elementwise loss.
        num_classes: checked against ``input.shape[1]`` when given.
        reduction: "mean" (over all elements; with class indices over the elements of the non-ignored rows,
            0 when none) | "sum" | "none" (the input's shape; ignored rows 0).

    Returns a float32 tensor under autocast and for float16/bfloat16 inputs (float64 stays float64).

    Parity: ``torchvision.ops.sigmoid_focal_loss(x, y, alpha, gamma, reduction)`` exactly (torchvision's
    default reduction is "none", losskit's is "mean"); ``kornia.losses.binary_focal_loss_with_logits(x, y,
    alpha, gamma, pos_weight=None)``; MONAI ``FocalLoss(use_softmax=False, alpha=alpha, gamma=gamma,
    reduction="none")`` elementwise.
    """
    loss = "sigmoid_focal_loss"
    check_reduction(loss, reduction)
    _check_gamma(loss, gamma)
    a = -1.0 if alpha is None or alpha < 0 else float(alpha)
    if a > 1:
        raise ValueError(f"{loss}: alpha must be in [0, 1] (or None/negative to disable), got {alpha}")
    check_float(loss, "input", input)
    if weight is not None:
        check_float(loss, "weight", weight)
    if not target.is_floating_point():
        # negative labels are ignored: validate with them mapped to a single ignore value
        check_class_input(
            loss,
            input,
            torch.where(target < 0, -1, target.long()),
            num_classes=num_classes,
            ignore_index=-1,
            allow_dense=False,
        )
        return _sigmoid_focal_indices(input, target, a, float(gamma), weight, reduction)
    check_same_shape(loss, input, target)
    if num_classes is not None and input.dim() >= 2 and input.shape[1] != num_classes:
        raise LossInputError(f"{loss}: configured for num_classes={num_classes}, got input {shape_str(input)}")
    check_probabilities(loss, target)
    out: Tensor
    if reduction != "none" and weight is None and not target.requires_grad:
        total: Tensor = _SigmoidFocalSum.apply(input, target, a, float(gamma))  # type: ignore[no-untyped-call]
        return total if reduction == "sum" else total / max(input.numel(), 1)
    if target.requires_grad:
        out = _sigmoid_focal_autograd(input, target, a, float(gamma))
    else:
        out = _SigmoidFocal.apply(input, target, a, float(gamma))  # type: ignore[no-untyped-call]
    if weight is not None:
        out = out * weight.to(out.dtype)
    return reduce(out, reduction)


# --------------------------------------------------------------------------------------------- softmax


def _modulated_grad_coef(logp: Tensor, gamma: float) -> Tensor:
    """``d f / d x_t`` for ``f = -(1 - p)^gamma log p`` in the form ``g (delta_ct - softmax_c)``, i.e. ``g``.

    ``g = (1-p)^gamma (gamma p log p / (1 - p) - 1)``: ``log p / (1 - p) -> -1`` as ``p -> 1``, so no
    ``(1-p)^(gamma-1)`` (infinite for gamma < 1) is ever formed.
    """
    q = torch.expm1(logp).neg_()
    if gamma == 0:
        return torch.full_like(logp, -1.0)
    p = logp.exp()
    ratio = torch.where(q > 0, logp / q.clamp_min(torch.finfo(q.dtype).tiny), torch.full_like(q, -1.0))
    return q.pow_(gamma).mul_(ratio.mul_(p).mul_(gamma).sub_(1.0))


def _focal_from_logp(logp: Tensor, gamma: float) -> Tensor:
    if gamma == 0:
        return -logp
    q = torch.expm1(logp).neg_()
    return q.pow_(gamma).mul_(logp).neg_()


def _lse_chunk(x: Tensor) -> Tensor:
    # max-shifted sum of exponentials with one scratch buffer; torch.logsumexp spends several more full
    # passes on its infinity handling, which finite logits never need (an all -inf column still gives -inf)
    m = x.amax(dim=1).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
    return torch.sub(x, m.unsqueeze(1)).exp_().sum(dim=1).log_().add_(m)


def _logsumexp_dim1(x: Tensor) -> Tensor:
    """Per-pixel logsumexp over classes of (N, C, S), chunked over S to bound the temporary to ~4 MiB."""
    n, c, s = x.shape
    step = max(1, (1 << 20) // max(1, n * c))
    if step >= s:
        return _lse_chunk(x)
    out = x.new_empty((n, s))
    for i in range(0, s, step):
        out[:, i : i + step] = _lse_chunk(x[:, :, i : i + step])
    return out


class _SoftmaxFocal(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, labels: Tensor, gamma: float) -> Tensor:
        # x: (N, C, S) logits, labels: (N, S) long with ignored entries already replaced by a valid class.
        xf = _upcast(x)
        lse = _logsumexp_dim1(xf)
        logp = xf.gather(1, labels.unsqueeze(1)).squeeze(1).sub_(lse)
        ctx.save_for_backward(x, labels, lse, logp)
        ctx.gamma = gamma
        return _focal_from_logp(logp, gamma)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None, None]:
        x, labels, lse, logp = ctx.saved_tensors
        coef = _modulated_grad_coef(logp, ctx.gamma).mul_(grad_out).unsqueeze(1)
        dtype = acc_dtype(x)
        # softmax rebuilt in the gradient's own buffer: the only input-sized allocation of fwd+bwd
        grad = torch.sub(x.to(dtype) if x.dtype != dtype else x, lse.unsqueeze(1)).exp_()
        grad.mul_(coef.neg())
        grad.scatter_add_(1, labels.unsqueeze(1), coef)
        return grad.to(x.dtype), None, None


@float32_loss
def softmax_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | Tensor | Sequence[float] | None = None,
    weight: Tensor | Sequence[float] | None = None,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Softmax (multiclass) focal loss for classification and segmentation, from logits and class indices.

    ``FL_i = -a_{t_i} w_{t_i} (1 - p_{t_i})^gamma log p_{t_i}`` with ``p = softmax(x)`` over dim 1, computed
    from ``log_softmax`` (``log p_t = x_t - logsumexp(x)``) without a one-hot tensor or a loop over classes.

    Args:
        input: logits (N, C, *) with any number of spatial dims (also (N, C)).
        target: class indices (N, *) of any integer dtype, range-checked under the label-check switch.
        gamma: focusing parameter >= 0; ``gamma=0`` with ``alpha=None`` is cross-entropy.
        alpha: ``None`` (1), a scalar multiplying every term (AutoTimm ``FocalLossPixelwise``, seed-000
            ``FocalLoss``: ``alpha * (1 - pt)^gamma * ce``), or a per-class tensor or list (C,) gathered at the
            target.
        weight: optional per-class tensor or list (C,), gathered at the target like a per-class alpha.
        ignore_index: label that counts nowhere; replaced before the gather, so e.g. 255 is safe.
        num_classes: checked against ``input.shape[1]`` when given.
        reduction: "mean" over the non-ignored elements (0 with zero gradient when none), "sum", or "none"
            (shape (N, *), ignored entries 0).

    Returns a float32 tensor under autocast and for float16/bfloat16 inputs (float64 stays float64).

    Parity: ``kornia.losses.focal_loss(x, y, alpha=None, gamma, reduction="mean")`` equals this mean
    (``alpha=None``) divided by C (kornia averages over C x pixels, counting ignored pixels); kornia "none" is
    (N, C, *) with the loss on the target channel (sum over C = this "none"); kornia's scalar ``alpha=a``
    weighs class 0 by ``1 - a`` and the others by ``a``, i.e. ``alpha=torch.tensor([1 - a, a, ..., a])`` here.
    MONAI ``FocalLoss(use_softmax=True,
    to_onehot_y=True, gamma=gamma, reduction="none")`` gives the same per-class terms on the target channel
    (sum over C = this "none"), and MONAI "mean" = this "mean" / C (no ignore_index).
    """
    loss = "softmax_focal_loss"
    check_reduction(loss, reduction)
    _check_gamma(loss, gamma)
    weight = class_weight(loss, weight)
    if alpha is not None and not isinstance(alpha, (Tensor, int, float)):
        alpha = class_weight(loss, alpha, "alpha")
    check_class_input(
        loss, input, target, num_classes=num_classes, ignore_index=ignore_index, weight=weight, allow_dense=False
    )
    expected = (input.shape[0], *input.shape[2:])
    n, c = input.shape[:2]
    s = 1
    for size in expected[1:]:
        s *= size
    x = input.reshape(n, c, s)  # explicit S: reshape(n, c, -1) is ambiguous for an empty batch
    labels = target.reshape(n, s).long()
    valid = None if ignore_index is None else labels != ignore_index
    if valid is not None:
        labels = torch.where(valid, labels, torch.zeros_like(labels))
    pixel_w: Tensor | None = None
    if isinstance(alpha, Tensor):
        if alpha.numel() == 1:
            pixel_w = alpha.reshape(()).to(acc_dtype(input))
        elif alpha.numel() != c:
            raise LossInputError(f"{loss}: per-class alpha has {alpha.numel()} entries for {c} classes")
        else:
            pixel_w = alpha.to(acc_dtype(input)).reshape(c)[labels]
    elif isinstance(alpha, (int, float)):
        pixel_w = torch.tensor(float(alpha), dtype=acc_dtype(input), device=input.device)
    if weight is not None:
        if weight.numel() != c:
            raise LossInputError(f"{loss}: class weight has {weight.numel()} entries for {c} classes")
        w = weight.to(acc_dtype(input)).reshape(c)[labels]
        pixel_w = w if pixel_w is None else pixel_w * w
    out: Tensor = _SoftmaxFocal.apply(x, labels, float(gamma))  # type: ignore[no-untyped-call]
    if pixel_w is not None:
        out = out * pixel_w
    if valid is not None:
        out = torch.where(valid, out, torch.zeros((), dtype=out.dtype, device=out.device))
    out = out.reshape(expected)
    return reduce(out, reduction, None if valid is None else valid.reshape(expected))


def kept_sigmoid_focal(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float,
    alpha: float | None,
    weight: Tensor | None,
    keep: Tensor | None,
    reduction: str,
) -> Tensor:
    """:func:`sigmoid_focal_loss` over the ``keep`` elements only (ignored ones already zeroed in ``target``):
    ``keep`` folds into the element weight and "mean" divides by the kept count (0 when none is kept). The focal
    term of the combined segmentation losses (dice_focal, generalized_dice_focal)."""
    if keep is not None:
        count = keep.to(input.dtype)
        weight = count if weight is None else weight * count
    per = sigmoid_focal_loss(input, target, alpha=alpha, gamma=gamma, weight=weight, reduction="none")
    return reduce(per, reduction, keep)
