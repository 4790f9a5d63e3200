"""Generative-model losses: VAE ELBO terms, sparse-autoencoder, VQ-VAE and adversarial losses.

Per-sample terms are (N,) tensors, reduced over the batch at the end; every sum accumulates in float32
(float64 stays float64).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._reduce import acc_dtype

__all__ = [
    "gaussian_kl",
    "reconstruction_per_sample",
    "vae_loss",
    "sae_loss",
    "vq_loss",
    "adversarial_loss",
    "batch_reduce",
]


def _per_sample_sum(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).sum(dim=1, dtype=acc_dtype(t))


def _per_sample_mean(t: torch.Tensor) -> torch.Tensor:
    return _per_sample_sum(t) / max(t[0].numel(), 1) if t.shape[0] else _per_sample_sum(t)


def batch_reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    """(N,) per-sample values -> mean over the batch | sum | unchanged ("none"); an empty batch gives 0."""
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    return total if reduction == "sum" else total / max(per_sample.shape[0], 1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per sample, summed over the latent dims: (N,).

    ``-1/2 sum (1 + logvar - mu^2 - exp(logvar))`` (Kingma & Welling 2014, appendix B).
    """
    dtype = acc_dtype(mu)
    mu, logvar = mu.to(dtype), logvar.to(dtype)
    return -0.5 * _per_sample_sum(1.0 + logvar - mu * mu - logvar.exp())


def reconstruction_per_sample(
    recon: torch.Tensor, target: torch.Tensor, kind: str = "mse", per_sample: str = "sum"
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
        raise ValueError(f"reconstruction must be 'mse', 'bce' or 'l1', got {kind!r}")
    return _per_sample_mean(err) if per_sample == "mean" else _per_sample_sum(err)


def vae_loss(
    recon: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float | torch.Tensor = 1.0,
    reconstruction: str = "mse",
    reconstruction_weight: float = 1.0,
    reconstruction_reduction: str = "sum",
    capacity: float | torch.Tensor | None = None,
    reduction: str = "mean",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Beta-)VAE negative ELBO: ``w_rec * rec_n + beta * KL_n`` per sample, or with a ``capacity`` C
    ``w_rec * rec_n + beta * |KL_n - C|`` (Burgess et al. 2018), reduced over the batch.

    Returns ``(total, reconstruction, kl)``, each reduced with ``reduction`` (the terms unweighted).
    """
    rec = reconstruction_per_sample(recon, target, reconstruction, reconstruction_reduction)
    kl = gaussian_kl(mu, logvar)
    kl_term = kl if capacity is None else (kl - capacity).abs()
    total = reconstruction_weight * rec + beta * kl_term
    return batch_reduce(total, reduction), batch_reduce(rec, reduction), batch_reduce(kl, reduction)


def sae_loss(
    recon: torch.Tensor,
    target: torch.Tensor,
    latents: torch.Tensor,
    *,
    sparsity_weight: float = 0.01,
    decoder_weight: torch.Tensor | None = None,
    normalize: str = "none",
    feature_reduction: str = "sum",
    reduction: str = "mean",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sparse-autoencoder loss: ``rec_n + sparsity_weight * sum_i |f_i| ||W_dec[:, i]||`` per sample.

    ``rec_n`` is the squared error of sample n, divided by ``||x_n||^2`` (``normalize="input"``) or by the
    batch's mean ``||x_n - mean(x)||^2`` (``"batch_variance"``, the normalised MSE of Gao et al. 2024); without
    normalisation both terms are summed over features (``feature_reduction="sum"``) or averaged (``"mean"``).
    ``decoder_weight`` is in ``nn.Linear`` layout (d_in, d_sae); its column norms scale the L1 penalty.

    Returns ``(total, reconstruction, sparsity)`` reduced with ``reduction`` (the terms unweighted).
    """
    dtype = acc_dtype(recon)
    x, x_hat, f = target.to(dtype), recon.to(dtype), latents.to(dtype)
    sq = (x_hat - x) ** 2
    if normalize == "none":
        rec = _per_sample_mean(sq) if feature_reduction == "mean" else _per_sample_sum(sq)
    else:
        if normalize == "input":
            scale = _per_sample_sum(x * x)
        elif normalize == "batch_variance":
            centred = x - x.mean(dim=0, keepdim=True)
            scale = _per_sample_sum(centred * centred).mean().expand(x.shape[0])
        else:
            raise ValueError(f"normalize must be 'none', 'input' or 'batch_variance', got {normalize!r}")
        rec = _per_sample_sum(sq) / scale.clamp_min(torch.finfo(dtype).tiny)
    l1 = f.abs()
    if decoder_weight is not None:
        l1 = l1 * decoder_weight.to(dtype).norm(dim=0)
    sparsity = _per_sample_mean(l1) if feature_reduction == "mean" else _per_sample_sum(l1)
    total = rec + sparsity_weight * sparsity
    return batch_reduce(total, reduction), batch_reduce(rec, reduction), batch_reduce(sparsity, reduction)


def vq_loss(
    z_e: torch.Tensor, z_q: torch.Tensor, *, commitment: float = 0.25, reduction: str = "mean"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VQ-VAE codebook and commitment terms (van den Oord et al. 2017):
    ``||sg[z_e] - e||^2 + commitment * ||z_e - sg[e]||^2``, mean squared errors over each sample's elements.

    Returns ``(total, codebook, commitment_term)`` reduced over the batch with ``reduction``.
    """
    dtype = acc_dtype(z_e)
    z_e, z_q = z_e.to(dtype), z_q.to(dtype)
    codebook = _per_sample_mean((z_e.detach() - z_q) ** 2)
    commit = _per_sample_mean((z_e - z_q.detach()) ** 2)
    total = codebook + commitment * commit
    return batch_reduce(total, reduction), batch_reduce(codebook, reduction), batch_reduce(commit, reduction)


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


def adversarial_loss(
    logits: torch.Tensor | Sequence[torch.Tensor],
    target_is_real: bool = True,
    for_discriminator: bool = True,
    *,
    mode: str = "hinge",
    reduction: str = "mean",
) -> torch.Tensor | list[torch.Tensor]:
    """GAN loss on raw discriminator outputs (one tensor, or a list from a multi-scale discriminator:
    the mean/sum of the per-discriminator losses).

    - ``bce``: ``softplus(-x)`` (real) / ``softplus(x)`` (fake); the generator uses ``softplus(-x)``
      (the non-saturating loss of Goodfellow et al. 2014).
    - ``least_squares`` (LSGAN, Mao et al. 2017): ``(x - 1)^2`` / ``x^2``; generator ``(x - 1)^2``.
    - ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): ``[1 - x]_+`` / ``[1 + x]_+``; generator ``-x``.

    ``reduction="none"`` returns the elementwise tensor (a list of them for a list input).
    """
    many = isinstance(logits, (list, tuple))
    outs = [_adversarial_single(t, target_is_real, for_discriminator, mode) for t in (logits if many else [logits])]
    if reduction == "none":
        return outs if many else outs[0]
    per = [o.sum() if reduction == "sum" else o.sum() / max(o.numel(), 1) for o in outs]
    if not many:
        return per[0]
    stacked = torch.stack(per)
    return stacked.sum() if reduction == "sum" else stacked.mean()
