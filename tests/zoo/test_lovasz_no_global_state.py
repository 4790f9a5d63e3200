"""Issue 14, "No global side effects": the Lovász loss never changes process-wide thread settings.

``lovasz`` used to wrap its per-row sorts in ``torch.set_num_threads(1)``, which other threads of the process
(a data loader, a second model) see. The per-row path now sorts with NumPy; these tests pin that no torch
thread setting is touched during forward or backward, that no functional or zoo module calls one, and that
the NumPy rows give the same permutation (ties in index order), values and gradients as torch's stable sort.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import torch

import losskit.functional.lovasz as lov
from losskit.functional.lovasz import lovasz_loss

SRC = Path(lov.__file__).resolve().parents[1]
THREAD_SETTERS = {"set_num_threads", "set_num_interop_threads", "set_flush_denormal"}


def _reference_rows(err: torch.Tensor, labels: torch.Tensor, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The former torch implementation of ``_lovasz_rows`` (stable 1-D sort per row), as the oracle."""
    dt = err.dtype
    ibits, inf_bits = lov._INF_BITS[dt]
    rank = torch.arange(1, err.shape[1] + 1, dtype=dt)
    losses, counts = [], []
    for r in range(err.shape[0]):
        key = torch.sub(torch.tensor(inf_bits, dtype=ibits), err[r].view(ibits))
        perm = torch.sort(key, stable=True)[1]
        fg = labels[r // c].index_select(0, perm).eq(r % c).to(dt)
        total = fg.sum()
        jac = rank / torch.sub(rank, fg.cumsum(0)).add_(total)
        grad = torch.diff(jac, prepend=jac.new_zeros(1))
        losses.append(torch.dot(err[r].index_select(0, perm), grad))
        counts.append(total)
        err[r].index_copy_(0, perm, torch.addcmul(grad, grad, fg, value=-2.0))
    return torch.stack(losses), torch.stack(counts)


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 3, 200, 200), (2, 3, 12, 12)])  # per-row path, batched path
def test_lovasz_never_sets_threads(
    shape: tuple[int, ...], dtype: torch.dtype, batch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []
    seen: list[int] = []
    for name in THREAD_SETTERS:
        monkeypatch.setattr(torch, name, lambda *a, _n=name: calls.append((_n, a)))
    rows = lov._lovasz_rows

    def observed(*args: Any) -> Any:  # the thread count seen from inside the sorting stage, before and after
        seen.append(torch.get_num_threads())
        out = rows(*args)
        seen.append(torch.get_num_threads())
        return out

    monkeypatch.setattr(lov, "_lovasz_rows", observed)
    threads = torch.get_num_threads()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, dtype=dtype, requires_grad=True)
    y = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    y[0, :2] = 255
    out = lovasz_loss(x, y, batch=batch, ignore_index=255)
    out.backward()  # type: ignore[no-untyped-call]
    assert calls == []
    assert torch.get_num_threads() == threads
    assert all(n == threads for n in seen)
    assert bool(seen) == (shape[-1] * shape[-2] * (shape[0] if batch else 1) >= lov._RADIX_MIN_ROW)


def _thread_setter_calls(source: str) -> list[int]:
    """Line numbers of calls to a thread setter (``torch.set_num_threads(...)`` or a bare imported name)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in THREAD_SETTERS:
                lines.append(node.lineno)
    return lines


def test_no_loss_module_calls_a_thread_setter() -> None:
    files = sorted((SRC / "functional").rglob("*.py")) + sorted((SRC / "zoo").rglob("*.py"))
    assert len(files) > 10
    hits = [f"{p.relative_to(SRC)}:{line}" for p in files for line in _thread_setter_calls(p.read_text())]
    assert hits == []


def test_thread_setter_scan_catches_a_call() -> None:
    src = "import torch\nfrom torch import set_num_threads\ntorch.set_num_threads(1)\nset_num_threads(2)\n"
    assert _thread_setter_calls(src) == [3, 4]
    assert _thread_setter_calls("# torch.set_num_threads(1) in a comment\nx = 'set_num_threads'\n") == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numpy_rows_match_torch_stable_sort(dtype: torch.dtype) -> None:
    """Tie-heavy errors (quantized probabilities, ignored voxels at 0), a NaN row: same permutation as torch's
    stable sort, so the signed gradients are bit-identical; losses within rounding of the sum order."""
    g = torch.Generator().manual_seed(5)
    n, c, s = 2, 3, 40000
    p = torch.softmax(torch.randint(-2, 3, (n, c, s), generator=g).to(dtype), 1)
    labels = torch.randint(0, c, (n, s), generator=g)
    labels[0, :500] = -1
    err, lab = lov._label_rows(p, labels, (labels >= 0).to(dtype), False)
    err[4, 7] = float("nan")
    ref_err = err.clone()
    loss, count = lov._lovasz_rows(err, lab, c)
    ref_loss, ref_count = _reference_rows(ref_err, lab, c)
    assert torch.isnan(loss[4]) and torch.isnan(ref_loss[4])
    keep = torch.arange(n * c) != 4
    torch.testing.assert_close(err[keep], ref_err[keep], rtol=0, atol=0)
    torch.testing.assert_close(count, ref_count, rtol=0, atol=0)
    rtol, atol = (1e-5, 1e-6) if dtype == torch.float32 else (1e-12, 1e-14)
    torch.testing.assert_close(loss[keep], ref_loss[keep], rtol=rtol, atol=atol)
