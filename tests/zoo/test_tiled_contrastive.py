"""Tiled (``chunk_size``) contrastive losses, issue 13: ``info_nce``, ``supcon`` and ``siglip`` walked in row blocks
by ``functional.tiled_contrastive`` equal the unchunked losses in float64 (values and gradients of the embeddings
and of siglip's ``logit_scale``/``logit_bias``) for every option and for chunk sizes that do and do not divide N;
the autograd graph holds nothing of size M x M; N = 0 / N = 1 / NaN follow the zoo policy; check_loss, gradcheck,
bad ``chunk_size``; and a 2-process gloo group through ``GatherLoss`` gives the single-process value and gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
import torch
import torch.distributed as dist
from torch import Tensor, nn

from losskit import build_loss
from losskit.distributed import GatherLoss
from losskit.functional import metric as M
from losskit.functional import vision_language as VL
from losskit.testing import check_loss
from tests._gloo import init_gloo, spawn_gloo

Fn = Callable[..., Tensor]
Reduction = Literal["mean", "sum", "none"]
CHUNKS = (1, 3, 4, 7, 64)  # 3, 4, 7 do not divide M = 10 or 5; 64 > M: one block


def _data(n: int = 5, d: int = 4, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, x + 0.7 * torch.randn(n, d, generator=g, dtype=torch.float64), torch.tensor([0, 1, 0, 2, 1, 3, 0])[:n]


def _siglip(chunk: int | None, normalize: bool = True, **kw: Any) -> Fn:
    def fn(a: Tensor, b: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
        return VL.siglip_loss(a, b, scale, bias, normalize=normalize, chunk_size=chunk, **kw)

    return fn


# (id, function of (x, second view or labels, *params) with chunk_size, target kind, reductions)
CASES: list[tuple[str, Callable[[int | None, Reduction], Fn], str, tuple[str, ...]]] = [
    (
        "info_nce_views",
        lambda c, r: lambda x, t: M.info_nce_loss(x, t, chunk_size=c, reduction=r),
        "view",
        ("mean", "sum"),
    ),
    (
        "info_nce_labels_T0.5",
        lambda c, r: lambda x, t: M.info_nce_loss(x, t, temperature=0.5, chunk_size=c, reduction=r),
        "labels",
        ("mean", "sum"),
    ),
    (
        "supcon_labels",
        lambda c, r: lambda x, t: M.supcon_loss(x, t, chunk_size=c, reduction=r),
        "labels",
        ("mean", "sum", "none"),
    ),
    (
        "supcon_views_T0.3",
        lambda c, r: lambda x, t: M.supcon_loss(x, t, temperature=0.3, chunk_size=c, reduction=r),
        "view",
        ("mean", "sum", "none"),
    ),
    ("siglip", lambda c, r: _siglip(c, reduction=r), "siglip", ("mean", "sum")),
    ("siglip_unnormalized", lambda c, r: _siglip(c, normalize=False, reduction=r), "siglip", ("mean", "sum")),
]
PARAMS = [pytest.param(make, kind, r, id=f"{name}-{r}") for name, make, kind, reds in CASES for r in reds]


def _inputs(kind: str, n: int, seed: int = 0) -> list[Tensor]:
    x, view, labels = _data(n, seed=seed)
    if kind == "labels":
        return [x.requires_grad_(), labels]
    params = [torch.tensor(0.8, dtype=torch.float64), torch.tensor(-1.5, dtype=torch.float64)]
    rest = [*params] if kind == "siglip" else []
    return [t.requires_grad_() for t in (x, view, *rest)]


def _value_and_grads(fn: Fn, inputs: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    inputs = [t.detach().requires_grad_(t.requires_grad) for t in inputs]
    out = fn(*inputs)
    wrt = [t for t in inputs if t.requires_grad]
    weight = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)  # "none": a non-uniform grad
    return out.detach(), list(torch.autograd.grad((out * weight).sum(), wrt, allow_unused=True))


@pytest.mark.parametrize("n", [5, 7])
@pytest.mark.parametrize("make,kind,reduction", PARAMS)
def test_chunked_equals_unchunked_float64(make: Any, kind: str, reduction: str, n: int) -> None:
    inputs = _inputs(kind, n)
    want, want_grads = _value_and_grads(make(None, reduction), inputs)
    for chunk in CHUNKS:
        got, grads = _value_and_grads(make(chunk, reduction), inputs)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12, msg=f"chunk_size={chunk}")
        assert len(grads) == len(want_grads) == len(inputs) - (kind == "labels")
        for g, w in zip(grads, want_grads, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12, msg=f"chunk_size={chunk}")


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_integer_label_dtypes(dtype: torch.dtype) -> None:
    x, _, labels = _data(7)
    for fn in (M.info_nce_loss, M.supcon_loss):
        torch.testing.assert_close(fn(x, labels.to(dtype), chunk_size=3), fn(x, labels), rtol=1e-12, atol=0)


@pytest.mark.parametrize("make,kind,reduction", PARAMS)
def test_edge_cases_follow_the_unchunked_policy(make: Any, kind: str, reduction: str) -> None:
    """N = 0 and N = 1 give what the unchunked loss gives (0 with a zero gradient where there is no pair), NaN in
    gives NaN out."""
    for n in (0, 1):
        inputs = _inputs(kind, n)
        want, want_grads = _value_and_grads(make(None, reduction), inputs)
        got, grads = _value_and_grads(make(2, reduction), inputs)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-15)
        for g, w in zip(grads, want_grads, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-15)
        assert got.isfinite().all()
    inputs = _inputs(kind, 5)
    with torch.no_grad():
        inputs[0][2, 1] = float("nan")
    assert make(2, reduction)(*inputs).isnan().any()


def test_autograd_graph_holds_no_square_matrix() -> None:
    """The memory claim: with chunk_size the tensors autograd keeps for backward are O(M * D), never (M, M) (the
    unchunked loss keeps several); the test can fail."""
    x = torch.randn(64, 8, dtype=torch.float64, requires_grad=True)
    y = torch.randn(64, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.arange(64) % 5
    scale, bias = torch.tensor(1.0, requires_grad=True), torch.tensor(-2.0, requires_grad=True)
    calls: list[Callable[[int | None], Tensor]] = [
        lambda c: M.info_nce_loss(x, y, chunk_size=c),
        lambda c: M.supcon_loss(x, labels, chunk_size=c, reduction="none"),
        lambda c: VL.siglip_loss(x, y, scale, bias, chunk_size=c),
    ]
    for call in calls:
        for chunk, bound in ((None, None), (16, 2 * 64 * 8)):
            sizes: list[int] = []

            def pack(t: Tensor, sizes: list[int] = sizes) -> Tensor:
                sizes.append(t.numel())
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                call(chunk)
            if bound is None:
                assert max(sizes) >= 64 * 64  # the unchunked loss does keep an (M, M) tensor
            else:
                assert max(sizes) <= bound, sizes


def test_bf16_autocast_accumulates_in_float32() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 32, generator=g), torch.randn(96, 32, generator=g)
    labels = torch.arange(96) % 7
    for fn, args in ((M.info_nce_loss, (x, y)), (M.supcon_loss, (x, labels)), (VL.siglip_loss, (x, y))):
        want = fn(*args)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = fn(*args, chunk_size=20)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_second_derivative_is_refused() -> None:
    """The backward's saved statistics are constants: a create_graph backward would be silently wrong, so it raises."""
    x, view, _ = _data()
    out = M.info_nce_loss(x.requires_grad_(), view, chunk_size=2)
    with pytest.raises(RuntimeError, match="info_nce: chunk_size gives first derivatives only"):
        torch.autograd.grad(out, x, create_graph=True)


def test_retained_graph_backward_twice_gives_the_same_gradients() -> None:
    """ "mean"/"sum" form the gradients in the forward and hand them out once; a second backward through a retained
    graph recomputes the blocks instead, and both equal the unchunked gradients."""
    x, view, _ = _data(7)
    scale, bias = torch.tensor(0.8, dtype=torch.float64), torch.tensor(-1.5, dtype=torch.float64)
    for fn in (
        lambda c, a, b: M.info_nce_loss(a, b, chunk_size=c),
        lambda c, a, b: M.supcon_loss(a, torch.tensor([0, 1, 0, 2, 1, 3, 0]), chunk_size=c, reduction="sum"),
        lambda c, a, b: VL.siglip_loss(a, b, scale, bias, chunk_size=c),
    ):
        a, b = x.clone().requires_grad_(), view.clone().requires_grad_()
        want = torch.autograd.grad(fn(None, a, b) * 2.5, (a, b), allow_unused=True)
        out = fn(3, a, b) * 2.5
        first = torch.autograd.grad(out, (a, b), retain_graph=True, allow_unused=True)
        second = torch.autograd.grad(out, (a, b), allow_unused=True)
        for got in (first, second):
            for g, w in zip(got, want, strict=True):
                torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["info_nce", "supcon", "siglip"])
def test_compiles_in_one_graph_with_the_same_value_and_gradients(name: str) -> None:
    x, view, _ = _data(9, 6)
    x, view = x.float(), view.float()
    labels = torch.arange(9) % 4

    def fn(a: Tensor, b: Tensor) -> Tensor:
        if name == "info_nce":
            return M.info_nce_loss(a, b, chunk_size=4)
        if name == "supcon":
            return M.supcon_loss(a, labels, chunk_size=4) + 0.0 * b.sum()
        return VL.siglip_loss(a, b, torch.tensor(0.5), torch.tensor(-1.0), chunk_size=4)

    a, b = x.clone().requires_grad_(), view.clone().requires_grad_()
    ref = fn(a, b)
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)(a, b)  # no graph break, no host sync
    torch.testing.assert_close(compiled, ref)
    for got, want in zip(torch.autograd.grad(compiled, (a, b)), torch.autograd.grad(ref, (a, b)), strict=True):
        torch.testing.assert_close(got, want)


def _gradcheck_fns() -> list[Any]:
    return [
        pytest.param(lambda a, b: M.info_nce_loss(a, b, temperature=0.5, chunk_size=3), id="info_nce"),
        pytest.param(lambda a, b: M.supcon_loss(a, b, temperature=0.5, chunk_size=3, reduction="sum"), id="supcon"),
        pytest.param(
            lambda a, b: VL.siglip_loss(a, b, torch.tensor(0.5, dtype=a.dtype), -1.0, chunk_size=2), id="siglip"
        ),
    ]


@pytest.mark.parametrize("fn", _gradcheck_fns())
def test_gradcheck(fn: Any) -> None:
    x, view, _ = _data(4, 3)
    assert torch.autograd.gradcheck(fn, (x.requires_grad_(), view.requires_grad_()))


def test_gradcheck_siglip_parameters() -> None:
    x, view, _ = _data(4, 3)
    params = (torch.tensor(0.3, dtype=torch.float64), torch.tensor(-0.5, dtype=torch.float64))
    fn = _siglip(3)
    assert torch.autograd.gradcheck(fn, (x, view, *(p.requires_grad_() for p in params)))


@pytest.mark.parametrize("name", ["info_nce", "supcon", "siglip"])
def test_check_loss_with_chunk_size(name: str) -> None:
    loss = build_loss(name, chunk_size=3)
    report = check_loss(loss, dynamic=False)  # the block loop's length follows N: a new N traces again
    assert "deterministic" in report.passed
    assert "chunk_size=3" in repr(loss)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "4"])
@pytest.mark.parametrize("name", ["info_nce", "supcon", "siglip"])
def test_bad_chunk_size_is_a_value_error_naming_the_loss(name: str, bad: Any) -> None:
    x, view, _ = _data()
    fns: dict[str, Fn] = {"info_nce": M.info_nce_loss, "supcon": M.supcon_loss, "siglip": VL.siglip_loss}
    fn = fns[name]
    with pytest.raises(ValueError, match=f"{name}: chunk_size"):
        fn(x, view, chunk_size=bad)
    with pytest.raises(ValueError, match=f"{name}.*chunk_size"):  # the builder's type check, or the loss's own
        build_loss(name, chunk_size=bad)


@pytest.mark.parametrize("name", ["info_nce", "siglip"])
def test_per_pair_none_cannot_be_chunked(name: str) -> None:
    """Their "none" output is the (N, N) matrix itself, which chunk_size exists to avoid: a clear error."""
    x, view, _ = _data()
    fn = M.info_nce_loss if name == "info_nce" else VL.siglip_loss
    with pytest.raises(ValueError, match=f"{name}: reduction='none'.*chunk_size"):
        fn(x, view, chunk_size=2, reduction="none")
    with pytest.raises(ValueError, match=f"{name}: reduction='none'"):
        build_loss(name, chunk_size=2, reduction="none")


# ---------------------------------------------------------------------------------------------- 2-process gloo
WORLD = 2
# name, target kind; rank 0 holds 4 of the 9 rows
GLOO = [("info_nce", "view"), ("supcon", "labels"), ("siglip", "view")]


def _gloo_loss(name: str, chunk_size: int | None) -> nn.Module:
    loss = build_loss(name, chunk_size=chunk_size).double()
    torch.manual_seed(1)
    for p in loss.parameters():  # siglip: the same temperature and bias on every rank and in the reference
        torch.nn.init.normal_(p)
    return loss


def _gloo_data() -> tuple[nn.Linear, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    model = nn.Linear(6, 4).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(4, 6, generator=g, dtype=torch.float64))
        model.bias.copy_(torch.randn(4, generator=g, dtype=torch.float64))
    x = torch.randn(9, 6, generator=g, dtype=torch.float64)
    view = x + 0.3 * torch.randn(9, 6, generator=g, dtype=torch.float64)
    return model, x, view, torch.tensor([0, 1, 2, 0, 1, 2, 0, 3, 3])


def _gloo_run(loss: nn.Module, rows: slice, kind: str) -> tuple[Tensor, list[Tensor]]:
    model, x, view, labels = _gloo_data()
    out = loss(model(x[rows]), model(view[rows]) if kind == "view" else labels[rows])
    out.backward()
    params = [*model.parameters(), *loss.parameters()]
    return out.detach(), [p.grad.clone() for p in params if p.grad is not None]


def _gloo_worker(rank: int, port: int, out_dir: str) -> None:
    init_gloo(rank, port, WORLD)
    try:
        results: dict[str, Any] = {}
        rows = slice(0, 4) if rank == 0 else slice(4, None)  # unequal halves
        for name, kind in GLOO:
            inner = _gloo_loss(name, chunk_size=3)
            value, grads = _gloo_run(GatherLoss(inner), rows, kind)
            for grad in grads:
                dist.all_reduce(grad)  # DDP's averaging
                grad /= WORLD
            results[name] = {"value": value, "grads": grads}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def gloo_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return spawn_gloo(_gloo_worker, tmp_path_factory.mktemp("ddp_tiled"), WORLD)


@pytest.mark.parametrize("name,kind", GLOO)
def test_chunked_gathered_loss_equals_single_process(gloo_results: list[dict[str, Any]], name: str, kind: str) -> None:
    """Every rank: the chunked loss over the gathered batch, DDP-averaged gradients (model and siglip's two
    parameters) == the unchunked single-process loss over the whole batch."""
    want, want_grads = _gloo_run(_gloo_loss(name, chunk_size=None), slice(None), kind)
    local, _ = _gloo_run(_gloo_loss(name, chunk_size=None), slice(0, 4), kind)
    assert not torch.allclose(local, want)  # the gathering matters (the test can fail)
    for r in range(WORLD):
        got = gloo_results[r][name]
        torch.testing.assert_close(got["value"], want, rtol=1e-10, atol=1e-12)
        assert len(got["grads"]) == len(want_grads) == (4 if name == "siglip" else 2)
        for g, w in zip(got["grads"], want_grads, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
