"""Policy over every built-in (docs/conventions.md, "Losses with state"): whatever a loss keeps between calls
(buffers that ``forward`` moves, learnable proxies and centres) is restored by ``load_state_dict`` and by
pickling, so a fresh build restored from a trained loss gives the same next value; a buffer that ``forward``
moves stays put in ``eval()``; and the set of losses whose forward moves a buffer is the documented one."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import torch
from torch import nn

from ._cases import build, call, covered_names, example, scalar_of

#: Options under which a loss keeps state (without them its state is not used).
STATE_OPTIONS: dict[str, dict[str, Any]] = {"ghm_c": {"momentum": 0.75}, "ghm_r": {"momentum": 0.75}}
#: The built-ins whose forward moves a buffer in training mode; a loss missing here, or a stale entry, fails.
STATEFUL = {"seesaw", "dino", "ghm_c", "ghm_r"}


def _buffers(loss: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in loss.named_buffers()}


def _moved(before: dict[str, torch.Tensor], loss: nn.Module) -> list[str]:
    after = dict(loss.named_buffers())
    return [k for k, v in before.items() if not torch.equal(v, after[k])]


def _step(loss: nn.Module, seed: int) -> torch.Tensor:
    return scalar_of(call(loss, example(loss, seed=seed))).detach()


@pytest.mark.parametrize("name", covered_names())
def test_state_is_restored_and_frozen_in_eval(name: str) -> None:
    opts = STATE_OPTIONS.get(name, {})
    torch.manual_seed(0)
    loss = build(name, **opts).train()
    before = _buffers(loss)
    _step(loss, seed=1)
    _step(loss, seed=2)
    moved = _moved(before, loss)
    assert bool(moved) == (name in STATEFUL), (name, moved)

    torch.manual_seed(1)  # a different initialisation of any learnable matrix: only the state_dict can match
    fresh = build(name, **opts).train()
    fresh.load_state_dict(loss.state_dict())
    copy = pickle.loads(pickle.dumps(loss))
    want = _step(loss, seed=3)
    torch.testing.assert_close(_step(fresh, seed=3), want, equal_nan=True)
    torch.testing.assert_close(_step(copy, seed=3), want, equal_nan=True)

    loss.eval()
    frozen = _buffers(loss)
    _step(loss, seed=4)
    assert not _moved(frozen, loss), f"{name}: eval() must freeze the state"
