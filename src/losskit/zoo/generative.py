"""Generative-model losses: VAE (beta-VAE, capacity and KL warm-up), sparse autoencoder, VQ-VAE, GAN.

``vae`` and ``sae`` serve seed 003's dict interface as well as plain tensors: ``forward(model_output,
targets)`` where ``model_output`` is the model's dict (``'predictions'``, ``'mu'``, ``'logvar'`` /
``'latents'``) and ``targets`` a dict holding ``'predictions'`` (or a tensor); or ``forward(recon, target,
mu, logvar)`` / ``forward(recon, target, latents)``. ``return_terms=True`` returns ``(total, {term: value})``
with detached terms for logging; by default the total is a scalar tensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from ..errors import LossInputError
from ..functional import generative as G
from ..functional._checks import check_choice, check_reduction, check_tensor
from ..functional._reduce import acc_dtype
from ..functional.generative import AdversarialMode, ReconstructionKind, Reduction, SAENormalize
from ..inputs import InputSpec, TensorSpec
from ..registration import register_loss

__all__ = ["VAELoss", "SAELoss", "VQLoss", "AdversarialLoss", "unpack_prediction", "unpack_target"]

#: Keys read from a model-output dict for the reconstruction, and from a targets dict for the target.
PREDICTION_KEYS = ("predictions", "reconstruction", "recon", "x_hat")
TARGET_KEYS = ("predictions", "target", "targets", "inputs", "x")
LATENT_KEYS = ("latents", "activations", "features", "z")

TensorOrDict = torch.Tensor | Mapping[str, Any]


def _pick(loss: str, where: str, d: Mapping[str, Any], keys: Sequence[str], required: bool = True) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return check_tensor(loss, f"{where}[{k!r}]", d[k])
    if required:
        raise LossInputError(
            f"{loss}: expected {where} to hold one of the keys {list(keys)}, got keys {sorted(map(str, d))}"
        )
    return None


def unpack_prediction(loss: str, input: TensorOrDict) -> tuple[torch.Tensor, Mapping[str, Any]]:
    """The reconstruction and the dict it came from (empty for a tensor input)."""
    if isinstance(input, Mapping):
        return _pick(loss, "model_output", input, PREDICTION_KEYS), input
    return check_tensor(loss, "input", input), {}


def unpack_target(loss: str, target: TensorOrDict) -> torch.Tensor:
    if isinstance(target, Mapping):
        picked: torch.Tensor = _pick(loss, "targets", target, TARGET_KEYS)  # required: never None
        return picked
    return check_tensor(loss, "target", target)


def _extra(
    loss: str, name: str, given: torch.Tensor | None, d: Mapping[str, Any], keys: Sequence[str], required: bool
) -> Any:
    from_dict = _pick(loss, "model_output", d, keys, required=False) if d else None
    if given is not None and from_dict is not None:
        raise LossInputError(f"{loss}: {name} given both as an argument and in the model_output dict")
    value = given if given is not None else from_dict
    if value is None and required:
        raise LossInputError(f"{loss}: missing {name}: pass it as an argument or under {list(keys)} in model_output")
    return value


def _vae_example(loss: nn.Module, g: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    x = torch.rand(4, 8, generator=g)
    out = {
        "predictions": torch.randn(4, 8, generator=g),
        "mu": torch.randn(4, 3, generator=g),
        "logvar": 0.5 * torch.randn(4, 3, generator=g),
    }
    if getattr(loss, "reconstruction", "mse") != "bce":
        x = torch.randn(4, 8, generator=g)
    return out, {"predictions": x}


@register_loss(
    "vae",
    aliases=["VAELoss", "beta_vae", "elbo"],
    tasks=["generative"],
    inputs=InputSpec(
        tensors=(
            TensorSpec(
                "input",
                "dict or (N, *)",
                "dict | float",
                "model output {'predictions', 'mu', 'logvar'} or the reconstruction",
            ),
            TensorSpec("target", "dict or (N, *)", "dict | float", "targets {'predictions'} or the data"),
            TensorSpec("mu", "(N, L)", "float", "posterior means (when input is a tensor)", optional=True),
            TensorSpec("logvar", "(N, L)", "float", "posterior log-variances (when input is a tensor)", optional=True),
        ),
        example=_vae_example,
    ),
)
class VAELoss(nn.Module):
    """(Beta-)VAE loss, the negative ELBO (Kingma & Welling 2014; Higgins et al. 2017):
    ``w_rec * rec_n + beta * KL(N(mu_n, exp(logvar_n)) || N(0, I))`` per sample, the KL summed over latent dims.

    ``forward(input, target, mu=None, logvar=None, *, step=None, return_terms=False)``: ``input`` is the
    model-output dict (reconstruction under ``'predictions'`` (or ``'reconstruction'``, ``'recon'``, ``'x_hat'``),
    plus ``'mu'`` and ``'logvar'`` (N, L)) or the reconstruction (N, *) with ``mu`` and ``logvar`` as arguments;
    ``target`` is a dict (``'predictions'``, ``'target'``, ``'inputs'``, ``'x'``) or the data (N, *).
    ``return_terms=True`` returns ``(total, {"reconstruction": ..., "kl": ...})`` (unweighted, detached). The
    annealing ``step`` is ``forward(step=...)`` or the ``step`` buffer, which advances by one per training-mode
    forward when a schedule is set (saved in the ``state_dict``). Parity: pythae ``VAE`` loss
    (``reconstruction_reduction="sum"``, mse) up to its 1/2 factor convention.

    Args:
        beta: the weight of the KL term (>= 0, default 1.0: the plain ELBO; > 1: beta-VAE, Higgins et al.).
        reconstruction_weight: w_rec, the weight of the reconstruction term (>= 0, default 1.0).
        reconstruction: the per-element reconstruction error: "mse" (default, squared error: a Gaussian
            decoder), "l1" (absolute error) or "bce" (binary cross-entropy on logits, targets in [0, 1]: a
            Bernoulli decoder).
        reconstruction_reduction: how ``rec_n`` pools a sample's elements: "sum" (default, pythae's, the true
            log-likelihood up to constants) or "mean" (with "mse": seed 003's ``F.mse_loss(pred, x) + KL.sum() / N``).
        capacity: C in nats (>= 0, default None: no capacity). Given, the KL term becomes ``beta * |KL_n - C|``
            (Burgess et al. 2018, "Understanding disentangling in beta-VAE").
        capacity_steps: ramp C linearly from 0 to ``capacity`` over this many steps (>= 0; default 0: no ramp).
        kl_warmup_steps: scale beta by ``min(1, step / kl_warmup_steps)`` (KL annealing, Bowman et al. 2016;
            >= 0, default 0: no warm-up).
        reduction: over the batch: "mean" (default), "sum", or "none" ((N,) per sample).
    """

    loss_name: str  # set by register_loss
    #: a config may give beta as a schedule (losskit.compose.scheduled)
    __losskit_schedulable__: ClassVar[tuple[str, ...]] = ("beta",)

    step: torch.Tensor  # buffer: the annealing step

    def __init__(
        self,
        beta: float = 1.0,
        reconstruction_weight: float = 1.0,
        reconstruction: ReconstructionKind = "mse",
        reconstruction_reduction: Literal["sum", "mean"] = "sum",
        capacity: float | None = None,
        capacity_steps: int = 0,
        kl_warmup_steps: int = 0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if beta < 0 or reconstruction_weight < 0:
            raise ValueError(
                f"{self.loss_name}: beta and reconstruction_weight must be >= 0, got {beta}, {reconstruction_weight}"
            )
        if capacity_steps < 0 or kl_warmup_steps < 0 or (capacity is not None and capacity < 0):
            raise ValueError(f"{self.loss_name}: capacity, capacity_steps and kl_warmup_steps must be >= 0")
        if capacity_steps and capacity is None:
            raise ValueError(f"{self.loss_name}: capacity_steps needs a capacity")
        self.beta, self.reconstruction_weight = float(beta), float(reconstruction_weight)
        self.reconstruction = check_choice(self.loss_name, "reconstruction", reconstruction, ("mse", "bce", "l1"))
        self.reconstruction_reduction = check_choice(
            "vae", "reconstruction_reduction", reconstruction_reduction, ("sum", "mean")
        )
        self.capacity = None if capacity is None else float(capacity)
        self.capacity_steps, self.kl_warmup_steps = int(capacity_steps), int(kl_warmup_steps)
        self.reduction = check_reduction(self.loss_name, reduction)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def forward(
        self,
        input: TensorOrDict,
        target: TensorOrDict,
        mu: torch.Tensor | None = None,
        logvar: torch.Tensor | None = None,
        *,
        step: int | torch.Tensor | None = None,
        return_terms: bool = False,
    ) -> Any:
        recon, out = unpack_prediction(self.loss_name, input)
        x = unpack_target(self.loss_name, target)
        mu = _extra(self.loss_name, "mu", mu, out, ("mu",), True)
        logvar = _extra(self.loss_name, "logvar", logvar, out, ("logvar", "log_var"), True)
        G.check_reconstruction_pair(self.loss_name, recon, x)
        annealed = self.capacity_steps > 0 or self.kl_warmup_steps > 0
        s = self.step if step is None else torch.as_tensor(step, device=self.step.device)
        beta: float | torch.Tensor = self.beta
        capacity: float | torch.Tensor | None = self.capacity
        s = s.to(device=recon.device, dtype=acc_dtype(recon))
        if self.kl_warmup_steps:
            beta = self.beta * (s / self.kl_warmup_steps).clamp(max=1.0)
        if capacity is not None and self.capacity_steps:
            capacity = capacity * (s / self.capacity_steps).clamp(max=1.0)
        result = G.vae_loss(
            recon,
            x,
            mu,
            logvar,
            beta=beta,
            reconstruction=self.reconstruction,
            reconstruction_weight=self.reconstruction_weight,
            reconstruction_reduction=self.reconstruction_reduction,
            capacity=capacity,
            reduction=self.reduction,
            return_terms=return_terms,
        )
        if annealed and step is None and self.training:
            self.step.add_(1)
        return result


def _sae_example(loss: nn.Module, g: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    latents = torch.relu(torch.randn(4, 16, generator=g))
    return {"predictions": torch.randn(4, 8, generator=g), "latents": latents}, {
        "predictions": torch.randn(4, 8, generator=g)
    }


@register_loss(
    "sae",
    aliases=["SAELoss", "sparse_autoencoder"],
    tasks=["generative"],
    inputs=InputSpec(
        tensors=(
            TensorSpec(
                "input",
                "dict or (N, d_in)",
                "dict | float",
                "model output {'predictions', 'latents'} or the reconstruction",
            ),
            TensorSpec(
                "target", "dict or (N, d_in)", "dict | float", "targets {'predictions'} or the input activations"
            ),
            TensorSpec("latents", "(N, d_sae)", "float", "latent activations (when input is a tensor)", optional=True),
            TensorSpec("decoder_weight", "(d_in, d_sae)", "float", "decoder weight, nn.Linear layout", optional=True),
        ),
        example=_sae_example,
    ),
)
class SAELoss(nn.Module):
    """Sparse-autoencoder loss (Bricken et al. 2023; Anthropic's April 2024 update):
    ``||x_n - x_hat_n||^2 + sparsity_weight * sum_i |f_i(x_n)| * ||W_dec[:, i]||_2`` per sample.

    ``forward(input, target, latents=None, *, decoder_weight=None, return_terms=False)``: ``input`` the
    model-output dict (``'predictions'`` and ``'latents'`` (or ``'activations'``, ``'features'``, ``'z'``)) or the
    reconstruction (N, d_in); ``target`` a dict (``'predictions'``, ...) or (N, d_in). The decoder-norm scaling
    applies when a ``decoder_weight`` (d_in, d_sae) (``nn.Linear`` layout; pass ``W_dec.T`` for sae-lens's
    (d_sae, d_in)) is given in ``forward`` or under ``'decoder_weight'`` in the model output.
    ``return_terms=True`` gives ``(total, {"reconstruction": ..., "sparsity": ...})``.
    Parity: sae-lens standard SAE training loss (``mse_loss_normalization=None``, ``scale_sparsity_penalty_by
    _decoder_norm=True``, ``lp_norm=1``) ≡ ``feature_reduction="sum"`` with ``decoder_weight=W_dec.T``.

    Args:
        sparsity_weight: the weight of the L1 sparsity penalty on the latents (>= 0, default 0.01 as seed 003).
        normalize: "none" (default): the plain squared error; "input": divided by ``||x_n||^2``;
            "batch_variance": divided by the batch mean of ``||x_n - mean(x)||^2`` (the normalised MSE of Gao et
            al. 2024). Normalised errors are summed over features whatever ``feature_reduction`` says.
        feature_reduction: how both terms pool a sample's features: "sum" (default, sae-lens, Anthropic) or "mean"
            (``F.mse_loss(x_hat, x) + sparsity_weight * f.abs().mean()``).
        reduction: over the batch: "mean" (default), "sum", or "none" ((N,) per sample).
    """

    loss_name: str  # set by register_loss

    def __init__(
        self,
        sparsity_weight: float = 0.01,
        normalize: SAENormalize = "none",
        feature_reduction: Literal["sum", "mean"] = "sum",
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if sparsity_weight < 0:
            raise ValueError(f"{self.loss_name}: sparsity_weight must be >= 0, got {sparsity_weight}")
        self.sparsity_weight = float(sparsity_weight)
        self.normalize = check_choice(self.loss_name, "normalize", normalize, ("none", "input", "batch_variance"))
        self.feature_reduction = check_choice(self.loss_name, "feature_reduction", feature_reduction, ("sum", "mean"))
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(
        self,
        input: TensorOrDict,
        target: TensorOrDict,
        latents: torch.Tensor | None = None,
        *,
        decoder_weight: torch.Tensor | None = None,
        return_terms: bool = False,
    ) -> Any:
        recon, out = unpack_prediction(self.loss_name, input)
        x = unpack_target(self.loss_name, target)
        latents = _extra(self.loss_name, "latents", latents, out, LATENT_KEYS, True)
        decoder_weight = _extra(self.loss_name, "decoder_weight", decoder_weight, out, ("decoder_weight",), False)
        return G.sae_loss(
            recon,
            x,
            latents,
            sparsity_weight=self.sparsity_weight,
            decoder_weight=decoder_weight,
            normalize=self.normalize,
            feature_reduction=self.feature_reduction,
            reduction=self.reduction,
            return_terms=return_terms,
        )


def _vq_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    z_e = torch.randn(4, 6, 3, 3, generator=g)
    return z_e, z_e + 0.2 * torch.randn(4, 6, 3, 3, generator=g)


@register_loss(
    "vq",
    aliases=["VQLoss", "vq_vae"],
    tasks=["generative"],
    inputs=InputSpec(
        tensors=(
            TensorSpec("z_e", "(N, *)", "float", "encoder outputs"),
            TensorSpec("z_q", "(N, *) same as z_e", "float", "their nearest codebook vectors e"),
        ),
        example=_vq_example,
    ),
)
class VQLoss(nn.Module):
    """VQ-VAE codebook + commitment loss (van den Oord et al. 2017):
    ``||sg[z_e] - e||^2 + commitment * ||z_e - sg[e]||^2`` (``sg`` stop-gradient, each a mean over elements).

    The codebook term moves only the codebook vectors ``e = z_q``, the commitment term only the encoder output
    ``z_e``. Inputs: ``z_e``, ``z_q`` (N, *). ``return_terms=True``: ``(total, {"codebook": ..., "commitment": ...})``.

    Args:
        commitment: beta, the weight of the commitment term (>= 0, default 0.25 as the paper).
        reduction: over the batch of per-sample means: "mean" (default), "sum", or "none" ((N,)).
    """

    loss_name: str  # set by register_loss

    def __init__(self, commitment: float = 0.25, reduction: Reduction = "mean") -> None:
        super().__init__()
        if commitment < 0:
            raise ValueError(f"{self.loss_name}: commitment must be >= 0, got {commitment}")
        self.commitment = float(commitment)
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(self, z_e: torch.Tensor, z_q: torch.Tensor, *, return_terms: bool = False) -> Any:
        return G.vq_loss(
            z_e,
            z_q,
            commitment=self.commitment,
            reduction=self.reduction,
            return_terms=return_terms,
        )


def _adv_example(loss: nn.Module, g: torch.Generator) -> tuple[torch.Tensor]:
    return (torch.randn(2, 1, 4, 4, generator=g),)


@register_loss(
    "adversarial",
    aliases=["AdversarialLoss", "gan"],
    tasks=["generative"],
    inputs=InputSpec(
        tensors=(TensorSpec("input", "(N, *) or list of them", "float", "raw discriminator outputs (no activation)"),),
        example=_adv_example,
    ),
)
class AdversarialLoss(nn.Module):
    """GAN loss on raw discriminator outputs, for the discriminator and the generator.

    ``forward(input, target_is_real=True, for_discriminator=True)``; ``input`` is a tensor (N, *) (e.g. a
    PatchGAN map) or a list of them (multi-scale discriminators: the loss is the mean (sum) over them). For the
    generator ``target_is_real`` must be True (a ``LossInputError`` otherwise; MONAI warns and flips it).

    Parity with MONAI ``PatchAdversarialLoss(criterion=...)``, which applies an activation itself: "bce" ≡
    ``criterion="bce"``; "least_squares" ≡ ``criterion="least_squares", no_activation_leastsq=True``; "hinge" for
    D on ``tanh(x)`` ≡ ``criterion="hinge"`` on ``x`` (MONAI's generator hinge is ``[1 - tanh x]_+``, not ``-x``).

    Args:
        mode: the GAN objective. "hinge" (default; Lim & Ye 2017, SN-GAN): D: ``[1 - x]_+`` (real), ``[1 + x]_+``
            (fake); G: ``-x``. "least_squares" (LSGAN, Mao et al. 2017): D: ``(x - 1)^2`` / ``x^2``; G:
            ``(x - 1)^2``. "bce": D: ``-log sigmoid(x)`` / ``-log(1 - sigmoid(x))``; G: ``-log sigmoid(x)``
            (non-saturating).
        reduction: "mean" (default) over elements, "sum", or "none" (the elementwise tensor, or a list of them).
    """

    loss_name: str  # set by register_loss

    def __init__(self, mode: AdversarialMode = "hinge", reduction: Reduction = "mean") -> None:
        super().__init__()
        self.mode = check_choice(self.loss_name, "mode", mode, ("hinge", "least_squares", "bce"))
        self.reduction = check_reduction(self.loss_name, reduction)

    def forward(
        self, input: torch.Tensor | Sequence[torch.Tensor], target_is_real: bool = True, for_discriminator: bool = True
    ) -> Any:
        return G.adversarial_loss(
            input,
            bool(target_is_real),
            bool(for_discriminator),
            mode=self.mode,
            reduction=self.reduction,
        )
