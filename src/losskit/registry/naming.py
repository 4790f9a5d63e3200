"""Name helpers shared by the registry: natural sort, shell-style matching and did-you-mean."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Sequence

__all__ = ["natural_key", "matches", "suggest", "normalize"]

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key that orders ``loss2`` before ``loss10`` (timm's natural order)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name))


def matches(names: Iterable[str], patterns: str | Sequence[str]) -> bool:
    """True if any of ``names`` matches any shell-style pattern, case-insensitively."""
    pats = [patterns] if isinstance(patterns, str) else list(patterns)
    return any(fnmatch.fnmatchcase(n.lower(), p.lower()) for n in names for p in pats)


def normalize(name: str) -> str:
    """Fold case, separators and a trailing ``loss`` so ``DiceLoss``, ``dice_loss`` and ``dice`` meet."""
    folded = re.sub(r"[\s_\-.]", "", name.lower())
    return folded[:-4] if folded.endswith("loss") and len(folded) > 4 else folded


def suggest(query: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Close matches for ``query``: normalised equality first, then edit-distance neighbours."""
    pool = list(dict.fromkeys(candidates))
    target = normalize(query)
    exact = [c for c in pool if normalize(c) == target]
    by_norm: dict[str, str] = {}
    for c in pool:  # the first key of a spelling wins: a loss's canonical name, indexed before its aliases
        by_norm.setdefault(normalize(c), c)
    fuzzy = [by_norm[m] for m in difflib.get_close_matches(target, list(by_norm), n=limit, cutoff=0.6)]
    raw = difflib.get_close_matches(query, pool, n=limit, cutoff=0.6)
    return list(dict.fromkeys(exact + fuzzy + raw))[:limit]
