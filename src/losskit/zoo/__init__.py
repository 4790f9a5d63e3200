"""The built-in loss zoo, by task. Importing this package registers every built-in (and does nothing else)."""

from . import classification, composition, distillation, regression  # noqa: F401  (registration)
