"""``losskit bench``: a front for ``benchmarks/run.py``, which ships with the source repository only."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

__all__ = ["cmd_bench", "find_bench_script"]


def find_bench_script() -> Path | None:
    """``benchmarks/run.py`` of the current directory, else of the source checkout losskit runs from."""
    here = Path(__file__).resolve()
    for root in (Path.cwd(), here.parents[3]):  # .../src/losskit/cli/bench_cmd.py -> the repository
        script = root / "benchmarks" / "run.py"
        if script.is_file():
            return script
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    script = find_bench_script()
    if script is None:
        raise FileNotFoundError(
            "benchmarks/run.py not found: the benchmarks ship with the source repository; run from a checkout"
        )
    forwarded = list(args.args)
    if forwarded[:1] == ["--"]:  # `losskit bench -- --help`: the separator is ours, not the script's
        forwarded = forwarded[1:]
    # A child process, not runpy: the benchmark owns its argv, its imports and its exit code.
    return subprocess.call([sys.executable, str(script), *forwarded], cwd=script.parent.parent)
