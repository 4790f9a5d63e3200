"""The focal family: sigmoid focal (RetinaNet / detection), softmax focal (segmentation), asymmetric loss.

Thin modules over :mod:`losskit.functional.focal` and :mod:`losskit.functional.classification`; conventions as
in ``docs/contributing.md`` (logits, ``ignore_index`` masked before any gather, float32 accumulation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from ..functional._checks import as_class_weight, check_choice, check_reduction
from ..functional.asymmetric import asymmetric_loss, check_gamma
from ..functional.classification import check_unit_interval
from ..functional.focal import sigmoid_focal_loss, softmax_focal_loss
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss
from ..reprs import options_repr
from ._examples import logits_and_binary, logits_and_labels

__all__ = ["FocalLoss", "FocalLossPixelwise", "AsymmetricLoss"]


Reduction = Literal["mean", "sum", "none"]
_check_gamma = check_gamma


def _class_tensor(loss: str, name: str, value: float | Sequence[float] | torch.Tensor | None) -> torch.Tensor | None:
    if value is None or isinstance(value, (int, float)):
        return None
    t = torch.as_tensor(value, dtype=torch.float32) if not isinstance(value, torch.Tensor) else value.detach().clone()
    if t.dim() != 1 or not t.is_floating_point():
        raise ValueError(
            f"{loss}: {name} must be a number or a 1-D float sequence (one per class), got shape {tuple(t.shape)}"
        )
    return t


def _focal_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return logits_and_binary((4, 3))(loss, g)


@register_loss(
    "focal",
    aliases=["FocalLoss", "sigmoid_focal"],
    tasks=["classification", "detection"],
    tags=["imbalanced"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C, *) or (*)", "float", "logits"),
            TensorSpec(
                "target",
                "(*) same as input, or (N, *)",
                "float | long",
                "targets in [0, 1], or class indices (negative = ignored)",
            ),
        ),
        example=_focal_example,
    ),
)
class FocalLoss(nn.Module):
    """Sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017), RetinaNet style.

    ``FL = a_t (1 - p_t)^gamma BCE(x, y)``, ``p = sigmoid(x)``, ``p_t = p y + (1 - p)(1 - y)``,
    ``a_t = alpha y + (1 - alpha)(1 - y)``; computed by :func:`losskit.functional.focal.sigmoid_focal_loss`
    (log space, gamma < 1 safe, float32 accumulation).

    Inputs: ``input`` logits; ``target`` either
      * float in [0, 1] with the input's shape (binary, multilabel, detection one-hot/soft/background rows), or
      * class indices (N,) / (N, *) for logits (N, C) / (N, C, *) (AutoTimm's ``FocalLoss``): each element is
        one-vs-rest against the target class; a negative label marks an ignored row. Computed as the all-negative
        loss plus a gathered correction at the target class, so no one-hot tensor is built.

    Options: ``alpha`` (None or negative disables), ``gamma`` >= 0, ``reduction``, ``num_classes`` (checked).
    "mean" is over the elements of the non-ignored rows (N*C*spatial when nothing is ignored); "none" has the
    input's shape (ignored rows are 0). Note torchvision's default reduction is "none", losskit's "mean".

    Parity: ``torchvision.ops.sigmoid_focal_loss(x, y, alpha, gamma, reduction)``;
    ``kornia.losses.binary_focal_loss_with_logits``; MONAI ``FocalLoss(alpha=alpha, gamma=gamma)`` (sigmoid).
    ``gamma=0, alpha=None`` is ``bce_with_logits``.

    Args:
        alpha: balance of positives against negatives in [0, 1] (default 0.25, RetinaNet's): positive elements
            are weighted by ``alpha``, negative ones by ``1 - alpha``. None or a negative value: no weighting.
        gamma: focusing exponent >= 0 (default 2.0): ``(1 - p_t)^gamma`` down-weights the easy elements; 0 with
            ``alpha=None`` is plain ``bce_with_logits``.
        reduction: "mean" (default): over the elements of the non-ignored rows (all N*C*spatial elements when
            nothing is ignored); "sum": the sum; "none": the input's shape, ignored rows 0.
        num_classes: expected number of classes C, checked against the input's dim 1 (a ``LossInputError`` on
            a mismatch). None (default): taken from the input.

    Example:
        >>> import torch
        >>> FocalLoss(alpha=None, gamma=0.0)(torch.zeros(2, 3), torch.ones(2, 3)).round(decimals=4)
        tensor(0.6931)
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        alpha: float | None = 0.25,
        gamma: float = 2.0,
        reduction: Reduction = "mean",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if alpha is not None and alpha > 1:
            raise ValueError(f"{self.loss_name}: alpha must be in [0, 1] (None or negative disables it), got {alpha}")
        self.alpha = alpha
        self.gamma = _check_gamma(self.loss_name, "gamma", gamma)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.num_classes = num_classes

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sigmoid_focal_loss(
            input,
            target,
            alpha=self.alpha,
            gamma=self.gamma,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


_PIXEL_ALPHA = 0.25  # FocalLossPixelwise's default alpha (AutoTimm's), also read by its repr


def _pixel_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return logits_and_labels(2, (4, 4))(loss, g)


@register_loss(
    "focal_pixelwise",
    aliases=["FocalLossPixelwise", "focal_loss", "softmax_focal", "SoftmaxFocalLoss"],
    tasks=["segmentation", "classification"],
    tags=["imbalanced"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C) or (N, C, *spatial)", "float", "logits"),
            TensorSpec("target", "(N, *spatial)", "long", "class indices (ignore_index allowed)"),
        ),
        example=_pixel_example,
    ),
)
class FocalLossPixelwise(nn.Module):
    """Softmax focal loss per pixel (segmentation) or per sample: ``-alpha_t (1 - p_t)^gamma log p_t``.

    ``p = softmax(x)`` over dim 1, evaluated by :func:`losskit.functional.focal.softmax_focal_loss`: a custom
    autograd function that keeps only the logits, labels and one float per pixel, with no one-hot tensor and
    no loop over classes; gamma < 1 (and 0) safe at saturated logits.

    Inputs: logits (N, C, *) with any number of spatial dims (1D/2D/3D, or (N, C)); class indices (N, *).
    Options: ``alpha`` a scalar (multiplies every term, AutoTimm/seed-000 ``alpha * (1 - pt)^gamma * ce``), a
    per-class sequence/tensor (C,) (buffer, gathered at the target), or None; ``gamma`` >= 0; ``weight``
    per-class (C,) buffer multiplying like alpha; ``ignore_index`` (default 255, masked before the gather);
    ``reduction``: "mean" over non-ignored pixels (0 with zero gradient if none), "sum", "none" (N, *).
    ``num_classes`` is checked against the input when given.

    Seed 000's ``focal_loss`` (default ``alpha=1.0``) resolves here; losskit's default is AutoTimm's
    ``alpha=0.25``, so pass ``alpha=1.0`` for seed-000 values. ``gamma=0, alpha=None`` is cross-entropy.

    Parity (``alpha=None``): kornia ``focal_loss(x, y, alpha=None, gamma)`` "mean" = this "mean" / C (kornia
    divides by C x pixels, ignored pixels included; its scalar ``alpha=a`` is ``alpha=[1 - a, a, ..., a]`` here);
    MONAI ``FocalLoss(use_softmax=True, to_onehot_y=True,
    gamma=gamma)`` "mean" = this "mean" / C, its "none" summed over C = this "none".

    Args:
        alpha: a number (default 0.25) multiplying every term; a (C,) per-class sequence or tensor (a buffer)
            gathered at each pixel's target class; None: no alpha factor (1). Seed 000 used 1.0.
        gamma: focusing exponent >= 0 (default 2.0): ``(1 - p_t)^gamma``; 0 with ``alpha=None`` is
            cross-entropy.
        ignore_index: target label whose pixels count nowhere (default 255, the usual 'void' label), replaced
            before the gather so it needs no channel; None: nothing ignored.
        reduction: "mean" (default): over the non-ignored pixels (0 with a zero gradient when there are none);
            "sum": the sum; "none": the per-pixel losses, shape (N, *spatial), ignored pixels 0.
        weight: (C,) per-class weight (tensor or sequence, finite and >= 0, a buffer) gathered at the target
            class and multiplying like a per-class alpha. None (default): unweighted.
        num_classes: expected number of classes C, checked against the input's dim 1 (a ``LossInputError`` on
            a mismatch). None (default): taken from the input.

    Example:
        >>> import torch
        >>> loss = FocalLossPixelwise(alpha=0.5)
        >>> loss
        FocalLossPixelwise(alpha=0.5)
        >>> loss(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)).round(decimals=4)
        tensor(0.0866)
    """

    loss_name: str  # set by register_loss

    alpha: torch.Tensor | None  # buffers
    weight: torch.Tensor | None

    def __init__(
        self,
        alpha: float | Sequence[float] | torch.Tensor | None = _PIXEL_ALPHA,
        gamma: float = 2.0,
        ignore_index: int | None = 255,
        reduction: Reduction = "mean",
        weight: torch.Tensor | Sequence[float] | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.gamma = _check_gamma(self.loss_name, "gamma", gamma)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        alpha_t = _class_tensor(self.loss_name, "alpha", alpha)
        self.alpha_scalar: float | None = None if alpha_t is not None or alpha is None else float(alpha)  # type: ignore[arg-type]
        self.register_buffer("alpha", alpha_t)
        self.register_buffer("weight", as_class_weight(self.loss_name, weight))

    def extra_repr(self) -> str:
        # A per-class alpha is the buffer ``alpha`` and the generic repr shows it; a scalar one (or None) is held
        # in ``alpha_scalar`` (the buffer is then None), so it is added here under the option's own name.
        shown = options_repr(self)
        if self.alpha is None and self.alpha_scalar != _PIXEL_ALPHA:
            shown = ", ".join(part for part in (f"alpha={self.alpha_scalar!r}", shown) if part)
        return shown

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return softmax_focal_loss(
            input,
            target,
            gamma=self.gamma,
            alpha=self.alpha if self.alpha is not None else self.alpha_scalar,
            weight=self.weight,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


def _asl_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if getattr(loss, "mode", "multilabel") == "multiclass":
        return logits_and_labels()(loss, g)
    return logits_and_binary((4, 5))(loss, g)


@register_loss(
    "asymmetric",
    aliases=["AsymmetricLoss", "asl"],
    tasks=["classification"],
    tags=["multilabel", "imbalanced"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C, *)", "float", "logits"),
            TensorSpec(
                "target", "(N, C, *) multilabel, or (N, *) multiclass", "float | long", "{0,1} targets or class indices"
            ),
        ),
        example=_asl_example,
    ),
)
class AsymmetricLoss(nn.Module):
    """Asymmetric loss, ASL (Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021).

    ``mode="multilabel"`` (sigmoid, same-shape {0,1}/soft float target):
    ``-y (1-p)^gamma_pos log max(p, eps) - (1-y) p_m^gamma_neg log max(1 - p_m, eps)``, ``p_m = max(p - clip, 0)``;
    "none" keeps the input's shape, "mean" is over all elements (those equal to ``ignore_index`` left out: a float
    target compares it value by value). timm/ASL ``AsymmetricLossMultiLabel(gamma_neg,
    gamma_pos, clip, eps)`` returns the sum: ``reduction="sum"`` here.

    ``mode="multiclass"`` (softmax, class indices (N, *)): ``-sum_c y'_c w_c log p_c`` with ``w = (1-p_t)^gamma_pos``
    on the target class and ``p_c^gamma_neg`` elsewhere, ``y'`` the one-hot smoothed by ``label_smoothing``;
    ``ignore_index`` supported; "mean" over valid elements, "none" (N, *). timm ``AsymmetricLossSingleLabel(
    gamma_pos, gamma_neg, eps=ls)`` = ``label_smoothing=ls`` (timm's default ls is 0.1, losskit's 0).

    Computed in float32 from ``logsigmoid``/``log_softmax`` (no NaN in fp16, ASL#53); powers guarded at 0.

    Args:
        gamma_pos: focusing exponent >= 0 of the positive (target) terms (default 1.0).
        gamma_neg: focusing exponent >= 0 of the negative terms (default 4.0); larger than ``gamma_pos`` to
            down-weight the many easy negatives.
        clip: probability margin ``m`` in [0, 1) shifted off the negatives, ``p_m = max(p - m, 0)`` (default
            0.05), so very easy negatives cost exactly 0; 0 disables it. Multilabel mode only.
        eps: floor of the probabilities inside the logs (default 1e-8), >= 0. Multilabel mode only.
        mode: "multilabel" (default): a sigmoid per class and a same-shape {0, 1}/soft float target;
            "multiclass": softmax over dim 1 and class-index targets (N, *) (timm's single-label ASL).
        label_smoothing: in [0, 1] (default 0.0: none): smoothing of the one-hot target in multiclass mode.
        ignore_index: target value that counts nowhere: a class index (multiclass) or, compared element by
            element, a target value (multilabel). None (default): nothing ignored.
        reduction: "mean" (default): over the valid elements; "sum": the sum (timm/ASL's multilabel loss is
            the sum); "none": the input's shape (multilabel) or (N, *) (multiclass).
        num_classes: expected number of classes C, checked against the input's dim 1 (a ``LossInputError`` on
            a mismatch). None (default): taken from the input.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        gamma_pos: float = 1.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        mode: Literal["multilabel", "multiclass"] = "multilabel",
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        reduction: Reduction = "mean",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.gamma_pos = _check_gamma(self.loss_name, "gamma_pos", gamma_pos)
        self.gamma_neg = _check_gamma(self.loss_name, "gamma_neg", gamma_neg)
        self.clip = check_unit_interval(self.loss_name, "clip", clip, closed=False)
        self.label_smoothing = check_unit_interval(self.loss_name, "label_smoothing", label_smoothing)
        if not eps >= 0:
            raise ValueError(f"{self.loss_name}: eps must be >= 0, got {eps}")
        self.eps = float(eps)
        self.mode = check_choice(self.loss_name, "mode", mode, ("multilabel", "multiclass"))
        self.ignore_index = ignore_index
        self.reduction = check_reduction(self.loss_name, reduction)
        self.num_classes = num_classes

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return asymmetric_loss(
            input,
            target,
            mode=self.mode,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            clip=self.clip,
            eps=self.eps,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )
