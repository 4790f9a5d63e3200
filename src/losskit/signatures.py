"""What a registered object takes: its parameters (config) and its inputs (forward arguments).

Shared by the builder (validation), ``describe_loss`` and ``call_loss`` so that all three read a loss the
same way.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from torch import nn

__all__ = [
    "AllowInf",
    "Kind",
    "ParamSet",
    "detect_kind",
    "config_parameters",
    "forward_signature",
    "input_parameters",
    "type_hints",
]

Kind = Literal["module", "factory", "function"]
_EMPTY = inspect.Parameter.empty


class AllowInf:
    """Marks a float parameter that may be infinite: ``alpha: Annotated[float, AllowInf] = 1.0``.

    The one way a loss declares it. A config's float values are finite everywhere else (NaN never): an
    infinite ``smooth`` or clip bound in a config is far likelier a typo or an overflow than a choice.
    """


def _allows_inf(hint: Any) -> bool:
    """Whether an annotation (read with its extras) carries :class:`AllowInf`, also inside a Union."""
    if typing.get_origin(hint) is Annotated:
        return any(m is AllowInf or isinstance(m, AllowInf) for m in hint.__metadata__)
    return any(_allows_inf(arg) for arg in typing.get_args(hint))


@dataclass(frozen=True)
class ParamSet:
    """The configurable parameters of an entry, in declaration order."""

    params: tuple[inspect.Parameter, ...]
    var_kwargs: bool  # declares **kwargs: accepts anything, as its author chose
    hints: dict[str, Any]
    infinite: frozenset[str] = frozenset()  # float parameters annotated Annotated[float, AllowInf]

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def get(self, name: str) -> inspect.Parameter | None:
        return next((p for p in self.params if p.name == name), None)


def type_hints(fn: Any) -> dict[str, Any]:
    """Resolved annotations of ``fn`` (strings under ``from __future__ import annotations`` included)."""
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return dict(getattr(fn, "__annotations__", {}) or {})


def _is_module_type(tp: Any) -> bool:
    if isinstance(tp, str):
        return tp.rsplit(".", 1)[-1] in {"Module", "nn.Module"} or tp.endswith("Loss")
    return inspect.isclass(tp) and issubclass(tp, nn.Module)


def _is_tensor_type(tp: Any) -> bool:
    if isinstance(tp, str):
        return tp.rsplit(".", 1)[-1] in {"Tensor", "float"}
    return tp in (torch.Tensor, float)


def _required_positional(sig: inspect.Signature) -> list[inspect.Parameter]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p in sig.parameters.values() if p.kind in kinds and p.default is _EMPTY]


def _signature(obj: Any) -> inspect.Signature:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return inspect.Signature([inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)])


def detect_kind(obj: Any, forced: str | None = None) -> Kind:
    """Tell a module class, a factory and a loss function apart (or check a forced kind).

    A class must be an ``nn.Module`` subclass. A function is a *factory* when its return annotation is an
    ``nn.Module`` type, a *function* when it is a tensor (or float); unannotated, it is a function when it
    has required positional parameters (the inputs come first, seed 003 style) and a factory otherwise.
    Anything else (an instance, a non-Module class, a non-callable) is a ``TypeError``.
    """
    if forced is not None and forced not in ("module", "factory", "function"):
        raise ValueError(f"kind must be 'module', 'factory' or 'function', got {forced!r}")
    if inspect.isclass(obj):
        if not issubclass(obj, nn.Module):
            raise TypeError(
                f"{obj.__qualname__} is a class but not an nn.Module subclass; register an nn.Module subclass, "
                f"a factory returning one, or a loss function"
            )
        if forced not in (None, "module"):
            raise TypeError(f"{obj.__qualname__} is an nn.Module class; it cannot be registered as a {forced}")
        return "module"
    if isinstance(obj, nn.Module):
        raise TypeError(
            f"got an instance of {type(obj).__qualname__}; register the class (or a factory), not an instance"
        )
    if not (inspect.isroutine(obj) or isinstance(obj, functools.partial)):
        raise TypeError(
            f"cannot register {type(obj).__qualname__} object {obj!r}: expected an nn.Module subclass, a factory "
            f"returning an nn.Module, or a loss function"
        )
    if forced == "module":
        raise TypeError(f"{getattr(obj, '__qualname__', obj)!r} is a function; it cannot be registered as a module")
    if forced is not None:
        return forced  # type: ignore[return-value]
    ret = type_hints(obj).get("return", _EMPTY)
    if ret is not _EMPTY and _is_module_type(ret):
        return "factory"
    if ret is not _EMPTY and _is_tensor_type(ret):
        return "function"
    return "function" if _required_positional(_signature(obj)) else "factory"


def _split_function(obj: Callable[..., Any]) -> tuple[list[inspect.Parameter], list[inspect.Parameter]]:
    """A loss function's (inputs, params): inputs are the leading positional parameters without defaults."""
    inputs, params = [], []
    taking_inputs = True
    for p in _signature(obj).parameters.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            taking_inputs = False
            continue
        if taking_inputs and p.kind is not inspect.Parameter.KEYWORD_ONLY and p.default is _EMPTY:
            inputs.append(p)
        else:
            taking_inputs = False
            params.append(p)
    return inputs, params


def config_parameters(obj: Any, kind: Kind) -> ParamSet:
    """The parameters a config may set: ``__init__`` for a module, the signature of a factory, the
    defaulted/keyword parameters of a loss function. Read once per (object, kind): signatures and resolved
    annotations are the bulk of a build's cost otherwise."""
    try:
        return _config_parameters_cached(obj, kind)
    except TypeError:  # an unhashable callable: read it every time
        return _config_parameters(obj, kind)


@functools.lru_cache(maxsize=4096)
def _config_parameters_cached(obj: Any, kind: Kind) -> ParamSet:
    return _config_parameters(obj, kind)


def _extras(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: no declared extras
        return {}


def _config_parameters(obj: Any, kind: Kind) -> ParamSet:
    fn = obj.__init__ if kind == "module" else obj
    hints = type_hints(fn)
    if kind == "module":
        params = list(_signature(fn).parameters.values())[1:]  # drop self
    elif kind == "factory":
        params = list(_signature(fn).parameters.values())
    else:
        params = _split_function(obj)[1]
    var_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    named = tuple(p for p in params if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL))
    infinite = frozenset(name for name, hint in _extras(fn).items() if _allows_inf(hint))
    return ParamSet(named, var_kwargs, hints, infinite)


def forward_signature(module: nn.Module) -> inspect.Signature:
    """The call signature of a built loss: ``forward`` without ``self``, or what the module declares."""
    declared = getattr(module, "__losskit_signature__", None)
    if isinstance(declared, inspect.Signature):
        return declared
    return _forward_signature_of_type(type(module))


def _forward_of_type(cls: Any) -> inspect.Signature:
    signature = _signature(cls.forward)
    return signature.replace(parameters=list(signature.parameters.values())[1:])


# Typed as taking any class: mypy does not see a class object as Hashable (nn.Module's __hash__ is per instance).
_forward_signature_of_type: Callable[[Any], inspect.Signature] = functools.lru_cache(maxsize=1024)(_forward_of_type)


def input_parameters(obj: Any, kind: Kind) -> list[inspect.Parameter]:
    """The inputs an entry's loss is called with, as far as they are known without building it."""
    if kind == "module":
        return list(_forward_signature_of_type(obj).parameters.values())
    if kind == "function":
        return _split_function(obj)[0]
    ret = type_hints(obj).get("return", _EMPTY)
    if inspect.isclass(ret) and issubclass(ret, nn.Module) and ret is not nn.Module:
        return list(_forward_signature_of_type(ret).parameters.values())
    return []


def function_input_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """The signature a built loss function is called with: its inputs, plus ``**kwargs`` if it has them."""
    inputs, params = _split_function(fn)
    extra = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    return inspect.Signature(inputs + extra)
