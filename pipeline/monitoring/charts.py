"""A chart's life: warm-up (estimate the baseline), watch (alarm CUSUM), alarm (recovery CUSUM).

The state of a chart is a plain JSON dict, so a stage can keep it in its key-value state.

- warm-up: count outcomes until there are at least `warmup_min` of them spread over at
  least `warmup_days`; the baseline p0 is their share (or a configured one), the volume
  per day sets the ARL0 the chart needs to meet the false-alarm budget.
- watch: S = max(0, S + step); alarm when S reaches the limit.
- alarm: the mirror chart R = max(0, R - step) collects evidence for p0 against p1; the
  service has recovered when R reaches the same limit (as much evidence for "back to
  normal" as the alarm needed for "wrong"). Then the alarm chart restarts from zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.monitoring.cusum import Design, design, share_to_reach
from pipeline.times import parse_time

DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class MonitorConfig:
    warmup_min: int = 300  # outcomes before a baseline is trusted
    warmup_days: float = 14.0  # and at least this span, so the volume covers whole weeks
    odds_ratio: float = 1.6  # the shift the charts are tuned to: odds of "bad" x 1.6
    false_alarms_per_30d: float = 1.0  # design budget per service (the target)
    charts_per_service: int = 25  # 6 channels x 4 metrics + the website share that budget
    arl0: float = 0.0  # fixed in-control ARL (observations); 0 = from each cell's volume
    min_arl0: float = 200.0
    baselines: Mapping[str, float] = field(default_factory=dict)  # configured p0 per metric
    examples: int = 3  # example comments kept per metric as evidence
    response_days: float = 3.0  # an invitation not answered within this is "niet beantwoord"

    def arl0_for(self, per_day: float) -> float:
        if self.arl0 > 0:
            return self.arl0
        per_chart_30d = self.false_alarms_per_30d / self.charts_per_service
        return max(self.min_arl0, per_day * 30.0 / per_chart_30d)


@dataclass(frozen=True)
class Finding:
    """A chart crossing its limit: the service went wrong ("open") or recovered."""

    kind: str  # "open" | "hersteld"
    metric: str
    episode: int
    design: Design
    statistic: float  # log-likelihood ratio (nats) at the crossing
    window_start: str
    window_end: str
    n: int  # outcomes in the window
    bad: int  # of which bad
    threshold_share: float  # share in a window this long that crosses the limit

    @property
    def share(self) -> float:
        return self.bad / self.n if self.n else 0.0


def new_chart() -> dict[str, Any]:
    return {"phase": "warmup", "n": 0, "bad": 0, "first": None, "last": None, "episode": 0}


def _days(first: str, last: str) -> float:
    return (parse_time(last) - parse_time(first)).total_seconds() / DAY_SECONDS


def _finish_warmup(chart: dict[str, Any], metric: str, config: MonitorConfig) -> None:
    n = chart["n"]
    p0 = config.baselines.get(metric, (chart["bad"] + 0.5) / (n + 1))
    per_day = n / max(1.0, _days(chart["first"], chart["last"]))
    chart.update(
        phase="watch",
        design=design(p0, config.odds_ratio, config.arl0_for(per_day)).to_state(),
        s=0,
        run=[0, 0, None],
    )


def _advance(chart: dict[str, Any], key: str, step: int, bad: bool, at: str) -> int:
    """Add a step to statistic `key`, keeping the window since it last stood at zero."""
    value = max(0, chart[key] + step)
    if value == 0:
        chart["run"] = [0, 0, None]
    else:
        n, hits, start = chart["run"] if chart[key] > 0 else (0, 0, at)
        chart["run"] = [n + 1, hits + int(bad), start]
    chart[key] = value
    return value


def _finding(chart: dict[str, Any], kind: str, metric: str, at: str) -> Finding:
    d = Design.from_state(chart["design"])
    n, bad, start = chart["run"]
    statistic = chart["s"] if kind == "open" else chart["r"]
    room = d.limit if kind == "open" else -d.limit
    return Finding(
        kind=kind,
        metric=metric,
        episode=chart["episode"],
        design=d,
        statistic=round(statistic / d.scale, 4),
        window_start=start or at,
        window_end=at,
        n=n,
        bad=bad,
        threshold_share=round(share_to_reach(d, n, room), 4),
    )


def observe(
    chart: dict[str, Any], metric: str, bad: bool, at: str, config: MonitorConfig
) -> Finding | None:
    """Feed one outcome into the chart (mutated in place); a Finding when it crosses a limit."""
    if chart["phase"] == "warmup":
        chart["n"] += 1
        chart["bad"] += int(bad)
        chart["first"] = chart["first"] or at
        chart["last"] = at
        span = _days(chart["first"], at)
        if chart["n"] >= config.warmup_min and span >= config.warmup_days:
            _finish_warmup(chart, metric, config)
        return None
    d = Design.from_state(chart["design"])
    if chart["phase"] == "watch":
        if _advance(chart, "s", d.step(bad), bad, at) < d.limit:
            return None
        chart["episode"] += 1
        found = _finding(chart, "open", metric, at)
        chart.update(phase="alarm", r=0, run=[0, 0, None])
        return found
    if _advance(chart, "r", -d.step(bad), bad, at) < d.limit:
        return None
    found = _finding(chart, "hersteld", metric, at)
    chart.update(phase="watch", s=0, run=[0, 0, None])
    chart.pop("r", None)
    return found
