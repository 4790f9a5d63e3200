"""Spec keys and attribute names that both ``config/`` and ``compose/`` read: one definition, in a leaf module.

Nothing here imports anything from losskit, so any module may import it without making an import circle.
"""

from __future__ import annotations

__all__ = ["NAME_KEYS", "PARAM_KEYS", "TERM_KEYS", "CONFIG_ATTR"]

#: Keys that name what to build, one per spec: seed 002/AutoTimm, mmengine, Hydra/seed 000, seed 003, and
#: LightningCLI/jsonargparse (``class_path``: a registered name or a safe dotted path, like ``_target_``).
NAME_KEYS = ("name", "type", "_target_", "class", "class_path")

#: Keys that hold the parameters apart from the name: seed 003's ``params``, LightningCLI's ``init_args``.
PARAM_KEYS = ("params", "init_args")

#: Keys that hold the named terms of a combined loss (seed 000's configs say ``losses``).
TERM_KEYS = ("losses", "terms")

#: Attribute under which ``build_loss`` records the config a module was built from.
CONFIG_ATTR = "_losskit_config"
