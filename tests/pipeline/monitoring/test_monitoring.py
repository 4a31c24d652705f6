"""The monitor's statistics as plain domain code: CUSUM design, chart life cycle, outcomes."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.monitoring.cell import already_seen, new_cell, observe_cell
from pipeline.monitoring.charts import MonitorConfig, new_chart, observe
from pipeline.monitoring.cusum import average_run_length, design, share_to_reach
from pipeline.monitoring.evaluate import Scenario, evaluate
from pipeline.monitoring.outcomes import (
    CONTACT_FAILED,
    DETRACTORS,
    NEGATIVE_COMMENTS,
    PAGE_BAD,
    from_signal,
)
from pipeline.settings import Settings
from pipeline.stages.monitoring import monitor_config
from pipeline.times import iso
from schemas.models import Dienst, Sentiment, Signal

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _at(i: int) -> str:
    return iso(T0 + timedelta(minutes=10 * i))


def test_exact_arl_matches_simulation() -> None:
    d = design(0.2, 1.6, 300)
    assert d.arl0 >= 300
    rng = random.Random(11)
    lengths = []
    for _ in range(3000):
        s, n = 0, 0
        while s < d.limit:
            n += 1
            s = max(0, s + d.step(rng.random() < 0.2))
        lengths.append(n)
    simulated = sum(lengths) / len(lengths)
    # 3000 runs of a roughly geometric length: standard error ~2%.
    assert simulated == pytest.approx(d.arl0, rel=0.08)


def test_limit_is_the_smallest_that_meets_arl0() -> None:
    d = design(0.1, 1.6, 5000)
    assert d.arl0 >= 5000
    assert average_run_length(0.1, d.up, d.down, d.limit - 1) < d.arl0
    # The shift it is designed for is found far sooner than a false alarm.
    assert average_run_length(d.p1, d.up, d.down, d.limit) < d.arl0 / 10


def test_threshold_share_is_where_the_statistic_reaches_the_limit() -> None:
    d = design(0.25, 1.6, 1000)
    n = 200
    share = share_to_reach(d, n, d.limit)
    x = share * n
    assert x * d.up + (n - x) * d.down == pytest.approx(d.limit)


def _config(**kw) -> MonitorConfig:
    return replace(MonitorConfig(warmup_min=50, warmup_days=0, arl0=500), **kw)


def test_chart_warms_up_alarms_with_evidence_and_recovers() -> None:
    config = _config()
    chart = new_chart()
    rng = random.Random(5)
    i = 0
    for _ in range(50):  # warm-up: about 20% bad, nothing found
        i += 1
        assert observe(chart, DETRACTORS, rng.random() < 0.2, _at(i), config) is None
    assert chart["phase"] == "watch"
    assert 0.1 < chart["design"]["p0"] < 0.35
    found = None
    while found is None:
        i += 1
        found = observe(chart, DETRACTORS, rng.random() < 0.7, _at(i), config)
        assert i < 200, "a jump from ~20% to 70% bad must be found quickly"
    assert found.kind == "open" and found.episode == 1
    assert found.statistic >= found.design.limit / found.design.scale
    assert found.share >= found.threshold_share > found.design.p0
    assert found.window_start <= found.window_end == _at(i)
    assert chart["phase"] == "alarm"
    back = None
    while back is None:
        i += 1
        back = observe(chart, DETRACTORS, rng.random() < 0.1, _at(i), config)
        assert i < 2000
    assert back.kind == "hersteld" and back.episode == 1
    assert back.share <= back.threshold_share
    assert chart["phase"] == "watch" and chart["s"] == 0


def test_configured_baseline_wins_over_the_warmup_estimate() -> None:
    config = _config(baselines={DETRACTORS: 0.3})
    chart = new_chart()
    for i in range(50):
        observe(chart, DETRACTORS, False, _at(i), config)
    assert chart["design"]["p0"] == 0.3


def test_warmup_needs_its_days_too() -> None:
    config = _config(warmup_days=14)
    chart = new_chart()
    for i in range(200):  # 200 outcomes in 33 hours: not yet two weeks
        observe(chart, DETRACTORS, False, _at(i), config)
    assert chart["phase"] == "warmup"
    observe(chart, DETRACTORS, False, iso(T0 + timedelta(days=15)), config)
    assert chart["phase"] == "watch"


def test_volume_sets_arl0_from_the_false_alarm_budget() -> None:
    config = MonitorConfig(false_alarms_per_30d=1.0, charts_per_service=24)  # explicit
    # 10 outcomes a day: 300 per 30 days; 24 charts share one alarm per 30 days.
    assert config.arl0_for(10.0) == pytest.approx(300 * 24)
    assert config.arl0_for(0.01) == config.min_arl0


def test_cell_keeps_scrubbed_examples_and_ignores_replays() -> None:
    cell = new_cell()
    config = _config(warmup_min=1000)
    outcomes = {DETRACTORS: True, NEGATIVE_COMMENTS: True}
    for i in range(5):
        observe_cell(cell, f"o{i}", outcomes, _at(i), f"opmerking {i}", config)
    assert cell["examples"][DETRACTORS] == ["opmerking 2", "opmerking 3", "opmerking 4"]
    assert cell["charts"][DETRACTORS]["n"] == 5
    assert already_seen(cell, "o4") and not already_seen(cell, "o5")


def _signal(**kw) -> Signal:
    base = dict(
        signal_id="s",
        bron="response",
        klant="k",
        ontvangen_op=_at(0),
        sentiment=Sentiment("neg", -0.6, False, "m", "nld"),
        kanaal="telefoon",
        dienst=Dienst("paspoort", "Paspoort"),
    )
    return Signal(**{**base, **kw})


def test_outcomes_from_signals() -> None:
    assert from_signal(_signal(nps=6)).bad == {DETRACTORS: True}
    assert from_signal(_signal(nps=7)).bad == {DETRACTORS: False}
    with_comment = from_signal(_signal(nps=9, opmerking="Wachten duurde lang"))
    assert with_comment.bad == {DETRACTORS: False, NEGATIVE_COMMENTS: True}
    assert with_comment.comment == "Wachten duurde lang"
    assert from_signal(_signal()) is None, "no score, no comment: nothing to watch"
    page = from_signal(
        _signal(bron="page-feedback", beoordeling="slecht", kanaal=None, dienst=None)
    )
    assert page.bad == {PAGE_BAD: True} and page.kanaal == "website"
    assert page.dienst.code == "zonder-dienst"


def test_monitor_config_from_settings() -> None:
    settings = Settings(monitor_baselines="aandeel-detractors=0.2, aandeel-slecht=0.1")
    assert monitor_config(settings).baselines == {DETRACTORS: 0.2, PAGE_BAD: 0.1}
    with pytest.raises(ValueError, match="unknown metric"):
        monitor_config(Settings(monitor_baselines="nps=0.2"))
    env = {"KLANTSIGNAAL_MONITOR_ODDS_RATIO": "2.0", "KLANTSIGNAAL_MONITOR_WARMUP_MIN": "50"}
    config = monitor_config(Settings.from_env(env))
    assert config.odds_ratio == 2.0 and config.warmup_min == 50
    assert CONTACT_FAILED not in config.baselines


@pytest.mark.slow
def test_evaluation_detects_a_large_drop_and_counts_false_alarms() -> None:
    scenario = Scenario(services=3, days=50, change_day=20, detractor_shift=0.4)
    config = MonitorConfig(warmup_min=100, warmup_days=7)
    result = evaluate(2, scenario, config)
    assert result["detection_delay_answers"]["detected_share"] == 1.0
    assert result["detection_delay_answers"]["max"] < 150
    false_alarms = result["false_alarms_per_service_per_30_days"]
    assert false_alarms["stable_service_months"] > 0
    assert false_alarms["mean"] is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=400), st.floats(0.05, 0.6))
def test_statistic_is_the_sum_of_its_window(outcomes: list[bool], p0: float) -> None:
    """Whatever the outcomes, the statistic never goes negative and equals the sum of the
    steps in its window (the evidence a service alert reports)."""
    config = _config(warmup_min=1, baselines={DETRACTORS: p0})
    chart = new_chart()
    observe(chart, DETRACTORS, False, _at(0), config)  # warm-up done
    for i, bad in enumerate(outcomes, start=1):
        observe(chart, DETRACTORS, bad, _at(i), config)
        d = chart["design"]
        key = "s" if chart["phase"] == "watch" else "r"
        n, hits, _ = chart["run"]
        assert chart[key] >= 0
        sign = 1 if key == "s" else -1
        if chart[key] > 0:
            assert chart[key] == sign * (hits * d["up"] + (n - hits) * d["down"])
        else:
            assert chart["run"] == [0, 0, None]
