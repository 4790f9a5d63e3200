"""More region losses from MONAI: generalized Wasserstein Dice, asymmetric unified focal, NACL.

Same conventions as :mod:`losskit.zoo.segmentation` (``docs/conventions.md``): logits in, class indices of any
integer dtype, ``ignore_index``, float32 statistics. Each module holds its options and calls its functional
form (:mod:`losskit.functional.wasserstein_dice`, :mod:`~losskit.functional.unified_focal`,
:mod:`~losskit.functional.nacl`), which checks the tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..functional._checks import check_choice, check_reduction
from ..functional._numerics import check_smoothing
from ..functional.nacl import DistanceType, KernelOps, check_nacl_options, nacl_loss
from ..functional.segmentation_input import PairReduction, Reduction
from ..functional.unified_focal import UNIFIED_MODES, UnifiedMode, check_unified_focal_options, unified_focal_loss
from ..functional.wasserstein_dice import (
    WEIGHTING_MODES,
    WeightingMode,
    as_dist_matrix,
    generalized_wasserstein_dice_loss,
)
from ..registration import register_loss
from ._segmentation_base import SEG_INPUTS as _SEG_INPUTS
from ._segmentation_base import TASKS as _TASKS
from ._segmentation_base import seg_args

__all__ = ["GeneralizedWassersteinDiceLoss", "AsymmetricUnifiedFocalLoss", "NACLLoss"]

Result = Tensor | tuple[Tensor, dict[str, Tensor]]

_LABELS_ONLY = (
    "class indices (N, *spatial) or (N, 1, *spatial) of any integer dtype, with ``ignore_index`` left out of "
    "every sum; None (default): nothing is ignored."
)


def _check_num_classes(name: str, num_classes: int | None) -> int | None:
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
    ):
        raise ValueError(f"{name}: num_classes must be an int >= 2, got {num_classes!r}")
    return num_classes


@register_loss(
    "generalized_wasserstein_dice",
    aliases=["GeneralizedWassersteinDiceLoss"],
    tasks=_TASKS,
    tags=["region", "dice", "imbalanced"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    dist_matrix="(C, C) distances between the classes (tensor or nested list), checked when the loss is built: "
    "square, finite, >= 0, 0 on the diagonal; divided by its largest entry (MONAI's normalisation), kept as a "
    "buffer. It fixes C. None (default): the 0/1 distance, every wrong class at distance 1, C from the input.",
    weighting_mode='"default" (Fidon et al.): background weight 0, foreground classes 1, denominator 2 TP + the '
    'summed Wasserstein errors; "GDL" (Tilborghs et al.): class weights 1 / (volume + 1) per sample, in both the '
    "numerator and the denominator.",
    ignore_index="label that counts nowhere: " + _LABELS_ONLY,
    reduction='"mean" (default): the mean of the per-sample losses; "sum": their sum; "none": the per-sample '
    "losses, shape (N,).",
)
class GeneralizedWassersteinDiceLoss(nn.Module):
    """Generalized Wasserstein Dice loss (Fidon et al., BrainLes 2017): a Dice loss per sample whose voxel errors
    are the Wasserstein distances ``W_s = sum_c M[y_s, c] p_c`` between the softmax and the label under a class
    distance matrix ``M``. Multiclass only: logits (N, C, *spatial), C >= 2, and class indices.
    Functional form: ``losskit.functional.generalized_wasserstein_dice_loss``.

    Parity: ≡ MONAI ``GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode, reduction, smooth_nr,
    smooth_dr)`` on the same logits and labels (MONAI requires ``dist_matrix``; it has no ``ignore_index``).
    """

    loss_name: str  # set by register_loss
    dist_matrix: Tensor | None

    def __init__(
        self,
        dist_matrix: Tensor | Sequence[Sequence[float]] | None = None,
        weighting_mode: WeightingMode = "default",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        ignore_index: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        name = self.loss_name
        self.weighting_mode: Any = check_choice(name, "weighting_mode", weighting_mode, WEIGHTING_MODES)
        self.reduction: Any = check_reduction(name, reduction)
        self.smooth_nr, self.smooth_dr = check_smoothing(name, smooth_nr, smooth_dr)
        self.ignore_index = ignore_index
        self.mode = "multiclass"  # the only mode (read by the example inputs and the zoo's policy suite)
        m = None if dist_matrix is None else as_dist_matrix(name, dist_matrix).detach().clone()
        self.register_buffer("dist_matrix", m)
        self.num_classes = None if m is None else int(m.shape[0])

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return generalized_wasserstein_dice_loss(
            input,
            target,
            dist_matrix=self.dist_matrix,
            weighting_mode=self.weighting_mode,
            smooth_nr=self.smooth_nr,
            smooth_dr=self.smooth_dr,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
        )


@register_loss(
    "unified_focal",
    aliases=["AsymmetricUnifiedFocalLoss", "asymmetric_unified_focal"],
    tasks=_TASKS,
    tags=["region", "combined", "imbalanced"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    mode='"multiclass" (default): softmax over C >= 2 channels, channel 0 the background and every other channel '
    'a foreground class, target class indices or probabilities (N, C, *spatial); "binary": one foreground channel '
    "through a sigmoid (the background is 1 - p), target of the input's shape in [0, 1]. A one-channel input in "
    "multiclass mode is an error that points to ``mode='binary'``.",
    from_logits="True (default): ``input`` holds logits (log-space cross-entropy); False: probabilities, clamped "
    "to [epsilon, 1 - epsilon] as MONAI does (MONAI's loss takes probabilities).",
    lambda_focal="weight of the asymmetric focal term in [0, 1] (default 0.5, MONAI's ``weight``); the focal "
    "Tversky term gets 1 - lambda_focal.",
    gamma="focusing exponent in [0, 1] (default 0.5): (1 - p)^gamma on the background cross-entropy, "
    "(1 - TI)^(1 - gamma) on the foreground Tversky terms.",
    delta="foreground weight in [0, 1] (default 0.7): of the foreground cross-entropy (the background gets "
    "1 - delta) and of the false negatives in the Tversky index (false positives get 1 - delta).",
    epsilon="smoothing of the Tversky index numerator and denominator (default 1e-7), finite and >= 0; also the "
    "probability clamp with ``from_logits=False``.",
    num_classes="expected number of classes C (an int >= 2), checked against the input's channels (MONAI's "
    "``num_classes``, which must be 2 there); None (default): from the input.",
    reduction='"mean" (default): lambda_focal * (mean over the (sample, channel, voxel) focal entries) + (1 - '
    'lambda_focal) * (mean over the (sample, class) Tversky entries); "sum": the same with sums. No "none".',
)
class AsymmetricUnifiedFocalLoss(nn.Module):
    """Asymmetric unified focal loss (Yeung et al., CMIG 2022): ``lambda_focal * asymmetric focal + (1 -
    lambda_focal) * asymmetric focal Tversky``, the background suppressed and the foreground enhanced.
    Terms (``return_terms=True``): ``"focal"``, ``"focal_tversky"``. Functional form:
    ``losskit.functional.unified_focal_loss``.

    Parity: MONAI ``AsymmetricUnifiedFocalLoss(weight=lambda_focal, gamma, delta)`` expects probabilities and
    is binary: ≡ ``unified_focal(mode="binary", from_logits=False)`` on (N, 1, *) probabilities, ≡
    ``unified_focal(from_logits=False)`` on (N, 2, *) probabilities with MONAI's ``to_onehot_y=True``; with
    logits, ≡ MONAI on ``softmax(x)`` / ``sigmoid(x)``. For C > 2 every channel >= 1 is a foreground class
    (MONAI reads only channels 0 and 1).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        mode: UnifiedMode = "multiclass",
        from_logits: bool = True,
        lambda_focal: float = 0.5,
        gamma: float = 0.5,
        delta: float = 0.7,
        epsilon: float = 1e-7,
        ignore_index: int | None = None,
        num_classes: int | None = None,
        reduction: PairReduction = "mean",
    ) -> None:
        super().__init__()
        name = self.loss_name
        self.mode: Any = check_choice(name, "mode", mode, UNIFIED_MODES)
        self.reduction: Any = check_reduction(name, reduction, ("mean", "sum"))
        check_unified_focal_options(name, lambda_focal, gamma, delta, epsilon)
        self.from_logits = bool(from_logits)
        self.lambda_focal, self.gamma, self.delta, self.epsilon = (
            float(lambda_focal),
            float(gamma),
            float(delta),
            float(epsilon),
        )
        self.ignore_index = ignore_index
        self.num_classes = _check_num_classes(name, num_classes)

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        return unified_focal_loss(
            input,
            target,
            mode=self.mode,
            from_logits=self.from_logits,
            lambda_focal=self.lambda_focal,
            gamma=self.gamma,
            delta=self.delta,
            epsilon=self.epsilon,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
            return_terms=return_terms,
        )


@register_loss(
    "nacl",
    aliases=["NACLLoss", "neighbor_aware_calibration"],
    tasks=_TASKS,
    tags=["calibration", "combined"],
    inputs=_SEG_INPUTS,
)
@seg_args(
    kernel_size="width of the mean filter (default 3), a positive int; used with kernel_ops='mean'.",
    kernel_ops='"mean" (default): a box filter of kernel_size^dim voxels; "gaussian": MONAI\'s GaussianFilter '
    '(std ``sigma``, truncated at 4 std, "erf" taps). Zero padding, same size.',
    distance_type='"l1" (default): mean |smoothed target - logits|; "l2": mean squared difference.',
    alpha="weight of the calibration term (default 0.1), finite and >= 0.",
    sigma="std of the Gaussian filter (default 1.0), > 0; used with kernel_ops='gaussian'.",
    dim="2 or 3: the number of spatial dims, checked against the input (MONAI's ``dim``); None (default): from "
    "the input, which must be 2-D or 3-D.",
    ignore_index="label that counts nowhere (left out of the cross-entropy and of the calibration mean; its "
    "one-hot is 0 in the smoothing). None (default): nothing is ignored.",
    num_classes="expected number of classes C (an int >= 2; MONAI's ``classes``), checked against the input; "
    "None (default): from the input.",
    reduction='"mean" (default): CE mean over the valid voxels + alpha * the mean distance over the valid '
    '(sample, class, voxel) entries; "sum": the same with sums. No "none".',
)
class NACLLoss(nn.Module):
    """Neighbour-aware calibration loss (Murugesan et al., MICCAI 2023 / 2024): cross-entropy + ``alpha`` times
    the l1 or l2 distance between the logits and the one-hot target smoothed by a mean or Gaussian filter (the
    class proportions around each voxel). 2-D or 3-D, multiclass logits (N, C, *spatial), C >= 2.
    Terms (``return_terms=True``): ``"cross_entropy"``, ``"calibration"``. Functional form:
    ``losskit.functional.nacl_loss``.

    Parity: ≡ MONAI ``NACLLoss(classes=C, dim, kernel_size, kernel_ops, distance_type, alpha, sigma)`` on the
    same logits and (N, *spatial) labels. As in MONAI and the paper, the penalty is on the logits.
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        kernel_size: int = 3,
        kernel_ops: KernelOps = "mean",
        distance_type: DistanceType = "l1",
        alpha: float = 0.1,
        sigma: float = 1.0,
        dim: int | None = None,
        ignore_index: int | None = None,
        num_classes: int | None = None,
        reduction: PairReduction = "mean",
    ) -> None:
        super().__init__()
        name = self.loss_name
        check_nacl_options(name, kernel_size, kernel_ops, distance_type, alpha, sigma, dim)
        self.reduction: Any = check_reduction(name, reduction, ("mean", "sum"))
        self.kernel_size, self.kernel_ops, self.distance_type = kernel_size, kernel_ops, distance_type
        self.alpha, self.sigma, self.dim = float(alpha), float(sigma), dim
        self.ignore_index = ignore_index
        self.num_classes = _check_num_classes(name, num_classes)
        self.mode = "multiclass"  # the only mode (read by the example inputs and the zoo's policy suite)

    def forward(self, input: Tensor, target: Tensor, return_terms: bool = False) -> Result:
        return nacl_loss(
            input,
            target,
            kernel_size=self.kernel_size,
            kernel_ops=self.kernel_ops,
            distance_type=self.distance_type,
            alpha=self.alpha,
            sigma=self.sigma,
            dim=self.dim,
            ignore_index=self.ignore_index,
            num_classes=self.num_classes,
            reduction=self.reduction,
            return_terms=return_terms,
        )
