"""Registry and builder overhead (issue 2): cold import, build by name, nested builds, Hydra and mmengine.

Usage::

    python benchmarks/bench_registry.py [--rounds 31] [--imports 7]

Prints (a) the cold ``import losskit`` time with torch already imported (fresh subprocesses, median),
(b) ``build_loss("name")`` against direct construction, (c) a nested combined-loss dict against building the
``CombinedLoss`` from modules, (d) the same single build through ``hydra.utils.instantiate`` and an mmengine
``Registry``, when installed. Per-build times are medians over interleaved rounds (each round times a batch
of calls of every candidate in turn); ratios are within this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
try:
    import losskit
except ImportError:  # a checkout without an installed package
    sys.path.insert(0, str(SRC))
    import losskit

# Below the path fallback on purpose: these need losskit importable (E402 waived line by line).
import torch  # noqa: E402

from losskit.zoo.classification import CrossEntropyLoss  # noqa: E402
from losskit.zoo.regression import L1Loss, MSELoss  # noqa: E402

IMPORT_SNIPPET = "import torch, time; t=time.perf_counter(); import losskit; print(time.perf_counter()-t)"
NESTED = {"losses": {"a": {"name": "mse"}, "b": {"_target_": "l1"}}, "weights": [0.5, 0.5]}


def cold_import(runs: int, cache_dir: str | None) -> list[float]:
    """Seconds to ``import losskit`` in fresh interpreters that already imported torch.

    With ``cache_dir``, bytecode is written to and read from that folder (``PYTHONPYCACHEPREFIX``; one
    priming run first, not counted): the normal case of an installed package. Without it, bytecode writing is
    off and every losskit module is compiled from source at each import (what ``PYTHONDONTWRITEBYTECODE=1``
    does to a source checkout).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    if cache_dir is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache_dir
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)

    def once() -> float:
        proc = subprocess.run(
            [sys.executable, "-c", IMPORT_SNIPPET], env=env, capture_output=True, text=True, check=True
        )
        return float(proc.stdout.strip().splitlines()[-1])

    if cache_dir is not None:
        once()  # writes the bytecode cache
    return [once() for _ in range(runs)]


def time_builds(candidates: dict[str, Callable[[], object]], rounds: int, batch: int = 200) -> dict[str, float]:
    """Median seconds per call of each candidate, interleaved round-robin (order rotating each round)."""
    names = list(candidates)
    for fn in candidates.values():  # warm-up (caches, first-call imports)
        for _ in range(20):
            fn()
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = candidates[name]
            t0 = time.perf_counter()
            for _ in range(batch):
                fn()
            samples[name].append((time.perf_counter() - t0) / batch)
    return {n: statistics.median(s) for n, s in samples.items()}


def peer_candidates() -> tuple[dict[str, Callable[[], object]], list[str]]:
    """Hydra and mmengine builds of ``MSELoss``, where installed (and why not, otherwise)."""
    out: dict[str, Callable[[], object]] = {}
    notes = []
    try:
        from hydra.utils import instantiate

        hydra_cfg = {"_target_": "torch.nn.MSELoss"}
        out['hydra instantiate({"_target_": "torch.nn.MSELoss"})'] = lambda: instantiate(hydra_cfg)
    except ImportError as exc:
        notes.append(f"hydra not installed ({exc})")
    try:
        from mmengine.registry import Registry

        registry = Registry("loss")
        registry.register_module(name="MSE", module=torch.nn.MSELoss)
        out['mmengine Registry("loss").build(dict(type="MSE"))'] = lambda: registry.build(dict(type="MSE"))
    except ImportError as exc:
        notes.append(f"mmengine not installed ({exc})")
    return out, notes


def _table(title: str, times: dict[str, float], ref: str) -> list[str]:
    lines = [f"### {title}", "", "| Build | µs per build | Ratio to direct |", "|---|---:|---:|"]
    for name, sec in times.items():
        lines.append(f"| {name} | {sec * 1e6:.1f} | {sec / times[ref]:.2f}x |")
    return lines + [""]


def report(rounds: int = 31, imports: int = 7) -> list[str]:
    """The issue-2 tables as markdown lines."""
    torch.set_num_threads(2)
    lines = [
        f"## Issue 2: registry / builder overhead (torch {torch.__version__}, losskit {losskit.__version__})",
        "",
        "### (a) cold `import losskit` after `import torch` (fresh interpreters)",
        "",
        "| Bytecode | Median | Runs (ms, sorted) | Goal <= 100 ms |",
        "|---|---:|---|---|",
    ]
    with tempfile.TemporaryDirectory() as cache:
        for label, where in (("cached (installed package)", cache), ("compiled from source each time", None)):
            runs = cold_import(imports, where)
            cold = statistics.median(runs)
            lines.append(
                f"| {label} | **{cold * 1e3:.1f} ms** | {', '.join(f'{t * 1e3:.0f}' for t in sorted(runs))} "
                f"| {'**met**' if cold <= 0.1 else '**NOT met**'} |"
            )
    lines.append("")

    build = losskit.build_loss
    single = {
        "direct MSELoss()": MSELoss,
        'build_loss("mse")': lambda: build("mse"),
        'build_loss({"name": "mse"})': lambda: build({"name": "mse"}),
        "direct CrossEntropyLoss()": CrossEntropyLoss,
        'build_loss("cross_entropy")': lambda: build("cross_entropy"),
        'build_loss("cross_entropy", label_smoothing=0.1)': lambda: build("cross_entropy", label_smoothing=0.1),
        "torch.nn.MSELoss()": torch.nn.MSELoss,
    }
    peers, notes = peer_candidates()
    times = time_builds({**single, **peers}, rounds)
    mse, ce = times["direct MSELoss()"], times["direct CrossEntropyLoss()"]
    lines += [
        "### (b) + (d) single builds",
        "",
        "| Build | µs per build | Ratio to direct losskit class |",
        "|---|---:|---:|",
    ]
    for name, sec in times.items():
        ref = ce if "ross" in name and "MSE" not in name else mse
        lines.append(f"| {name} | {sec * 1e6:.1f} | {sec / ref:.2f}x |")
    lines += [f"| *note* | {'; '.join(notes)} | |"] if notes else []
    worst = max(times['build_loss("mse")'] / mse, times['build_loss("cross_entropy")'] / ce)
    lines += [
        "",
        f"Goal `build_loss(name)` <= 3x direct: worst {worst:.2f}x: " + ("**met**" if worst <= 3 else "**NOT met**"),
        "",
    ]

    nested = time_builds(
        {
            "direct CombinedLoss({'a': MSELoss(), 'b': L1Loss()}, [0.5, 0.5])": lambda: losskit.CombinedLoss(
                {"a": MSELoss(), "b": L1Loss()}, [0.5, 0.5]
            ),
            "build_loss(nested dict)": lambda: build(NESTED),
        },
        rounds,
        batch=100,
    )
    lines += _table("(c) nested combined dict " + f"`{NESTED}`", nested, next(iter(nested)))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=31, help="interleaved rounds per table")
    ap.add_argument("--imports", type=int, default=7, help="fresh interpreters for the cold import")
    args = ap.parse_args(argv)
    print("\n".join(report(args.rounds, args.imports)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
