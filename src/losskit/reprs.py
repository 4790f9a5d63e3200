"""Module reprs that show the options a loss was set up with: ``DiceLoss(smooth_nr=1.0, smooth_dr=1.0)``.

One mechanism for every registered ``nn.Module`` class that does not write its own ``extra_repr``:
:func:`install_repr` (called by ``register_loss``) gives the class :func:`options_repr`, which lists each
constructor parameter that is stored under its own name as an attribute and differs from its default. Only
such parameters are shown, so the repr is always a valid constructor call.

The default is the value a default-constructed instance holds (built once per class, with the global RNG
restored: a learnable loss draws random weights), because constructors often normalise what they store
(``smooth_nr=None`` becomes ``1e-05``); a class that needs arguments compares with the signature defaults.
"""

from __future__ import annotations

import inspect
import math
import warnings
import weakref
from typing import Any

import torch
from torch import nn

from .signatures import config_parameters

__all__ = ["install_repr", "options_repr", "compact"]

_MISSING = object()
_REFERENCE: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()
_MAX_TENSOR_ITEMS = 8


def compact(value: Any) -> str:
    """A short repr: small tensors by value (``tensor([1., 2.])``), large ones by shape and dtype."""
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        if value.numel() <= _MAX_TENSOR_ITEMS and value.device.type != "meta":
            return f"tensor({value.detach().cpu().tolist()}, dtype={dtype})"
        return f"tensor(shape={tuple(value.shape)}, dtype={dtype})"
    if isinstance(value, (list, tuple)) and len(value) > _MAX_TENSOR_ITEMS:
        head = ", ".join(compact(v) for v in value[:_MAX_TENSOR_ITEMS])
        return f"[{head}, ... ({len(value)} items)]"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(compact(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a.detach().cpu(), b.detach().cpu()))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return (
            bool(a == b)
            and type(a) is type(b)
            or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and a == b)
        )
    except Exception:  # an __eq__ that returns something without a truth value
        return a is b


def _reference(cls: type, params: tuple[inspect.Parameter, ...]) -> dict[str, Any]:
    """The stored value of each parameter in a default-constructed instance (signature defaults otherwise)."""
    cached = _REFERENCE.get(cls)
    if cached is not None:
        return cached
    defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    reference = dict(defaults)
    if len(defaults) == len(params):
        try:
            with torch.random.fork_rng(devices=[]), warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                default = cls()
            reference.update({k: getattr(default, k) for k in defaults if hasattr(default, k)})
        except Exception:  # a constructor that cannot run on its defaults: the signature is the reference
            pass
    _REFERENCE[cls] = reference
    return reference


def options_repr(self: nn.Module) -> str:
    """``extra_repr`` for registered losses: the constructor options that differ from their defaults."""
    cls = type(self)
    params = config_parameters(cls, "module").params
    reference = _reference(cls, params)
    shown = []
    for p in params:
        value = getattr(self, p.name, _MISSING)
        if value is _MISSING or isinstance(value, nn.Module) or callable(value) and not isinstance(value, torch.Tensor):
            continue  # not stored under its name (or a submodule, which nn.Module's repr already lists)
        default = reference.get(p.name, _MISSING)
        if default is _MISSING or not _same(value, default):
            shown.append(f"{p.name}={compact(value)}")
    return ", ".join(shown)


options_repr.__losskit_repr__ = True  # type: ignore[attr-defined]


def install_repr(cls: type) -> None:
    """Give ``cls`` :func:`options_repr` as ``extra_repr`` unless it (or a base below ``nn.Module``) has its own."""
    current = getattr(cls, "extra_repr", None)
    if current is nn.Module.extra_repr:
        cls.extra_repr = options_repr  # type: ignore[attr-defined]
