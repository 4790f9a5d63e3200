"""The benchmark cases of issue 13 (memory-bounded losses for large outputs): ``linear_cross_entropy``, ``linear_kd``.

``linear_cross_entropy(hidden, weight, target)`` against the unfused ``F.cross_entropy(F.linear(hidden, weight),
target)``, eagerly and under ``torch.compile`` (inductor; the compile happens in the build call, before any
timing or memory figure), at N=8192 rows, H=1024, V=32768 (float32, CPU). Every implementation runs
forward+backward on the same tensors; ``hidden`` and ``weight`` require grad (the harness drops ``hidden``'s
gradient after each step; ``weight.grad`` stays allocated after the warm-up, alike for every row, as in
training). Goals (issue 13): peak memory <= 1/8 of the eager unfused and <= the compiled unfused; time <= 1.3x
the eager unfused; the same value.

The unfused path holds the (N, V) logits, their log-softmax and their gradient: 1 GiB each at these shapes;
losskit's holds a chunk of about 64 MiB, the per-row logsumexp and the gradient accumulators ((V, H) for the
weight: 128 MiB, what the unfused backward allocates too). At V=131072 the unfused rows need about 12 GiB (it fits
in this machine's 24 GB); every call there takes about 40 s, so that case times a single repeat after one warm-up.
Two more shapes check that the figures hold off the issue's: a tall, narrow (16384, 256, 32768) and, for
``linear_kd``, (4096, 512, 65536).

``linear_kd`` (T = 2, no hard labels) against ``kd_loss(F.linear(h_s, w_s), F.linear(h_t, w_t))`` eager and
compiled at the same shapes (a teacher of the student's width, detached), with the same goals.

Measured while developing (1 thread, shared machine, this module's rows): linear_cross_entropy at
(8192, 256, 32768) 64 MiB / 5.3 s vs eager unfused 3072 MiB / 8.6 s; linear_kd at (4096, 256, 16384) 2.1 s vs
eager unfused 3.2 s; --quick (2048, 128, 4096, 64-row chunks): linear_cross_entropy 5.9 MiB / 75-93 ms vs eager
96 MiB / 146-180 ms and compiled 35 MiB / 98 ms; linear_kd 12 MiB / 219 ms vs eager 224 MiB / 469 ms and
compiled 64 MiB.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from cases import Case, Goal, Impl, Inputs, LossFn

__all__ = ["make_memory_cases"]

LOSSKIT = "losskit linear_cross_entropy"
EAGER = "torch unfused (eager)"
COMPILED = "torch unfused (torch.compile)"
KD = "losskit linear_kd"
KD_EAGER = "unfused kd (eager)"
KD_COMPILED = "unfused kd (torch.compile)"


def lm_inputs(shape: tuple[int, ...]) -> Inputs:
    """Hidden states (N, H) and a head weight (V, H) scaled like ``nn.Linear``'s init, both requiring grad, and
    targets (N,) in [0, V) with 1 in 16 ignored (-100, padding)."""
    n, h, v = shape
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(n, h, generator=g).requires_grad_()
    weight = (torch.randn(v, h, generator=g) / h**0.5).requires_grad_()
    target = torch.randint(0, v, (n,), generator=g)
    target[::16] = -100
    return {"pred": hidden, "weight": weight, "labels": target}


def _unfused(d: Inputs) -> torch.Tensor:
    return F.cross_entropy(F.linear(d["pred"], d["weight"]), d["labels"])


def _losskit(**options: Any) -> Impl:
    def make() -> LossFn:
        import losskit

        loss = losskit.build_loss("linear_cross_entropy", **options)
        return lambda d: loss(d["pred"], d["weight"], d["labels"])

    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return Impl(LOSSKIT, "losskit", make, opts, 'chunked rows; "mean": gradients formed in the forward pass')


def _eager() -> Impl:
    return Impl(EAGER, "torch", lambda: _unfused, "", "F.cross_entropy(F.linear(h, w), t)")


def _compiled() -> Impl:
    def make() -> LossFn:
        torch._dynamo.reset()
        return torch.compile(_unfused)

    return Impl(COMPILED, "torch", make, "", "the same under torch.compile (inductor)")


def kd_inputs(shape: tuple[int, ...]) -> Inputs:
    """:func:`lm_inputs` plus a teacher's hidden states and head (no grad)."""
    n, h, v = shape
    d = lm_inputs(shape)
    g = torch.Generator().manual_seed(1)
    d["teacher"] = torch.randn(n, h, generator=g)
    d["teacher_weight"] = torch.randn(v, h, generator=g) / h**0.5
    return d


def _unfused_kd(d: Inputs) -> torch.Tensor:
    from losskit.functional import kd_loss

    return kd_loss(F.linear(d["pred"], d["weight"]), F.linear(d["teacher"], d["teacher_weight"]), temperature=2.0)


def _kd_impls(quick: bool) -> tuple[Impl, ...]:
    options: dict[str, Any] = {"temperature": 2.0, **({"chunk_size": 64} if quick else {})}

    def make() -> LossFn:
        import losskit

        loss = losskit.build_loss("linear_kd", **options)
        return lambda d: loss(d["pred"], d["weight"], d["teacher"], d["teacher_weight"])

    def compiled() -> LossFn:
        torch._dynamo.reset()
        return torch.compile(_unfused_kd)

    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return (
        Impl(KD, "losskit", make, opts, "chunked rows; gradients formed in the forward pass"),
        Impl(KD_EAGER, "torch", lambda: _unfused_kd, "temperature=2.0", "kd_loss on F.linear logits"),
        Impl(KD_COMPILED, "torch", compiled, "temperature=2.0", "the same under torch.compile (inductor)"),
    )


def make_memory_cases(quick: bool = False) -> list[Case]:
    """linear_cross_entropy and linear_kd vs the eager and compiled unfused computation at (N, H, V) =
    (8192, 1024, 32768) (the issue's), linear_cross_entropy also at (8192, 1024, 131072) and (16384, 256, 32768),
    linear_kd also at (4096, 512, 65536); ``quick``: (2048, 128, 4096) with 64-row chunks (the full run's
    chunk-to-logits proportion), a smoke run."""
    goals = (
        Goal(LOSSKIT, "memory", 0.125, (EAGER,)),
        Goal(LOSSKIT, "memory", 1.0, (COMPILED,)),
        Goal(LOSSKIT, "time", 1.3, (EAGER,)),
        Goal(LOSSKIT, "value", 1.0, (EAGER,)),
    )
    kd_goals = (
        Goal(KD, "memory", 0.125, (KD_EAGER,)),
        Goal(KD, "memory", 1.0, (KD_COMPILED,)),
        Goal(KD, "time", 1.3, (KD_EAGER,)),
        Goal(KD, "value", 1.0, (KD_EAGER,)),
    )

    def ce(shape: tuple[int, int, int], min_repeats: int = 3) -> Case:
        return Case(
            issue=13,
            family="linear_cross_entropy",
            shape=shape,
            inputs=lm_inputs,
            impls=(_losskit(chunk_size=64) if quick else _losskit(), _eager(), _compiled()),
            goals=goals,
            budget_s=10.0 if quick else 60.0,
            shape_text="N{}xH{}xV{}".format(*shape),
            note="float32, CPU; the (N, V) logits of the unfused rows are 4 N V bytes",
            min_repeats=min_repeats,
        )

    def kd(shape: tuple[int, int, int]) -> Case:
        return Case(
            issue=13,
            family="linear_kd",
            shape=shape,
            inputs=kd_inputs,
            impls=_kd_impls(quick),
            goals=kd_goals,
            budget_s=10.0 if quick else 60.0,
            shape_text="N{}xH{}xV{}".format(*shape),
            note="float32, CPU; the unfused rows hold both models' (N, V) logits",
        )

    if quick:
        return [ce((2048, 128, 4096)), kd((2048, 128, 4096))]
    return [
        ce((8192, 1024, 32768)),
        ce((16384, 256, 32768)),
        ce((8192, 1024, 131072), min_repeats=1),
        kd((8192, 1024, 32768)),
        kd((4096, 512, 65536)),
    ]
