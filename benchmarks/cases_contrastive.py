"""The benchmark case of issue 13's tiled contrastive losses: ``info_nce`` with ``chunk_size`` against the same loss
unchunked, at N = 16384 embeddings of D = 256 (labels: pairs of rows, so every row has one positive and N - 2
negatives), float32, forward + backward.

The unchunked loss holds the (N, N) similarity matrix, its masks and several (N, N) temporaries and saved tensors
(about 6 N^2 floats: ~6 GB at N = 16384); the chunked one walks it in blocks of 1024 rows and keeps O(N) per-row
statistics, recomputing each block in backward (one extra N x N x D matmul), so its working space is about
9 * 1024 * N floats (~600 MB) plus the embeddings. Goals (issue 13): peak memory <= 1/4 and time <= 1.3x of the
unchunked. ``quick``: N = 2048 with chunk 256 (the same 1/8 ratio of chunk to N).
"""

from __future__ import annotations

import torch

from cases import Case, Goal, Impl, Inputs, LossFn

__all__ = ["make_contrastive_cases"]

CHUNK = 1024
_UNCHUNKED = "losskit info_nce (unchunked)"


def embedding_pairs(shape: tuple[int, ...]) -> Inputs:
    """``shape`` = (N, D): embeddings (N, D) requiring grad and labels (N,) pairing rows 2k and 2k + 1."""
    n, d = shape
    g = torch.Generator().manual_seed(0)
    return {"pred": torch.randn(n, d, generator=g).requires_grad_(), "labels": torch.arange(n) // 2}


def _info_nce(label: str, chunk_size: int | None) -> Impl:
    def make() -> LossFn:
        import losskit

        loss = losskit.build_loss("info_nce", temperature=0.1, chunk_size=chunk_size)
        return lambda d: loss(d["pred"], d["labels"])

    return Impl(label, "losskit", make, f"temperature=0.1, chunk_size={chunk_size}")


def make_contrastive_cases(quick: bool = False) -> list[Case]:
    """info_nce chunked vs unchunked at (16384, 256) ((2048, 256) when ``quick``)."""
    n, chunk = (2048, CHUNK // 4) if quick else (16384, CHUNK)
    chunked = _info_nce(f"losskit info_nce (chunk_size={chunk})", chunk)
    unchunked = _info_nce(_UNCHUNKED, None)
    return [
        Case(
            13,
            "info_nce tiled",
            (n, 256),
            embedding_pairs,
            (chunked, unchunked),
            (
                Goal(chunked.label, "memory", 0.25, (unchunked.label,)),
                Goal(chunked.label, "time", 1.3, (unchunked.label,)),
            ),
            budget_s=20.0 if not quick else 4.0,
            note="labels pair rows 2k, 2k+1; float32 forward + backward; the chunked backward recomputes each block",
        )
    ]
