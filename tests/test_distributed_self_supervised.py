"""The self-supervised losses on a real 2-process gloo group (CPU) through ``GatherLoss``: the batch-statistics
losses (barlow_twins, vicreg, dcl, siglip) give the single-process value and DDP-averaged gradients over the
concatenated batch (siglip's temperature and bias included), and DINO's centre update all-reduces the teacher
batch so every rank holds the single-process centre."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import torch
import torch.distributed as dist
from torch import Tensor, nn

from losskit import build_loss
from losskit.distributed import GatherLoss
from losskit.zoo.self_supervised import DINOLoss

from ._gloo import init_gloo, spawn_gloo

WORLD = 2
GATHERED = ("barlow_twins", "vicreg", "dcl", "siglip")


def _gloo_loss(name: str) -> nn.Module:
    loss = build_loss(name).double()
    torch.manual_seed(1)
    for p in loss.parameters():  # the same siglip temperature and bias on every rank and in the reference
        torch.nn.init.normal_(p)
    return loss


def _gloo_data() -> tuple[nn.Linear, Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    model = nn.Linear(6, 4).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(4, 6, generator=g, dtype=torch.float64))
        model.bias.copy_(torch.randn(4, generator=g, dtype=torch.float64))
    x = torch.randn(9, 6, generator=g, dtype=torch.float64)
    return model, x, x + 0.3 * torch.randn(9, 6, generator=g, dtype=torch.float64)


def _gloo_worker(rank: int, port: int, out_dir: str) -> None:
    init_gloo(rank, port, WORLD)
    try:
        results: dict[str, Any] = {}
        rows = slice(0, 4) if rank == 0 else slice(4, None)  # unequal halves
        for name in GATHERED:
            model, x, view = _gloo_data()
            inner = _gloo_loss(name)
            out = GatherLoss(inner)(model(x[rows]), model(view[rows]))
            out.backward()
            grads = []
            for p in [*model.parameters(), *inner.parameters()]:
                assert p.grad is not None
                grad = p.grad.clone()
                dist.all_reduce(grad)  # DDP's averaging
                grads.append(grad / WORLD)
            results[name] = {"value": out.detach(), "grads": grads}
        model, x, view = _gloo_data()
        dino = cast(DINOLoss, build_loss("dino", output_dim=4).double())
        dino(model(x[rows]), model(view[rows]))  # the centre update all-reduces the teacher sum and count
        results["dino_center"] = dino.center.clone()
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def gloo_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return spawn_gloo(_gloo_worker, tmp_path_factory.mktemp("ddp_ssl"), world=WORLD)


@pytest.mark.parametrize("name", GATHERED)
def test_gathered_loss_matches_single_process(gloo_results: list[dict[str, Any]], name: str) -> None:
    model, x, view = _gloo_data()
    loss = _gloo_loss(name)
    reference = loss(model(x), model(view))
    reference.backward()
    want = [p.grad for p in [*model.parameters(), *loss.parameters()]]
    for r in range(WORLD):
        got = gloo_results[r][name]
        torch.testing.assert_close(got["value"], reference.detach(), rtol=1e-10, atol=1e-12)
        assert len(got["grads"]) == len(want)
        for g, w in zip(got["grads"], want, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


def test_local_batch_statistics_differ(gloo_results: list[dict[str, Any]]) -> None:
    """Sanity (the test can fail): Barlow Twins over rank 0's half is not the global value."""
    model, x, view = _gloo_data()
    local = build_loss("barlow_twins")(model(x[:4]), model(view[:4]))
    assert not torch.allclose(local.double(), gloo_results[0]["barlow_twins"]["value"])


def test_dino_centre_is_the_same_on_every_rank(gloo_results: list[dict[str, Any]]) -> None:
    model, x, view = _gloo_data()
    dino = cast(DINOLoss, build_loss("dino", output_dim=4).double())
    dino(model(x), model(view))
    for r in range(WORLD):
        torch.testing.assert_close(gloo_results[r]["dino_center"], dino.center, rtol=1e-12, atol=1e-14)
