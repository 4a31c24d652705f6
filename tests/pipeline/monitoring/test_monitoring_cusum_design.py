"""The CUSUM design: the fast limit search against a plain reference, and its preload."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import spsolve

from pipeline.monitoring.cusum import (
    MAX_SHARE,
    MIN_SHARE,
    average_run_length,
    design,
    integer_steps,
    shifted_share,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def reference_arl(p: float, up: int, down: int, limit: int) -> float:
    """The exact ARL as first written: the whole chain 0 .. limit-1, a loop per state."""
    n = limit
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
    matrix = csc_matrix((vals, (rows, cols)), shape=(n, n))
    return float(spsolve(matrix, np.ones(n))[0])


def reference_limit(p0: float, up: int, down: int, arl0: float) -> tuple[int, float]:
    """Doubling from `up`, then bisection: the smallest integer limit with ARL >= arl0."""
    low, high = up, up
    while reference_arl(p0, up, down, high) < arl0:
        low, high = high, high * 2
        if high > 200_000:
            raise ValueError(f"no limit reaches ARL0 {arl0} for p0={p0}")
    while high - low > 1:
        mid = (low + high) // 2
        if reference_arl(p0, up, down, mid) >= arl0:
            high = mid
        else:
            low = mid
    return high, reference_arl(p0, up, down, high)


# Shares over the whole range (some rounded by design() to 0.001, two clamped), odds
# ratios, and ARL0 targets as charts ask for them (rounded up to a quarter power of two by
# design(); the small ones reach the branch where the limit is `up` itself).
SHARES = (0.001, 0.007, 0.0123, 0.05, 0.11, 0.2, 0.35, 0.5, 0.6667, 0.8, 0.9, 0.95, 0.99)
ODDS = (1.3, 1.6, 2.5)
TARGETS = (2.0, 30.0, 200.0, 750 * 3.7, 4000.0)


@pytest.mark.parametrize("p0", SHARES)
def test_design_equals_the_reference_search(p0: float) -> None:
    gcds = set()
    for odds_ratio in ODDS:
        for target in TARGETS:
            got = design(p0, odds_ratio, target)
            share = min(MAX_SHARE, max(MIN_SHARE, round(p0, 3)))
            arl0 = 2 ** (math.ceil(4 * math.log2(max(target, 2.0))) / 4)
            p1 = shifted_share(share, odds_ratio)
            up, down, scale = integer_steps(share, p1)
            limit, achieved = reference_limit(share, up, down, arl0)
            where = (p0, odds_ratio, target)
            assert (got.p0, got.p1, got.up, got.down, got.scale) == (share, p1, up, down, scale)
            assert got.limit == limit, where
            assert got.arl0 == pytest.approx(achieved, rel=1e-9), where
            gcds.add(math.gcd(up, down))
    if 0.4 < p0 < 0.6:  # steps 12 and -14/-15/-18 (some with a common divisor) are covered
        assert gcds - {1}


@pytest.mark.parametrize(
    ("p", "up", "down", "limit"),
    [
        (0.2, 38, -12, 441),
        (0.5, 12, -15, 262),
        (0.5, 12, -15, 260),
        (0.8, 12, -60, 1093),
        (0.05, 179, -12, 7),
        (0.3, 4, -6, 1),
    ],
)
def test_average_run_length_equals_the_whole_chain(p: float, up: int, down: int, limit: int):
    """The ARL is solved on the lattice of gcd(up, down): the same as the whole chain."""
    assert average_run_length(p, up, down, limit) == pytest.approx(
        reference_arl(p, up, down, limit), rel=1e-9
    )


def test_building_the_topology_loads_the_design_modules() -> None:
    """The worker and the embedded runtime build their stages with build_topology; after it
    numpy and scipy's sparse solver are imported, so no chart's first design pays for that
    on the stream. Checked in a fresh interpreter with the scorer a worker loads (the shipped
    linear model, which imports neither)."""
    code = (
        "import json, sys, tempfile\n"
        "from pathlib import Path\n"
        "from pipeline.settings import Settings\n"
        "from pipeline.topology import topology_for\n"
        "wanted = ('numpy', 'scipy.sparse', 'scipy.sparse.linalg')\n"
        "before = [m for m in wanted if m in sys.modules]\n"
        "settings = Settings(data_dir=Path(tempfile.mkdtemp()), runtime='kafka',\n"
        "    api_token='t', pseudonym_key='p', link_key='l')\n"
        "topology_for(settings)\n"
        "after = [m for m in wanted if m in sys.modules]\n"
        "print(json.dumps({'before': before, 'after': after}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == []  # importing the topology module alone does not load them
    assert seen["after"] == ["numpy", "scipy.sparse", "scipy.sparse.linalg"]
