"""The whole dashboard for one choice of filters: its tables, from the measures cells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.dashboard.periods import name_nl, periods_through
from pipeline.dashboard.tables import Chart, Table, comparison, distribution, trend

TREND_PERIODS = 13
NPS_GROUPS = ("nps.promotors", "nps.passives", "nps.detractors")
NPS_SCORES = tuple(f"nps.verdeling.{v}" for v in range(11))


@dataclass(frozen=True)
class Distribution:
    """One distribution table with its bar chart; `keys` () = every value present."""

    table_id: str
    title: str
    prefix: str
    row_label: str
    chart_title: str
    keys: tuple[str, ...] = ()


DISTRIBUTIONS = (
    Distribution(
        "cijferverdeling",
        "Verdeling van het rapportcijfer",
        "rapportcijfer",
        "Cijfer",
        "Aandeel per rapportcijfer en kanaal",
    ),
    Distribution(
        "npsverdeling",
        "NPS: promotors, passives en criticasters",
        "nps",
        "Groep",
        "Aandeel per NPS-groep en kanaal",
        NPS_GROUPS,
    ),
    # A score of 6 and one of 0 are both "criticaster": the whole 0-10 scale shows which.
    Distribution(
        "npsscores",
        "Verdeling van de NPS-score (0 tot en met 10)",
        "nps",
        "Score",
        "Aandeel per NPS-score en kanaal",
        NPS_SCORES,
    ),
)


@dataclass
class View:
    per: str
    periode: str | None
    periods: list[str]
    tables: list[Table] = field(default_factory=list)
    notice: str = ""

    def table(self, table_id: str) -> Table | None:
        return next((t for t in self.tables if t.id == table_id), None)


def pick_period(totals: list[dict[str, Any]], wanted: str | None) -> tuple[str | None, str]:
    """The chosen period and a notice. Without a (known) choice: the latest period with
    enough answers to show, else the latest period with any data."""
    periods = [c["periode"] for c in totals]
    if not periods:
        return None, ""
    if wanted and wanted in periods:
        return wanted, ""
    notice = f"Voor {wanted} zijn geen gegevens; u ziet de laatste periode." if wanted else ""
    answered = [c["periode"] for c in totals if "n" in (c.get("antwoorden") or {})]
    return (answered or periods)[-1], notice


def measure_tables(
    by_group: list[dict[str, Any]], totals: list[dict[str, Any]], periode: str
) -> list[Table]:
    """Channels side by side, the trend, and the distributions, for one period."""
    cells = [c for c in by_group if c["periode"] == periode]
    [total] = [c for c in totals if c["periode"] == periode] or [None]
    upto = with_gaps([c for c in totals if c["periode"] <= periode])[-TREND_PERIODS:]
    name = name_nl(periode)
    side = comparison("kanalen", f"Kanalen naast elkaar, {name}", cells, total)
    side = _with(
        side, Chart("kolommen", ("nps",), "bar", "NPS per kanaal met 95%-marge", "NPS (punten)")
    )
    over_time = trend("trend", f"Verloop tot en met {name}, alle gekozen kanalen", upto)
    over_time = _with(
        over_time,
        Chart("rijen", ("nps",), "line", "NPS per periode met 95%-marge", "NPS (punten)"),
        Chart(
            "rijen",
            ("rapportcijfer.aandeelTotEnMet6", "respons"),
            "line",
            "Aandeel rapportcijfer 6 of lager en respons per periode, met 95%-interval",
            "%",
        ),
    )
    spread = [
        _with(
            distribution(
                d.table_id, f"{d.title}, {name}", d.prefix, cells, total, d.row_label, keys=d.keys
            ),
            Chart("rijen", (), "bar", d.chart_title, "%"),
        )
        for d in DISTRIBUTIONS
    ]
    return [side, over_time, *spread]


def with_gaps(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cells in period order with an empty cell ({"periode": p, "leeg": True}) for every
    period without data between them: the trend shows a gap there, not a shorter line."""
    if not cells:
        return []
    by_period = {c["periode"]: c for c in cells}
    return [
        by_period.get(p, {"periode": p, "leeg": True})
        for p in periods_through(cells[0]["periode"], cells[-1]["periode"])
    ]


def _with(table: Table, *charts: Chart) -> Table:
    from dataclasses import replace

    return replace(table, charts=(*table.charts, *charts))
