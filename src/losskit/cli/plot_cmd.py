"""``losskit plot``: each loss and its gradient against the prediction, as a PNG (see :mod:`losskit.plotting`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._render import CLI_HINT, Out
from .compare_cmd import MissingExtra

if TYPE_CHECKING:
    from ..plotting import LossCurves

__all__ = ["cmd_plot", "default_path", "save_plot"]


def _limits(curves: LossCurves, which: str) -> tuple[float, float] | None:
    """y limits that keep the curves readable: on the probability axis the gradient at the ends (-1/p at
    p = 0.01) would flatten the rest, so it is scaled to the x values 5% away from the ends."""
    from ..plotting import X_RANGE

    lo, hi = X_RANGE[curves.axis]
    margin = 0.05 * (hi - lo) if curves.axis == "probability" and which == "grad" else 0.0
    ys = [
        y
        for c in curves.curves
        for x, y in zip(c.x, c.grad if which == "grad" else c.value, strict=True)
        if lo + margin <= x <= hi - margin and math.isfinite(y)
    ]
    if not ys:
        return None
    bottom, top = min(ys), max(ys)
    pad = 0.05 * (top - bottom) or 0.5
    return bottom - pad, top + pad


def save_plot(curves: LossCurves, path: str | Path, *, title: str | None = None, dpi: int = 100) -> Path:
    """Draw ``curves`` as a PNG with two panels (loss; gradient) and return its path (needs matplotlib).

    The output is deterministic: fixed size and dpi, no software/date metadata.
    """
    from matplotlib.figure import Figure

    from ..plotting import X_RANGE

    fig = Figure(figsize=(11.0, 4.4), dpi=dpi)
    left, right = fig.subplots(1, 2)
    styles = ("-", "--", "-.", ":")
    several = curves.vary is None and len(curves.curves) > 1  # distinct losses may coincide: dashes show both
    for i, c in enumerate(curves.curves):
        dash = styles[(i if several else i // 10) % len(styles)]
        style = {"color": f"C{i % 10}", "linestyle": dash, "linewidth": 1.8}
        left.plot(c.x, c.value, label=c.label, **style)
        right.plot(c.x, c.grad, label=c.label, **style)
    for ax, which, name in ((left, "value", "loss"), (right, "grad", curves.grad_label)):
        ax.set_xlabel(curves.x_label)
        ax.set_ylabel(name)
        ax.set_xlim(*X_RANGE[curves.axis])
        limits = _limits(curves, which)
        if limits is not None:
            ax.set_ylim(*limits)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.grid(True, alpha=0.3)
    left.set_title("loss")
    right.set_title(f"gradient {curves.grad_label}")
    left.legend(fontsize="small")
    fig.suptitle(title or curves.title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=dpi, metadata={"Software": None})
    return out


def _set_items(items: list[str] | None) -> dict[str, Any]:
    """``--set PARAM=VALUE`` options as a parameter mapping."""
    from ..plotting import PlotError, parse_value

    params: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise PlotError(f"--set {item!r}: expected PARAM=VALUE such as alpha=null")
        params[name.strip()] = parse_value(value)
    return params


def default_path(names: list[str]) -> Path:
    """``<names joined>.png`` in the current directory, e.g. ``focal.png`` or ``mse-l1-huber.png``."""
    return Path("-".join(names) + ".png")


def cmd_plot(args: argparse.Namespace, out: Out) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingExtra(f"plot needs matplotlib: {CLI_HINT}") from None
    from ..plotting import PlotError, loss_curves, parse_vary

    names = [n.strip() for n in args.names.split(",") if n.strip()]
    if not names:
        raise PlotError("give at least one loss name, e.g. losskit plot focal --vary gamma=0,0.5,1,2,5")
    vary = parse_vary(args.vary) if args.vary else None
    curves = loss_curves(names, vary, points=args.points, params=_set_items(args.set))
    path = save_plot(curves, args.out or default_path(names))
    out.line(f"wrote {path} ({len(curves.curves)} curves; x: {curves.x_label})")
    return 0
