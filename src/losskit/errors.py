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
    "UnknownFilterError",
    "ExampleError",
    "ExampleTooLarge",
]


class LossKitError(Exception):
    """Base class of every error raised by losskit."""


class UnknownLossError(LossKitError, KeyError, ValueError):
    """A name or alias that is not registered (in ``LOSSES`` or any :class:`~losskit.Registry`).

    The message lists close matches. ``losskit.registry.UnknownNameError`` is the same class (an old name).
    """

    def __str__(self) -> str:
        # KeyError.__str__ repr()s its argument, which would wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


class ConfigError(LossKitError, ValueError):
    """A malformed spec, an unknown or ill-typed parameter, or a forbidden ``_target_``."""


class RegistrationError(LossKitError, ValueError):
    """A duplicate name or alias, or an entry (a plugin) that failed to load."""


class LossInputError(LossKitError, ValueError):
    """Bad inputs at call time. The message names the loss, what it expected and what it got."""


class UnknownFilterError(LossKitError, ValueError):
    """``list_losses(task=...)`` or ``tag=`` names a task or tag that no registered loss has."""


class ExampleError(LossKitError, ValueError):
    """No example inputs can be made as asked (pass your own inputs, or fix ``shapes``); the message says why."""


class ExampleTooLarge(ExampleError):
    """Example inputs would exceed the element budget (the message says which tensor and the budget)."""
