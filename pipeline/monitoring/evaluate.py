"""Measure the monitor on simulated data: detection delay of a drop, false alarms when stable.

A small generator in the shape of producers/simulator.py (same channel mix, failure rates,
weekday pattern and ~17% response), but drawing outcomes directly so many seeds run in
seconds. Each (service, channel) cell gets its own stable rates. One cell (the busiest
service on the telephone by default) gets an injected drop from `change_day`: NPS -15
points, half from more detractors (+7.5 pts) and half from fewer promoters (-7.5 pts);
negative comments follow because detractors comment negatively more often.

Detection delay = answers in that cell from the change until the first service alert of
that cell (detractors or negative comments). False alarms = service alerts (status open)
on the other services, which stay stable throughout, per service per 30 monitored days.
"""

from __future__ import annotations

import heapq
import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.monitoring.cell import new_cell, observe_cell
from pipeline.monitoring.charts import Finding, MonitorConfig
from pipeline.monitoring.outcomes import (
    CONTACT_FAILED,
    DETRACTORS,
    METRICS,
    NEGATIVE_COMMENTS,
    NOT_ANSWERED,
    PAGE_BAD,
    WEBSITE,
)
from pipeline.monitoring.pending import MemoryStore
from pipeline.times import iso

CHANNEL_MIX = {
    "telefoon": 0.40,
    "e-formulier": 0.25,
    "balie": 0.15,
    "e-mail": 0.10,
    "chat": 0.05,
    "whatsapp": 0.05,
}
FAILURE_RATE = {
    "telefoon": 0.11,
    "e-formulier": 0.05,
    "balie": 0.03,
    "e-mail": 0.06,
    "chat": 0.10,
    "whatsapp": 0.08,
}
WEEKDAY_FACTOR = (1.25, 1.1, 1.0, 1.0, 0.75, 0.25, 0.2)
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


@dataclass(frozen=True)
class Scenario:
    services: int = 16
    contacts_per_day: float = 600.0  # an average working day, all channels
    response_rate: float = 0.17
    comment_rate: float = 0.5
    page_feedback_per_day: float = 150.0
    days: int = 180
    change_day: int = 35
    drop_service: int = 0  # index: 0 is the busiest
    drop_channel: str = "telefoon"
    detractor_shift: float = 0.075
    promoter_shift: float = 0.075
    daily_noise: float = 0.15  # relative day-to-day wobble of every rate (overdispersion)
    drop: str = "nps"  # which change is injected (DROPS)
    shift: float = -1.0  # size of a non-NPS change; < 0: the drop's default (DROPS)
    answer_delay_days: float = 0.5  # mean time from invitation to answer (exponential)

    @property
    def metrics(self) -> tuple[str, ...]:
        return DROPS[self.drop][0]

    @property
    def size(self) -> float:
        return self.shift if self.shift >= 0 else DROPS[self.drop][1]

    @property
    def drop_cell(self) -> tuple[int, str]:
        return (self.drop_service, WEBSITE if self.drop == "slecht" else self.drop_channel)


# drop -> (the charts that should find it, default size, the outcomes its delay counts)
DROPS: dict[str, tuple[tuple[str, ...], float, str]] = {
    "nps": ((DETRACTORS, NEGATIVE_COMMENTS), 0.0, "answer"),
    "negatief": ((NEGATIVE_COMMENTS,), 0.10, "answer"),  # share of negative comments +10 pts
    "contact": ((CONTACT_FAILED,), 0.06, "contact"),  # failed contacts +6 pts
    "slecht": ((PAGE_BAD,), 0.10, "page"),  # "slecht" smileys +10 pts (website cell)
    "respons": ((NOT_ANSWERED,), 0.05, "invite"),  # response rate -5 pts (17% -> 12%)
}
DROP_UNITS = {
    "answer": "answers",
    "contact": "contacts",
    "page": "page-feedback clicks",
    "invite": "invitations",
}


@dataclass
class Cell:
    detractor: float
    promoter: float
    state: dict[str, Any] = field(default_factory=new_cell)
    store: MemoryStore = field(default_factory=MemoryStore)  # its open invitations


@dataclass
class RunResult:
    delay_answers: int | None  # None: not detected within the horizon (outcomes, see unit)
    delay_days: float | None
    false_alarms: int  # on the stable services
    stable_service_days: float  # monitored days summed over the stable services
    per_service: dict[int, tuple[int, float]]  # service -> (false alarms, monitored days)
    by_metric: dict[str, int] = field(default_factory=dict)  # false alarms per chart type
    found_by: str | None = None  # the chart that found the drop first


def _service_weights(n: int) -> list[float]:
    raw = [1 / (i + 1) ** 0.8 for i in range(n)]
    return [w / sum(raw) for w in raw]


def _poisson(rng: random.Random, lam: float) -> int:
    # Normal approximation above 30 keeps this fast; exact (Knuth) below.
    if lam > 30:
        return max(0, round(rng.gauss(lam, lam**0.5)))
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _answer(
    rng: random.Random, cell: Cell, shifted: bool, sc: Scenario, wobble: float
) -> dict[str, bool]:
    nps = shifted and sc.drop == "nps"
    detractor = cell.detractor * wobble + (sc.detractor_shift if nps else 0.0)
    promoter = cell.promoter - (sc.promoter_shift if nps else 0.0)
    u = rng.random()
    kind = "d" if u < detractor else ("p" if u < detractor + promoter else "n")
    out = {DETRACTORS: kind == "d"}
    if rng.random() < sc.comment_rate:
        negative = {"d": 0.6, "n": 0.2, "p": 0.05}[kind]
        negative += sc.size if shifted and sc.drop == "negatief" else 0.0
        out[NEGATIVE_COMMENTS] = rng.random() < negative
    return out


# (moment in days since START, cell, outcomes, kind, contact ref for invite/answer)
Event = tuple[float, tuple[int, str], dict[str, bool], str, str | None]


def _shift(sc: Scenario, key: tuple[int, str], day: int, drop: str) -> float:
    if day >= sc.change_day and key == sc.drop_cell and sc.drop == drop:
        return sc.size
    return 0.0


def _contact_events(
    rng: random.Random, day: int, key: tuple[int, str], cell: Cell, sc: Scenario, wobble: float
) -> list[Event]:
    kanaal = key[1]
    shifted = day >= sc.change_day and key == sc.drop_cell
    weights = _service_weights(sc.services)
    factor = WEEKDAY_FACTOR[(START + timedelta(days=day)).weekday()]
    lam = sc.contacts_per_day * factor * weights[key[0]] * CHANNEL_MIX[kanaal]
    events: list[Event] = []
    for _ in range(_poisson(rng, lam)):
        at = day + rng.random()
        fail = FAILURE_RATE[kanaal] * wobble + _shift(sc, key, day, "contact")
        failed = rng.random() < fail
        events.append((at, key, {CONTACT_FAILED: failed}, "contact", None))
        if failed:
            continue
        ref = f"{key}-{day}-{len(events)}"
        events.append((at, key, {}, "invite", ref))
        rate = sc.response_rate * wobble - _shift(sc, key, day, "respons")
        if rng.random() < rate:
            answer_at = at + rng.expovariate(1.0 / sc.answer_delay_days)
            events.append((answer_at, key, _answer(rng, cell, shifted, sc, wobble), "answer", ref))
    return events


def _day_events(
    rng: random.Random, day: int, cells: dict[tuple[int, str], Cell], sc: Scenario
) -> list[Event]:
    """Everything that happens in the cells on one simulated day (answers may come later)."""
    factor = WEEKDAY_FACTOR[(START + timedelta(days=day)).weekday()]
    weights = _service_weights(sc.services)
    events: list[Event] = []
    for (service, kanaal), cell in cells.items():
        # Real data is overdispersed: rates wobble from day to day around the baseline.
        wobble = max(0.0, rng.gauss(1.0, sc.daily_noise))
        key = (service, kanaal)
        if kanaal == WEBSITE:
            lam = sc.page_feedback_per_day * factor * weights[service]
            bad = cell.detractor * wobble + _shift(sc, key, day, "slecht")
            for _ in range(_poisson(rng, lam)):
                events.append(
                    (day + rng.random(), key, {PAGE_BAD: rng.random() < bad}, "page", None)
                )
            continue
        events.extend(_contact_events(rng, day, key, cell, sc, wobble))
    return events


@dataclass
class Tracker:
    """Counts what the evaluation reports while a run goes on."""

    sc: Scenario
    answers_since_change: int = 0  # outcomes of the drop's kind in the dropped cell
    delay_answers: int | None = None
    delay_days: float | None = None
    found_by: str | None = None
    false_alarms: int = 0
    first_watch: dict[int, float] = field(default_factory=dict)
    alarms_by_service: dict[int, int] = field(default_factory=dict)
    alarms_by_metric: dict[str, int] = field(default_factory=dict)

    def seen(self, key: tuple[int, str], cell: Cell, moment: float, kind: str) -> None:
        service = key[0]
        watched = service != self.sc.drop_service and service not in self.first_watch
        if watched and any(c["phase"] != "warmup" for c in cell.state["charts"].values()):
            self.first_watch[service] = moment  # monitored from here on
        if self._after_change(key, moment) and kind == DROPS[self.sc.drop][2]:
            self.answers_since_change += 1

    def found(self, key: tuple[int, str], finding: Finding, moment: float) -> None:
        if finding.kind != "open":
            return
        if key[0] != self.sc.drop_service:
            if key[0] in self.first_watch:  # counted in monitored days from then on
                self.false_alarms += 1
                self.alarms_by_service[key[0]] = self.alarms_by_service.get(key[0], 0) + 1
                m = finding.metric
                self.alarms_by_metric[m] = self.alarms_by_metric.get(m, 0) + 1
        elif self._after_change(key, moment) and finding.metric in self.sc.metrics:
            self.delay_answers = self.answers_since_change
            self.delay_days = round(moment - self.sc.change_day, 2)
            self.found_by = finding.metric

    def _after_change(self, key: tuple[int, str], moment: float) -> bool:
        return (
            key == self.sc.drop_cell and moment >= self.sc.change_day and self.delay_answers is None
        )

    def result(self) -> RunResult:
        days = {s: self.sc.days - start for s, start in self.first_watch.items()}
        per_service = {s: (self.alarms_by_service.get(s, 0), d) for s, d in days.items()}
        return RunResult(
            self.delay_answers,
            self.delay_days,
            self.false_alarms,
            sum(days.values()),
            per_service,
            dict(self.alarms_by_metric),
            self.found_by,
        )


def _cells(rng: random.Random, sc: Scenario) -> dict[tuple[int, str], Cell]:
    return {
        (s, k): Cell(detractor=rng.uniform(0.12, 0.3), promoter=rng.uniform(0.3, 0.45))
        for s in range(sc.services)
        for k in (*CHANNEL_MIX, WEBSITE)
    }


def simulate(seed: int, sc: Scenario, config: MonitorConfig) -> RunResult:
    """One run: every cell through the monitor's own cell code, in event-time order."""
    rng = random.Random(seed)
    cells = _cells(rng, sc)
    tracker = Tracker(sc)
    later: list[tuple[float, int, Event]] = []  # answers that fall on a later day
    seq = 0
    for day in range(sc.days):
        today = _day_events(rng, day, cells, sc)
        while later and later[0][0] < day + 1:
            today.append(heapq.heappop(later)[2])
        today.sort(key=lambda e: e[0])
        for event in today:
            moment, key, outcomes, kind, ref = event
            if moment >= day + 1:
                seq += 1
                heapq.heappush(later, (moment, seq, event))
                continue
            seq += 1
            cell = cells[key]
            found = observe_cell(
                cell.state,
                str(seq),
                outcomes,
                iso(START + timedelta(days=moment)),
                None,
                config,
                invited=ref if kind == "invite" else None,
                answered=ref if kind == "answer" else None,
                store=cell.store,
                key=f"{key[0]}|{key[1]}",
            )
            tracker.seen(key, cell, moment, kind)
            for finding in found:
                tracker.found(key, finding, moment)
    return tracker.result()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _false_alarms(runs: list[RunResult]) -> dict[str, Any]:
    alarms = sum(r.false_alarms for r in runs)
    months = sum(r.stable_service_days for r in runs) / 30.0
    per_run = [
        r.false_alarms / (r.stable_service_days / 30.0) for r in runs if r.stable_service_days
    ]
    pooled: dict[int, list[float]] = {}
    for r in runs:
        for service, (count, monitored) in r.per_service.items():
            acc = pooled.setdefault(service, [0.0, 0.0])
            acc[0], acc[1] = acc[0] + count, acc[1] + monitored
    per_service = [a / (d / 30.0) for a, d in pooled.values() if d]
    by_metric = {
        m: round(sum(r.by_metric.get(m, 0) for r in runs) / months, 4) if months else None
        for m in METRICS
    }
    return {
        "mean": round(alarms / months, 4) if months else None,
        "by_chart": by_metric,
        "worst_seed": round(max(per_run), 4) if per_run else None,
        "worst_service": round(max(per_service), 4) if per_service else None,
        "total_false_alarms": alarms,
        "stable_service_months": round(months, 1),
    }


def describe_drop(sc: Scenario) -> str:
    service, kanaal = sc.drop_cell
    where = f"on service #{service} via {kanaal} from day {sc.change_day}"
    if sc.drop == "nps":
        return (
            f"NPS -15 points {where} (detractors +{sc.detractor_shift:.3f}, "
            f"promoters -{sc.promoter_shift:.3f})"
        )
    what = {
        "negatief": "share of negative comments +{:.3f}",
        "contact": "share of failed contacts +{:.3f}",
        "slecht": "share of 'slecht' page feedback +{:.3f}",
        "respons": "response rate -{:.3f}",
    }[sc.drop]
    return f"{what.format(sc.size)} {where}"


def evaluate(seeds: int, sc: Scenario, config: MonitorConfig) -> dict[str, Any]:
    runs = [simulate(seed, sc, config) for seed in range(seeds)]
    delays = [r.delay_answers for r in runs if r.delay_answers is not None]
    days = [r.delay_days for r in runs if r.delay_days is not None]
    delay = {
        "unit": f"{DROP_UNITS[DROPS[sc.drop][2]]} in the dropped cell since the change",
        "charts": list(sc.metrics),
        "detected_share": round(len(delays) / seeds, 3),
        "note": "median, p90 and max over the detected runs",
        "median": statistics.median(delays) if delays else None,
        "p90": _quantile(delays, 0.9) if delays else None,
        "max": max(delays) if delays else None,
    }
    return {
        "seeds": seeds,
        "days": sc.days,
        "scenario": {
            "services": sc.services,
            "contacts_per_working_day": sc.contacts_per_day,
            "drop": describe_drop(sc),
            "daily_noise": sc.daily_noise,
        },
        "detection_delay": delay,
        "detection_delay_answers": delay,  # the name before other drops existed
        "found_by": {m: sum(1 for r in runs if r.found_by == m) for m in sc.metrics},
        "detection_delay_days": {
            "median": statistics.median(days) if days else None,
            "p90": _quantile(days, 0.9) if days else None,
        },
        "false_alarms_per_service_per_30_days": _false_alarms(runs),
        "target": "at most 1 false alarm per service per 30 days",
        "config": {
            "warmup_min": config.warmup_min,
            "warmup_days": config.warmup_days,
            "odds_ratio": config.odds_ratio,
            "false_alarms_per_30d_budget": config.false_alarms_per_30d,
            "charts_per_service": config.charts_per_service,
            "arl0": config.arl0 or "from each chart's volume",
            "response_days": config.response_days,
        },
    }
