"""Bernoulli CUSUM on an integer scale, with its exact in-control run length.

Each observation is a 0/1 outcome (1 = the bad thing: a detractor, a negative comment,
a failed contact, a "slecht" smiley). The chart tests the baseline share p0 against a
shifted share p1 with the log-likelihood ratio

    x = 1: a = ln(p1 / p0)        x = 0: b = ln((1 - p1) / (1 - p0))  (< 0)

and S_t = max(0, S_{t-1} + step). The steps are scaled to integers (the smaller one
to >= 12 units), so the chart as it runs is a finite Markov chain and its average run length
(ARL) is computed exactly by one sparse linear solve; the limit H is the smallest integer whose
in-control ARL reaches the target (Reynolds & Stoumbos 1999; Brook & Evans 1972).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from schemas.fastinit import fast_init

STEP_UNITS = 12  # the smaller step is at least this many units: rounding error < 5%
MIN_SHARE = 0.005
MAX_SHARE = 0.95


@fast_init  # one __dict__ update, not a setattr per field
@dataclass(frozen=True)
class Design:
    """One chart's parameters: baseline p0, the shift p1 it is tuned to, integer steps, limit."""

    p0: float
    p1: float
    up: int  # A: added for a bad outcome
    down: int  # B: added for a good outcome (negative)
    limit: int  # H: alarm when the statistic reaches it
    arl0: float  # in-control average run length (observations) of this design
    scale: float  # integer units per nat: statistic / scale is the log-likelihood ratio

    def to_state(self) -> dict[str, float | int]:
        return {
            "p0": self.p0,
            "p1": self.p1,
            "up": self.up,
            "down": self.down,
            "limit": self.limit,
            "arl0": self.arl0,
            "scale": self.scale,
        }

    @classmethod
    def from_state(cls, raw: dict) -> Design:
        return cls(**raw)

    def step(self, bad: bool) -> int:
        return self.up if bad else self.down


def shifted_share(p0: float, odds_ratio: float) -> float:
    """The share whose odds are `odds_ratio` times the odds of p0."""
    odds = p0 / (1 - p0) * odds_ratio
    return odds / (1 + odds)


def integer_steps(p0: float, p1: float) -> tuple[int, int, float]:
    """Both steps on one integer scale, each at least ~STEP_UNITS units (rounding < 5%)."""
    a = math.log(p1 / p0)
    b = math.log((1 - p1) / (1 - p0))
    scale = max(STEP_UNITS / a, STEP_UNITS / -b)
    return round(a * scale), min(-1, round(b * scale)), scale


def average_run_length(p: float, up: int, down: int, limit: int) -> float:
    """Expected observations until S >= limit, from S = 0, when P(bad) = p (exact)."""
    import numpy as np
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import spsolve

    n = limit  # states 0 .. limit-1; reaching limit absorbs (the alarm)
    rows, cols, vals = [], [], []
    for i in range(n):
        rows.append(i)
        cols.append(i)
        vals.append(1.0)
        if i + up < n:
            rows.append(i)
            cols.append(i + up)
            vals.append(-p)
        rows.append(i)
        cols.append(max(0, i + down))
        vals.append(-(1 - p))
    matrix = csc_matrix((vals, (rows, cols)), shape=(n, n))  # duplicates are summed
    lengths = spsolve(matrix, np.ones(n))
    return float(lengths[0])


def _limit_for(p0: float, up: int, down: int, arl0: float) -> tuple[int, float]:
    """Smallest integer limit with in-control ARL >= arl0 (ARL grows with the limit)."""
    low, high = up, up
    while average_run_length(p0, up, down, high) < arl0:
        low, high = high, high * 2
        if high > 200_000:
            raise ValueError(f"no limit reaches ARL0 {arl0} for p0={p0}")
    while high - low > 1:
        mid = (low + high) // 2
        if average_run_length(p0, up, down, mid) >= arl0:
            high = mid
        else:
            low = mid
    return high, average_run_length(p0, up, down, high)


@lru_cache(maxsize=4096)
def _cached_design(p0: float, odds_ratio: float, arl0: float) -> Design:
    p1 = shifted_share(p0, odds_ratio)
    up, down, scale = integer_steps(p0, p1)
    limit, achieved = _limit_for(p0, up, down, arl0)
    return Design(p0, p1, up, down, limit, achieved, scale)


def design(p0: float, odds_ratio: float, arl0: float) -> Design:
    """The chart for baseline p0 that detects odds x `odds_ratio` with in-control ARL >= arl0.

    p0 is rounded to 0.001 and arl0 up to the next quarter power of two, so designs are
    shared between cells (and cached); rounding arl0 up only lowers the false-alarm rate.
    """
    p0 = min(MAX_SHARE, max(MIN_SHARE, round(p0, 3)))
    arl0 = 2 ** (math.ceil(4 * math.log2(max(arl0, 2.0))) / 4)
    return _cached_design(p0, odds_ratio, arl0)


def share_to_reach(design: Design, n: int, room: int) -> float:
    """The share of bad outcomes in a run of n observations that adds `room` units.

    With x bad in the run, the run adds x*up + (n - x)*down; solving for x/n gives the
    share at which an alarm (or recovery) statistic reaches its limit in that window.
    """
    if n <= 0:
        return 1.0
    return (room / n - design.down) / (design.up - design.down)
