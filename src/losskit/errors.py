"""The losskit error hierarchy.

Every error losskit raises on purpose derives from :class:`LossKitError`, and each also derives from the
builtin exception a caller would naturally catch (``KeyError``/``ValueError``), so code written against
other registries keeps working.
"""

from __future__ import annotations

__all__ = [
    "LossKitError",
    "UnknownLossError",
    "ConfigError",
    "RegistrationError",
    "LossInputError",
]


class LossKitError(Exception):
    """Base class of every error raised by losskit."""


class UnknownLossError(LossKitError, KeyError, ValueError):
    """A name or alias that is not registered. The message lists close matches."""

    def __str__(self) -> str:
        # KeyError.__str__ repr()s its argument, which would wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


class ConfigError(LossKitError, ValueError):
    """A malformed spec, an unknown or ill-typed parameter, or a forbidden ``_target_``."""


class RegistrationError(LossKitError, ValueError):
    """A duplicate name or alias, or an entry (a plugin) that failed to load."""


class LossInputError(LossKitError, ValueError):
    """Bad inputs at call time. The message names the loss, what it expected and what it got."""
