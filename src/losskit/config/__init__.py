"""Building losses from specs: formats, validation, safety and serialisation."""

from .builder import NAME_KEYS, build_loss
from .limits import LIMITS
from .loading import load_config
from .policy import ImportPolicy
from .serialize import to_config
from .targets import resolve_target

__all__ = ["build_loss", "ImportPolicy", "LIMITS", "to_config", "load_config", "resolve_target", "NAME_KEYS"]
