"""The benchmark cases of issue 13's tiled contrastive losses: ``info_nce``, ``supcon`` and ``siglip`` with
``chunk_size`` against the same loss unchunked and against pytorch-metric-learning's ``SupConLoss``, float32,
forward + backward. PML's ``NTXentLoss`` is left out: it builds a (positive pairs x negative pairs) matrix, which
at N = 2048 with one positive per row asks for 34 GB (measured), so it cannot run at these sizes.

The unchunked loss holds the (N, N) similarity matrix, its masks and several (N, N) temporaries and saved tensors
(about 6 N^2 floats: ~6 GB at N = 16384); the chunked one walks it in row blocks, keeps O(N) per-row statistics
and, for "mean"/"sum", forms the gradients in the same pass (the same three N x N x D matmuls as the unchunked
loss), so its working space is about 9 * chunk * N floats plus the embeddings and their gradient. Goals (issue 13):
peak memory <= 1/4 and time <= 1.3x of the unchunked, at the issue's (16384, 256) and at other sizes, widths and
chunk-to-N ratios. ``quick``: N = 2048 and 1024.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cases import Case, Goal, Impl, Inputs, LossFn

__all__ = ["make_contrastive_cases"]


def embedding_pairs(shape: tuple[int, ...]) -> Inputs:
    """``shape`` = (N, D): embeddings (N, D) requiring grad, a second view (N, D) requiring grad, and labels (N,)
    pairing rows 2k and 2k + 1 (every row one positive and N - 2 negatives)."""
    n, d = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    view = x + 0.5 * torch.randn(n, d, generator=g)
    return {"pred": x.requires_grad_(), "view": view.requires_grad_(), "labels": torch.arange(n) // 2}


def _losskit(
    name: str, chunk: int | None, call: Callable[[torch.nn.Module, Inputs], torch.Tensor], **kw: float
) -> Impl:
    def make() -> LossFn:
        import losskit

        loss = losskit.build_loss(name, chunk_size=chunk, **kw)
        return lambda d: call(loss, d)

    opts = ", ".join(f"{k}={v}" for k, v in kw.items())
    label = f"losskit {name} (chunk_size={chunk})" if chunk else f"losskit {name} (unchunked)"
    return Impl(label, "losskit", make, f"{opts}, chunk_size={chunk}".lstrip(", "))


def _pml(cls: str, temperature: float) -> Impl:
    """A pytorch-metric-learning loss on (embeddings, labels)."""

    def make() -> LossFn:
        from pytorch_metric_learning import losses

        loss = getattr(losses, cls)(temperature=temperature)
        return lambda d: loss(d["pred"], d["labels"])

    return Impl(f"pml {cls}", "pml", make, f"temperature={temperature}")


def _labels(loss: torch.nn.Module, d: Inputs) -> torch.Tensor:
    return loss(d["pred"], d["labels"])


def _siglip_call(loss: torch.nn.Module, d: Inputs) -> torch.Tensor:
    return loss(d["pred"], d["view"])


def _case(
    family: str, name: str, shape: tuple[int, int], chunk: int, peer: Impl | None, note: str, **kw: float
) -> Case:
    call = _siglip_call if name == "siglip" else _labels
    chunked, unchunked = _losskit(name, chunk, call, **kw), _losskit(name, None, call, **kw)
    impls = (chunked, unchunked) if peer is None else (chunked, unchunked, peer)
    n = shape[0]
    return Case(
        13,
        family,
        shape,
        embedding_pairs,
        impls,
        (
            Goal(chunked.label, "memory", 0.25, (unchunked.label,)),
            Goal(chunked.label, "time", 1.3, (unchunked.label,)),
        ),
        budget_s=20.0 if n > 8192 else 8.0,
        note=f"chunk {chunk} of N={n}; {note}",
    )


def make_contrastive_cases(quick: bool = False) -> list[Case]:
    """info_nce at (16384, 256) (the issue's), (8192, 128) and (4096, 512); supcon and siglip at (8192, 256); quick:
    (2048, 256) and (1024, 128)."""
    nce, sup = {"temperature": 0.1}, {"temperature": 0.1}
    if quick:
        return [
            _case("info_nce tiled", "info_nce", (2048, 256), 256, None, "labels", **nce),
            _case("supcon tiled", "supcon", (1024, 128), 128, _pml("SupConLoss", 0.1), "labels", **sup),
            _case("siglip tiled", "siglip", (1024, 128), 128, None, "two views", normalize=True),
        ]
    return [
        _case("info_nce tiled", "info_nce", (16384, 256), 1024, None, "labels", **nce),
        _case("info_nce tiled", "info_nce", (8192, 128), 512, None, "labels", **nce),
        _case("info_nce tiled", "info_nce", (4096, 512), 512, None, "labels", **nce),
        _case("supcon tiled", "supcon", (8192, 256), 1024, _pml("SupConLoss", 0.1), "labels", **sup),
        _case(
            "siglip tiled", "siglip", (8192, 256), 1024, None, "two views; open_clip is not installed", normalize=True
        ),
    ]
