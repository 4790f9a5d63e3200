"""A 2-process gloo group on CPU for the distributed tests: :func:`spawn_gloo` starts ``worker(rank, port, out_dir)``
in ``world`` spawned processes, waits for them (failing the test past ``timeout_s``) and loads what each rank saved
as ``out_dir/rank{r}.pt``; :func:`init_gloo` is the worker's first call."""

from __future__ import annotations

import datetime
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def init_gloo(rank: int, port: int, world: int) -> None:
    torch.set_num_threads(1)
    timeout = datetime.timedelta(seconds=60)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world, timeout=timeout)


def spawn_gloo(
    worker: Callable[[int, int, str], None], out_dir: Path, world: int = 2, timeout_s: float = 90.0
) -> list[dict[str, Any]]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.start_processes(  # type: ignore[attr-defined,no-untyped-call]
        worker, args=(port, str(out_dir)), nprocs=world, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout_s
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"the {world}-process gloo group did not finish within {timeout_s:g} s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
    return [torch.load(out_dir / f"rank{r}.pt", weights_only=True) for r in range(world)]
