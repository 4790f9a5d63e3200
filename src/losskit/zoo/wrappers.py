"""Wrappers that take any loss: ``masked``, ``multi_scale`` and ``deep_supervision`` (MONAI's ``MaskedLoss``,
``MultiScaleLoss`` and ``DeepSupervisionLoss``).

The wrapped loss (``loss=``) is a spec (a name, a mapping such as ``{name: dice_ce, lambda_dice: 1.0}``) or an
``nn.Module``. From a config, :func:`~losskit.build_loss` builds it like a combined loss's term (its parameter
annotation takes a module), so an error inside it names its path (``loss.lambda_dice``, or
``losses.seg.loss.lambda_dice`` inside a combined loss); built directly, the constructor sends a spec through
the same builder. ``to_config`` writes the inner loss's config under ``loss``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..config.builder import build_loss
from ..errors import ExampleError
from ..functional.wrappers import (
    Kernel,
    Terms,
    WeightMode,
    check_deep_supervision_options,
    check_multi_scale_options,
    deep_supervision_loss,
    masked_loss,
    multi_scale_loss,
    takes_mask,
)
from ..inputs import Example, InputSpec, TensorSpec
from ..registration import register_loss
from ..testing.examples import example_for

LossSpec = nn.Module | str | Mapping[str, Any]
_TAGS = ["wrapper", "composite"]


def build_inner(wrapper: type[nn.Module], loss: Any) -> nn.Module:
    """The wrapped loss as a module. A spec goes through ``build_loss`` as the ``loss`` parameter of
    ``wrapper``, so its errors carry the same path as from a config (``loss.lambda_dice``)."""
    if isinstance(loss, nn.Module):
        return loss
    inner = build_loss({"name": wrapper, "loss": loss}).loss  # the builder hands the constructor a module
    if not isinstance(inner, nn.Module):
        raise TypeError(f"{wrapper.__name__}: the wrapped loss was built as {type(inner).__name__}")
    return inner


def _inner_pair(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    inner = loss.loss
    if not isinstance(inner, nn.Module):
        raise TypeError(f"expected a wrapper with a module .loss, got {type(loss).__name__}")
    ex = example_for(inner, g)
    if len(ex.args) < 2 or not all(isinstance(a, Tensor) for a in ex.args[:2]):
        raise ExampleError(f"the wrapped loss {type(inner).__name__} does not take (input, target) tensors")
    return ex.args[0], ex.args[1]


def _masked_example(loss: nn.Module, g: torch.Generator) -> Example:
    """The wrapped loss's example plus a {0, 1} mask (N, 1, *spatial)."""
    x, y = _inner_pair(loss, g)
    mask = torch.randint(0, 2, (x.shape[0], 1, *x.shape[2:]), generator=g).to(x.dtype)
    return Example((x, y), {"mask": mask})


def _multi_scale_example(loss: nn.Module, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """The wrapped loss's example when it is an image pair (N, C, *spatial), else a (2, 2, 16, 16) pair."""
    x, y = _inner_pair(loss, g)
    if x.is_floating_point() and y.is_floating_point() and x.shape == y.shape and 3 <= x.dim() <= 5:
        return x, y
    return torch.rand(2, 2, 16, 16, generator=g), torch.rand(2, 2, 16, 16, generator=g)


def _deep_supervision_example(loss: nn.Module, g: torch.Generator) -> tuple[list[Tensor], Tensor]:
    """The wrapped loss's example as the full-resolution output, plus two outputs at 1/2 and 1/4 size."""
    x, y = _inner_pair(loss, g)
    if x.dim() < 3:
        raise ExampleError("deep_supervision's example needs a wrapped loss with (N, C, *spatial) outputs")
    outs = [x] + [
        torch.randn((x.shape[0], x.shape[1], *(max(1, s // 2**level) for s in x.shape[2:])), generator=g, dtype=x.dtype)
        for level in (1, 2)
    ]
    return outs, y


_INPUT = TensorSpec("input", "(N, C, *)", "float", "prediction (what the wrapped loss takes)")
_TARGET = TensorSpec("target", "(N, C, *) or (N, *)", "any", "target (what the wrapped loss takes)")


@register_loss(
    "masked",
    aliases=["MaskedLoss"],
    tags=_TAGS,
    inputs=InputSpec(
        tensors=(_INPUT, _TARGET, TensorSpec("mask", "(N or 1, 1, *)", "float", "spatial mask, 0 outside")),
        example=_masked_example,
    ),
)
class MaskedLoss(nn.Module):
    """Any dense loss restricted to a spatial mask given at call time, ``loss(input, target, mask=m)``
    (:func:`losskit.functional.masked_loss`): the mask multiplies input and target (MONAI's semantics); a
    class-index target keeps its labels inside the mask and is class 0 outside. Parity: MONAI ``MaskedLoss``.

    Args:
        loss: the wrapped loss: a spec (name or mapping) or an ``nn.Module``. Default ``"mse"``.

    A wrapped loss whose ``forward`` names a ``mask`` parameter gets the mask as ``mask=`` instead, with input and
    target unchanged.

    Inputs: ``input`` (N, C, *), ``target`` (N, C, *) or class indices (N, *), ``mask`` (N or 1, 1, *),
    required (MONAI's ``mask=None`` runs the loss unmasked with a warning). A mask of another shape is a
    ``LossInputError``. Terms (``return_terms=True``): the wrapped loss's own (none if it has none).
    """

    def __init__(self, loss: LossSpec = "mse") -> None:
        super().__init__()
        self.loss = build_inner(MaskedLoss, loss)
        self._native()  # read the signature now, not inside a compiled forward

    def _native(self) -> bool:
        """Whether the wrapped loss takes ``mask=`` itself, read once per wrapped object (``loss`` is public)."""
        cached: tuple[Any, bool] | None = self.__dict__.get("_native_cache")
        if cached is None or cached[0] is not self.loss:
            cached = (self.loss, takes_mask(self.loss))
            self.__dict__["_native_cache"] = cached  # a plain attribute: not a submodule, not in the state_dict
        return cached[1]

    def forward(
        self, input: Tensor, target: Tensor, mask: Tensor, return_terms: bool = False
    ) -> Tensor | tuple[Tensor, Terms]:
        return masked_loss(input, target, mask, loss=self.loss, native=self._native(), return_terms=return_terms)


@register_loss(
    "multi_scale",
    aliases=["MultiScaleLoss"],
    tasks=["registration"],
    tags=_TAGS,
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, C, *) images", "float", "prediction (1 to 3 spatial dims to smooth)"),
            TensorSpec("target", "(N, C, *) same as input", "float", "target image"),
        ),
        example=_multi_scale_example,
    ),
)
class MultiScaleLoss(nn.Module):
    """The wrapped loss over input and target smoothed by a Gaussian or Cauchy kernel at several scales
    (:func:`losskit.functional.multi_scale_loss`), reduced over the scales. Parity: MONAI ``MultiScaleLoss``
    (whose forward takes ``(y_true, y_pred)``; this one ``(input, target)`` like every losskit loss).

    Args:
        loss: the wrapped loss: a spec (name or mapping) or an ``nn.Module``. Default ``"mse"``.
        scales: smoothing widths (sigma in pixels, each >= 0; 0 = no smoothing); ``None``: the loss alone.
        kernel: ``"gaussian"`` | ``"cauchy"`` (MONAI's taps).
        reduction: ``"mean"`` | ``"sum"`` over the scales.

    Terms (``return_terms=True``): ``"scale<i>"`` per scale, with the wrapped loss's terms nested.
    """

    def __init__(
        self,
        loss: LossSpec = "mse",
        scales: Sequence[float] | None = None,
        kernel: Kernel = "gaussian",
        reduction: Literal["mean", "sum"] = "mean",
    ) -> None:
        super().__init__()
        scales = None if scales is None else list(scales)
        check_multi_scale_options(scales, kernel, reduction)
        self.scales: list[float] | None = scales
        self.kernel: Kernel = kernel
        self.reduction: Literal["mean", "sum"] = reduction
        self.loss = build_inner(MultiScaleLoss, loss)

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Tensor | tuple[Tensor, Terms]:
        return multi_scale_loss(
            input,
            target,
            loss=self.loss,
            scales=self.scales,
            kernel=self.kernel,
            reduction=self.reduction,
            return_terms=return_terms,
        )


@register_loss(
    "deep_supervision",
    aliases=["DeepSupervisionLoss", "ds_loss"],
    tags=_TAGS,
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "[(N, C, *), ...] full resolution first", "list", "outputs (or one tensor)"),
            TensorSpec("target", "(N, C, *) or (N, *)", "any", "full-resolution target or class indices"),
        ),
        example=_deep_supervision_example,
    ),
)
class DeepSupervisionLoss(nn.Module):
    """The wrapped loss over a deeply supervised network's outputs at decreasing resolution, against one target
    resized by nearest neighbour (:func:`losskit.functional.deep_supervision_loss`), weighted per level.
    Parity: MONAI ``DeepSupervisionLoss``.

    Args:
        loss: the wrapped loss: a spec (name or mapping) or an ``nn.Module``. Default ``"dice_ce"``.
        weight_mode: ``"same"`` (all 1) | ``"exp"`` (1, 1/2, 1/4, ... down to 1/16) | ``"two"`` (1, then 1/2).
        weights: explicit per-level weights, at least one per output; wins over ``weight_mode``.

    Inputs: ``input`` a list/tuple of (N, C, *) outputs, full resolution first (or one tensor), ``target``
    (N, C, *) or class indices (N, *). Terms (``return_terms=True``): ``"level<l>"`` (unweighted) per output,
    with the wrapped loss's terms nested (``"level1.dice"``).
    """

    def __init__(
        self, loss: LossSpec = "dice_ce", weight_mode: WeightMode = "exp", weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        check_deep_supervision_options(weight_mode, weights)
        weights = None if weights is None else [float(w) for w in weights]
        self.weight_mode: WeightMode = weight_mode
        self.weights: list[float] | None = weights
        self.loss = build_inner(DeepSupervisionLoss, loss)

    def forward(
        self, input: Tensor | Sequence[Tensor], target: Tensor, return_terms: bool = False
    ) -> Tensor | tuple[Tensor, Terms]:
        return deep_supervision_loss(
            input, target, loss=self.loss, weight_mode=self.weight_mode, weights=self.weights, return_terms=return_terms
        )
