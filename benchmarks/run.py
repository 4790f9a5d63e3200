"""Run the loss benchmarks of issues 3, 4, 11 and 13 and write ``benchmarks/RESULTS.md``.

Usage::

    python benchmarks/run.py                  # the full run (what ``make bench`` does)
    python benchmarks/run.py --quick          # small shapes, few repeats: a smoke run (RESULTS.quick.md)
    python benchmarks/run.py --threads 1 --out benchmarks/RESULTS-1thread.md   # a control run
    python benchmarks/run.py --only dice      # cases whose id contains / matches the pattern
    python benchmarks/run.py --only issue11   # every case of one issue (issue3, issue4, issue11)
    python benchmarks/run.py --sweep          # issue 14's full sweep only (RESULTS-sweep.md and a heat map)
    python benchmarks/run.py --sweep default  # the sweep's default grid alone (what make bench appends)
    python benchmarks/run.py --sweep --device cuda --out benchmarks/RESULTS-cuda.md   # the sweep on a GPU

The cases come from ``cases.py`` (issues 3 and 4) and the optional case modules (``CASE_MODULES``); a case
module that is missing or fails to import is skipped with a note, never a failed run.

Every case times forward+backward of losskit, MONAI, kornia and a floor on the same tensors in this process,
interleaved (medians; see ``_harness``), then measures each implementation's peak memory in a fresh worker
process (``--memory-worker``). Then the sweep (``sweep.py``, issue 14) walks the hot losses over its default grid
against every peer and two compiled baselines, and adds its goals and a heat map (``sweep-heatmap.png``). See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    import losskit  # noqa: F401
except ImportError:  # run from a checkout without an installed package
    sys.path.insert(0, str(HERE.parent / "src"))

# Below the path fallback on purpose: the harness imports losskit (E402 waived line by line).
import torch  # noqa: E402

from _harness import (  # noqa: E402
    MALLOC_ENV,
    THREADS,
    Step,
    load_average,
    machine_info,
    memory_supported,
    peak_memory,
    time_interleaved,
)
from _report import CaseResult, Row, case_table, check_goals, goals_table  # noqa: E402
from cases import Case, Impl, Inputs, LossFn, make_cases  # noqa: E402

warnings.filterwarnings("ignore")

#: Optional case modules: (module in benchmarks/, factory ``f(quick) -> list[Case]``, issue). With an issue, the
#: module's cases count as that issue whatever their ``Case.issue`` says (the ``issueN`` selector and the report's
#: section); None keeps the cases' own.
CASE_MODULES: tuple[tuple[str, str, int | None], ...] = (
    ("cases_issue11", "make_issue11_cases", 11),
    ("cases_boundary", "make_boundary_cases", 11),
    ("cases_topology", "make_topology_cases", 11),
    ("cases_image_registration_extra", "make_image_registration_extra_cases", 11),
    ("cases_memory", "make_memory_cases", None),
    ("cases_contrastive", "make_contrastive_cases", None),
)
#: Section titles of RESULTS.md by issue (an issue not listed gets a plain "Issue N" section).
SECTIONS = {
    3: "segmentation / classification",
    4: "registration and boxes",
    11: "topology, boundary, image quality",
    13: "memory-bounded losses",
}


def load_cases(quick: bool) -> tuple[list[Case], list[str]]:
    """Every case (``cases.make_cases`` first, then the optional modules) and a note per module skipped."""
    cases, notes = make_cases(quick), []
    for module, factory, issue in CASE_MODULES:
        try:
            extra = getattr(importlib.import_module(module), factory)(quick)
        except ModuleNotFoundError as exc:
            notes.append(f"{module}.py: not present" if exc.name == module else f"{module}.py: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - a half-written case module must not stop the run
            notes.append(f"{module}.py skipped: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        seen = {c.id for c in cases}
        for case in extra:
            if case.id in seen:  # the memory worker finds a case by its id
                notes.append(f"{module}.py: case {case.id!r} skipped (the id is taken)")
                continue
            seen.add(case.id)
            cases.append(case if issue is None or case.issue == issue else dataclasses.replace(case, issue=issue))
    return cases, notes


def make_step(fn: LossFn, inputs: Inputs) -> Step:
    """Forward+backward of ``fn`` on ``inputs``; the gradient is dropped afterwards (it is part of the cost)."""
    pred = inputs["pred"]

    def step() -> torch.Tensor:
        loss = fn(inputs)
        loss.backward()
        pred.grad = None
        return loss.detach()

    return step


def _build(impl: Impl, inputs: Inputs) -> tuple[Step, float] | tuple[None, str]:
    """The implementation's step and its loss value, or ``None`` and the reason it cannot run."""
    try:
        step = make_step(impl.make(), inputs)
        value = step()
        if value.numel() != 1:
            return None, f"returned shape {tuple(value.shape)}, not a scalar"
        return step, float(value)
    except Exception as exc:  # noqa: BLE001 - any failure is a skipped row
        msg = str(exc).splitlines()[0] if str(exc) else ""
        if type(exc).__name__ == "UnknownLossError":
            return None, "not registered (yet)"
        return None, f"{type(exc).__name__}: {msg}"[:160]


def run_case(case: Case, *, repeats: int, memory: bool, quick: bool) -> CaseResult:
    """Time (here) and measure the memory (in a worker) of every implementation of ``case``."""
    inputs = case.inputs(case.shape)
    result = CaseResult(case)
    steps: dict[str, Step] = {}
    for impl in case.impls:
        step, info = _build(impl, inputs)
        if step is None:
            result.rows.append(Row(impl, skipped=str(info)))
        else:
            steps[impl.label] = step
            result.rows.append(Row(impl, value=float(info)))
    timings = time_interleaved(
        steps,
        repeats=repeats,
        budget_s=case.budget_s / (4 if quick else 1),
        min_repeats=min(2, case.min_repeats) if quick else case.min_repeats,
        warmup=1 if quick else 2,
        min_total_s=0.0 if quick else 1.5,
    )
    for row in result.rows:
        row.timing = timings.get(row.impl.label)
    del inputs, steps
    if memory:
        peaks = _memory_in_worker(case.id, quick, [r.impl.label for r in result.rows if not r.skipped])
        for row in result.rows:
            row.memory = peaks.get(row.impl.label)
    return result


def _memory_in_worker(case_id: str, quick: bool, labels: list[str]) -> dict[str, int]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-worker", case_id]
    if quick:
        cmd.append("--quick")
    cmd += ["--threads", str(torch.get_num_threads())]
    env = {**os.environ, **MALLOC_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent / "src"), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        print(f"  memory worker failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return {}
    peaks = json.loads(proc.stdout.strip().splitlines()[-1])
    return {k: v for k, v in peaks.items() if k in labels and v is not None}


def memory_worker(case_id: str, quick: bool) -> None:
    """Print ``{label: peak bytes}`` for the case with id ``case_id``, one implementation after another (by id, not
    position: an optional case module could import in the parent and not here)."""
    case = next(c for c in load_cases(quick)[0] if c.id == case_id)
    inputs = case.inputs(case.shape)
    out: dict[str, int | None] = {}
    for impl in case.impls:
        step, _ = _build(impl, inputs)
        out[impl.label] = peak_memory(step) if step is not None else None
        del step
    print(json.dumps(out))


def select(cases: list[Case], pattern: str | None) -> list[Case]:
    """Cases whose id matches ``pattern`` (a case-insensitive regular expression), or whose issue it names exactly
    (``issue3``, ``issue4``, ``issue11``)."""
    if not pattern:
        return cases
    rx = re.compile(pattern, re.IGNORECASE)
    return [c for c in cases if rx.search(c.id) or rx.fullmatch(f"issue{c.issue}")]


def write_results(
    path: Path, results: list[CaseResult], command: str, elapsed: float, memory: bool, extra: dict[str, list[str]]
) -> None:
    """Write the markdown report: header, goals, the issue tables (``extra``: load averages, issue 2)."""
    info = machine_info()
    goals = [g for r in results for g in check_goals(r)]
    met = sum(g.met is True for g in goals)
    lines = [
        "# losskit benchmark results",
        "",
        f"- Command: `{command}` ({elapsed / 60:.1f} min)",
        f"- Date: {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}; source: {extra['revision'][0]}",
        f"- Machine: {info['cpu']}; {info['os']}",
        f"- Python {info['python']}, torch {info['torch']}, {info['threads']} threads "
        f"(`torch.set_num_threads({torch.get_num_threads()})`), {_versions()}",
        f"- Load average (1/5/15 min) at the start: {extra['load'][0]}; at the end: {extra['load'][1]} "
        "(other processes share the cores: with 2 threads, ops wait for a descheduled thread, which slows "
        "implementations made of many small ops the most)",
        "",
        "Times are forward+backward medians of interleaved repeats on the same tensors in one process "
        "(`n` = repeats; slow implementations get fewer). Ratios compare figures from the same run. "
        "Peak memory is the growth of the peak resident set (VmHWM) over the baseline with the inputs "
        "already allocated, during one forward+backward, in a fresh worker process with glibc's mmap "
        "threshold fixed so freed tensors leave the RSS at once (see `benchmarks/README.md`). "
        "It includes the input's gradient, which every implementation allocates alike."
        + ("" if memory else " **Memory was not measured in this run.**"),
        "",
        f"## Goals ({met} of {len(goals)} met)",
        "",
        *goals_table(goals),
    ]
    if extra.get("notes"):
        lines += ["", "Case modules skipped: " + "; ".join(extra["notes"]) + "."]
    for issue in sorted({r.case.issue for r in results}):
        sub = [r for r in results if r.case.issue == issue]
        title = f": {SECTIONS[issue]}" if issue in SECTIONS else ""
        lines += ["", f"## Issue {issue}{title}", "", *case_table(sub)]
    if extra.get("sweep"):
        lines += ["", *extra["sweep"]]
    if extra.get("registry"):
        lines += ["", *extra["registry"]]
    path.write_text("\n".join(lines) + "\n")


def _registry(quick: bool) -> list[str]:
    """The issue-2 tables (``bench_registry.report``), or a line saying why they are missing."""
    try:
        import bench_registry

        lines = bench_registry.report(rounds=5 if quick else 31, imports=3 if quick else 7)
    except Exception as exc:  # noqa: BLE001
        return ["## Issue 2: registry / builder overhead", "", f"not measured: {type(exc).__name__}: {exc}"]
    print("\n".join(lines), flush=True)
    return lines


def _revision() -> str:
    """The commit measured, and the ``src/`` files that differed from it (the working tree is what runs)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=HERE.parent, capture_output=True, text=True, check=True
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"commit {head}" + (f" plus uncommitted changes to {', '.join(changed)}" if changed else "")


def _versions() -> str:
    out = []
    for mod in ("monai", "kornia"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001
            out.append(f"{mod} not installed")
    return ", ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small shapes and few repeats (smoke run)")
    ap.add_argument("--threads", type=int, default=THREADS, help=f"torch threads (default {THREADS})")
    ap.add_argument("--only", metavar="PATTERN", help="run the cases whose id matches this regex")
    ap.add_argument("--repeats", type=int, default=15, help="repeats per implementation (max)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory workers")
    ap.add_argument("--no-registry", action="store_true", help="skip the issue-2 tables (bench_registry.py)")
    ap.add_argument("--out", type=Path, help="markdown output (default RESULTS.md, RESULTS.quick.md)")
    ap.add_argument(
        "--sweep",
        nargs="?",
        const="full",
        choices=("quick", "default", "full"),
        help="only issue 14's sweep, over this grid (default: full)",
    )
    ap.add_argument("--no-sweep", action="store_true", help="skip the sweep (the cases only)")
    ap.add_argument("--device", default="cpu", help="the sweep's device (cuda: the sweep only)")
    ap.add_argument("--memory-worker", metavar="CASE_ID", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_worker is not None:
        memory_worker(args.memory_worker, args.quick)
        return 0
    memory = not args.no_memory and memory_supported()
    repeats = 3 if args.quick else args.repeats
    out = args.out or HERE / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    command = "python benchmarks/run.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    t0 = time.perf_counter()
    load_start, revision = load_average(), _revision()
    if args.sweep or args.device != "cpu":
        return _sweep_only(args, command, t0, load_start, revision, memory)
    cases, notes = load_cases(args.quick)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    results = []
    for case in select(cases, args.only):
        res = run_case(case, repeats=repeats, memory=memory, quick=args.quick)
        results.append(res)
        print("\n".join(case_table([res])[2:]), flush=True)
    if not results:
        print(f"no case matches {args.only!r}", file=sys.stderr)
        return 2
    extra = {"registry": [] if args.only or args.no_registry else _registry(args.quick)}
    grid = "quick" if args.quick else "default"
    extra["sweep"] = [] if args.no_sweep or args.only else _sweep(grid, "cpu", memory, out.parent)
    extra["load"] = [load_start, load_average()]
    extra["notes"] = notes
    extra["revision"] = [revision]
    write_results(out, results, command, time.perf_counter() - t0, memory, extra)
    goals = [g for r in results for g in check_goals(r)]
    print("\n" + "\n".join(goals_table(goals)))
    print(f"\nwrote {out}")
    return 0


def _sweep(grid: str, device: str, memory: bool, folder: Path, only: str | None = None) -> list[str]:
    """Run the sweep and return its markdown section; the heat map goes next to the report."""
    import sweep
    import sweep_report

    print(f"sweep ({grid} grid, {device})", flush=True)
    results = sweep.run_sweep(grid, device, only=only, memory=memory)
    name = "sweep-heatmap.png" if grid == "default" and device == "cpu" else f"sweep-{grid}-{device}-heatmap.png"
    note = sweep_report.heatmap(results, folder / name) if results else "no heat map: no loss ran"
    return [*sweep_report.sweep_markdown(results, grid, device), f"{note}", ""]


def _sweep_only(args: argparse.Namespace, command: str, t0: float, load_start: str, revision: str, memory: bool) -> int:
    """``--sweep`` / ``--device cuda``: the sweep alone, in its own report."""
    grid = args.sweep or "default"
    out = args.out or HERE / ("RESULTS-sweep.md" if args.device == "cpu" else f"RESULTS-{args.device}.md")
    section = _sweep(grid, args.device, memory, out.parent, only=args.only)
    info = machine_info()
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else info["cpu"]
    head = [
        "# losskit sweep results",
        "",
        f"- Command: `{command}` ({(time.perf_counter() - t0) / 60:.1f} min); source: {revision}",
        f"- Device: {device}; torch {info['torch']}, {info['threads']} CPU threads, {_versions()}",
        f"- Load average at the start: {load_start}; at the end: {load_average()}",
        "",
    ]
    out.write_text("\n".join(head + section) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
