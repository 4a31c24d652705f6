"""The suppression rule shared by every measure: fewer than MIN_ANSWERS, no number."""

from __future__ import annotations

from typing import Any

from pipeline.measures.stats import Share

MIN_ANSWERS = 10
SUPPRESSED: dict[str, Any] = {"onderdrukt": True}


def share(x: int, n: int) -> dict[str, Any]:
    """x of n with its Wilson interval, or suppressed when n < MIN_ANSWERS."""
    if n < MIN_ANSWERS:
        return dict(SUPPRESSED)
    s = Share(x, n)
    low, high = s.wilson()
    return {"aandeel": round(s.value, 4), "ondergrens": round(low, 4), "bovengrens": round(high, 4)}
