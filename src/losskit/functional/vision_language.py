"""SigLIP (image-text pairs) and DINO (student/teacher self-distillation): the functional core of their modules in
``zoo.self_supervised``. The learnable temperature and bias of SigLIP and the DINO centre are held by the
modules and passed in here; both functions follow the zoo's autocast rule (``float32_loss``) and its edge-case
policy (an empty batch gives 0 with a zero gradient, a NaN input a NaN loss).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import LossInputError
from ._checks import check_float, check_reduction, shape_str
from ._precision import float32_loss
from ._reduce import acc_dtype, reduce
from .self_supervised import check_views
from .tiled_contrastive import SIGLIP, check_chunk_size, tiled_row_losses

__all__ = ["siglip_loss", "dino_loss", "as_views"]

Reduction = Literal["mean", "sum", "none"]
Views = torch.Tensor | Sequence[torch.Tensor]
LOG_10 = math.log(10.0)  # SigLIP's initial log temperature


@float32_loss
def siglip_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    logit_scale: torch.Tensor | float = LOG_10,
    logit_bias: torch.Tensor | float = -10.0,
    *,
    normalize: bool = True,
    reduction: Reduction = "mean",
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""Sigmoid loss for language-image pre-training, SigLIP (Zhai et al., ICCV 2023).

    Every image-text pair of the batch is an independent binary problem: with :math:`t = e^{t'}` and the
    (L2-normalised) image and text embeddings :math:`x_i, y_j`,

    .. math::

        \mathcal{L} = -\frac{1}{N} \sum_{i=1}^N \sum_{j=1}^N
            \log \sigma\!\left(z_{ij} \left(t\, x_i \cdot y_j + b\right)\right), \qquad
            z_{ij} = \begin{cases} 1 & i = j \\ -1 & i \ne j \end{cases}

    Args:
        input: image embeddings :math:`(N, D)`.
        target: text embeddings :math:`(N, D)`; row i is the caption of image i.
        logit_scale: :math:`t'`, the log temperature (a 0-d tensor, learnable in :class:`SigLipLoss`, or a float;
            default :math:`\log 10`, the paper's init).
        logit_bias: :math:`b` (a 0-d tensor or a float; default -10, the paper's init).
        normalize: L2-normalise both embeddings first (default True, as the paper); False takes them as given.
        reduction: ``"mean"`` (default): the paper's sum over the :math:`N^2` pairs divided by N; ``"sum"``:
            the sum over the pairs; ``"none"``: the :math:`(N, N)` per-pair matrix [image, text].
        chunk_size: None (default) builds the :math:`(N, N)` logits at once. An int walks them in blocks of
            ``chunk_size`` image rows (``functional.tiled_contrastive``): same value, exact gradients of the
            embeddings and of ``logit_scale``/``logit_bias``, memory :math:`O(\text{chunk\_size} \cdot N)`: about
            ``9 * chunk_size * N`` floats of working space plus :math:`O(N D)` (the normalised embeddings and their
            gradients), instead of ``~6 * N**2`` floats. Not with ``reduction="none"`` (its output is the
            :math:`(N, N)` matrix itself: ValueError).

    Returns:
        a scalar, or :math:`(N, N)` for ``"none"`` (0 for N = 0).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> images, texts = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
        >>> siglip_loss(images, texts, torch.tensor(math.log(10.0)), torch.tensor(-10.0)).shape
        torch.Size([])
        >>> chunked = siglip_loss(images, texts, torch.tensor(math.log(10.0)), torch.tensor(-10.0), chunk_size=3)
        >>> torch.allclose(chunked, siglip_loss(images, texts, torch.tensor(math.log(10.0)), torch.tensor(-10.0)))
        True

    Parity: ≡ open_clip ``SigLipLoss()(image_features, text_features, logit_scale.exp(), logit_bias)`` on
    normalised features (open_clip's model normalises them and passes the exponentiated scale).
    """
    check_views("siglip", input, target, ("input", "target"))
    check_reduction("siglip", reduction)
    chunk = check_chunk_size("siglip", chunk_size, reduction, rowwise_none=False)
    n = input.shape[0]
    a, b = input.to(acc_dtype(input)), target.to(acc_dtype(target))
    if normalize:
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    scale = torch.as_tensor(logit_scale, dtype=a.dtype, device=a.device).exp()
    bias = torch.as_tensor(logit_bias, dtype=a.dtype, device=a.device)
    if chunk is not None and n > 0:
        ids = torch.arange(n, device=a.device)  # row i's only positive is column i
        total, _ = tiled_row_losses(SIGLIP, a, b, (ids, None), chunk, scale, bias, total=True)
        return total / n if reduction == "mean" else total
    logits = scale * (a @ b.T) + bias
    sign = 2.0 * torch.eye(n, dtype=a.dtype, device=a.device) - 1.0
    per_pair = -F.logsigmoid(sign * logits)
    if reduction == "mean":  # the paper's normalisation: by the batch size, not the number of pairs
        return reduce(per_pair, "sum") / max(n, 1)
    return reduce(per_pair, reduction)


def as_views(loss: str, name: str, views: Views) -> list[torch.Tensor]:
    """A tensor (N, D) as one view, or a non-empty list/tuple of (N, D) views of one width."""
    items = [views] if isinstance(views, torch.Tensor) else list(views) if isinstance(views, (list, tuple)) else None
    if not items:
        raise LossInputError(
            f"{loss}: expected {name} to be a tensor (N, D) or a non-empty list of them, got {views!r}"
        )
    for i, v in enumerate(items):
        check_float(loss, f"{name}[{i}]", v, "(N, D)")
        if v.dim() != 2 or v.shape != items[0].shape:
            raise LossInputError(
                f"{loss}: expected every view of {name} to have shape (N, D) = {shape_str(items[0])}, got "
                f"{shape_str(v)} at {i}"
            )
    return items


@float32_loss
def dino_loss(
    input: Views,
    target: Views,
    center: torch.Tensor | None = None,
    *,
    student_temperature: float = 0.1,
    teacher_temperature: float = 0.04,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""DINO self-distillation loss (Caron et al., ICCV 2021): the cross-entropy of the centred, sharpened teacher
    distribution and the student's, over pairs of different views.

    .. math::

        P_t = \operatorname{softmax}\!\left(\frac{g_t - c}{\tau_t}\right), \quad
        \mathcal{L} = \frac{1}{|\mathcal{P}|} \sum_{(v, w) \in \mathcal{P}}
            \frac1N \sum_{n} -P_t^{(v)}(n) \cdot \log \operatorname{softmax}\!\left(\frac{g_s^{(w)}(n)}{\tau_s}\right)

    over the pairs :math:`\mathcal{P}` of teacher view v and student view w with :math:`v \ne w`. Multi-crop:
    the teacher sees the first (global) views, the student all of them, so teacher view v and student view v
    are the same crop and are skipped. With one tensor each (one view each), the single pair is kept: the
    student and the teacher are taken to see different crops. The teacher gets no gradient.

    Args:
        input: student outputs (prototype scores, before softmax): :math:`(N, K)` or a list of V such views.
        target: teacher outputs :math:`(N, K)` or a list of :math:`V_t \le V` views (the first views of the student).
        center: the centre :math:`c` :math:`(K,)` subtracted from the teacher's outputs (default: none, 0);
            :class:`DINOLoss` keeps it as an EMA of the teacher's batch means.
        student_temperature: :math:`\tau_s` (> 0, default 0.1).
        teacher_temperature: :math:`\tau_t` (> 0, default 0.04: sharper than the student's).
        reduction: ``"mean"`` (default: the mean over samples and view pairs) | ``"sum"`` (over samples, averaged
            over the pairs) | ``"none"``: (N,) per sample, averaged over the pairs.

    Returns:
        a scalar, or (N,) for ``"none"`` (0 for N = 0).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> student, teacher = torch.randn(4, 16, generator=g), torch.randn(4, 16, generator=g)
        >>> dino_loss([student, student.flip(0)], [teacher, teacher.flip(0)]).shape
        torch.Size([])

    Parity: ≡ the authors' ``DINOLoss.forward`` at a fixed teacher temperature (no warm-up schedule), with the
    views concatenated and ``ncrops = V``, and lightly ``DINOLoss(output_dim=K, teacher_temp, student_temp)``
    (``forward(teacher_out, student_out)``: the teacher first there).
    """
    students, teachers = as_views("dino", "input", input), as_views("dino", "target", target)
    check_reduction("dino", reduction)
    for what, value in (("student_temperature", student_temperature), ("teacher_temperature", teacher_temperature)):
        if not value > 0:
            raise ValueError(f"dino: {what} must be > 0, got {value!r}")
    if teachers[0].shape != students[0].shape or len(teachers) > len(students):
        raise LossInputError(
            f"dino: expected at most {len(students)} teacher view(s) of the student's shape {shape_str(students[0])}, "
            f"got {len(teachers)} of {shape_str(teachers[0])}"
        )
    k = students[0].shape[1]
    if center is not None and (center.dim() not in (1, 2) or center.shape[-1] != k or center.numel() != k):
        raise LossInputError(f"dino: expected center of shape ({k},), got {shape_str(center)}")
    log_p = [F.log_softmax(s.to(acc_dtype(s)) / student_temperature, dim=1) for s in students]
    probs = []
    for t in teachers:
        t = t.detach().to(acc_dtype(t))
        probs.append(F.softmax((t - center.to(t.dtype) if center is not None else t) / teacher_temperature, dim=1))
    one_each = isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor)
    pairs = [(v, w) for v in range(len(teachers)) for w in range(len(students)) if one_each or v != w]
    if not pairs:  # one crop seen by both: nothing to distil
        raise LossInputError("dino: one student view and one teacher view of the same crop give no pair (v != w)")
    per_sample = torch.stack([-(probs[v] * log_p[w]).sum(dim=1) for v, w in pairs]).mean(0)
    return reduce(per_sample, reduction)  # N = 0: 0 for "mean"/"sum" (connected), (0,) for "none"
