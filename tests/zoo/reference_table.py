"""The reference table: one row per loss whose value has an independent reference (a peer library, a formula).

A row names a registered loss, the options it is built with, a builder of small float64 inputs and a reference
function called as ``reference(*inputs, reduction=...)``. :func:`check_row` builds the loss for every reduction
of the row and compares value and gradients with the reference (float64, tight tolerances), so a row checks
parity, every reduction's "none" shape and the backward pass at once. ``tests/zoo/test_reference_table.py``
runs every row of :data:`ROWS`; adding a built-in adds one row here (docs/contributing.md, step 4).

The builders take a ``torch.Generator`` and return float64 tensors (integer labels stay ``long``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

import losskit

__all__ = ["Row", "ROWS", "check_row", "randn", "positive", "probs", "binary", "signs", "labels", "counts"]

Inputs = Callable[[torch.Generator], tuple[torch.Tensor, ...]]


# ---------------------------------------------------------------------------------------------- input builders


def randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    """Standard normal values (scores, logits, regression predictions)."""
    return torch.randn(shape, generator=g, dtype=torch.float64)


def positive(g: torch.Generator, *shape: int) -> torch.Tensor:
    """Values in [0.1, 1.1) (variances, scales)."""
    return torch.rand(shape, generator=g, dtype=torch.float64) + 0.1


def probs(g: torch.Generator, *shape: int) -> torch.Tensor:
    """Probabilities in (0.01, 0.99), away from the logs' poles."""
    return torch.rand(shape, generator=g, dtype=torch.float64) * 0.98 + 0.01


def binary(g: torch.Generator, *shape: int) -> torch.Tensor:
    """A {0, 1} float target."""
    return torch.randint(0, 2, shape, generator=g).double()


def signs(g: torch.Generator, *shape: int) -> torch.Tensor:
    """A {-1, +1} float target (margin losses)."""
    return binary(g, *shape) * 2 - 1


def labels(g: torch.Generator, num_classes: int, *shape: int, ignore_index: int | None = None) -> torch.Tensor:
    """Class indices in [0, num_classes) (long); with ``ignore_index``, about a quarter of them ignored."""
    out = torch.randint(0, num_classes, shape, generator=g)
    if ignore_index is not None:
        out = torch.where(torch.rand(shape, generator=g) < 0.25, ignore_index, out)
    return out


def counts(g: torch.Generator, *shape: int) -> torch.Tensor:
    """Poisson counts with rate 3 (float)."""
    return torch.poisson(torch.full(shape, 3.0, dtype=torch.float64), generator=g)


# ---------------------------------------------------------------------------------------------- the row


@dataclass(frozen=True)
class Row:
    """One reference value: ``build_loss(loss, **options, reduction=r)(*inputs(g))`` equals
    ``reference(*inputs(g), reduction=r)`` for every ``r`` in ``reductions``, with the gradients with respect to
    the inputs at ``grad_inputs`` (the prediction by default; torch's references are not all differentiable
    in the target)."""

    loss: str
    inputs: Inputs
    reference: Callable[..., torch.Tensor]
    options: Mapping[str, Any] = field(default_factory=dict)
    reductions: Sequence[str] = ("mean", "sum", "none")
    grad_inputs: Sequence[int] = (0,)
    rtol: float = 1e-7
    atol: float = 1e-9

    @property
    def id(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.loss}[{opts}]" if opts else self.loss


def check_row(row: Row, device: str | torch.device = "cpu", seed: int = 0) -> None:
    """Compare ``row``'s loss with its reference, value and gradient, for every reduction of the row."""
    made = row.inputs(torch.Generator().manual_seed(seed))
    for reduction in row.reductions:
        loss = losskit.build_loss(row.loss, **row.options, reduction=reduction).to(device, torch.float64)
        xs = [t.detach().clone().to(device).requires_grad_(i in row.grad_inputs) for i, t in enumerate(made)]
        got = loss(*xs)
        want = row.reference(*xs, reduction=reduction)
        what = f"{row.id}, reduction={reduction!r}"
        assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)}, reference {tuple(want.shape)}"
        torch.testing.assert_close(got, want, rtol=row.rtol, atol=row.atol, msg=lambda m: f"{what}: {m}")
        wrt = [x for x in xs if x.requires_grad]
        got_grads = torch.autograd.grad(got.sum(), wrt, allow_unused=True)
        want_grads = torch.autograd.grad(want.sum(), wrt, allow_unused=True)
        for i, (a, b) in enumerate(zip(got_grads, want_grads, strict=True)):
            if a is None or b is None:
                assert a is None and b is None, f"{what}: input {i} has a gradient on one side only"
                continue
            torch.testing.assert_close(a, b, rtol=row.rtol, atol=row.atol, msg=lambda m: f"{what}, grad {i}: {m}")


# ---------------------------------------------------------------------------------------------- references
# torch's losses are the reference where losskit's built-in is torch's loss with checks; a formula otherwise.


def _reduced(values: torch.Tensor, reduction: str) -> torch.Tensor:
    return values if reduction == "none" else values.sum() if reduction == "sum" else values.mean()


def _log_cosh(input: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    return _reduced(torch.log(torch.cosh(input - target)), reduction)


def _charbonnier(input: torch.Tensor, target: torch.Tensor, reduction: str, eps: float = 1e-3) -> torch.Tensor:
    return _reduced(torch.sqrt((input - target) ** 2 + eps**2), reduction)


def _nll(input: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    return F.nll_loss(input, target, reduction=reduction)


def _kl_div(input: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    with warnings.catch_warnings():  # torch warns that its "mean" is not "batchmean": losskit's "mean" is torch's
        warnings.simplefilter("ignore", UserWarning)
        return F.kl_div(input, target, reduction=reduction)


def _log_probs(g: torch.Generator) -> tuple[torch.Tensor, ...]:
    return F.log_softmax(randn(g, 4, 5), 1), labels(g, 5, 4)


def _kl_inputs(g: torch.Generator) -> tuple[torch.Tensor, ...]:
    return F.log_softmax(randn(g, 4, 5), 1), F.softmax(randn(g, 4, 5), 1)


ROWS: list[Row] = [
    # regression: torch's own losses
    Row("mse", lambda g: (randn(g, 4, 8), randn(g, 4, 8)), F.mse_loss, grad_inputs=(0, 1)),
    Row("l1", lambda g: (randn(g, 4, 8), randn(g, 4, 8)), F.l1_loss),
    Row(
        "smooth_l1",
        lambda g: (randn(g, 4, 8), randn(g, 4, 8)),
        lambda x, y, reduction: F.smooth_l1_loss(x, y, beta=0.5, reduction=reduction),
        options={"beta": 0.5},
    ),
    Row(
        "huber",
        lambda g: (2 * randn(g, 4, 8), randn(g, 4, 8)),
        lambda x, y, reduction: F.huber_loss(x, y, delta=2.0, reduction=reduction),
        options={"delta": 2.0},
    ),
    Row("poisson_nll", lambda g: (randn(g, 4, 8), counts(g, 4, 8)), F.poisson_nll_loss),
    Row(
        "gaussian_nll",
        lambda g: (randn(g, 4, 8), randn(g, 4, 8), positive(g, 4, 8)),
        F.gaussian_nll_loss,
        grad_inputs=(0, 2),
    ),
    # regression: formulas
    Row("log_cosh", lambda g: (randn(g, 4, 8), randn(g, 4, 8)), _log_cosh),
    Row("charbonnier", lambda g: (randn(g, 4, 8), randn(g, 4, 8)), _charbonnier),
    # classification: torch's own losses
    Row("cross_entropy", lambda g: (randn(g, 6, 5), labels(g, 5, 6)), F.cross_entropy),
    Row(
        "cross_entropy",
        lambda g: (randn(g, 2, 4, 3, 3), labels(g, 4, 2, 3, 3, ignore_index=-100)),
        lambda x, y, reduction: F.cross_entropy(x, y, label_smoothing=0.1, reduction=reduction),
        options={"label_smoothing": 0.1},
    ),
    Row("nll", _log_probs, _nll),
    Row("bce_with_logits", lambda g: (randn(g, 4, 8), binary(g, 4, 8)), F.binary_cross_entropy_with_logits),
    Row("bce", lambda g: (probs(g, 4, 8), binary(g, 4, 8)), F.binary_cross_entropy),
    Row("kl_div", _kl_inputs, _kl_div, reductions=("batchmean", "mean", "sum", "none")),
    # soft targets: torch's cross_entropy takes class probabilities too
    Row(
        "soft_target_cross_entropy",
        lambda g: (randn(g, 6, 5), F.softmax(randn(g, 6, 5), 1)),
        lambda x, y, reduction: F.cross_entropy(x, y, reduction=reduction),
    ),
]
