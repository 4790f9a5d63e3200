"""Self-supervised and vision-language losses (issue 12): Barlow Twins, VICReg, negative cosine (SimSiam/BYOL),
DCL, SigLIP and DINO.

Inputs: ``forward(input, target)`` with the embeddings (N, D) of two views of the same N samples, row i of both
a positive pair (SigLIP: image and text embeddings; DINO: student and teacher outputs, or lists of views).
The batch-statistics losses (``barlow_twins``, ``vicreg``, ``dcl``, ``siglip``) are functions of the whole
batch: in DDP wrap them in :class:`losskit.distributed.GatherLoss`, which gives every rank the single-process
value over the global batch (SigLIP's temperature and bias get their full gradient on every rank and DDP's
averaging keeps them identical). ``negative_cosine`` and ``dino`` are per-sample means and need no gathering;
DINO's centre is all-reduced in its update so every rank keeps the same centre.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

from ..functional import self_supervised as SS
from ..functional import vision_language as VL
from ..functional._checks import check_reduction
from ..functional.tiled_contrastive import check_chunk_size
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["BarlowTwinsLoss", "VICRegLoss", "NegativeCosineLoss", "DCLLoss", "SigLipLoss", "DINOLoss"]

Reduction = Literal["mean", "sum", "none"]
_TASKS = ["self_supervised"]


def _two_views(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # D = 128 keeps the policy suite's big batch (about 2^18 elements) at N = 2048: (N, N) similarities stay small
    a = torch.randn(8, 128, generator=g)
    return a, a + 0.3 * torch.randn(8, 128, generator=g)


_VIEW1 = TensorSpec("input", "(N, D)", "float", "embeddings of the first view")
_VIEW2 = TensorSpec("target", "(N, D)", "float", "embeddings of the second view (row i: the same sample)")
_VIEWS = InputSpec(tensors=(_VIEW1, _VIEW2), example=_two_views)


@register_loss("barlow_twins", aliases=["BarlowTwinsLoss"], tasks=_TASKS, tags=["redundancy_reduction"], inputs=_VIEWS)
class BarlowTwinsLoss(nn.Module):
    """Barlow Twins (Zbontar et al., ICML 2021): the cross-correlation of the batch-standardised views pushed to the
    identity, ``sum_i (1 - C_ii)^2 + lambd sum_{i!=j} C_ij^2`` (:func:`losskit.functional.barlow_twins_loss`).
    A scalar of the whole batch (no reduction); N = 1 is an error, N = 0 gives 0.

    Parity: ≡ MONAI ``BarlowTwinsLoss(lambd)``.

    Args:
        lambd: the weight of the off-diagonal (redundancy-reduction) term (>= 0, default 5e-3, the paper's and
            MONAI's).

    Example:
        >>> z1 = torch.randn(16, 32)
        >>> value = BarlowTwinsLoss(lambd=1e-2)(z1, z1 + 0.1 * torch.randn(16, 32))
    """

    loss_name: str  # set by register_loss

    def __init__(self, lambd: float = 5e-3) -> None:
        super().__init__()
        if not lambd >= 0:
            raise ValueError(f"{self.loss_name}: lambd must be >= 0, got {lambd!r}")
        self.lambd = float(lambd)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return SS.barlow_twins_loss(input, target, lambd=self.lambd)


@register_loss("vicreg", aliases=["VICRegLoss"], tasks=_TASKS, tags=["redundancy_reduction"], inputs=_VIEWS)
class VICRegLoss(nn.Module):
    """VICReg (Bardes, Ponce & LeCun, ICLR 2022): ``sim_coeff * invariance + var_coeff * variance + cov_coeff *
    covariance`` (:func:`losskit.functional.vicreg_loss`). A scalar of the whole batch (no reduction); N = 1 is an
    error, N = 0 gives 0. ``forward(input, target, return_terms=True)`` also returns the unweighted
    ``{"invariance", "variance", "covariance"}``.

    Parity: ≡ the authors' ``VICReg`` loss and lightly ``VICRegLoss(lambda_param, mu_param, nu_param, eps)``.

    Args:
        sim_coeff: the invariance (MSE) weight (>= 0, default 25).
        var_coeff: the variance hinge weight (>= 0, default 25; the authors' ``std_coeff``).
        cov_coeff: the covariance weight (>= 0, default 1).
        gamma: the target standard deviation of every feature (default 1).
        eps: added to the variance under the square root (> 0, default 1e-4).

    Example:
        >>> z1 = torch.randn(16, 32)
        >>> total, terms = VICRegLoss(cov_coeff=2.0)(z1, z1 + 0.1 * torch.randn(16, 32), return_terms=True)
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        sim_coeff: float = 25.0,
        var_coeff: float = 25.0,
        cov_coeff: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        for what, value in (("sim_coeff", sim_coeff), ("var_coeff", var_coeff), ("cov_coeff", cov_coeff)):
            if not value >= 0:
                raise ValueError(f"{self.loss_name}: {what} must be >= 0, got {value!r}")
        if not eps > 0:
            raise ValueError(f"{self.loss_name}: eps must be > 0, got {eps!r}")
        self.sim_coeff, self.var_coeff, self.cov_coeff = float(sim_coeff), float(var_coeff), float(cov_coeff)
        self.gamma, self.eps = float(gamma), float(eps)

    def forward(self, input: torch.Tensor, target: torch.Tensor, return_terms: bool = False) -> Any:
        return SS.vicreg_loss(
            input,
            target,
            sim_coeff=self.sim_coeff,
            var_coeff=self.var_coeff,
            cov_coeff=self.cov_coeff,
            gamma=self.gamma,
            eps=self.eps,
            return_terms=return_terms,
        )


@register_loss(
    "negative_cosine",
    aliases=["NegativeCosineSimilarity", "NegativeCosineLoss", "simsiam"],
    tasks=_TASKS,
    tags=["siamese"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, D)", "float", "predictions (the predictor's output); (2N, D) with symmetric"),
            TensorSpec("target", "(N, D)", "float", "targets (the other branch); (2N, D) with symmetric"),
        ),
        example=_two_views,
    ),
)
class NegativeCosineLoss(nn.Module):
    """Negative cosine similarity with a stop-gradient on the target, SimSiam (Chen & He 2021) / BYOL (Grill et
    al. 2020): ``-cos(p, sg(z))`` per row (:func:`losskit.functional.negative_cosine_loss`).

    Parity: ≡ lightly ``NegativeCosineSimilarity()(input, target.detach())``.

    A per-row mean: in DDP it needs no :class:`~losskit.distributed.GatherLoss` (and with ``symmetric`` must not
    have one: gathering concatenates the ranks' stacked batches, so the halves would no longer be the two views).

    Args:
        symmetric: False (default): row i of ``input`` against row i of ``target``. True: both views stacked,
            ``input = cat([p1, p2])``, ``target = cat([z1, z2])``; ``p1`` meets ``z2`` and ``p2`` meets ``z1``, so
            "mean" is SimSiam's symmetric ``D(p1, z2) / 2 + D(p2, z1) / 2``.
        stop_gradient: detach the target (default True); False lets the gradient reach it.
        eps: the floor of the norms' product (> 0, default 1e-8).
        reduction: "mean" (default) over rows, "sum", or "none": one value per row of ``input``.

    Example:
        >>> p, z = torch.randn(8, 16), torch.randn(8, 16)
        >>> value = NegativeCosineLoss(symmetric=True)(p, z)
    """

    loss_name: str  # set by register_loss

    def __init__(
        self, symmetric: bool = False, stop_gradient: bool = True, eps: float = 1e-8, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"{self.loss_name}: eps must be > 0, got {eps!r}")
        self.symmetric, self.stop_gradient, self.eps = bool(symmetric), bool(stop_gradient), float(eps)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return SS.negative_cosine_loss(
            input,
            target,
            symmetric=self.symmetric,
            stop_gradient=self.stop_gradient,
            eps=self.eps,
            reduction=self.reduction,
        )


@register_loss("dcl", aliases=["DCLLoss", "decoupled_contrastive"], tasks=_TASKS, tags=["contrastive"], inputs=_VIEWS)
class DCLLoss(nn.Module):
    """Decoupled contrastive loss, DCL (Yeh et al., ECCV 2022): InfoNCE with the positive pair removed from the
    denominator, both views as anchors; DCLW with ``sigma`` (:func:`losskit.functional.dcl_loss`).

    Parity: ≡ lightly ``DCLLoss(temperature)``; with ``sigma``, lightly ``DCLWLoss(temperature, sigma)``.

    Args:
        temperature: tau dividing the cosine similarities (> 0, default 0.1).
        sigma: None (default): DCL, every positive weighted 1; a float > 0: DCLW, the positives weighted by
            ``2 - N softmax(cos(u_i, v_i) / sigma)`` (0.5 in the paper).
        reduction: "mean" (default) over the 2N anchors, "sum", or "none": (2N,), the anchors of ``input`` first.

    Example:
        >>> z1 = torch.randn(8, 16)
        >>> value = DCLLoss(temperature=0.2, sigma=0.5)(z1, z1 + 0.1 * torch.randn(8, 16))
    """

    loss_name: str  # set by register_loss

    def __init__(self, temperature: float = 0.1, sigma: float | None = None, reduction: Reduction = "mean") -> None:
        super().__init__()
        if not temperature > 0 or (sigma is not None and not sigma > 0):
            raise ValueError(f"{self.loss_name}: temperature and sigma must be > 0, got {temperature!r}, {sigma!r}")
        self.temperature = float(temperature)
        self.sigma = None if sigma is None else float(sigma)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return SS.dcl_loss(input, target, temperature=self.temperature, sigma=self.sigma, reduction=self.reduction)


@register_loss(
    "siglip",
    aliases=["SigLipLoss", "SigLIPLoss"],
    tasks=_TASKS,
    tags=["vision_language", "contrastive"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, D)", "float", "image embeddings"),
            TensorSpec("target", "(N, D)", "float", "text embeddings (row i: the caption of image i)"),
        ),
        example=_two_views,
    ),
)
class SigLipLoss(nn.Module):
    """SigLIP (Zhai et al., ICCV 2023): a sigmoid binary loss on every image-text pair of the batch with a learnable
    log temperature ``logit_scale`` and bias ``logit_bias`` (``nn.Parameter`` scalars: give ``loss.parameters()``
    to the optimizer; saved in the ``state_dict``) (:func:`losskit.functional.siglip_loss`).

    Parity: ≡ open_clip ``SigLipLoss()(image, text, logit_scale.exp(), logit_bias)`` on normalised features
    (open_clip keeps ``logit_scale``/``logit_bias`` in the model; here they live in the loss). In DDP wrap it in
    :class:`~losskit.distributed.GatherLoss`: every rank then computes the same full gradient for the two
    parameters, so they stay identical whether or not DDP also averages them.

    Args:
        init_logit_scale: the initial log temperature t' (default log 10, the paper's).
        init_logit_bias: the initial bias b (default -10, the paper's).
        normalize: L2-normalise the image and text embeddings first (default True); False takes them as given.
        reduction: "mean" (default): the paper's sum over the N^2 pairs divided by N; "sum": over the pairs;
            "none": the (N, N) [image, text] matrix.
        chunk_size: None (default): the (N, N) logits at once; an int: walked in blocks of chunk_size image rows
            with the gradients formed in the same pass (same value, exact gradients of the embeddings and of
            logit_scale/logit_bias), memory O(chunk_size * N): about 9 * chunk_size * N floats plus O(N * D),
            instead of ~6 * N^2. Not with reduction "none".

    Example:
        >>> loss = SigLipLoss(init_logit_bias=-5.0)
        >>> value = loss(torch.randn(8, 16), torch.randn(8, 16))
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        init_logit_scale: float = VL.LOG_10,
        init_logit_bias: float = -10.0,
        normalize: bool = True,
        reduction: Reduction = "mean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self.init_logit_scale, self.init_logit_bias = float(init_logit_scale), float(init_logit_bias)
        self.normalize = bool(normalize)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.chunk_size = check_chunk_size(self.loss_name, chunk_size, self.reduction, rowwise_none=False)
        self.logit_scale = nn.Parameter(torch.tensor(self.init_logit_scale))
        self.logit_bias = nn.Parameter(torch.tensor(self.init_logit_bias))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return VL.siglip_loss(
            input,
            target,
            self.logit_scale,
            self.logit_bias,
            normalize=self.normalize,
            reduction=self.reduction,
            chunk_size=self.chunk_size,
        )


def _student_teacher(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    k = int(getattr(loss, "output_dim", 16))
    teacher = torch.randn(4, k, generator=g)
    # a teacher batch of mean 0 per dimension leaves the zero-initialised centre at 0, so repeated calls on this
    # example (check_loss's determinism and round-trip checks) see the same centre
    return torch.randn(4, k, generator=g), teacher - teacher.mean(0)


@register_loss(
    "dino",
    aliases=["DINOLoss"],
    tasks=_TASKS,
    tags=["self_distillation", "stateful"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("input", "(N, K) or [(N, K)] * V", "float", "student outputs (one tensor, or V views)"),
            TensorSpec("target", "(N, K) or [(N, K)] * Vt", "float", "teacher outputs (the first Vt <= V views)"),
        ),
        example=_student_teacher,
    ),
)
class DINOLoss(nn.Module):
    """DINO self-distillation (Caron et al., ICCV 2021): the cross-entropy between the centred, sharpened teacher
    softmax and the student's, over pairs of different views (:func:`losskit.functional.dino_loss`).

    State: the centre ``center`` (1, K), a buffer (saved in the ``state_dict``, pickled, moved by ``.to``). In
    training mode each ``forward`` first computes the loss with the current centre, then, under ``no_grad``,
    updates it: ``center = m * center + (1 - m) * mean of the teacher outputs`` over every teacher view (an empty
    batch leaves it unchanged). In eval mode it is frozen. Under ``torch.distributed`` the teacher sum and count
    are all-reduced first (one collective, as the authors' code), so every rank holds the same centre.

    Parity: ≡ the authors' ``DINOLoss`` at a fixed teacher temperature and lightly ``DINOLoss`` (teacher first
    there: ``forward(teacher_out, student_out)``).

    Args:
        output_dim: K, the width of the outputs and of the centre (>= 1; default 65536, the paper's).
        student_temperature: the student's softmax temperature (> 0, default 0.1).
        teacher_temperature: the teacher's (> 0, default 0.04; the paper warms it up from 0.04 to 0.07: set this
            attribute from your schedule).
        center_momentum: m, the EMA momentum of the centre (in [0, 1], default 0.9).
        reduction: "mean" (default) over samples and view pairs, "sum" over samples, or "none": (N,) per sample.

    Example:
        >>> loss = DINOLoss(output_dim=16)
        >>> student, teacher = [torch.randn(4, 16), torch.randn(4, 16)], [torch.randn(4, 16), torch.randn(4, 16)]
        >>> value = loss(student, teacher)
    """

    loss_name: str  # set by register_loss
    center: torch.Tensor

    def __init__(
        self,
        output_dim: int = 65536,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        center_momentum: float = 0.9,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if output_dim < 1:
            raise ValueError(f"{self.loss_name}: output_dim must be >= 1, got {output_dim!r}")
        if not 0 <= center_momentum <= 1:
            raise ValueError(f"{self.loss_name}: center_momentum must be in [0, 1], got {center_momentum!r}")
        if not student_temperature > 0 or not teacher_temperature > 0:
            raise ValueError(
                f"{self.loss_name}: the temperatures must be > 0, got {student_temperature!r}, {teacher_temperature!r}"
            )
        self.output_dim = int(output_dim)
        self.student_temperature, self.teacher_temperature = float(student_temperature), float(teacher_temperature)
        self.center_momentum = float(center_momentum)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.register_buffer("center", torch.zeros(1, self.output_dim))

    def forward(
        self, input: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor | Sequence[torch.Tensor]
    ) -> torch.Tensor:
        loss = VL.dino_loss(
            input,
            target,
            self.center,
            student_temperature=self.student_temperature,
            teacher_temperature=self.teacher_temperature,
            reduction=self.reduction,
        )
        if self.training:
            self.update_center(target)
        return loss

    @torch.no_grad()
    def update_center(self, target: torch.Tensor | Sequence[torch.Tensor]) -> None:
        """The EMA step of the centre from a batch of teacher outputs (what ``forward`` does in training mode)."""
        views = VL.as_views(self.loss_name, "target", target)
        if views[0].shape[0] == 0:  # nothing to average (a shape, not a value: no sync)
            return
        total = torch.stack([v.to(self.center.dtype).sum(0) for v in views]).sum(0)
        count = torch.full((1,), float(views[0].shape[0] * len(views)), dtype=total.dtype, device=total.device)
        both = torch.cat([total, count])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(both)  # every rank gets the global sum and count: the centres stay identical
        self.center.mul_(self.center_momentum).add_(both[:-1] / both[-1], alpha=1.0 - self.center_momentum)
