"""The dashboard trend shows a period without data as a gap (no number), not by leaving
the period out (which would draw a line straight across it)."""

from __future__ import annotations

from pipeline.dashboard.export import records
from pipeline.dashboard.periods import periods_through
from pipeline.dashboard.view import measure_tables


def test_periods_through_counts_every_week_and_month() -> None:
    assert periods_through("2026-W52", "2027-W02") == [
        "2026-W52",
        "2026-W53",
        "2027-W01",
        "2027-W02",
    ]
    assert periods_through("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert periods_through("2026-W46", "2026-W46") == ["2026-W46"]


def test_an_empty_week_is_a_gap_in_the_trend() -> None:
    totals = [
        {"periode": "2026-W44", "kanaal": None, "antwoorden": {"n": 20}},
        {"periode": "2026-W47", "kanaal": None, "antwoorden": {"n": 30}},
    ]
    tables = {t.id: t for t in measure_tables([], totals, "2026-W47")}
    trend = tables["trend"]
    assert [r.key for r in trend.rows] == ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    for row in trend.rows[1:3]:
        assert all(c.kind == "leeg" and c.value is None and not c.is_number for c in row.cells)
        assert all(c.text == "–" for c in row.cells)
    assert trend.rows[0].cells[0].value == 20 and trend.rows[3].cells[0].value == 30
    assert [r[1:] for r in records(trend)][1:3] == [[""] * len(trend.columns)] * 2
