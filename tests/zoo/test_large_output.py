"""linear_cross_entropy (issue 13): values and gradients equal the unfused computation with every option, memory
stays chunk-sized, the edge cases of the zoo's policy, bad input."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import losskit
from losskit.functional import linear_cross_entropy
from losskit.functional.linear_ce import chunk_rows
from losskit.testing import check_loss
from losskit.zoo.large_output import LinearCrossEntropyLoss

IGNORE = -100


def unfused(
    h: torch.Tensor,
    w: torch.Tensor,
    t: torch.Tensor,
    b: torch.Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
    ignore_index: int = IGNORE,
) -> torch.Tensor:
    """The reference: ``F.cross_entropy(F.linear(h, w, b), t)`` with the z-loss and softcap written out."""
    z = F.linear(h, w, b)
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    z, flat = z.reshape(-1, w.shape[0]), t.reshape(-1)
    ce = F.cross_entropy(z, flat, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none")
    valid = flat != ignore_index
    rows = ce + z_loss * torch.where(valid, torch.logsumexp(z, dim=1) ** 2, 0.0)
    if reduction == "none":
        return rows.reshape(t.shape)
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / valid.sum()


def _inputs(
    n: tuple[int, ...] = (13,), h: int = 7, v: int = 11, bias: bool = True, seed: int = 0, dtype: Any = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(*n, h, generator=g, dtype=dtype).requires_grad_()
    weight = torch.randn(v, h, generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_() if bias else None
    target = torch.randint(0, v, n, generator=g)
    if target.numel() > 1:
        target.view(-1)[1] = IGNORE
    return hidden, weight, target, b


OPTIONS = [
    {},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-2},
    {"softcap": 2.0},
    {"label_smoothing": 0.2, "z_loss": 0.1, "softcap": 3.0},
    {"label_smoothing": 1.0},
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
@pytest.mark.parametrize("chunk_size", [1, 4, None])
@pytest.mark.parametrize("bias", [True, False])
def test_values_and_gradients_equal_the_unfused_computation(
    reduction: str, options: dict[str, Any], chunk_size: int | None, bias: bool
) -> None:
    h, w, t, b = _inputs(bias=bias)
    ours = linear_cross_entropy(h, w, t, b, reduction=reduction, chunk_size=chunk_size, **options)  # type: ignore[arg-type]
    ref = unfused(h, w, t, b, reduction=reduction, **options)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-12)
    inputs = [x for x in (h, w, b) if x is not None]
    upstream = torch.rand(ref.shape, dtype=ref.dtype, generator=torch.Generator().manual_seed(1))  # per-row weights
    got = torch.autograd.grad((ours * upstream).sum(), inputs)
    want = torch.autograd.grad((ref * upstream).sum(), inputs)
    for name, a, e in zip(("hidden", "weight", "bias"), got, want, strict=False):
        torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-12, msg=f"grad of {name}")


def test_batch_time_hidden_and_the_none_shape() -> None:
    h, w, t, b = _inputs(n=(3, 5), h=6, v=9)
    loss = LinearCrossEntropyLoss(reduction="none", chunk_size=4)
    out = loss(h, w, t, b)
    assert out.shape == (3, 5) and out[0, 1] == 0  # the ignored row
    torch.testing.assert_close(out, unfused(h, w, t, b, reduction="none"), rtol=1e-6, atol=1e-12)
    mean = LinearCrossEntropyLoss(label_smoothing=0.1, softcap=5.0)(h, w, t, b)
    torch.testing.assert_close(mean, unfused(h, w, t, b, label_smoothing=0.1, softcap=5.0), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck(reduction: str) -> None:
    h, w, t, b = _inputs(n=(5,), h=3, v=4)
    assert b is not None

    def fn(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        opts: dict[str, Any] = {"label_smoothing": 0.1, "z_loss": 0.05, "softcap": 2.0, "chunk_size": 2}
        return linear_cross_entropy(h, w, t, b, reduction=reduction, **opts)  # type: ignore[arg-type]

    # "mean" forms its gradients in the forward; gradcheck's second backward through the same graph recomputes
    # them from the saved logsumexp (another summation order): equal to ~1e-16, not bit for bit
    assert torch.autograd.gradcheck(fn, (h, w, b), nondet_tol=1e-12)


def test_a_second_backward_through_the_graph_recomputes_the_same_gradients() -> None:
    h, w, t, b = _inputs()
    loss = linear_cross_entropy(h, w, t, b, z_loss=0.1, chunk_size=3)
    first = torch.autograd.grad(loss, (h, w), retain_graph=True)
    second = torch.autograd.grad(2 * loss, (h, w))
    for a, e in zip(first, second, strict=True):
        torch.testing.assert_close(2 * a, e, rtol=1e-12, atol=1e-14)


BF16_OPTIONS: list[dict[str, Any]] = [{}, {"z_loss": 1e-4, "softcap": 30.0, "label_smoothing": 0.1}]


def test_bf16_autocast_within_the_unfused_bf16_error() -> None:
    """Over a few draws (one draw's rounding errors may cancel in either computation), losskit's largest error
    from the float64 value is no larger than the unfused bf16 computation's, within a factor 2."""
    ours_err, unfused_err = [], []
    for seed in range(4):
        h, w, t, b = _inputs(n=(256,), h=64, v=1000, dtype=torch.float32, seed=seed)
        assert b is not None
        for opts in BF16_OPTIONS:
            exact = unfused(h.double(), w.double(), t, b.double(), **opts)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                ours = linear_cross_entropy(h, w, t, b, chunk_size=64, **opts)
                ref = unfused(h, w, t, b, **opts)
            assert ours.dtype == torch.float32
            ours_err.append((ours.double() - exact).abs().item())
            unfused_err.append((ref.double() - exact).abs().item())
    assert max(ours_err) <= 2 * max(unfused_err), (ours_err, unfused_err)
    grads = torch.autograd.grad(ours, [x for x in (h, w, b) if x is not None])
    assert all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_half_inputs_give_float32_loss_and_half_gradients() -> None:
    h, w, t, b = _inputs(n=(32,), h=16, v=50, dtype=torch.bfloat16)
    out = linear_cross_entropy(h, w, t, b)
    assert out.dtype == torch.float32
    want = unfused(h.double(), w.double(), t, b.double() if b is not None else None)
    assert abs(out.item() - want.item()) < 2e-2 * abs(want.item())
    torch.autograd.backward(out)
    assert h.grad is not None and h.grad.dtype == torch.bfloat16 and w.grad is not None


class _MaxNumel(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """The largest tensor any op produces."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.largest = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_never_holds_the_logits_nor_their_gradient(reduction: str) -> None:
    n, hdim, v = 256, 8, 512
    h, w, t, b = _inputs(n=(n,), h=hdim, v=v, dtype=torch.float32)
    with _MaxNumel() as seen:
        out = linear_cross_entropy(h, w, t, b, chunk_size=16, z_loss=1e-3, softcap=4.0, reduction=reduction)  # type: ignore[arg-type]
        torch.autograd.backward(out.sum())
    assert seen.largest <= max(16 * v, v * hdim, n * hdim), seen.largest  # one chunk, never n * v
    with _MaxNumel() as unfused_seen:
        torch.autograd.backward(unfused(h, w, t, b))
    assert unfused_seen.largest == n * v  # the check can fail: the unfused path does hold them


def test_automatic_chunk_follows_the_documented_budget() -> None:
    assert chunk_rows(8192, 4096, None) == 1024  # 64 MiB of (c, V) float32 work
    assert chunk_rows(8192, 32768, None) == 256  # never narrower than 256 rows (the matmul's speed)
    assert chunk_rows(8192, 131072, None) == 256
    assert chunk_rows(10, 32768, None) == 10  # at most N
    assert chunk_rows(100, 7, 30) == 30  # an explicit chunk_size wins
    assert chunk_rows(8192, 10**8, 1) == 1


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_all_ignored_and_empty_are_zero_with_zero_gradient(reduction: str) -> None:
    for n in ((6,), (0,), (2, 0)):
        h, w, t, b = _inputs(n=n, h=4, v=5)
        t = torch.full_like(t, IGNORE)
        out = linear_cross_entropy(h, w, t, b, reduction=reduction)  # type: ignore[arg-type]
        assert out.item() == 0 and out.requires_grad
        torch.autograd.backward(out)
        assert all(x.grad is not None and (x.grad == 0).all() for x in (h, w, b) if x is not None)
    none = linear_cross_entropy(*_inputs(n=(0,), h=4, v=5)[:3], reduction="none")
    assert none.shape == (0,)


def test_no_grad_value_equals_the_value_with_gradients() -> None:
    h, w, t, b = _inputs()
    for reduction in ("mean", "sum"):
        with torch.no_grad():
            plain = linear_cross_entropy(h, w, t, b, reduction=reduction, z_loss=0.1)
        torch.testing.assert_close(plain, linear_cross_entropy(h, w, t, b, reduction=reduction, z_loss=0.1).detach())


def test_nan_in_gives_nan_out() -> None:
    h, w, t, b = _inputs()
    h.detach()[0, 0] = float("nan")
    assert torch.isnan(linear_cross_entropy(h, w, t, b))


def test_check_loss() -> None:
    # dynamic=False: the row-chunk loop's length follows N, so a new batch size traces again (test_conformance)
    check_loss("linear_cross_entropy", dynamic=False)


def test_registered_with_inputs_and_task() -> None:
    desc = losskit.describe_loss("LinearCrossEntropyLoss")
    assert desc.name == "linear_cross_entropy" and "language_modeling" in desc.tasks
    assert desc.functional == "losskit.functional.linear_cross_entropy"
    assert [s.name for s in desc.inputs] == ["hidden", "weight", "target", "bias"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (lambda h, w, t, b: (h, w[:, :-1], t, b), "same H"),
        (lambda h, w, t, b: (h, w, t[:-1], b), "expected target of shape"),
        (lambda h, w, t, b: (h, w, t.float(), b), "integer class indices"),
        (lambda h, w, t, b: (h, w, torch.where(t == IGNORE, t, 11), b), "out of range for 11 classes"),
        (lambda h, w, t, b: (h, w, t, b[:-1]), "expected bias of shape"),
        (lambda h, w, t, b: (h, w[:0], t, b[:0]), "no rows"),
        (lambda h, w, t, b: (h.long(), w, t, b), "hidden"),
    ],
    ids=["H", "target-shape", "float-target", "label-range", "bias", "empty-vocab", "int-hidden"],
)
def test_bad_input_names_the_loss(case: Any, message: str) -> None:
    args = case(*(x.detach() if x is not None and x.is_floating_point() else x for x in _inputs()))
    with pytest.raises(losskit.LossInputError, match="linear_cross_entropy") as info:
        linear_cross_entropy(*args)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "options",
    [{"label_smoothing": 1.5}, {"z_loss": -1.0}, {"softcap": 0.0}, {"chunk_size": 0}, {"reduction": "meen"}],
)
def test_bad_options_are_value_errors(options: dict[str, Any]) -> None:
    h, w, t, b = _inputs()
    with pytest.raises(ValueError, match="linear_cross_entropy"):
        linear_cross_entropy(h, w, t, b, **options)
    with pytest.raises(ValueError, match="linear_cross_entropy"):
        LinearCrossEntropyLoss(**options)


def test_compiles_in_one_graph_with_the_same_value_and_gradients() -> None:
    h, w, t, b = _inputs(n=(2, 5), h=6, v=40, dtype=torch.float32)

    def fn(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return linear_cross_entropy(h, w, t, b, z_loss=1e-3, softcap=10.0, chunk_size=4)

    ref = fn(h, w)
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)(h, w)  # no graph break, no host sync
    torch.testing.assert_close(compiled, ref)
    for a, e in zip(torch.autograd.grad(compiled, (h, w)), torch.autograd.grad(ref, (h, w)), strict=True):
        torch.testing.assert_close(a, e)
