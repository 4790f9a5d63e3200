"""Measurement primitives shared by the benchmarks: interleaved timing and peak-RSS memory.

Timing: every implementation of a case runs forward+backward on the *same* tensors, interleaved round-robin
(the order rotates each round), after warm-up; the figure is the median. Slow implementations get fewer
repeats (a per-implementation time budget), never fewer than ``min_repeats``.

Memory: the peak growth of the process's resident set (``VmHWM - VmRSS`` from ``/proc/self/status``) during
one forward+backward, read in a fresh worker process started with glibc's dynamic mmap threshold disabled
(``MALLOC_MMAP_THRESHOLD_``), so every large tensor is its own ``mmap`` and is returned to the OS when freed.
The high-water mark is reset (``echo 5 > /proc/self/clear_refs``) after the inputs exist and after a
warm-up call, so the figure is what the loss's forward+backward adds on top of its inputs (including the
input's ``.grad``, which every implementation allocates alike).
"""

from __future__ import annotations

import gc
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

__all__ = [
    "THREADS",
    "MALLOC_ENV",
    "Step",
    "Timing",
    "time_interleaved",
    "peak_memory",
    "memory_supported",
    "machine_info",
    "load_average",
]

#: Threads for every measurement (the brief's fixed setting; the machine has 2 cores).
THREADS = 2
#: Environment for memory workers: fixed mmap threshold, so freed large blocks leave the RSS at once.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}

#: One forward+backward: returns the loss (already backpropagated) as a detached scalar.
Step = Callable[[], torch.Tensor]


@dataclass
class Timing:
    """Per-implementation samples in seconds."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


def time_interleaved(
    steps: Mapping[str, Step],
    *,
    repeats: int = 15,
    min_repeats: int = 3,
    warmup: int = 2,
    budget_s: float = 6.0,
    min_total_s: float = 1.5,
    max_repeats: int = 101,
) -> dict[str, Timing]:
    """Median-ready timings of several forward+backward steps, run round-robin on the same inputs.

    After ``warmup`` untimed calls each (one only, for a step slower than a quarter of the budget), rounds
    run every unfinished step once, in an order that rotates each round. A step is finished once it has
    ``repeats`` samples adding up to ``min_total_s`` (cheap steps take more samples, up to ``max_repeats``,
    so that a short burst of load from other processes cannot cover all of them), or ``min_repeats``
    samples adding up to ``budget_s`` (slow peers).
    """
    names = list(steps)
    for name in names:
        for _ in range(max(warmup, 1)):
            t0 = time.perf_counter()
            steps[name]()
            if time.perf_counter() - t0 > budget_s / 4:
                break
    out = {name: Timing() for name in names}

    def done(name: str) -> bool:
        s = out[name].samples
        total = sum(s)
        return (
            (len(s) >= repeats and total >= min_total_s)
            or len(s) >= max_repeats
            or (len(s) >= min_repeats and total >= budget_s)
        )

    rnd = 0
    while not all(done(n) for n in names):
        k = rnd % len(names)
        for name in names[k:] + names[:k]:
            if done(name):
                continue
            t0 = time.perf_counter()
            steps[name]()
            out[name].samples.append(time.perf_counter() - t0)
        rnd += 1
    return out


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        match = re.search(rf"^{key}:\s+(\d+) kB", fh.read(), re.MULTILINE)
    if match is None:
        raise OSError(f"/proc/self/status has no {key}")
    return int(match.group(1)) * 1024


def memory_supported() -> bool:
    """Whether the RSS high-water mark can be read and reset (Linux with a writable ``clear_refs``)."""
    try:
        _status("VmHWM")
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_memory(step: Step, *, tries: int = 2) -> int:
    """Peak RSS growth in bytes during ``step()`` (the minimum over ``tries``, one try for a step slower than
    1 s; one warm-up call first)."""
    step()
    best = None
    for _ in range(tries):
        gc.collect()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        base = _status("VmRSS")
        t0 = time.perf_counter()
        step()
        slow = time.perf_counter() - t0 > 1.0
        peak = _status("VmHWM") - base
        best = peak if best is None else min(best, peak)
        if slow:
            break
    return max(int(best or 0), 0)


def load_average() -> str:
    """The 1/5/15-minute load averages (a busy machine slows multi-threaded small ops the most)."""
    try:
        with open("/proc/loadavg") as fh:
            return " / ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


def machine_info() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            found = re.search(r"^model name\s*:\s*(.+)$", fh.read(), re.MULTILINE)
        if found:
            cpu = found.group(1).strip()
    except OSError:
        pass
    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical CPUs",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "os": platform.platform(),
    }
