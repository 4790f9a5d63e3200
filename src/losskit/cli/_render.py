"""Terminal output: ``rich`` tables and highlighting when the ``[cli]`` extra is installed, plain text otherwise.

Only ``compare`` requires rich (progress bars); ``list``, ``info`` and ``check`` degrade to plain text so the
core install (torch, numpy, PyYAML) can still inspect losses.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["Out", "CLI_HINT", "CliError", "have_rich", "one_line"]

CLI_HINT = "pip install 'losskit[cli]'"


class CliError(Exception):
    """A failure whose message says it all (shown without the exception's type), exit code 1."""


def have_rich() -> bool:
    """Whether ``rich`` can be imported (checked lazily: the core library never imports it)."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def one_line(text: str, limit: int = 88) -> str:
    """``text`` on one line, cut to ``limit`` characters: what fits in a table cell.

    No sentence splitting: summaries are full of "et al." and "e.g." that would cut them short.
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class Out:
    """Writes headings, tables, key/value lines and code to stdout, with rich or as plain text."""

    def __init__(self, plain: bool = False) -> None:
        self.console: Any = None
        if not plain and have_rich():
            from rich.console import Console

            # Resolved at call time so that redirected/captured stdout (tests, pipes) is honoured. Piped
            # output stays plain text (greppable, no box drawing) unless FORCE_COLOR asks for rich anyway.
            console = Console(file=sys.stdout, highlight=False)
            if console.is_terminal:
                self.console = console

    @property
    def rich(self) -> bool:
        return self.console is not None

    def line(self, text: str = "") -> None:
        if self.console is not None:
            self.console.print(text, markup=False)
        else:
            print(text)

    def heading(self, text: str) -> None:
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(text, style="bold cyan"))
        else:
            print(f"\n{text}\n{'-' * len(text)}" if text else "")

    def table(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None, wide_last: bool = False
    ) -> None:
        if self.console is not None:
            from rich.table import Table

            table = Table(title=title, show_lines=False, header_style="bold")
            last = len(columns) - 1
            for i, col in enumerate(columns):
                # Names (first column) are never cut, so they stay copy-pasteable; a long last column
                # (summaries) is cut with an ellipsis rather than wrapped, keeping one row per line.
                if i == last and last > 0 and wide_last:
                    table.add_column(col, no_wrap=True, overflow="ellipsis")
                else:
                    table.add_column(col, overflow="fold", no_wrap=i == 0)
            for row in rows:
                table.add_row(*("" if v is None else str(v) for v in row))
            self.console.print(table)
            return
        if title:
            print(title)
        cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        for k, row in enumerate(cells):
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
            if k == 0:
                print("  ".join("-" * w for w in widths))

    def code(self, text: str, language: str) -> None:
        if self.console is not None:
            from rich.syntax import Syntax

            self.console.print(Syntax(text.rstrip("\n"), language, theme="ansi_dark", word_wrap=True))
        else:
            print(text.rstrip("\n"))
