"""Numerical safety helpers shared by the zoo."""

from __future__ import annotations

from ._checks import is_finite

__all__ = ["validate_smoothing_params", "check_smoothing", "MIN_SMOOTH_NR", "MIN_SMOOTH_DR"]

#: Below these, a ratio (a + smooth_nr) / (b + smooth_dr) computed in float16 can divide by a denormal zero.
MIN_SMOOTH_NR = 1e-4
MIN_SMOOTH_DR = 1e-2


def validate_smoothing_params(
    smooth_nr: float, smooth_dr: float, *, min_nr: float = MIN_SMOOTH_NR, min_dr: float = MIN_SMOOTH_DR
) -> tuple[float, float]:
    """Clamp the numerator/denominator smoothing terms of a ratio loss to values safe under AMP (seed 002).

    ``smooth_nr`` is raised to at least ``min_nr`` (1e-4) and ``smooth_dr`` to at least ``min_dr`` (1e-2):
    float16 cannot represent the 1e-5 most libraries default to next to a sum of thousands of voxels.

    Raises:
        ValueError: a negative or non-finite value (a clamp would hide a configuration error).
    """
    nr, dr = check_smoothing("validate_smoothing_params", smooth_nr, smooth_dr)
    return max(nr, min_nr), max(dr, min_dr)


def check_smoothing(
    loss: str,
    smooth_nr: float | None,
    smooth_dr: float | None,
    *,
    smooth: float = 0.0,
    positive_dr: bool = False,
    amp_safe: bool = False,
) -> tuple[float, float]:
    """The one constructor check of a ratio loss's smoothing terms: finite numbers >= 0 (``smooth_dr > 0``
    with ``positive_dr``, where it floors a variance), raised to the AMP-safe floors of
    :func:`validate_smoothing_params` with ``amp_safe``. A term given as None takes ``smooth`` (the region
    losses' single ``smooth`` option). Returns them as floats.

    Raises:
        ValueError: naming the loss and the term (a clamp would hide a configuration error).
    """
    nr = smooth if smooth_nr is None else smooth_nr
    dr = smooth if smooth_dr is None else smooth_dr
    for what, value in (("smooth_nr", nr), ("smooth_dr", dr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not is_finite(value) or value < 0:
            raise ValueError(f"{loss}: {what} must be a finite number >= 0, got {value!r}")
    if positive_dr and dr <= 0:
        raise ValueError(f"{loss}: smooth_dr must be > 0 (it floors a variance that is 0 on flat regions), got {dr!r}")
    if amp_safe:
        return validate_smoothing_params(nr, dr)
    return float(nr), float(dr)
