"""Building losses from specs: formats, validation, safety and serialisation."""

from ..compose import combined as _combined
from ..keys import NAME_KEYS
from .builder import build_loss, build_terms
from .limits import LIMITS
from .loading import load_config
from .policy import ImportPolicy
from .serialize import to_config
from .targets import resolve_target

# CombinedLoss given specs builds its terms through this package's pipeline (compose/ imports nothing from
# config/: the builder is handed down, never imported up).
_combined.install_term_builder(build_terms)

__all__ = ["build_loss", "ImportPolicy", "LIMITS", "to_config", "load_config", "resolve_target", "NAME_KEYS"]
