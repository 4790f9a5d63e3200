"""Hydra: a structured config per registered loss in the ConfigStore, group ``loss``.

::

    from losskit.integrations.hydra import register_configs
    register_configs()                     # before @hydra.main

    @hydra.main(config_path=None, config_name="train", version_base=None)
    def train(cfg):
        loss = hydra.utils.instantiate(cfg.loss)   # python train.py loss=dice loss.smooth=0.5

Each config is a dataclass generated from the loss's signature: its parameters with their defaults (``???`` for
required ones), types where OmegaConf can check them (numbers, strings, booleans; ``Literal`` choices as
strings), so ``loss.smoth=0.5`` fails at composition. The ``_target_`` is always :func:`instantiate_loss`, which
calls :func:`~losskit.build_loss`: losskit's own validation and safety rules apply to every value.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

try:
    from hydra.core.config_store import ConfigStore
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("losskit.integrations.hydra needs Hydra: pip install 'losskit[hydra]'") from exc

from torch import nn

from ..config import build_loss
from ..errors import LossKitError
from ..registration import LOSSES
from ..signatures import config_parameters

__all__ = ["register_configs", "instantiate_loss", "structured_config"]

_TARGET = f"{__name__}.instantiate_loss"
_PLAIN = (bool, int, float, str)


def instantiate_loss(name: str, **params: Any) -> nn.Module:
    """What the stored configs' ``_target_`` calls: ``build_loss(name, **params)``."""
    return build_loss(name, **params)


def _field_type(annotation: Any, default: Any) -> Any:
    """The OmegaConf-checkable type of a parameter, else ``Any``."""
    args = typing.get_args(annotation)
    if annotation in _PLAIN:
        return annotation
    if typing.get_origin(annotation) is typing.Literal and all(isinstance(a, str) for a in args):
        return str
    optional = [a for a in args if a is not type(None)]
    if len(optional) == 1 and len(args) == 2 and optional[0] in _PLAIN:
        return typing.Optional[optional[0]]  # noqa: UP045 - OmegaConf reads typing.Optional
    return Any


def _default(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return "???"  # OmegaConf's MISSING
    if isinstance(value, (tuple, list)):
        items = list(value)
        return dataclasses.field(default_factory=lambda: list(items))
    if value is None or isinstance(value, _PLAIN):
        return value
    return dataclasses.field(default_factory=lambda: value)


def structured_config(name: str) -> type:
    """The dataclass of loss ``name``'s config: ``_target_``, ``name`` and every parameter."""
    entry = LOSSES.entry(name)
    pset = config_parameters(entry.obj, entry.metadata["kind"])
    fields: list[tuple[str, Any, Any]] = [
        ("_target_", str, dataclasses.field(default=_TARGET)),
        ("name", str, dataclasses.field(default=entry.name)),
    ]
    for p in pset.params:
        if p.name in ("_target_", "name"):
            continue
        default = _default(p.default)
        kind = _field_type(pset.hints.get(p.name, p.annotation), p.default)
        if default is None and kind is not Any and typing.get_origin(kind) is not typing.Union:
            kind = typing.Optional[kind]  # noqa: UP045
        fields.append(
            (p.name, kind, default if isinstance(default, dataclasses.Field) else dataclasses.field(default=default))
        )
    return dataclasses.make_dataclass(f"{entry.name}_config", fields)


def register_configs(group: str = "loss", store: ConfigStore | None = None) -> list[str]:
    """Store a structured config for every registered loss under ``group``; returns the names stored (a loss
    whose plugin fails to load is left out)."""
    cs = store or ConfigStore.instance()
    stored = []
    for entry in LOSSES.entries():
        try:
            node = structured_config(entry.name)
        except (LossKitError, ImportError, TypeError, ValueError):
            continue
        cs.store(group=group, name=entry.name, node=node)
        stored.append(entry.name)
    return stored
