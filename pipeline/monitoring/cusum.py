"""Bernoulli CUSUM on an integer scale, with its exact in-control run length.

Each observation is a 0/1 outcome (1 = the bad thing: a detractor, a negative comment,
a failed contact, a "slecht" smiley). The chart tests the baseline share p0 against a
shifted share p1 with the log-likelihood ratio

    x = 1: a = ln(p1 / p0)        x = 0: b = ln((1 - p1) / (1 - p0))  (< 0)

and S_t = max(0, S_{t-1} + step). The steps are scaled to integers (the smaller one
to >= 12 units), so the chart as it runs is a finite Markov chain and its average run length
(ARL) is computed exactly by one sparse linear solve; the limit H is the smallest integer whose
in-control ARL reaches the target (Reynolds & Stoumbos 1999; Brook & Evans 1972), found from
Siegmund's approximation with a few exact solves (`_limit_for`).
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


def _arl_on_lattice(p: float, up: int, down: int, states: int) -> float:
    """ARL from 0 of the chain on states 0 .. states-1 (steps in lattice units).

    One sparse solve of (I - Q) L = 1, Q the transitions among the non-absorbing states:
    state i goes to i + up with probability p (absorbed at >= states) and to
    max(0, i + down) otherwise. The matrix is built with numpy (no loop per state); COO
    duplicates (state 0 staying at 0) are summed.
    """
    import numpy as np
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import spsolve

    n = states
    i = np.arange(n)
    stay = i[: max(0, n - up)]  # i + up < n: not absorbed
    rows = np.concatenate((i, stay, i))
    cols = np.concatenate((i, stay + up, np.maximum(i + down, 0)))
    vals = np.concatenate((np.ones(n), np.full(stay.size, -p), np.full(n, p - 1.0)))
    matrix = csc_matrix((vals, (rows, cols)), shape=(n, n))
    return float(spsolve(matrix, np.ones(n))[0])


def average_run_length(p: float, up: int, down: int, limit: int) -> float:
    """Expected observations until S >= limit, from S = 0, when P(bad) = p (exact).

    S only takes multiples of g = gcd(up, down), so the chain is solved on that lattice:
    ceil(limit / g) states instead of limit (the same chain, g times smaller).
    """
    g = math.gcd(up, down)
    return _arl_on_lattice(p, up // g, down // g, -(-limit // g))


def _drift_root(p: float, up: int, down: int) -> float | None:
    """theta > 0 with p e^(theta up) + (1 - p) e^(theta down) = 1, None if the drift is >= 0.

    The ARL grows like e^(theta h) in the limit h (Siegmund 1985); for unrounded
    log-likelihood steps theta is 1 / scale.
    """
    if p * up + (1 - p) * down >= 0:
        return None
    theta = -math.log(p) / up  # p e^(theta up) >= 1: right of the root; Newton from
    for _ in range(100):  # the right of a convex function's root descends monotonically
        e_up, e_down = p * math.exp(theta * up), (1 - p) * math.exp(theta * down)
        step = (e_up + e_down - 1) / (up * e_up + down * e_down)
        theta -= step
        if step < 1e-12 * theta:
            break
    return theta


def _siegmund_limit(p: float, up: int, down: int, arl0: float, theta: float) -> float:
    """h with (e^(theta h) - theta h - 1) / (theta |mu|) = arl0: Siegmund's ARL0 without the
    overshoot correction, inverted by a few Newton steps (only a starting point)."""
    drift = -(p * up + (1 - p) * down)
    target = arl0 * theta * drift
    x = math.log(target + 1) + 1.0  # x = theta h;  e^x - x - 1 = target, convex in x
    for _ in range(50):
        step = (math.exp(x) - x - 1 - target) / (math.exp(x) - 1)
        x -= step
        if abs(step) < 1e-9:
            break
    return x / theta


def _limit_for(p0: float, up: int, down: int, arl0: float) -> tuple[int, float]:
    """Smallest integer limit with in-control ARL >= arl0 (ARL grows with the limit).

    The same answer as doubling the limit from `up` and bisecting, with far fewer solves:
    the search runs on the lattice of gcd(up, down) (limits between two lattice points have
    the same ARL), starts at Siegmund's approximation and moves by secant steps on log ARL,
    always keeping a verified bracket lo < answer <= hi (lo's ARL below arl0, hi's at or
    above it) until hi = lo + 1; with the doubling's bound (up x 2^k <= 200 000).
    """
    g = math.gcd(up, down)
    u, d = up // g, down // g
    cap = up
    while cap * 2 <= 200_000:
        cap *= 2
    top = cap // g  # the doubling never looked beyond the limit `cap` (a lattice point)

    def arl(k: int) -> float:
        return _arl_on_lattice(p0, u, d, k)

    # Limits <= up: any bad outcome alarms, so the ARL is 1/p0 (geometric).
    at_up = 1.0 / p0 if 1.0 / p0 < arl0 * (1 - 1e-6) else arl(u)
    if at_up >= arl0:
        return up, at_up
    lo = u  # ARL(lo) < arl0
    hi, hi_arl = 0, 0.0  # ARL(hi) >= arl0; 0: not found yet
    theta = _drift_root(p0, u, d)
    guess = 2 * u if theta is None else math.ceil(_siegmund_limit(p0, u, d, arl0, theta))
    last: tuple[int, float] | None = None
    width_before = top  # the bracket's width before the last solve
    while True:
        k = min(max(guess, lo + 1), hi - 1 if hi else top)
        value = arl(k)
        if value >= arl0:
            hi, hi_arl = k, value
        elif k >= top:
            raise ValueError(f"no limit reaches ARL0 {arl0} for p0={p0}")
        else:
            lo = k
        if hi and hi - lo <= 1:
            return hi * g - g + 1, hi_arl  # the smallest limit with hi's ARL
        # Secant on log ARL through the last two solves; the first step uses theta.
        slope = theta or 1.0 / u
        if last is not None and last[0] != k and last[1] != value:
            slope = (math.log(value) - math.log(last[1])) / (k - last[0])
        last = (k, value)
        guess = math.ceil(k + math.log(arl0 / value) / slope) if slope > 0 else k + 1
        if hi:
            if hi - lo > width_before // 2:  # the last step did not halve the bracket
                guess = (lo + hi) // 2
            width_before = hi - lo


def warm_up() -> None:
    """Import numpy and scipy's sparse solver now and run one tiny solve.

    Those imports cost ~0.4 s once per process; without this they happen in the first
    chart's warm-up, on the Kafka worker's event loop in the middle of the stream. The
    runtimes call it where they build the monitoring stage (pipeline.topology).
    """
    _arl_on_lattice(0.5, 1, -1, 2)


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
