"""Generative-model losses: VAE ELBO terms, sparse-autoencoder, VQ-VAE and adversarial losses.

Per-sample terms are (N,) tensors, reduced over the batch at the end. Every function follows the zoo's
autocast rule (``float32_loss``): autocast off, float32 (float64 stays float64). An empty batch gives 0 with a
zero gradient ("none": an empty (0,)). The losses made of terms (``vae_loss``, ``sae_loss``, ``vq_loss``)
follow the per-term protocol: ``return_terms=True`` returns ``(total, {term: detached value})``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from ..compose.terms import with_terms
from ..errors import LossInputError
from ._checks import check_choice, check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

Reduction = Literal["mean", "sum", "none"]
ReconstructionKind = Literal["mse", "bce", "l1"]
SAENormalize = Literal["none", "input", "batch_variance"]
AdversarialMode = Literal["hinge", "least_squares", "bce"]
TermsResult = torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]

__all__ = [
    "gaussian_kl",
    "reconstruction_per_sample",
    "vae_loss",
    "sae_loss",
    "vq_loss",
    "adversarial_loss",
    "check_reconstruction_pair",
    "check_batch",
]


def check_reconstruction_pair(loss: str, recon: torch.Tensor, target: torch.Tensor) -> None:
    check_float(loss, "reconstruction", recon, "(N, *)")
    check_same_shape(loss, recon, target, ("reconstruction", "target"))
    if recon.dim() < 1:
        raise LossInputError(f"{loss}: expected a batch (N, *) as reconstruction, got a scalar")


def check_batch(loss: str, name: str, t: torch.Tensor, n: int) -> None:
    check_float(loss, name, t, "(N, *)")
    if t.dim() < 1 or t.shape[0] != n:
        raise LossInputError(f"{loss}: expected {name} with batch size {n} (N, *), got {shape_str(t)}")


def _per_sample_sum(t: torch.Tensor) -> torch.Tensor:
    # explicit row size: reshape(0, -1) is ambiguous for an empty batch
    return t.reshape(t.shape[0], math.prod(t.shape[1:])).sum(dim=1, dtype=acc_dtype(t))


def _per_sample_mean(t: torch.Tensor) -> torch.Tensor:
    return _per_sample_sum(t) / max(math.prod(t.shape[1:]), 1)


@float32_loss
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per sample, summed over the latent dims: (N,).

    ``-1/2 sum (1 + logvar - mu^2 - exp(logvar))`` (Kingma & Welling 2014, appendix B).
    """
    dtype = acc_dtype(mu)
    mu, logvar = mu.to(dtype), logvar.to(dtype)
    return -0.5 * _per_sample_sum(1.0 + logvar - mu * mu - logvar.exp())


def reconstruction_per_sample(
    recon: torch.Tensor,
    target: torch.Tensor,
    kind: ReconstructionKind = "mse",
    per_sample: Literal["sum", "mean"] = "sum",
) -> torch.Tensor:
    """Reconstruction error per sample (N,): ``mse`` (squared error), ``l1``, or ``bce`` (``recon`` are
    logits, ``target`` in [0, 1]), summed (``per_sample="sum"``) or averaged (``"mean"``) over each sample's
    elements."""
    dtype = acc_dtype(recon)
    recon, target = recon.to(dtype), target.to(dtype)
    if kind == "mse":
        err = (recon - target) ** 2
    elif kind == "l1":
        err = (recon - target).abs()
    elif kind == "bce":
        err = F.binary_cross_entropy_with_logits(recon, target, reduction="none")
    else:
        check_choice("vae", "reconstruction", kind, ("mse", "bce", "l1"))
    return _per_sample_mean(err) if per_sample == "mean" else _per_sample_sum(err)


@float32_loss
def vae_loss(
    recon: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float | torch.Tensor = 1.0,
    reconstruction: ReconstructionKind = "mse",
    reconstruction_weight: float = 1.0,
    reconstruction_reduction: Literal["sum", "mean"] = "sum",
    capacity: float | torch.Tensor | None = None,
    reduction: Reduction = "mean",
    return_terms: bool = False,
) -> TermsResult:
    """(Beta-)VAE negative ELBO: ``w_rec * rec_n + beta * KL_n`` per sample, or with a ``capacity`` C
    ``w_rec * rec_n + beta * |KL_n - C|`` (Burgess et al. 2018), reduced over the batch.

    Terms (``return_terms=True``): ``{"reconstruction", "kl"}``, each reduced with ``reduction``, unweighted.

    Example:
        >>> x, mu = torch.zeros(2, 4), torch.ones(2, 3)  # a perfect reconstruction, KL = 3 / 2 per sample
        >>> total, terms = vae_loss(x, x, mu, torch.zeros(2, 3), beta=2.0, return_terms=True)
        >>> total, terms["kl"]
        (tensor(3.), tensor(1.5000))
    """
    check_reconstruction_pair("vae", recon, target)
    check_batch("vae", "mu", mu, recon.shape[0])
    check_same_shape("vae", mu, logvar, ("mu", "logvar"))
    check_reduction("vae", reduction)
    check_choice("vae", "reconstruction", reconstruction, ("mse", "bce", "l1"))
    check_choice("vae", "reconstruction_reduction", reconstruction_reduction, ("sum", "mean"))
    rec = reconstruction_per_sample(recon, target, reconstruction, reconstruction_reduction)
    kl = gaussian_kl(mu, logvar)
    kl_term = kl if capacity is None else (kl - capacity).abs()
    total = reconstruction_weight * rec + beta * kl_term
    terms = {"reconstruction": reduce(rec, reduction), "kl": reduce(kl, reduction)}
    return with_terms(reduce(total, reduction), terms, return_terms)


@float32_loss
def sae_loss(
    recon: torch.Tensor,
    target: torch.Tensor,
    latents: torch.Tensor,
    *,
    sparsity_weight: float = 0.01,
    decoder_weight: torch.Tensor | None = None,
    normalize: SAENormalize = "none",
    feature_reduction: Literal["sum", "mean"] = "sum",
    reduction: Reduction = "mean",
    return_terms: bool = False,
) -> TermsResult:
    """Sparse-autoencoder loss: ``rec_n + sparsity_weight * sum_i |f_i| ||W_dec[:, i]||`` per sample.

    ``rec_n`` is the squared error of sample n, divided by ``||x_n||^2`` (``normalize="input"``) or by the
    batch's mean ``||x_n - mean(x)||^2`` (``"batch_variance"``, the normalised MSE of Gao et al. 2024); without
    normalisation both terms are summed over features (``feature_reduction="sum"``) or averaged (``"mean"``).
    ``decoder_weight`` is in ``nn.Linear`` layout (d_in, d_sae); its column norms scale the L1 penalty.

    Terms (``return_terms=True``): ``{"reconstruction", "sparsity"}`` reduced with ``reduction``, unweighted.

    Example:
        >>> x, f = torch.ones(1, 4), torch.tensor([[1.0, -2.0, 0.0]])  # a perfect reconstruction, ||f||_1 = 3
        >>> sae_loss(x, x, f, sparsity_weight=0.1)
        tensor(0.3000)
    """
    check_reconstruction_pair("sae", recon, target)
    check_batch("sae", "latents", latents, recon.shape[0])
    check_reduction("sae", reduction)
    check_choice("sae", "normalize", normalize, ("none", "input", "batch_variance"))
    check_choice("sae", "feature_reduction", feature_reduction, ("sum", "mean"))
    if decoder_weight is not None:
        check_float("sae", "decoder_weight", decoder_weight, "(d_in, d_sae)")
        if decoder_weight.dim() != 2 or latents.dim() < 2 or decoder_weight.shape[1] != latents.shape[-1]:
            raise LossInputError(
                f"sae: expected decoder_weight (d_in, d_sae={latents.shape[-1]}) in nn.Linear layout, got "
                f"{shape_str(decoder_weight)}"
            )
    dtype = acc_dtype(recon)
    x, x_hat, f = target.to(dtype), recon.to(dtype), latents.to(dtype)
    sq = (x_hat - x) ** 2
    if normalize == "none":
        rec = _per_sample_mean(sq) if feature_reduction == "mean" else _per_sample_sum(sq)
    else:
        if normalize == "input":
            scale = _per_sample_sum(x * x)
        else:
            centred = x - x.mean(dim=0, keepdim=True)
            scale = _per_sample_sum(centred * centred).mean().expand(x.shape[0])
        rec = _per_sample_sum(sq) / scale.clamp_min(torch.finfo(dtype).tiny)
    l1 = f.abs()
    if decoder_weight is not None:
        l1 = l1 * decoder_weight.to(dtype).norm(dim=0)
    sparsity = _per_sample_mean(l1) if feature_reduction == "mean" else _per_sample_sum(l1)
    total = rec + sparsity_weight * sparsity
    terms = {"reconstruction": reduce(rec, reduction), "sparsity": reduce(sparsity, reduction)}
    return with_terms(reduce(total, reduction), terms, return_terms)


@float32_loss
def vq_loss(
    z_e: torch.Tensor,
    z_q: torch.Tensor,
    *,
    commitment: float = 0.25,
    reduction: Reduction = "mean",
    return_terms: bool = False,
) -> TermsResult:
    """VQ-VAE codebook and commitment terms (van den Oord et al. 2017):
    ``||sg[z_e] - e||^2 + commitment * ||z_e - sg[e]||^2``, mean squared errors over each sample's elements.

    Terms (``return_terms=True``): ``{"codebook", "commitment"}`` reduced over the batch with ``reduction``.

    Example:
        >>> z_e, z_q = torch.ones(2, 8), torch.zeros(2, 8)  # both squared errors are 1
        >>> vq_loss(z_e, z_q, commitment=0.25)
        tensor(1.2500)
    """
    check_float("vq", "z_e", z_e, "(N, *)")
    check_same_shape("vq", z_e, z_q, ("z_e", "z_q"))
    if z_e.dim() < 1:
        raise LossInputError("vq: expected a batch (N, *) as z_e, got a scalar")
    check_reduction("vq", reduction)
    dtype = acc_dtype(z_e)
    z_e, z_q = z_e.to(dtype), z_q.to(dtype)
    codebook = _per_sample_mean((z_e.detach() - z_q) ** 2)
    commit = _per_sample_mean((z_e - z_q.detach()) ** 2)
    total = codebook + commitment * commit
    terms = {"codebook": reduce(codebook, reduction), "commitment": reduce(commit, reduction)}
    return with_terms(reduce(total, reduction), terms, return_terms)


@float32_loss  # per tensor too: the rule's upcast does not look inside a list of discriminator outputs
def _adversarial_single(logits: torch.Tensor, real: bool, for_discriminator: bool, mode: str) -> torch.Tensor:
    x = logits.to(acc_dtype(logits))
    if mode == "bce":
        # -log sigmoid(x) for "real", -log(1 - sigmoid(x)) for "fake"; the generator's is non-saturating.
        return F.softplus(-x) if real else F.softplus(x)
    if mode == "least_squares":
        return (x - 1.0) ** 2 if real else x * x
    if not for_discriminator:
        return -x
    return F.relu(1.0 - x) if real else F.relu(1.0 + x)


@float32_loss
def adversarial_loss(
    logits: torch.Tensor | Sequence[torch.Tensor],
    target_is_real: bool = True,
    for_discriminator: bool = True,
    *,
    mode: AdversarialMode = "hinge",
    reduction: Reduction = "mean",
) -> torch.Tensor | list[torch.Tensor]:
    """GAN loss on raw discriminator outputs (one tensor, or a list from a multi-scale discriminator:
    the mean/sum of the per-discriminator losses).

    - ``bce``: ``softplus(-x)`` (real) / ``softplus(x)`` (fake); the generator uses ``softplus(-x)``
      (the non-saturating loss of Goodfellow et al. 2014).
    - ``least_squares`` (LSGAN, Mao et al. 2017): ``(x - 1)^2`` / ``x^2``; generator ``(x - 1)^2``.
    - ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): ``[1 - x]_+`` / ``[1 + x]_+``; generator ``-x``.

    ``reduction="none"`` returns the elementwise tensor (a list of them for a list input).

    Example:
        >>> d = torch.tensor([2.0, 0.5])  # discriminator outputs
        >>> adversarial_loss(d, target_is_real=True, reduction="none")  # D's hinge loss on reals: [1 - x]_+
        tensor([0.0000, 0.5000])
        >>> adversarial_loss(d, for_discriminator=False)  # G's hinge loss, d the outputs on fakes: mean(-x)
        tensor(-1.2500)
    """
    check_choice("adversarial", "mode", mode, ("hinge", "least_squares", "bce"))
    check_reduction("adversarial", reduction)
    many = not isinstance(logits, torch.Tensor)
    tensors = [logits] if isinstance(logits, torch.Tensor) else list(logits)
    if not tensors:
        raise LossInputError("adversarial: expected a tensor or a non-empty list of discriminator outputs")
    for i, t in enumerate(tensors):
        check_float("adversarial", f"input[{i}]" if many else "input", t)
    if not for_discriminator and not target_is_real:
        raise LossInputError("adversarial: the generator loss takes target_is_real=True (it wants fakes judged real)")
    outs = [_adversarial_single(t, target_is_real, for_discriminator, mode) for t in tensors]
    if reduction == "none":
        return outs if many else outs[0]
    per = [reduce(o, reduction) for o in outs]
    return reduce(torch.stack(per), reduction) if many else per[0]
