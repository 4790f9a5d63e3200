"""Every hand-made autograd kernel on the test device (``LOSSKIT_TEST_DEVICE``, default cpu; ``cuda`` on a GPU
machine): value and input gradient in float32 on the device equal float64 on the CPU.

One case per ``torch.autograd.Function`` of the zoo, through the loss that uses it, with the options that select
it: the region-statistics kernels (one-hot ``bmm`` for C <= 8, scatter for C > 8, dense targets, the fused
cross-entropy of ``dice_ce``), both focal kernels and the fused sigmoid sum, LNCC's window sums, the chunked
mutual-information histogram, SSIM's mean, the tiled contrastive rows, bi-tempered normalisation, the chunked
linear cross-entropy and Lovász (its NumPy row path on CPU, the batched torch path elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import losskit

Make = Callable[[torch.Generator], tuple[torch.Tensor, ...]]


def _seg(c: int, size: tuple[int, ...] = (12, 10)) -> Make:
    return lambda g: (torch.randn(2, c, *size, generator=g), torch.randint(0, c, (2, *size), generator=g))


def _pair(shape: tuple[int, ...]) -> Make:
    def make(g: torch.Generator) -> tuple[torch.Tensor, ...]:
        t = torch.rand(shape, generator=g)
        return 0.6 * t + 0.4 * torch.rand(shape, generator=g), t

    return make


CASES: list[tuple[str, dict[str, Any], Make]] = [
    ("dice", {}, _seg(3)),  # _GramStats
    ("dice", {"ignore_index": 0}, _seg(12)),  # _ScatterStats
    (
        "dice",
        {"mode": "multilabel"},
        lambda g: (torch.randn(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g).round()),
    ),  # _DenseStats
    ("dice_ce", {}, _seg(4)),  # fused cross-entropy, bmm
    ("dice_ce", {"ignore_index": 1}, _seg(11)),  # fused cross-entropy, scatter
    (
        "focal",
        {},
        lambda g: (torch.randn(6, 5, generator=g), torch.rand(6, 5, generator=g).round()),
    ),  # _SigmoidFocalSum
    ("focal", {"reduction": "none"}, lambda g: (torch.randn(6, 5, generator=g), torch.rand(6, 5, generator=g).round())),
    ("focal_pixelwise", {}, _seg(4)),  # _SoftmaxFocal
    ("lncc", {"kernel_size": 3}, _pair((2, 1, 9, 8, 7))),  # _WindowSum
    ("mutual_information", {"chunk_size": 64}, _pair((2, 1, 8, 8, 8))),  # _ChunkedJointHistogram
    ("ssim", {}, _pair((2, 3, 16, 16))),  # _SSIMMean
    ("bi_tempered", {}, lambda g: (torch.randn(6, 4, generator=g), torch.randint(0, 4, (6,), generator=g))),
    ("lovasz", {}, _seg(3, (40, 40))),  # NumPy rows on CPU (1600-voxel rows), torch elsewhere
    ("info_nce", {"chunk_size": 3}, lambda g: (torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g))),
]
IDS = [f"{name}-{','.join(f'{k}={v}' for k, v in opts.items()) or 'default'}" for name, opts, _ in CASES]


@pytest.mark.parametrize(("name", "options", "make"), CASES, ids=IDS)
def test_kernel_on_the_device_matches_float64_cpu(
    name: str, options: dict[str, Any], make: Make, device: torch.device
) -> None:
    inputs = make(torch.Generator().manual_seed(0))
    loss = losskit.build_loss(name, **options)
    results = []
    for dev, dtype in ((device, torch.float32), (torch.device("cpu"), torch.float64)):
        xs = [t.to(dev, dtype) if t.is_floating_point() else t.to(dev) for t in inputs]
        xs[0].requires_grad_(True)
        out = loss.to(dev, dtype)(*xs)
        (grad,) = torch.autograd.grad(out.sum(), xs[0])
        assert out.device.type == dev.type and grad.device.type == dev.type
        results.append((out.detach().cpu().double(), grad.cpu().double()))
    (value, grad), (ref_value, ref_grad) = results
    torch.testing.assert_close(value, ref_value, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-3, atol=1e-6)


def test_linear_cross_entropy_on_the_device(device: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    h, w, t = torch.randn(10, 8, generator=g), torch.randn(20, 8, generator=g), torch.randint(0, 20, (10,), generator=g)
    got_h = h.to(device).requires_grad_()
    got = losskit.build_loss("linear_cross_entropy", chunk_size=3)(got_h, w.to(device), t.to(device))
    ref_h = h.double().requires_grad_()
    ref = torch.nn.functional.cross_entropy(ref_h @ w.double().T, t)
    torch.testing.assert_close(got.detach().cpu().double(), ref.detach(), rtol=1e-5, atol=1e-6)
    (a,) = torch.autograd.grad(got, got_h)
    (b,) = torch.autograd.grad(ref, ref_h)
    torch.testing.assert_close(a.cpu().double(), b, rtol=1e-4, atol=1e-6)
