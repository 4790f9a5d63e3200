"""Pictures of the losses themselves: each loss and its gradient against the prediction (``losskit plot``).

The x axis follows what the loss declares (its :class:`~losskit.inputs.InputSpec`), never a list of names:

* **probability of the true class** ``p`` in (0, 1) for losses of logits, probabilities or log-probabilities
  against class indices or a binary / one-hot target (classification, dense segmentation, detection scores).
  Every element gets ``p`` for its true class: softmax logits put ``log(p (C - 1) / (1 - p))`` on the true class
  and 0 elsewhere; sigmoid (elementwise) logits are ``logit(p)`` where the target is 1 and ``-logit(p)`` where
  it is 0; probabilities are ``p`` and ``1 - p``. Classes are balanced (2 classes, each half of the elements).
* **residual** ``r = pred - target`` for elementwise regression losses (predictions against a same-shape
  target): ``input = target + r``.

The gradient is taken by autograd with respect to the x-axis variable itself (``d loss / d p`` or
``d loss / d r``). :func:`loss_curves` computes the curves (no matplotlib here);
:func:`losskit.cli.plot_cmd.save_plot` draws them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from .compare.specs import task_params, wants_one_hot, wants_probabilities
from .config import build_loss
from .config.loading import read_yaml
from .errors import LossKitError
from .inputs import TensorSpec
from .registration import LOSSES
from .testing.examples import spec_for

__all__ = ["Curve", "LossCurves", "PlotError", "loss_curves", "parse_value", "parse_vary", "X_RANGE"]

Axis = Literal["probability", "residual"]

#: The x range of each axis (the probability axis stays inside (0, 1), where -log p is finite).
X_RANGE: dict[str, tuple[float, float]] = {"probability": (0.01, 0.99), "residual": (-3.0, 3.0)}
X_LABEL = {"probability": "probability of the true class p", "residual": "residual r = pred - target"}
X_SYMBOL = {"probability": "p", "residual": "r"}
_NUM_CLASSES = 2
_SPATIAL = (4, 4)  # the voxels of a dense (segmentation) input
SUPPORTED = (
    "plot draws losses of one prediction against one target: logits, probabilities or log-probabilities with "
    "class indices or a binary/one-hot target (x: probability of the true class), or elementwise predictions "
    "with a same-shape target (x: residual)"
)
_TARGET_WORDS = re.compile(r"target|label|class|mask|binary|multi-hot|\{0, ?1\}|heat map")
_BINARY_WORDS = re.compile(r"binary|multi-hot|\{0, ?1\}|in \[0, 1\]")


class PlotError(LossKitError, ValueError):
    """A loss that cannot be drawn, or a plot request that does not fit (one-line message)."""


@dataclass(frozen=True)
class Curve:
    """One curve: the loss (with its varied parameter) against the x axis."""

    loss: str
    label: str
    x: list[float]
    value: list[float]
    grad: list[float]


@dataclass(frozen=True)
class LossCurves:
    """Every curve of one plot, all on the same x axis."""

    names: tuple[str, ...]
    axis: Axis
    curves: tuple[Curve, ...]
    vary: str | None = None
    fixed: str = ""  # the parameters set on every loss, e.g. "alpha=none"

    @property
    def x_label(self) -> str:
        return X_LABEL[self.axis]

    @property
    def title(self) -> str:
        what = "probability of the true class" if self.axis == "probability" else "residual (pred - target)"
        fixed = f" ({self.fixed})" if self.fixed else ""
        return f"{', '.join(self.names)}{fixed}: loss vs {what}"

    @property
    def grad_label(self) -> str:
        return f"d loss / d {X_SYMBOL[self.axis]}"


def parse_value(text: str) -> Any:
    """A command-line value as a config file would read it: int, float, bool, None (``null``/``none``) or str."""
    text = text.strip()
    if text.lower() == "none":
        return None
    value = read_yaml(text, "value")
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e-3 as a string
        except ValueError:
            return value
    return value


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``PARAM=v1,v2,...`` as ``(PARAM, [v1, v2, ...])``."""
    name, sep, values = text.partition("=")
    items = [v for v in values.split(",") if v.strip()]
    if not sep or not name.strip() or not items:
        raise PlotError(f"--vary {text!r}: expected PARAM=v1,v2,... such as gamma=0,0.5,1,2,5")
    return name.strip(), [parse_value(v) for v in items]


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _describe(tensors: Sequence[TensorSpec]) -> str:
    described = "; ".join(f"{t.name} {t.layout} {t.dtype} ({t.doc})".replace(" ()", "") for t in tensors)
    return described or "no declared inputs"


@dataclass(frozen=True)
class _Plan:
    """How to make one point's inputs for a built loss."""

    axis: Axis
    shape: tuple[int, ...]  # the input's shape
    channel: bool  # the input has a class dimension (dim 1)
    sigmoid: bool  # each element is its own binary problem (else: softmax over the classes)
    form: Literal["logits", "probabilities", "log-probabilities", "values"]
    target: Literal["indices", "one-hot", "values"]


def _alternatives(layout: str) -> list[list[str]]:
    """The dims of each ``(...)`` alternative of a declared layout, e.g. ``[["N", "C"], ["*"]]``."""
    return [[d.strip() for d in group.split(",") if d.strip()] for group in re.findall(r"\(([^()]*)\)", layout)]


def _shape(dims: Sequence[str]) -> tuple[tuple[int, ...], bool] | None:
    """The tiny shape of a layout alternative (N samples, C = 2 classes, a few voxels), and whether it has C."""
    spatial = any(d in ("H", "W", "D") or d.startswith("*spatial") for d in dims)
    shape: list[int] = []
    for d in dims:
        if d in ("N", "B"):
            shape.append(1 if spatial else _NUM_CLASSES)
        elif d == "C":
            shape.append(_NUM_CLASSES)
        elif d.startswith("*spatial"):
            shape.extend(_SPATIAL)
        elif d in ("H", "W", "D"):
            shape.append(_SPATIAL[0])
        elif d == "*":
            continue
        elif d.isdigit():
            shape.append(int(d))
        else:
            return None
    return (tuple(shape) if shape else (_NUM_CLASSES, _NUM_CLASSES)), "C" in dims


def _plan(name: str, module: nn.Module) -> _Plan:
    spec = spec_for(module)
    tensors = [t for t in (spec.tensors if spec is not None else ()) if not t.optional]

    def refuse(why: str) -> PlotError:
        return PlotError(f"cannot plot {name!r}: {why}; {SUPPORTED}. {name} takes: {_describe(tensors)}")

    if spec is None:
        raise refuse("it declares no inputs (register it with inputs=InputSpec(...) to say what they are)")
    if len(tensors) != 2:
        raise refuse(f"it takes {len(tensors)} required inputs, not a prediction and a target")
    inp, tgt = tensors
    for t in tensors:
        if any(w in t.dtype.lower() for w in ("dict", "list")) or t.dtype.lower().startswith("any"):
            raise refuse(f"its input {t.name!r} is a {t.dtype}, not a tensor")
    if inp.dtype.split("|")[0].strip().lower() not in ("float", "double", "half", ""):
        raise refuse(f"its input {inp.name!r} is {inp.dtype}, not a float prediction")
    doc, tdoc, tdtype = inp.doc.lower(), tgt.doc.lower(), tgt.dtype.lower()
    alternatives = _alternatives(inp.layout)
    elementwise = ["*"] in alternatives
    target_float = "float" in tdtype or "any" in tdtype
    same_shape = "same as" in tgt.layout or any(a == ["*"] for a in _alternatives(tgt.layout))
    if "log-probabilities" in doc:
        form: Literal["logits", "probabilities", "log-probabilities", "values"] = "log-probabilities"
    elif wants_probabilities(module) or getattr(module, "from_logits", True) is False:
        form = "probabilities"
    elif "logits" in doc:
        form = "logits"
    elif "probabilities" in doc:
        form = "probabilities"
    else:
        if not (elementwise and target_float and same_shape):
            raise refuse("its input is neither logits/probabilities nor an elementwise prediction")
        return _Plan("residual", (_NUM_CLASSES, _NUM_CLASSES), False, False, "values", "values")
    if not ("long" in tdtype or "int" in tdtype or _TARGET_WORDS.search(tdoc)):
        raise refuse(f"its second input {tgt.name!r} ({tgt.doc}) is not a target")
    dims = ["*"] if elementwise and target_float and same_shape else (alternatives[0] if alternatives else [])
    found = _shape(dims)
    if found is None:
        raise refuse(f"its input layout {inp.layout!r} has dims other than N, C and spatial ones")
    shape, channel = found
    mode = getattr(module, "mode", None)
    one_hot = wants_one_hot(module)
    sigmoid = (
        not channel
        or mode in ("binary", "multilabel")
        or (one_hot and ("same as" in tgt.layout or bool(_BINARY_WORDS.search(tdoc))))
    )
    if mode == "binary" and channel:
        shape = (shape[0], 1, *shape[2:])
    target: Literal["indices", "one-hot", "values"] = "one-hot" if sigmoid or one_hot else "indices"
    return _Plan("probability", shape, channel, sigmoid, form, target)


def _classes(plan: _Plan) -> torch.Tensor:
    """The true class of every element: balanced, the first half 0 and the second half 1 along the last dim."""
    if plan.channel:
        shape = (plan.shape[0], *plan.shape[2:])
        if len(shape) == 1:
            return torch.arange(shape[0]) % _NUM_CLASSES
    else:
        shape = plan.shape
    last = shape[-1]
    row = (torch.arange(last) >= last // 2).long() if last > 1 else torch.ones(1, dtype=torch.long)
    return row.expand(shape).contiguous()


def _inputs(plan: _Plan, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One point's (input, target), differentiable in ``x`` (p or r)."""
    if plan.axis == "residual":
        target = torch.zeros(plan.shape)
        return target + x, target
    classes = _classes(plan)
    if plan.channel and plan.shape[1] == 1:  # binary mode: one channel, the target of the input's shape
        positive = classes.unsqueeze(1).bool()
    elif plan.channel:
        positive = torch.movedim(nn.functional.one_hot(classes, plan.shape[1]), -1, 1).bool()
    else:
        positive = classes.bool()
    c = plan.shape[1] if plan.channel else 2
    if plan.sigmoid:  # every element is binary: its true class has probability p
        prob_pos, prob_neg = x, 1 - x
        logit_pos, logit_neg = torch.log(x) - torch.log1p(-x), torch.log1p(-x) - torch.log(x)
    else:  # softmax over the classes: p on the true class, the rest shared equally
        prob_pos, prob_neg = x, (1 - x) / max(c - 1, 1)
        logit_pos, logit_neg = torch.log(x * max(c - 1, 1)) - torch.log1p(-x), torch.zeros(())
    if plan.form == "logits":
        pos, neg = logit_pos, logit_neg
    elif plan.form == "probabilities":
        pos, neg = prob_pos, prob_neg
    else:
        pos, neg = torch.log(prob_pos), torch.log(prob_neg)
    input = torch.where(positive, pos, neg)
    if plan.target == "indices":
        return input, classes
    return input, positive.float()


def _point(module: nn.Module, plan: _Plan, x_value: float) -> tuple[float, float]:
    x = torch.tensor(x_value, dtype=torch.float32, requires_grad=True)
    input, target = _inputs(plan, x)
    out = module(input, target)
    loss = out if out.dim() == 0 else out.float().mean()
    (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
    return float(loss.detach()), (0.0 if grad is None else float(grad))


def _name(name: str) -> str:
    name = name.strip()
    if name in LOSSES:
        return LOSSES.entry(name).name
    build_loss(name)  # an unknown name: the registry's error, with close matches
    return name


def loss_curves(
    names: Sequence[str],
    vary: tuple[str, Sequence[Any]] | None = None,
    points: int = 201,
    params: Mapping[str, Any] | None = None,
) -> LossCurves:
    """The loss and its gradient against the x axis, one curve per loss (and per value of ``vary``).

    Args:
        names: registered loss names or aliases; all must share one x axis.
        vary: ``(parameter, values)``: one curve per value (the parameter must exist in every loss).
        points: x values per curve.
        params: parameters set on every loss (e.g. ``{"alpha": None}``).

    Raises:
        PlotError: a loss that cannot be drawn, or losses on different x axes.
        ConfigError, UnknownLossError: a bad name or parameter (with close matches).
    """
    if not names:
        raise PlotError("give at least one loss name")
    if points < 2:
        raise PlotError(f"points must be at least 2, got {points}")
    if vary is not None and not vary[1]:
        raise PlotError(f"vary {vary[0]!r}: give at least one value")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead (and contention on a busy machine)
    try:
        return _curves([_name(n) for n in names], vary, points, params or {})
    finally:
        torch.set_num_threads(threads)


def _curves(
    canonical: list[str], vary: tuple[str, Sequence[Any]] | None, points: int, params: Mapping[str, Any]
) -> LossCurves:
    values: list[tuple[str, Any] | None] = [None] if vary is None else [(vary[0], v) for v in vary[1]]
    curves: list[Curve] = []
    axes: dict[str, str] = {}
    for name in canonical:
        for setting in values:
            spec: dict[str, Any] = {"name": name, **task_params(name, num_classes=_NUM_CLASSES), **params}
            if setting is not None:
                spec[setting[0]] = setting[1]
            module = build_loss(spec)
            plan = _plan(name, module)
            axes.setdefault(name, plan.axis)
            lo, hi = X_RANGE[plan.axis]
            xs = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
            evaluated = [_point(module, plan, x) for x in xs]
            parts = ([name] if len(canonical) > 1 or setting is None else []) + (
                [f"{setting[0]}={_fmt(setting[1])}"] if setting is not None else []
            )
            curves.append(Curve(name, ", ".join(parts), xs, [v for v, _ in evaluated], [g for _, g in evaluated]))
    if len(set(axes.values())) > 1:
        by_axis = {a: [n for n, b in axes.items() if b == a] for a in sorted(set(axes.values()))}
        raise PlotError(
            "cannot draw these losses in one plot: they have different x axes ("
            + "; ".join(f"{', '.join(ns)}: {X_LABEL[a]}" for a, ns in by_axis.items())
            + "); plot them separately"
        )
    axis: Axis = "residual" if next(iter(axes.values())) == "residual" else "probability"
    fixed = ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())
    return LossCurves(tuple(canonical), axis, tuple(curves), None if vary is None else vary[0], fixed)
