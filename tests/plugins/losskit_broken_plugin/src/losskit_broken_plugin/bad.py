"""Fails at import, like a plugin whose optional dependency is missing."""

import unobtainium_dependency  # noqa: F401  (deliberately missing)


class BrokenLoss:  # never reached
    pass
