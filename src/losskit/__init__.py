"""losskit: the loss registry, config builder and built-in loss zoo for PyTorch.

Everything public is importable from here::

    import losskit
    loss = losskit.build_loss({"name": "dice", "smooth": 1.0})
"""

from __future__ import annotations

from . import zoo  # noqa: F401  (registers the built-ins)
from .compose import CombinedLoss, FunctionLoss, call_loss
from .compose.scheduled import ScheduledLoss
from .config import ImportPolicy, build_loss, load_config, to_config
from .config.schema import config_schema
from .discovery import LossDescription, describe_loss, has_loss, list_losses, loss_info
from .errors import (
    ConfigError,
    ExampleError,
    ExampleTooLarge,
    LossInputError,
    LossKitError,
    RegistrationError,
    UnknownFilterError,
    UnknownLossError,
)
from .functional._checks import label_checks, set_label_checks
from .functional._numerics import validate_smoothing_params
from .inputs import Example, InputSpec, TensorSpec
from .registration import LOSSES, register_loss, temporary_loss, unregister_loss
from .registry import Registry, RegistryOverrideWarning
from .signatures import AllowInf

__version__ = "0.1.0"

__all__ = [
    "LOSSES",
    "Registry",
    "RegistryOverrideWarning",
    "register_loss",
    "unregister_loss",
    "temporary_loss",
    "list_losses",
    "loss_info",
    "has_loss",
    "describe_loss",
    "LossDescription",
    "AllowInf",
    "build_loss",
    "ImportPolicy",
    "load_config",
    "to_config",
    "config_schema",
    "CombinedLoss",
    "ScheduledLoss",
    "FunctionLoss",
    "call_loss",
    "InputSpec",
    "TensorSpec",
    "Example",
    "label_checks",
    "set_label_checks",
    "validate_smoothing_params",
    "LossKitError",
    "UnknownLossError",
    "ConfigError",
    "RegistrationError",
    "LossInputError",
    "UnknownFilterError",
    "ExampleError",
    "ExampleTooLarge",
    "__version__",
]
