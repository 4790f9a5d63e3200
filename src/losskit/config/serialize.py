"""``to_config``: a plain, YAML-serialisable config from which ``build_loss`` rebuilds an equal module."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..compose.combined import CombinedLoss
from ..compose.schedules import Schedule
from ..errors import ConfigError
from ..keys import CONFIG_ATTR, NAME_KEYS
from ..registration import LOSSES

__all__ = ["to_config", "plain_value", "CONFIG_ATTR"]


def plain_value(value: Any) -> Any:
    """Tensors to (nested) lists, tuples to lists, modules to their configs: what YAML can hold."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, Schedule):
        return value.to_config()
    if isinstance(value, nn.Module):
        return to_config(value)
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def to_config(module: nn.Module) -> dict[str, Any]:
    """The config of ``module``: ``build_loss(to_config(m))`` rebuilds an equal module.

    Works for every module ``build_loss`` made (it records what it was built from), for ``CombinedLoss``,
    and for registered or ``torch.nn`` loss classes constructed directly whose constructor arguments are
    readable back as attributes. Anything else is a :class:`ConfigError`.
    """
    if not isinstance(module, nn.Module):
        raise ConfigError(f"to_config expects an nn.Module, got {type(module).__name__}")
    if isinstance(module, CombinedLoss):
        return _combined_config(module)
    recorded = getattr(module, CONFIG_ATTR, None)
    if recorded is not None:
        return copy.deepcopy(recorded)
    cls = type(module)
    entry = LOSSES.find(cls)
    name = entry.name if entry is not None else None
    config: dict[str, Any] = {"name": name} if name else {}
    if not name:
        if not cls.__module__.startswith("torch."):
            raise ConfigError(
                f"to_config: {cls.__qualname__} was not built by build_loss and is not a registered loss; "
                f"build it with build_loss to make it serialisable"
            )
        public = cls.__module__.split(".modules.")[0] if ".modules." in cls.__module__ else cls.__module__
        config["_target_"] = f"{public}.{cls.__qualname__}"
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if hasattr(module, p.name):
            value = getattr(module, p.name)
            if value is not None or p.default is not None:
                config[p.name] = plain_value(value)
        elif p.default is inspect.Parameter.empty:
            raise ConfigError(f"to_config: cannot read back required argument {p.name!r} of {cls.__qualname__}")
    return config


def _combined_config(module: CombinedLoss) -> dict[str, Any]:
    """``{"name": "combined", "losses": {...}, "weights": {term: weight}}``.

    Weights are keyed by term, never a list: ``yaml.safe_dump`` sorts mapping keys, which reorders the terms,
    and a list in the old order would then give each weight to another term.
    """
    module.term_weights  # noqa: B018 - checks that terms and weights line up
    config: dict[str, Any] = {
        "name": "combined",
        "losses": {name: _term_config(to_config(term)) for name, term in module.terms.items()},
        "weights": dict(zip(module.terms, module.balance.config(), strict=True)),
    }
    if module.weighting != "fixed":
        config["weighting"] = module.weighting
    if module.weighting == "dwa":
        config["temperature"] = module.balance.temperature
    return config


def _term_config(config: dict[str, Any]) -> dict[str, Any]:
    """A term's parameters go under ``params``: a top-level ``weight`` in a term means the term's weight."""
    key = next((k for k in NAME_KEYS if k in config), None)
    if key is None:
        return config
    params = {k: v for k, v in config.items() if k != key}
    return {key: config[key], "params": params} if params else {key: config[key]}
