"""The statistics behind the measures: Wilson intervals and the NPS margin of error."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95%


@dataclass(frozen=True)
class Share:
    """x of n, with its Wilson score interval (95%)."""

    x: int
    n: int

    @property
    def value(self) -> float:
        return self.x / self.n

    def wilson(self, z: float = Z95) -> tuple[float, float]:
        p, n = self.value, self.n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Nps:
    promoters: int  # 9-10
    passives: int  # 7-8
    detractors: int  # 0-6

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def value(self) -> float:
        """%promoters - %detractors, in points (-100 .. 100)."""
        return 100.0 * (self.promoters - self.detractors) / self.n

    def margin(self, z: float = Z95) -> float:
        """95% margin in points: z * sqrt(var / n), var of the +1/0/-1 coding (population)."""
        p, d = self.promoters / self.n, self.detractors / self.n
        variance = p + d - (p - d) ** 2
        return 100.0 * z * math.sqrt(variance / self.n)


def nps_from_scores(scores: list[int]) -> Nps:
    return Nps(
        promoters=sum(1 for s in scores if s >= 9),
        passives=sum(1 for s in scores if 7 <= s <= 8),
        detractors=sum(1 for s in scores if s <= 6),
    )


def ces_on_five(score: int, scale: int) -> float:
    """A CES answer on its own scale (1..scale) mapped linearly onto 1..5."""
    return 1.0 + 4.0 * (score - 1) / (scale - 1) if scale != 5 else float(score)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation between the closest ranks: the
    definition of PostgreSQL's percentile_cont and numpy's default."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
