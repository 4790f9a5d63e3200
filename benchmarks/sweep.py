"""The sweep of issue 14: every hot loss over a grid of shapes, against every peer and two compiled baselines.

At each grid point of a loss, in one process and on the same tensors:

1. eager: losskit, every peer (``sweep_losses.HOT``) and the naive formula (``naive.py``), timed interleaved
   (forward + backward, medians; ``_harness.time_interleaved``), then each one's peak memory;
2. compiled (``torch.compile``, inductor, one compile per shape, before any timing): losskit, the naive formula and
   the fastest eager peer of step 1, timed interleaved with losskit eager again, so that "compiled vs eager" comes
   from one round.

Per loss, over its grid (the goals of issue 14): the median and the worst of losskit's time over the fastest eager
peer (goals: median <= 0.8, worst <= 1.0), the median of losskit's time over the fastest compiled baseline (<= 1.0),
the worst of its peak memory over the lowest peer's (<= 1.0) and the worst of compiled losskit over eager losskit
(<= 1.0: compiling never slows losskit down). A loss without a peer library is measured against torchvision's
formula (boxes) or the naive formula (``linear_cross_entropy``).

Memory on CPU is the growth of the resident set's high-water mark during one forward + backward of each eager
implementation, read in a worker process per loss (``python benchmarks/sweep.py --memory-worker NAME``) started
with glibc's mmap threshold fixed (``_harness.MALLOC_ENV``), so freed tensors leave the resident set at once and
the timing process keeps its normal allocator. On CUDA it is ``torch.cuda.max_memory_allocated`` above the memory
in use before the step, measured in the timing process.

Grids: ``default`` (``make bench``: every value of each axis at least once, 7 points for segmentation) and
``full`` (``python benchmarks/run.py --sweep``: the product of batch {1, 8}, classes {2, 4, 21, 64}, 2D sizes
{64², 256², 512²} and 3D sizes {32³, 64³, 96³}, as each loss allows).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent / "src") not in sys.path:  # the worker runs from a checkout too
    sys.path.append(str(HERE.parent / "src"))

import torch  # noqa: E402

from _harness import MALLOC_ENV, Step, Timing, memory_supported, peak_memory, time_interleaved  # noqa: E402
from cases import Impl, Inputs  # noqa: E402
from sweep_losses import HOT, Hot, inputs_for  # noqa: E402

__all__ = ["GRIDS", "PointResult", "LossResult", "run_sweep", "grid_for"]

_SEG_DEFAULT = [
    (1, 2, 64, 64),
    (8, 4, 256, 256),
    (1, 21, 512, 512),
    (8, 64, 64, 64),
    (1, 4, 64, 64, 64),
    (8, 2, 32, 32, 32),
    (1, 2, 96, 96, 96),
]
_SIZES = {2: [(64, 64), (256, 256), (512, 512)], 3: [(32, 32, 32), (64, 64, 64), (96, 96, 96)]}
_BATCH, _CLASSES = (1, 8), (2, 4, 21, 64)


def _full_seg(dims: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [(b, c, *s) for d in dims for b, c, s in itertools.product(_BATCH, _CLASSES, _SIZES[d])]


GRIDS: dict[str, dict[str, Callable[[Hot], list[tuple[int, ...]]]]] = {
    "default": {
        "seg": lambda h: [s for s in _SEG_DEFAULT if len(s) - 2 in h.dims],
        "ml": lambda h: [s for s in _SEG_DEFAULT if len(s) - 2 in h.dims],
        "reg": lambda h: [(1, 1, 32, 32, 32), (8, 1, 64, 64, 64), (1, 1, 96, 96, 96)],
        "img": lambda h: [(1, 3, 64, 64), (8, 3, 256, 256), (1, 3, 512, 512)],
        "box": lambda h: [(1024,), (65536,)],
        "lm": lambda h: [(1024, 256, 8192), (2048, 512, 16384)],
    },
    "quick": {  # a smoke run (run.py --quick): tiny shapes, each kind once or twice
        "seg": lambda h: [s for s in [(1, 2, 32, 32), (2, 4, 16, 16, 16)] if len(s) - 2 in h.dims],
        "ml": lambda h: [s for s in [(1, 2, 32, 32), (2, 4, 16, 16, 16)] if len(s) - 2 in h.dims],
        "reg": lambda h: [(1, 1, 16, 16, 16)],
        "img": lambda h: [(1, 3, 32, 32)],
        "box": lambda h: [(256,)],
        "lm": lambda h: [(128, 32, 512)],
    },
    "full": {
        "seg": lambda h: _full_seg(h.dims),
        "ml": lambda h: _full_seg(h.dims),
        "reg": lambda h: [(b, 1, *s) for b, s in itertools.product(_BATCH, _SIZES[3])],
        "img": lambda h: [(b, 3, *s) for b, s in itertools.product(_BATCH, _SIZES[2])],
        "box": lambda h: [(1024,), (65536,), (1048576,)],
        "lm": lambda h: [(1024, 256, 8192), (2048, 512, 16384), (8192, 1024, 32768)],
    },
}


def grid_for(hot: Hot, grid: str) -> list[tuple[int, ...]]:
    return GRIDS[grid][hot.kind](hot)


@dataclass
class PointResult:
    """One grid point of one loss: times (s) and peak memory (bytes) by implementation label."""

    shape: tuple[int, ...]
    times: dict[str, float] = field(default_factory=dict)
    memory: dict[str, int] = field(default_factory=dict)
    libs: dict[str, str] = field(default_factory=dict)  # label -> "losskit" | peer lib | "naive" | "compiled"
    skipped: dict[str, str] = field(default_factory=dict)
    eager_again: float | None = None  # losskit eager, timed with the compiled rows

    def _best(self, libs: tuple[str, ...], what: dict[str, float] | dict[str, int]) -> tuple[float | None, str]:
        found = [(float(v), k) for k, v in what.items() if self.libs.get(k) in libs]
        return min(found) if found else (None, "")

    @property
    def peer_libs(self) -> tuple[str, ...]:
        libs = {v for v in self.libs.values() if v not in ("losskit", "naive", "compiled")}
        return tuple(libs) if libs else ("naive",)  # no peer library: the naive formula stands in

    def ratio_time_peer(self, losskit: str) -> tuple[float | None, str]:
        best, who = self._best(self.peer_libs, self.times)
        return (self.times[losskit] / best if best and losskit in self.times else None), who

    def ratio_memory_peer(self, losskit: str) -> tuple[float | None, str]:
        best, who = self._best(self.peer_libs, self.memory)
        if best is None or losskit not in self.memory:
            return None, who
        return (self.memory[losskit] + 2**18) / (best + 2**18), who  # a 256 KiB floor: RSS moves by pages

    def ratio_time_compiled(self) -> tuple[float | None, str]:
        found = [(v, k) for k, v in self.times.items() if self.libs.get(k) == "compiled" and "losskit" not in k]
        if not found or self.eager_again is None:
            return None, ""
        best, who = min(found)
        return self.eager_again / best, who

    def ratio_compiled_self(self, compiled: str) -> float | None:
        if compiled not in self.times or self.eager_again is None:
            return None
        return self.times[compiled] / self.eager_again


@dataclass
class LossResult:
    hot: Hot
    points: list[PointResult] = field(default_factory=list)


def _sync(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _step(fn: Callable[[Inputs], torch.Tensor], inputs: Inputs, sync: Callable[[], None]) -> Step:
    leaves = [t for t in inputs.values() if t.requires_grad]

    def step() -> torch.Tensor:
        loss = fn(inputs)
        loss.backward()
        for t in leaves:
            t.grad = None
        sync()
        return loss.detach()

    return step


def _peak(step: Step, device: str) -> int | None:
    if device.startswith("cuda"):
        step()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        return int(torch.cuda.max_memory_allocated() - base)
    return peak_memory(step, tries=1) if memory_supported() else None


def _compiled(impl: Impl) -> Impl:
    def make() -> Callable[[Inputs], torch.Tensor]:
        return torch.compile(impl.make())  # type: ignore[no-any-return]

    return Impl(f"{impl.label} [compiled]", "compiled", make)


def _build(impl: Impl, inputs: Inputs, sync: Callable[[], None]) -> tuple[Step | None, str]:
    try:
        step = _step(impl.make(), inputs, sync)
        out = step()
        if out.numel() != 1:
            return None, f"returned shape {tuple(out.shape)}"
        return step, ""
    except Exception as exc:  # noqa: BLE001 - a peer that cannot run at this point is a skipped row
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, f"{type(exc).__name__}: {first}"[:140]


def _build_all(impls: list[Impl], inputs: Inputs, sync: Callable[[], None], res: PointResult) -> dict[str, Step]:
    """The steps of ``impls`` that build and run, by label; the others go to ``res.skipped`` with the reason."""
    steps: dict[str, Step] = {}
    for impl in impls:
        step, why = _build(impl, inputs, sync)
        if step is None:
            res.skipped[impl.label] = why
        else:
            steps[impl.label] = step
            res.libs[impl.label] = impl.lib
    return steps


def _time(steps: dict[str, Step], budget_s: float) -> dict[str, Timing]:
    return time_interleaved(steps, repeats=7, min_repeats=3, warmup=1, budget_s=budget_s, min_total_s=0.3)


def run_point(hot: Hot, shape: tuple[int, ...], device: str, budget_s: float, memory: bool) -> PointResult:
    """Both phases at one point (see the module docstring)."""
    import torch._dynamo

    torch._dynamo.reset()
    sync = _sync(device)
    res = PointResult(shape)
    inputs = inputs_for(hot.kind, shape, device)
    naive = hot.naive()
    eager = [hot.losskit, *hot.peers, *([naive] if naive else [])]
    steps = _build_all(eager, inputs, sync, res)
    for label, timing in _time(steps, budget_s).items():
        res.times[label] = timing.median
    if memory and device.startswith("cuda"):
        for label, step in steps.items():
            peak = _peak(step, device)
            if peak is not None:
                res.memory[label] = peak
    peers = [i for i in hot.peers if i.label in res.times]
    fastest = min(peers, key=lambda i: res.times[i.label]) if peers else None
    compiled = [_compiled(i) for i in (hot.losskit, naive, fastest) if i is not None]
    phase2: dict[str, Step] = {hot.losskit.label: steps[hot.losskit.label]} if hot.losskit.label in steps else {}
    phase2.update(_build_all(compiled, inputs, sync, res))
    timings = _time(phase2, budget_s)
    for label, timing in timings.items():
        if label == hot.losskit.label:
            res.eager_again = timing.median
        else:
            res.times[label] = timing.median
    del steps, phase2, inputs
    return res


def run_sweep(
    grid: str = "default",
    device: str = "cpu",
    only: str | None = None,
    budget_s: float = 1.0,
    memory: bool = True,
    log: Callable[[str], None] = print,
) -> list[LossResult]:
    """Every hot loss (``only``: those whose name matches the regex) over ``grid`` on ``device``."""
    import re

    import torch._dynamo

    torch._dynamo.config.cache_size_limit = 64  # a fresh compile per shape, never a silent fall back to eager
    results = []
    for hot in HOT:
        if only and not re.search(only, hot.name, re.IGNORECASE):
            continue
        lr = LossResult(hot)
        peaks = memory_in_worker(hot, grid, device) if memory and not device.startswith("cuda") else {}
        for shape in grid_for(hot, grid):
            t0 = time.perf_counter()
            try:
                point = run_point(hot, shape, device, budget_s, memory)
            except torch.OutOfMemoryError as exc:  # type: ignore[attr-defined]
                point = PointResult(shape, skipped={"*": f"out of memory: {str(exc)[:80]}"})
            point.memory.update(peaks.get(_key(shape), {}))
            lr.points.append(point)
            ratio, who = point.ratio_time_peer(hot.losskit.label)
            shown = f"{ratio:.2f}x vs {who}" if ratio else "no peer"
            log(f"  {hot.name} {'x'.join(map(str, shape))}: {shown} ({time.perf_counter() - t0:.0f} s)")
        results.append(lr)
    return results


def summary(lr: LossResult) -> dict[str, tuple[float | None, str]]:
    """The five figures of the goals: (value, where / against whom)."""
    lk = lr.hot.losskit.label
    comp = f"{lk} [compiled]"

    def shape(p: PointResult) -> str:
        return "x".join(map(str, p.shape))

    peer = [(r, f"{shape(p)} vs {w}") for p in lr.points for r, w in [p.ratio_time_peer(lk)] if r is not None]
    mem = [(r, f"{shape(p)} vs {w}") for p in lr.points for r, w in [p.ratio_memory_peer(lk)] if r is not None]
    cbase = [(r, f"{shape(p)} vs {w}") for p in lr.points for r, w in [p.ratio_time_compiled()] if r is not None]
    cself = [(r, shape(p)) for p in lr.points for r in [p.ratio_compiled_self(comp)] if r is not None]

    def med(xs: list[tuple[float, str]]) -> tuple[float | None, str]:
        return (statistics.median(r for r, _ in xs), f"{len(xs)} points") if xs else (None, "not measured")

    def worst(xs: list[tuple[float, str]]) -> tuple[float | None, str]:
        return max(xs) if xs else (None, "not measured")

    return {
        "time vs fastest eager peer (median)": med(peer),
        "time vs fastest eager peer (worst)": worst(peer),
        "time vs fastest compiled baseline (median)": med(cbase),
        "peak memory vs lowest peer (worst)": worst(mem),
        "compiled losskit vs eager losskit (worst)": worst(cself),
    }


#: The bound of each figure of :func:`summary` (issue 14).
GOALS = {
    "time vs fastest eager peer (median)": 0.8,
    "time vs fastest eager peer (worst)": 1.0,
    "time vs fastest compiled baseline (median)": 1.0,
    "peak memory vs lowest peer (worst)": 1.0,
    "compiled losskit vs eager losskit (worst)": 1.0,
}


def _key(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def memory_in_worker(hot: Hot, grid: str, device: str) -> dict[str, dict[str, int]]:
    """``{point: {label: peak bytes}}`` of the eager implementations of ``hot``, from a fresh worker process."""
    if not memory_supported():
        return {}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-worker", hot.name, "--grid", grid]
    cmd += ["--device", device, "--threads", str(torch.get_num_threads())]
    env = {**os.environ, **MALLOC_ENV}
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return {}
    if proc.returncode != 0:
        print(f"  memory worker for {hot.name} failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return {}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def memory_worker(name: str, grid: str, device: str) -> None:
    """Print the peaks of every eager implementation of the hot loss ``name`` at every point of ``grid``."""
    hot = next(h for h in HOT if h.name == name)
    naive = hot.naive()
    out: dict[str, dict[str, int]] = {}
    for shape in grid_for(hot, grid):
        inputs = inputs_for(hot.kind, shape, device)
        peaks = out.setdefault(_key(shape), {})
        for impl in [hot.losskit, *hot.peers, *([naive] if naive else [])]:
            step, _ = _build(impl, inputs, lambda: None)
            if step is not None:
                peaks[impl.label] = peak_memory(step, tries=1)
            del step
        del inputs
    print(json.dumps(out))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="the sweep's memory worker (run.py --sweep runs the sweep)")
    ap.add_argument("--memory-worker", required=True)
    ap.add_argument("--grid", default="default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import warnings

    warnings.filterwarnings("ignore")
    memory_worker(args.memory_worker, args.grid, args.device)
