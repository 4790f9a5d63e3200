"""The generic registry (knows nothing about losses) and its helpers."""

from .core import Entry, Registry, RegistryOverrideWarning, UnknownNameError, qualified_name
from .naming import natural_key, suggest
from .plugins import PluginScanner

__all__ = [
    "Entry",
    "Registry",
    "RegistryOverrideWarning",
    "UnknownNameError",
    "qualified_name",
    "natural_key",
    "suggest",
    "PluginScanner",
]
