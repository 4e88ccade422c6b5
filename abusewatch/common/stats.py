"""Summary statistics shared by the reports and benchmarks: one definition of a percentile."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it (p in
    0..100); None for no values. Always one of the values, never an interpolation."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]
