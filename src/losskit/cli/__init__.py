"""The ``losskit`` command line: ``list``, ``info``, ``check``, ``compare``, ``plot``, ``docs`` and ``bench``.

Every failure is one line, ``losskit: error: ...`` on stderr with a non-zero exit code, including losskit's
own hints (did-you-mean, valid parameters); ``--debug`` shows the traceback instead. ``rich`` and
``matplotlib`` (the ``[cli]`` extra) are imported only by the commands that use them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

_PROG = "losskit"
MAX_EXAMPLE_ELEMENTS = 2**24  # = losskit.testing.MAX_EXAMPLE_ELEMENTS, not imported: the parser must stay light


class _Usage(Exception):
    """A usage problem found after parsing (exit code 2, like argparse's own)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Find, inspect, validate and compare the losses of the losskit registry.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--plain", action="store_true", help="plain text output even when rich is installed")
    parser.add_argument(
        "-I",
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it may register losses); repeatable. The current directory is importable",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="list the registered losses")
    p.add_argument("pattern", nargs="?", help="shell-style pattern on names and aliases, e.g. '*dice*'")
    p.add_argument("--task", help="only losses for this task (segmentation, classification, ...)")
    p.add_argument("--tag", help="only losses with this tag (imbalanced, ...)")
    p.add_argument("--names", action="store_true", help="bare names, one per line (for scripts)")

    p = sub.add_parser("info", help="everything about one loss: parameters, inputs, docs, source, a config")
    p.add_argument("name", help="a loss name or alias")
    p.add_argument("--config", action="store_true", help="print only the example YAML config")
    p.add_argument("--no-source", action="store_true", help="leave out the source code")

    p = sub.add_parser("check", help="validate and build a loss config, then run it on example inputs")
    p.add_argument("config", help="a YAML file (any format build_loss accepts) or a loss name")
    p.add_argument("--seed", type=int, default=0, help="seed of the example inputs (default 0)")
    p.add_argument(
        "--shape",
        action="append",
        metavar="NAME=D1,D2,...",
        help="shape of an example input, e.g. input=2,3,16,16 (repeatable); the other inputs follow where they can",
    )
    p.add_argument(
        "--max-elements",
        type=int,
        default=MAX_EXAMPLE_ELEMENTS,
        metavar="N",
        help=f"cap on the elements of all example inputs together (default {MAX_EXAMPLE_ELEMENTS:,}); "
        "a config that sizes them larger (num_classes: 250000000) is refused, nothing that large is allocated",
    )
    p.add_argument("--allow-imports", action="store_true", help="let a dotted _target_ come from any package")
    p.add_argument("--allow-import", action="append", metavar="PACKAGE", help="let _target_ come from PACKAGE")

    p = sub.add_parser(
        "compare",
        help="train a small model once per loss and seed, on real or synthetic data, and report",
        description="Train the same small model once per loss and seed and compare validation metrics "
        "(mean +- std over seeds; a best loss is named only when its lead exceeds the spread). "
        "See docs/compare.md for the --config file format.",
    )
    p.add_argument("--list", action="store_true", help="list the tasks and their datasets, then exit")
    p.add_argument("--task", default="segmentation", help="segmentation (default), classification or registration")
    p.add_argument(
        "--dataset", help="the task's dataset (default: its real one when installed, else the synthetic one)"
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="your own segmentation data: DIR/images/*.png and DIR/masks/*.png, paired by file name",
    )
    p.add_argument("--seeds", type=int, default=3, help="train every loss with this many seeds (default 3)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--losses", help="comma-separated loss names (default: the task's list)")
    group.add_argument(
        "--config",
        help="YAML file of loss specs: a list (items may carry a 'label'), a {label: spec} mapping, or "
        "{losses: [...]}; combined specs included (docs/compare.md)",
    )
    p.add_argument("--epochs", type=int, help="training epochs (default: the task's)")
    p.add_argument(
        "--seed", type=int, default=0, help="first seed (default 0): seeds SEED..SEED+SEEDS-1; synthetic data uses SEED"
    )
    p.add_argument("--samples", type=int, help="training samples (default: the dataset's; real data: all)")
    p.add_argument("--size", type=int, help="image side (default 64; images are resized to it)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the task's)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: the task's)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: fast enough for the tiny model, same numbers on any machine)",
    )
    p.add_argument("--out", default="compare-results", help="output folder (default ./compare-results)")
    p.add_argument("--no-plot", action="store_true", help="skip curves.png (no matplotlib needed)")

    p = sub.add_parser("plot", help="draw losses and their gradients against the prediction (a PNG)")
    p.add_argument("names", metavar="NAME[,NAME...]", help="comma-separated loss names, e.g. mse,l1,huber")
    p.add_argument("--vary", metavar="PARAM=V1,V2,...", help="one curve per value, e.g. gamma=0,0.5,1,2,5")
    p.add_argument(
        "--set", action="append", metavar="PARAM=VALUE", help="set a parameter of every loss, e.g. alpha=null"
    )
    p.add_argument("--points", type=int, default=201, help="points per curve (default 201)")
    p.add_argument("--out", help="PNG file to write (default: the names joined by '-', e.g. focal.png)")

    p = sub.add_parser("docs", help="write the loss catalogue (markdown) generated from the registry")
    p.add_argument("--out", help="file to write (default: stdout)")
    p.add_argument("--all", action="store_true", help="include losses from plugins and imported modules")

    p = sub.add_parser("schema", help="write the JSON Schema of loss configs (for editors and validators)")
    p.add_argument("--out", help="file to write (default: stdout)")
    p.add_argument("--builtin-only", action="store_true", help="only losskit's own losses (no plugins)")

    p = sub.add_parser(
        "bench",
        help="run benchmarks/run.py of a source checkout, with the given arguments",
        description="Runs benchmarks/run.py; its own options follow a '--' (losskit bench -- --quick).",
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to benchmarks/run.py")
    return parser


def _import_user_modules(modules: Sequence[str]) -> None:
    if not modules:
        return
    if os.getcwd() not in sys.path:  # a console script does not put the cwd on the path; python -m does
        sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise _Usage(f"--import {name}: {exc}") from exc


def _run(args: argparse.Namespace) -> int:
    from ._render import Out

    _import_user_modules(args.imports)
    out = Out(plain=args.plain)
    if args.command in ("list", "info", "check"):
        from . import inspect_cmds

        return int(getattr(inspect_cmds, f"cmd_{args.command}")(args, out))
    if args.command == "compare":
        from .compare_cmd import cmd_compare

        return cmd_compare(args, out)
    if args.command == "plot":
        from .plot_cmd import cmd_plot

        return cmd_plot(args, out)
    if args.command == "docs":
        from .catalogue import cmd_docs

        return cmd_docs(args)
    if args.command == "schema":
        import json

        from ..config.schema import config_schema

        text = json.dumps(config_schema(builtin_only=args.builtin_only), indent=1, sort_keys=False) + "\n"
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            sys.stdout.write(text)
        return 0
    if args.command == "bench":
        from .bench_cmd import cmd_bench

        return cmd_bench(args)
    raise _Usage(f"unknown command {args.command!r}")  # argparse rejects these first; kept for safety


def _message(exc: BaseException) -> str:
    """The exception as one readable block: its text, then any notes (the builder says where it was)."""
    text = str(exc) or type(exc).__name__
    from ..errors import LossKitError
    from ._render import CliError

    if not isinstance(exc, (LossKitError, _Usage, CliError)) and not text.startswith(type(exc).__name__):
        text = f"{type(exc).__name__}: {text}"
    notes = getattr(exc, "__notes__", None) or []
    return "\n".join([text, *(f"  ({n.removeprefix('losskit: ')})" for n in notes)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help and usage errors: argparse has printed what it had to say
        return int(exc.code or 0)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `losskit list | head`: the reader left, nothing to report
        return 0
    except _Usage as exc:
        if args.debug:
            traceback.print_exc()
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"{_PROG}: error: {_message(exc)}", file=sys.stderr)
            from ..errors import LossKitError

            # Expected failures (bad config, missing file, missing extra) say everything in their message.
            if not isinstance(exc, (LossKitError, OSError, ValueError, ImportError)):
                print(f"{_PROG}: (run with --debug for the traceback)", file=sys.stderr)
        return 1
