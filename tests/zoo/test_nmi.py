"""nmi (kornia NMILossFromRef / normalized_mutual_information_loss): kornia parity in float64 (values and
gradients, every kernel), the chunked histogram, check_loss, gradcheck, edge cases, bad input."""

from __future__ import annotations

from typing import Any, Literal

import kornia.losses as KL
import pytest
import torch
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import nmi_loss
from losskit.functional.nmi import NMI_KERNEL_TYPES, NMIKernelType
from losskit.testing import check_loss

Reduction = Literal["mean", "sum", "none"]


def _rand(*shape: int, seed: int = 0) -> Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _pair(*shape: int) -> tuple[Tensor, Tensor]:
    y = _rand(*shape, seed=1)
    return 0.6 * y + 0.4 * _rand(*shape, seed=2) ** 2, y * 3 - 1  # any intensity range: min-max per sample


def _kornia(x: Tensor, y: Tensor, kernel_type: str, **options: Any) -> Tensor:
    kernel = KL.MIKernel[kernel_type]
    out: Tensor = KL.normalized_mutual_information_loss(x.flatten(1), y.flatten(1), kernel_function=kernel, **options)
    return out


@pytest.mark.parametrize("kernel_type", NMI_KERNEL_TYPES)
@pytest.mark.parametrize(("num_bins", "window_radius"), [(64, 1.0), (16, 2.5), (5, 0.7)])
def test_kornia_parity(kernel_type: NMIKernelType, num_bins: int, window_radius: float, device: torch.device) -> None:
    x, y = _pair(3, 2, 6, 7)
    want = _kornia(x, y, kernel_type, num_bins=num_bins, window_radius=window_radius)
    opts = {"kernel_type": kernel_type, "num_bins": num_bins, "window_radius": window_radius}
    for reduction, ref in (("none", want), ("mean", want.mean()), ("sum", want.sum())):
        got = nmi_loss(x.to(device), y.to(device), reduction=reduction, **opts)  # type: ignore[arg-type]
        torch.testing.assert_close(got.cpu(), ref, rtol=1e-10, atol=1e-12)
    mod = build_loss({"name": "NMILossFromRef", "reduction": "none", **opts}).to(device)
    torch.testing.assert_close(mod(x.to(device), y.to(device)).cpu(), want, rtol=1e-10, atol=1e-12)
    # the module form bound to the reference, as kornia users write it
    ref_mod = KL.NMILossFromRef(
        y.flatten(1), kernel_function=KL.MIKernel[kernel_type], num_bins=num_bins, window_radius=window_radius
    )
    torch.testing.assert_close(ref_mod(x.flatten(1)), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel_type", ["xu", "truncated_gaussian"])
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_kornia_gradient_parity(kernel_type: NMIKernelType, chunk_size: int | None, device: torch.device) -> None:
    x, y = _pair(2, 1, 5, 6)
    a, ta = x.clone().to(device).requires_grad_(True), y.clone().to(device).requires_grad_(True)
    b, tb = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    nmi_loss(a, ta, kernel_type=kernel_type, num_bins=12, chunk_size=chunk_size, reduction="sum").backward()
    _kornia(b, tb, kernel_type, num_bins=12).sum().backward()
    for got, want in ((a.grad, b.grad), (ta.grad, tb.grad)):
        assert got is not None and want is not None
        torch.testing.assert_close(got.cpu(), want, rtol=1e-8, atol=1e-12)


def test_chunked_equals_unchunked(device: torch.device) -> None:
    x, y = (t.to(device) for t in _pair(2, 1, 9, 9))
    whole = nmi_loss(x, y, num_bins=20, reduction="none", chunk_size=10_000)
    for chunk in (1, 17, 80):
        torch.testing.assert_close(nmi_loss(x, y, num_bins=20, reduction="none", chunk_size=chunk), whole)


@pytest.mark.parametrize("spec", [{"name": "nmi"}, {"name": "nmi", "kernel_type": "truncated_gaussian", "num_bins": 8}])
def test_check_loss(spec: dict[str, Any]) -> None:
    check_loss(spec, compile=None)


@pytest.mark.parametrize(("kernel_type", "chunk_size"), [("xu", None), ("xu", 5), ("truncated_gaussian", 5)])
def test_gradcheck(kernel_type: NMIKernelType, chunk_size: int | None, device: torch.device) -> None:
    x, y = (t.to(device).requires_grad_(True) for t in _pair(2, 1, 3, 4))

    def f(a: Tensor, b: Tensor) -> Tensor:
        return nmi_loss(a, b, kernel_type=kernel_type, num_bins=8, window_radius=1.5, chunk_size=chunk_size)

    assert torch.autograd.gradcheck(f, (x, y))


def test_values_and_edges(device: torch.device) -> None:
    x, y = (t.to(device) for t in _pair(2, 1, 8, 8))
    # an image explains itself better than a noisy copy; NMI is invariant to a positive affine map of either image
    assert nmi_loss(y, y) < nmi_loss(x, y)
    torch.testing.assert_close(nmi_loss(2 * x + 5, y), nmi_loss(x, y))
    # a constant sample against a varying one: NMI = 1 up to the eps floor (kornia's definition)
    const = torch.ones_like(y)
    torch.testing.assert_close(nmi_loss(const, y), torch.tensor(-1.0, dtype=y.dtype, device=device), atol=1e-6, rtol=0)
    # rectangular: no gradient, but a connected zero one (evaluation only, as kornia)
    a = x.clone().requires_grad_(True)
    nmi_loss(a, y, kernel_type="rectangular").backward()
    assert a.grad is not None and not a.grad.any()
    # NaN in, NaN out (the kernels' comparisons alone would turn it into a finite histogram)
    xn = x.clone()
    xn[1, 0, 3, 3] = float("nan")
    out = nmi_loss(xn, y, reduction="none")
    assert torch.isnan(out[1]) and torch.isfinite(out[0])
    # empty batch: 0 with a zero gradient; "none": (0,)
    e = torch.zeros(0, 1, 4, 4, device=device, dtype=torch.float64, requires_grad=True)
    z = nmi_loss(e, e.detach())
    z.backward()
    assert z.item() == 0.0 and e.grad is not None and nmi_loss(e, e, reduction="none").shape == (0,)


def test_half_inputs_computed_in_float32() -> None:
    x, y = (t.float() for t in _pair(2, 1, 8, 8))
    want = nmi_loss(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = nmi_loss(x, y)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize(
    ("input", "target", "match"),
    [
        (torch.rand(2, 1, 8, 8), torch.rand(1, 1, 8, 8), "shape"),  # no broadcasting
        (torch.rand(4), torch.rand(4), r"\(B, \*\)"),
        (torch.rand(2, 0), torch.rand(2, 0), r"\(B, \*\)"),
        (torch.rand(2, 1, 4, 4), torch.randint(0, 2, (2, 1, 4, 4)), "target"),
    ],
)
def test_bad_input(input: Tensor, target: Tensor, match: str) -> None:
    with pytest.raises(LossInputError, match="nmi") as info:
        nmi_loss(input, target)
    assert info.match(match)


@pytest.mark.parametrize(
    "options",
    [{"num_bins": 1}, {"num_bins": 8.0}, {"window_radius": 0.0}, {"chunk_size": 0}, {"kernel_type": "gausian"}],
)
def test_bad_options(options: dict[str, Any]) -> None:
    x = torch.rand(1, 1, 4, 4)
    with pytest.raises(ValueError, match="nmi"):
        nmi_loss(x, x, **options)
    with pytest.raises(ValueError, match="nmi"):
        build_loss({"name": "nmi", **options})
