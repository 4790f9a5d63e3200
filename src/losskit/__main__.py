"""``python -m losskit``: the command line (same as the ``losskit`` console script)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
