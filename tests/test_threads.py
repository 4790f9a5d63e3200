"""Stress: 8+ threads mixing register / unregister / lookup / build / list never see an inconsistent state."""

from __future__ import annotations

import random
import threading

import torch
from torch import nn

import losskit
from losskit import Registry


def _make(i: int) -> type[nn.Module]:
    def forward(self: nn.Module, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (input - target).abs().mean() * (i + 1)

    return type(f"Stress{i}", (nn.Module,), {"forward": forward})


def test_threads_mixing_every_operation(scoped_registry: Registry) -> None:
    classes = [_make(i) for i in range(64)]
    errors: list[BaseException] = []
    stop = threading.Event()
    barrier = threading.Barrier(10)

    def writer(worker: int) -> None:
        rng = random.Random(worker)
        barrier.wait()
        for step in range(300):
            i = rng.randrange(len(classes))
            name = f"stress_{worker}_{i}"
            try:
                losskit.register_loss(name, classes[i], aliases=[f"{name}_alias"], tasks=["regression"])
            except losskit.RegistrationError:
                pass  # already there from an earlier step of this worker
            if step % 3 == 0:
                try:
                    losskit.unregister_loss(f"{name}_alias")
                except losskit.UnknownLossError:
                    pass

    def reader(worker: int) -> None:
        barrier.wait()
        x, y = torch.ones(2), torch.zeros(2)
        while not stop.is_set():
            names = losskit.list_losses("stress_*", task="regression")
            for name in names[:5]:
                try:
                    entry = losskit.LOSSES.entry(name)
                    # an entry's aliases always resolve to it: no half-applied state is visible
                    for alias in entry.aliases:
                        try:
                            assert losskit.LOSSES.resolve(alias) == entry.name
                        except losskit.UnknownLossError:
                            pass  # removed since: fine, as long as it never points elsewhere
                    loss = losskit.build_loss(name)
                    assert loss(x, y).item() > 0
                except losskit.UnknownLossError:
                    pass
            state = losskit.LOSSES._state
            for key, owner in state.index.items():
                assert owner in state.entries and key in state.entries[owner].keys
            assert losskit.has_loss("mse") and isinstance(losskit.build_loss("mse"), nn.MSELoss)

    def guard(fn, i):  # type: ignore[no-untyped-def]
        try:
            fn(i)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    writers = [threading.Thread(target=guard, args=(writer, i)) for i in range(6)]
    readers = [threading.Thread(target=guard, args=(reader, i)) for i in range(4)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    stop.set()
    for t in readers:
        t.join(timeout=120)
    assert not errors, errors[0]
    final = losskit.LOSSES._state
    assert set(final.index.values()) == set(final.entries)
    assert all(final.index[k] == name for name, e in final.entries.items() for k in e.keys)
