"""Self-supervised objectives on two views of a batch: the functional core of ``zoo.self_supervised``.

Inputs: ``input`` and ``target`` are the embeddings (N, D) of two views (augmentations) of the same N samples;
row i of both is a positive pair. Barlow Twins and VICReg standardise or measure statistics over the batch, so
they need N >= 2 (N = 1 is a ``LossInputError``); every loss gives 0 with a zero gradient for N = 0, and a NaN
embedding gives a NaN loss. Every function follows the zoo's autocast rule (``float32_loss``): the batch
statistics (standard deviations, the (D, D) cross-correlation) are float32 (float64 stays float64). SigLIP and
DINO, which take other inputs, are in :mod:`losskit.functional.vision_language`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ..compose.terms import with_terms
from ..errors import LossInputError
from ._checks import check_float, check_reduction, check_same_shape, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce

__all__ = [
    "barlow_twins_loss",
    "vicreg_loss",
    "negative_cosine_loss",
    "dcl_loss",
    "check_views",
    "empty_zero",
]

Reduction = Literal["mean", "sum", "none"]


def check_views(
    loss: str, input: torch.Tensor, target: torch.Tensor, names: tuple[str, str] = ("input", "target")
) -> None:
    """Two float (N, D) views of the same shape (no broadcasting)."""
    check_float(loss, names[0], input, "(N, D)")
    check_float(loss, names[1], target, "(N, D)")
    if input.dim() != 2:
        raise LossInputError(f"{loss}: expected {names[0]} of shape (N, D), got {shape_str(input)}")
    check_same_shape(loss, input, target, names)


def empty_zero(*views: torch.Tensor) -> torch.Tensor:
    """0 connected to every view's graph (a zero gradient reaches each of them): the empty-batch value."""
    total = sum(
        (v.sum(dtype=acc_dtype(v)) for v in views), torch.zeros((), dtype=acc_dtype(views[0]), device=views[0].device)
    )
    return total * 0.0


def _need_two(loss: str, n: int) -> None:
    if n == 1:
        raise LossInputError(
            f"{loss}: needs a batch of at least 2 samples (it standardises over the batch dimension), got N = 1; "
            "an empty batch gives 0"
        )


def _check_positive(loss: str, what: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{loss}: {what} must be > 0, got {value!r}")


@float32_loss
def barlow_twins_loss(input: torch.Tensor, target: torch.Tensor, *, lambd: float = 5e-3) -> torch.Tensor:
    r"""Barlow Twins loss (Zbontar et al., ICML 2021): drive the cross-correlation of the two views to identity.

    .. math::

        \hat z = \frac{z - \bar z}{\sigma(z) + 10^{-6}}, \quad
        C = \frac{1}{N}\hat z_1^\top \hat z_2 \in \mathbb{R}^{D\times D}, \quad
        \mathcal{L} = \sum_i (1 - C_{ii})^2 + \lambda \sum_{i \ne j} C_{ij}^2

    with the mean and the unbiased standard deviation over the batch, per feature.

    Args:
        input: the first view's embeddings :math:`(N, D)`.
        target: the second view's embeddings :math:`(N, D)`.
        lambd: :math:`\lambda`, the weight of the redundancy-reduction (off-diagonal) term (>= 0, default 5e-3,
            the paper's value).

    Returns:
        a scalar (0 for N = 0; N = 1 is a ``LossInputError``: a standard deviation needs two samples).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z1 = torch.randn(8, 4, generator=g)
        >>> barlow_twins_loss(z1, z1 + 0.1 * torch.randn(8, 4, generator=g)).shape
        torch.Size([])

    Parity: ≡ MONAI ``BarlowTwinsLoss(lambd)(input, target)`` (the same unbiased std + 1e-6). The authors' code
    standardises with ``BatchNorm1d(affine=False)`` (biased variance, eps inside the square root): the values
    differ by O(1/N).
    """
    check_views("barlow_twins", input, target)
    if not lambd >= 0:
        raise ValueError(f"barlow_twins: lambd must be >= 0, got {lambd!r}")
    n, d = input.shape
    if n == 0:
        return empty_zero(input, target)
    _need_two("barlow_twins", n)
    a, b = input.to(acc_dtype(input)), target.to(acc_dtype(target))
    a = (a - a.mean(0)) / (a.std(0) + 1e-6)
    b = (b - b.mean(0)) / (b.std(0) + 1e-6)
    c = a.T @ b / n
    eye = torch.eye(d, dtype=torch.bool, device=c.device)
    per_entry = torch.where(eye, (c - 1.0).square(), c.square() * lambd)
    return per_entry.sum()


def _off_diagonal_square_sum(m: torch.Tensor) -> torch.Tensor:
    return m.square().sum() - torch.diagonal(m).square().sum()


def _std_hinge(z: torch.Tensor, gamma: float, eps: float) -> torch.Tensor:
    """Mean over features of ``relu(gamma - sqrt(Var(z_j) + eps))`` (unbiased variance over the batch)."""
    return F.relu(gamma - torch.sqrt(z.var(0) + eps)).mean()


@float32_loss
def vicreg_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    sim_coeff: float = 25.0,
    var_coeff: float = 25.0,
    cov_coeff: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
    return_terms: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""VICReg loss (Bardes, Ponce & LeCun, ICLR 2022): variance-invariance-covariance regularisation.

    .. math::

        \mathcal{L} = \lambda\, s(z_1, z_2) + \mu\, \tfrac12\left(v(z_1) + v(z_2)\right)
            + \nu \left(c(z_1) + c(z_2)\right)

    with the invariance :math:`s = \frac{1}{ND}\lVert z_1 - z_2\rVert_F^2` (MSE), the variance hinge
    :math:`v(z) = \frac1D \sum_j \max(0, \gamma - \sqrt{\operatorname{Var}(z_{\cdot j}) + \epsilon})` and the
    covariance :math:`c(z) = \frac1D \sum_{i \ne j} \operatorname{Cov}(z)_{ij}^2` (unbiased, over the batch).

    Args:
        input: the first view's embeddings :math:`(N, D)`.
        target: the second view's embeddings :math:`(N, D)`.
        sim_coeff: :math:`\lambda`, the invariance weight (default 25).
        var_coeff: :math:`\mu`, the variance weight (default 25).
        cov_coeff: :math:`\nu`, the covariance weight (default 1).
        gamma: the target standard deviation :math:`\gamma` (default 1).
        eps: :math:`\epsilon` under the square root (> 0, default 1e-4).
        return_terms: also return ``{"invariance": s, "variance": (v1 + v2) / 2, "covariance": c1 + c2}``,
            unweighted and detached.

    Returns:
        a scalar (0 for N = 0; N = 1 is a ``LossInputError``: a variance needs two samples).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z1 = torch.randn(8, 4, generator=g)
        >>> total, terms = vicreg_loss(z1, z1 + 0.1 * torch.randn(8, 4, generator=g), return_terms=True)
        >>> sorted(terms)
        ['covariance', 'invariance', 'variance']

    Parity: ≡ the authors' ``VICReg.forward`` (facebookresearch/vicreg: ``sim_coeff``, ``std_coeff`` =
    ``var_coeff``, ``cov_coeff``) and lightly ``VICRegLoss(lambda_param=sim_coeff, mu_param=var_coeff,
    nu_param=cov_coeff, eps=eps)``.
    """
    check_views("vicreg", input, target)
    _check_positive("vicreg", "eps", eps)
    for what, value in (("sim_coeff", sim_coeff), ("var_coeff", var_coeff), ("cov_coeff", cov_coeff)):
        if not value >= 0:
            raise ValueError(f"vicreg: {what} must be >= 0, got {value!r}")
    n, d = input.shape
    if n == 0:
        zero = empty_zero(input, target)
        return with_terms(zero, {"invariance": zero, "variance": zero, "covariance": zero}, return_terms)
    _need_two("vicreg", n)
    a, b = input.to(acc_dtype(input)), target.to(acc_dtype(target))
    invariance = (a - b).square().mean()
    a, b = a - a.mean(0), b - b.mean(0)
    variance = 0.5 * (_std_hinge(a, gamma, eps) + _std_hinge(b, gamma, eps))
    covariance = (_off_diagonal_square_sum(a.T @ a / (n - 1)) + _off_diagonal_square_sum(b.T @ b / (n - 1))) / d
    total = sim_coeff * invariance + var_coeff * variance + cov_coeff * covariance
    terms = {"invariance": invariance, "variance": variance, "covariance": covariance}
    return with_terms(total, terms, return_terms)


@float32_loss
def negative_cosine_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    symmetric: bool = False,
    stop_gradient: bool = True,
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Negative cosine similarity of predictions and (stop-gradient) targets: SimSiam (Chen & He, CVPR 2021) and
    BYOL (Grill et al., NeurIPS 2020; BYOL's :math:`2 - 2\cos` is :math:`2 + 2\ell`).

    .. math::

        \ell_i = -\frac{p_i \cdot \operatorname{sg}(z_{\pi(i)})}
            {\max(\lVert p_i\rVert \lVert z_{\pi(i)}\rVert, \epsilon)}

    with :math:`\pi(i) = i`, or with ``symmetric`` the row of the *other* view: ``input`` and ``target`` then
    hold both views stacked, ``cat([p1, p2])`` and ``cat([z1, z2])`` (2N rows), so that the mean is SimSiam's
    :math:`\tfrac12 D(p_1, z_2) + \tfrac12 D(p_2, z_1)`.

    Args:
        input: predictions :math:`(N, D)` (the predictor's output), or :math:`(2N, D)` with ``symmetric``.
        target: targets :math:`(N, D)` (the other branch's projection), or :math:`(2N, D)` with ``symmetric``.
        symmetric: pair row i of the first half with row i of the second half and vice versa (default False).
        stop_gradient: detach ``target`` (default True, the SimSiam/BYOL stop-gradient); False lets gradients
            reach it (lightly's ``NegativeCosineSimilarity`` leaves the detach to the caller).
        eps: the floor of the norms' product (> 0, default 1e-8, as ``F.cosine_similarity``).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``: per input row, (N,) or (2N,).

    Returns:
        a scalar, or the per-row losses for ``"none"`` (0 for an empty batch).

    Example:
        >>> p, z = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> negative_cosine_loss(p, z, reduction="none")
        tensor([-1.0000, -0.7071])

    Parity: ≡ lightly ``NegativeCosineSimilarity()(input, target.detach())`` (``-F.cosine_similarity(...).mean()``).
    """
    check_views("negative_cosine", input, target)
    check_reduction("negative_cosine", reduction)
    _check_positive("negative_cosine", "eps", eps)
    if symmetric and input.shape[0] % 2:
        raise LossInputError(
            "negative_cosine: symmetric=True takes both views stacked (2N rows), got an odd row count: "
            f"{shape_str(input)}"
        )
    z = target.detach() if stop_gradient else target
    if symmetric:
        z = z.roll(input.shape[0] // 2, dims=0)  # row i of view 1 meets row i of view 2, and back
    return reduce(-F.cosine_similarity(input, z, dim=1, eps=eps), reduction)


@float32_loss
def dcl_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    temperature: float = 0.1,
    sigma: float | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Decoupled contrastive loss, DCL (Yeh et al., ECCV 2022): InfoNCE without the positive in the denominator.

    On L2-normalised views, for an anchor :math:`u_i` of one view with positive :math:`v_i` in the other,

    .. math::

        \ell_i = -w_i \frac{u_i \cdot v_i}{\tau} + \log \sum_{k \ne i}
            \left(e^{u_i \cdot u_k / \tau} + e^{u_i \cdot v_k / \tau}\right)

    computed for both views as anchors (2N anchors). :math:`w_i = 1` (DCL), or with ``sigma`` DCLW's von
    Mises-Fisher weight :math:`w_i = 2 - N \operatorname{softmax}_i(u_i \cdot v_i / \sigma)` (constant: no gradient).

    Args:
        input: the first view's embeddings :math:`(N, D)` (normalised here).
        target: the second view's embeddings :math:`(N, D)`.
        temperature: :math:`\tau` (> 0, default 0.1).
        sigma: ``None`` (default): DCL; a float > 0: DCLW with this :math:`\sigma` (0.5 in the paper).
        reduction: ``"mean"`` (over the 2N anchors, i.e. the mean of both directions) | ``"sum"`` | ``"none"``:
            (2N,), the anchors of ``input`` then those of ``target``.

    Returns:
        a scalar, or (2N,) for ``"none"``; 0 with a zero gradient for N < 2 (no negative pair).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z1 = torch.randn(8, 4, generator=g)
        >>> dcl_loss(z1, z1 + 0.1 * torch.randn(8, 4, generator=g), sigma=0.5).shape
        torch.Size([])

    Parity: ≡ lightly ``DCLLoss(temperature)`` (``sigma``: ``DCLWLoss(temperature, sigma)``; both average the
    two directions); the authors' ``DCL``/``DCLW`` take one direction: their ``loss(z1, z2) + loss(z2, z1)`` is
    twice this mean.
    """
    check_views("dcl", input, target)
    check_reduction("dcl", reduction)
    _check_positive("dcl", "temperature", temperature)
    if sigma is not None:
        _check_positive("dcl", "sigma", sigma)
    n = input.shape[0]
    if n < 2:  # no negative pair: 0 (and the empty "none" shape (0,)), connected to both views
        zero = empty_zero(input, target)
        return zero.expand(2 * n) * 1.0 if reduction == "none" else zero
    u, v = F.normalize(input.to(acc_dtype(input)), dim=1), F.normalize(target.to(acc_dtype(target)), dim=1)
    losses = []
    for a, b in ((u, v), (v, u)):
        cross = a @ b.T / temperature
        positive = torch.diagonal(cross)
        if sigma is not None:
            w = 2.0 - n * torch.softmax(positive.detach() * (temperature / sigma), dim=0)
            positive = positive * w
        # the diagonals (the anchor itself, its positive) leave the sum as exp(-inf) = 0: no boolean indexing
        eye = torch.eye(n, dtype=torch.bool, device=a.device)
        negatives = torch.cat([a @ a.T / temperature, cross], dim=1).masked_fill(eye.repeat(1, 2), float("-inf"))
        losses.append(torch.logsumexp(negatives, dim=1) - positive)
    return reduce(torch.cat(losses), reduction)
