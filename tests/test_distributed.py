"""GatherLoss on a real 2-process gloo group (CPU): value and DDP-averaged gradients equal the
single-process loss over the concatenated batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

import losskit
from losskit.distributed import DistributedLossWrapper, GatherLoss, gather_with_grad, is_distributed

from ._gloo import init_gloo, spawn_gloo

WORLD = 2
# name, target kind, rows held by rank 0 (the rest go to rank 1)
CASES = [
    ("contrastive", "labels", 5),
    ("info_nce", "view", 4),
    ("supcon", "labels", 4),
    ("triplet", "labels", 3),
    ("arcface", "labels", 4),  # has its own parameters (class centres)
    ("circle", "labels", 4),
    ("lifted_structure", "labels", 3),
    ("proxy_anchor", "labels", 5),  # proxies, centres: parameters too
    ("proxy_nca", "labels", 4),
    ("cosface", "labels", 4),
    ("sub_center_arcface", "labels", 3),
    ("center", "labels", 4),
    ("soft_triple", "labels", 5),
]
ARCFACE = {"num_classes": 4, "embedding_size": 4}
OPTIONS = {name: ARCFACE for name in ("arcface", "proxy_anchor", "proxy_nca", "cosface", "center")}
OPTIONS |= {"sub_center_arcface": {**ARCFACE, "sub_centers": 2}, "soft_triple": {**ARCFACE, "centers_per_class": 2}}


def _loss(name: str) -> nn.Module:
    loss = losskit.build_loss(name, **OPTIONS.get(name, {})).double()
    torch.manual_seed(1)  # the same class centres on every rank and in the reference
    for p in loss.parameters():
        torch.nn.init.normal_(p)
    return loss


def _grads(model: nn.Module, loss: nn.Module) -> list[torch.Tensor]:
    return [p.grad for p in [*model.parameters(), *loss.parameters()]]


def _data() -> tuple[nn.Linear, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    model = nn.Linear(6, 4).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(4, 6, generator=g, dtype=torch.float64))
        model.bias.copy_(torch.randn(4, generator=g, dtype=torch.float64))
    x = torch.randn(8, 6, generator=g, dtype=torch.float64)
    view = x + 0.3 * torch.randn(8, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 3])
    return model, x, view, labels


def _run(
    loss: nn.Module, model: nn.Linear, x: torch.Tensor, view: torch.Tensor, labels: torch.Tensor, kind: str
) -> torch.Tensor:
    emb = model(x)
    return loss(emb, model(view) if kind == "view" else labels)


def _worker(rank: int, port: int, out_dir: str) -> None:
    init_gloo(rank, port, WORLD)
    try:
        results = {}
        for name, kind, split in CASES:
            model, x, view, labels = _data()
            rows = slice(0, split) if rank == 0 else slice(split, None)
            inner = _loss(name)
            out = _run(GatherLoss(inner), model, x[rows], view[rows], labels[rows], kind)
            out.backward()
            grads = []
            for g in _grads(model, inner):
                g = g.clone()
                dist.all_reduce(g)  # what DDP does, then divides by the world size
                grads.append(g / WORLD)
            pml_style = _run(GatherLoss(_loss(name), scale="loss"), model, x[rows], view[rows], labels[rows], kind)
            results[name] = {"value": out.detach(), "grads": grads, "pml_value": pml_style.detach()}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return spawn_gloo(_worker, tmp_path_factory.mktemp("ddp"), world=WORLD)


@pytest.mark.parametrize("name,kind,split", CASES)
def test_gathered_loss_matches_single_process(rank_results: list[dict], name: str, kind: str, split: int) -> None:
    model, x, view, labels = _data()
    loss = _loss(name)
    reference = _run(loss, model, x, view, labels, kind)
    reference.backward()
    want = _grads(model, loss)
    for r in range(WORLD):
        got = rank_results[r][name]
        torch.testing.assert_close(got["value"], reference.detach(), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(got["pml_value"], WORLD * reference.detach(), rtol=1e-10, atol=1e-12)
        assert len(got["grads"]) == len(want)
        for g, w in zip(got["grads"], want, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


def test_local_only_batch_differs(rank_results: list[dict]) -> None:
    """Sanity: without gathering, rank 0's loss on its half is not the global loss (the test can fail)."""
    model, x, view, labels = _data()
    local = losskit.build_loss("contrastive")(model(x[:5]), labels[:5])
    full = losskit.build_loss("contrastive")(model(x), labels)
    assert not torch.allclose(local, full)
    torch.testing.assert_close(rank_results[0]["contrastive"]["value"], full.detach())


def test_no_op_without_process_group() -> None:
    assert not is_distributed()
    model, x, view, labels = _data()
    emb = model(x)
    plain = losskit.build_loss("supcon")(emb, labels)
    wrapped = GatherLoss(losskit.build_loss("supcon"))(emb, labels)
    assert DistributedLossWrapper is GatherLoss
    torch.testing.assert_close(wrapped, plain)
    assert gather_with_grad(emb) is emb
