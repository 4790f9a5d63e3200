"""The zoo-wide edge-case policy (docs/conventions.md, "Edge cases"): which built-in gets which check, and inputs.

Every registered built-in is covered automatically (``builtin_names()`` reads the registry). Inputs are derived
from each loss's declared example (``losskit.testing.examples.example_for``): an empty batch is the example
sliced to 0 along dim 0, a big batch is many examples concatenated. Only dense losses, whose statistics are
sums over a 512x512 image or a 64^3 volume, get generators of their own (``DENSE``).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

import losskit
import losskit.functional as LF
from losskit.inputs import Example
from losskit.registration import LOSSES
from losskit.testing.examples import example_for, spec_for

#: Registered built-ins that no per-loss case can cover, with the reason. A stale entry fails a test.
NOT_A_LOSS = {
    "combined": "CombinedLoss is a container of other losses: no inputs of its own (its example borrows two real "
    "terms), no functional form; each term is covered under its own name"
}


def builtin_names() -> list[str]:
    """Every registered built-in (losses defined in losskit itself, plugins excluded)."""
    names = []
    for name in losskit.list_losses():
        entry = LOSSES.entry(name, load=False)
        if entry.origin == "python" and entry.source.startswith("losskit."):
            names.append(name)
    return names


def covered_names() -> list[str]:
    return [n for n in builtin_names() if n not in NOT_A_LOSS]


# ---------------------------------------------------------------------------------------------- building


def build(name: str, device: str | torch.device = "cpu", **opts: Any) -> nn.Module:
    return losskit.build_loss(name, **opts).to(device)


def ctor_params(name: str) -> dict[str, inspect.Parameter]:
    obj = LOSSES.get(name)
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = dict(inspect.signature(target).parameters)
    params.pop("self", None)
    return params


def annotation(fn: Callable[..., Any], param: inspect.Parameter) -> Any:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return param.annotation
    return hints.get(param.name, param.annotation)


def choice_params(fn: Callable[..., Any]) -> dict[str, str]:
    """Parameters of ``fn`` that are a choice among strings (``Literal[...]`` or ``str``), with their default."""
    out = {}
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return out
    for p in sig.parameters.values():
        if not isinstance(p.default, str):
            continue
        ann = annotation(fn, p)
        text = ann if isinstance(ann, str) else repr(ann)
        if ann is str or "Literal" in text or text.strip("'\"") == "str" or p.name == "reduction":
            out[p.name] = p.default
    return out


def misspell(value: str) -> str:
    """A near miss of ``value`` ("mean" -> "meann"), close enough for a did-you-mean."""
    return value + value[-1] if value else "x"


def example(loss: nn.Module, seed: int = 0, device: str | torch.device = "cpu") -> Example:
    ex = example_for(loss, torch.Generator().manual_seed(seed))
    return Example(tuple(to(a, device) for a in ex.args), {k: to(v, device) for k, v in ex.kwargs.items()})


# ---------------------------------------------------------------------------------------------- tree helpers


def tmap(fn: Callable[[torch.Tensor], Any], value: Any) -> Any:
    """Apply ``fn`` to every tensor in a nest of tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(tmap(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: tmap(fn, v) for k, v in value.items()}
    return value


def tensors(value: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    tmap(found.append, value)
    return found


def to(value: Any, device: str | torch.device) -> Any:
    return tmap(lambda t: t.to(device), value)


def cat(values: list[Any]) -> Any:
    """Concatenate matching nests of tensors along dim 0 (many examples -> one big batch)."""
    first = values[0]
    if isinstance(first, torch.Tensor):
        return first if first.dim() == 0 else torch.cat(values, 0)
    if isinstance(first, (list, tuple)):
        return type(first)(cat([v[i] for v in values]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: cat([v[k] for v in values]) for k in first}
    return first


def leaves(ex: Example) -> Example:
    """Fresh float leaf tensors that require grad (so gradients can be read), integer tensors unchanged."""

    def fresh(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().clone()
        return t.requires_grad_(True) if t.is_floating_point() else t

    return Example(tmap(fresh, tuple(ex.args)), tmap(fresh, dict(ex.kwargs)))


def call(loss: nn.Module, ex: Example) -> Any:
    return loss(*ex.args, **ex.kwargs)


def scalar_of(out: Any) -> torch.Tensor:
    """The total of a loss's output (a tensor, or the first item of a ``(total, terms)`` tuple)."""
    return out[0] if isinstance(out, tuple) else out


# ---------------------------------------------------------------------------------------------- functional forms


def functional_form(name: str) -> tuple[Callable[..., Any] | None, str]:
    """``(function, "losskit")`` for a built-in, by the README's rule (``describe_loss(name).functional``);
    ``(None, "")`` if it has none."""
    found = losskit.describe_loss(name).functional
    return (getattr(LF, found.removeprefix("losskit.functional.")), "losskit") if found else (None, "")


#: Metric-learning losses whose functional form takes the module's learnable matrix (this attribute) after the labels.
LEARNED_MATRIX = {
    "proxy_anchor": "proxies",
    "proxy_nca": "proxies",
    "cosface": "weight",
    "sub_center_arcface": "weight",
    "center": "centers",
    "soft_triple": "centers",
}


def functional_inputs(name: str, loss: nn.Module, ex: Example) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The module's example rearranged for its functional form's signature."""
    args, kwargs = tuple(ex.args), dict(ex.kwargs)
    if name == "arcface":
        return (*args, loss.weight), kwargs
    if name in LEARNED_MATRIX:  # proxies / centres held by the module: the functional form's third argument
        return (*args, getattr(loss, LEARNED_MATRIX[name])), kwargs
    if name == "logit_adjusted_cross_entropy":
        return (*args, getattr(loss, "log_prior", None)), kwargs
    if name == "adversarial":
        return args[:1], kwargs
    if name in ("masked", "multi_scale", "deep_supervision"):  # wrappers: the wrapped loss is an argument
        return args, {**kwargs, "loss": loss.loss}
    if name in ("vae", "sae"):
        out, tgt = args[0], args[1]
        extra = [out["mu"], out["logvar"]] if name == "vae" else [out["latents"]]
        return (out["predictions"], tgt["predictions"], *extra), kwargs
    fn = functional_form(name)[0]
    mode = getattr(loss, "mode", None)
    if fn is not None and isinstance(mode, str) and "mode" in choice_params(fn):
        kwargs.setdefault("mode", mode)  # the example is made for the module's mode (binary for mcc)
    return args, kwargs


# ---------------------------------------------------------------------------------------------- families


def has_param(name: str, param: str) -> bool:
    return param in ctor_params(name)


def ignore_names() -> list[str]:
    return [n for n in covered_names() if has_param(n, "ignore_index")]


def label_arg_positions(name: str, loss: nn.Module, ex: Example) -> list[int]:
    """Positions of the example's integer tensors (or lists of them): the class labels."""
    out = []
    for i, a in enumerate(ex.args):
        ts = tensors(a)
        if ts and all(not t.is_floating_point() and t.dtype != torch.bool for t in ts):
            out.append(i)
    return out


def literal_choices(name: str, param: str) -> tuple[Any, ...]:
    """The values of a ``Literal[...]`` constructor parameter (empty when it is not annotated so)."""
    obj = LOSSES.get(name)
    fn = obj.__init__ if inspect.isclass(obj) else obj
    ann = annotation(fn, ctor_params(name)[param])
    return tuple(a for a in typing.get_args(ann) if isinstance(a, str)) if typing.get_origin(ann) is Literal else ()


def region_family() -> list[str]:
    """Segmentation losses that have a multiclass mode: a ``mode`` parameter that may be "multiclass" (the region
    family and its combos), or a loss built multiclass without one (``combined_segmentation``)."""
    out = []
    for n in covered_names():
        tasks = LOSSES.entry(n, load=False).metadata.get("tasks", ())
        if "segmentation" not in tasks:
            continue
        if has_param(n, "mode"):
            choices = literal_choices(n, "mode")
            if not choices or "multiclass" in choices:
                out.append(n)
        elif getattr(build(n), "mode", None) == "multiclass":
            out.append(n)
    return out


def float_input_path(ex: Example) -> tuple[int, Any]:
    """Where the first float tensor of the prediction lives: (arg index, key or list index or None)."""
    first = ex.args[0]
    if isinstance(first, dict):
        return 0, next(k for k, v in first.items() if isinstance(v, torch.Tensor) and v.is_floating_point())
    if isinstance(first, (list, tuple)):
        return 0, 0
    return 0, None


def spec_of(name: str) -> Any:
    return LOSSES.entry(name).metadata.get("inputs") or spec_for(build(name))
