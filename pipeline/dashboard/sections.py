"""The dashboard's other tables: response funnel, open service alerts, comment themes."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from pipeline.dashboard.tables import (
    SUPPRESSED,
    Cell,
    Chart,
    Column,
    Row,
    Table,
    text_cell,
)
from pipeline.dashboard.themes import ServiceThemes
from pipeline.measures.compute import MIN_ANSWERS, share
from pipeline.times import parse_time

LOCAL = ZoneInfo("Europe/Amsterdam")

FUNNEL = (
    ("invited", "Uitgenodigd"),
    ("delivered", "Bezorgd"),
    ("opened", "Geopend"),
    ("started", "Begonnen"),
    ("answered", "Beantwoord"),
    ("optedOut", "Afgemeld"),
)
METRICS_NL = {
    "aandeel-negatief": "aandeel negatieve opmerkingen",
    "nps": "NPS",
    "gemiddeld-rapportcijfer": "gemiddeld rapportcijfer",
    "gemiddelde-ces": "gemiddelde CES",
    "aandeel-detractors": "aandeel criticasters (NPS 0-6)",
    "aandeel-contact-niet-gelukt": "aandeel contact niet gelukt",
    "aandeel-slecht": "aandeel 'slecht' op de website",
}


def _funnel_row(key: str, label: str, figures: dict[str, Any]) -> Row:
    """A row with fewer than MIN_ANSWERS answers shows no number at all."""
    if int(figures.get("answered") or 0) < MIN_ANSWERS:
        return Row(key, label, tuple(SUPPRESSED for _ in range(len(FUNNEL) + 1)))
    cells = [Cell("getal", int(figures.get(name) or 0)) for name, _ in FUNNEL]
    rate = share(int(figures["answered"]), int(figures["invited"]))
    cells.append(Cell("aandeel", rate["aandeel"], rate["ondergrens"], rate["bovengrens"]))
    return Row(key, label, tuple(cells))


def funnel_table(funnel: dict[str, Any], dimension: str = "kanaal") -> Table:
    rows = [_funnel_row(str(r[dimension]), str(r[dimension]), r) for r in funnel["rows"]]
    rows.append(_funnel_row("totaal", "Totaal", funnel["totals"]))
    columns = (*(Column(k, v) for k, v in FUNNEL), Column("respons", "Respons"))
    return Table(
        "respons",
        "Van uitnodiging tot antwoord",
        "Kanaal",
        columns,
        tuple(rows),
        note="Geteld per uitnodiging in de gekozen periode.",
        charts=(
            Chart(
                "kolommen",
                ("totaal",),
                "bar",
                "Uitnodigingen per stap, alle kanalen",
                "aantal uitnodigingen",
            ),
        ),
    )


def _value(alert: dict[str, Any], name: str) -> str:
    value = alert.get(name)
    if isinstance(value, dict):
        return str(value.get("naam") or value.get("code") or "")
    return "" if value is None else str(value)


def _local(value: Any) -> str:
    """An ISO time as local date and time (dd-mm-jjjj uu:mm), as staff read it."""
    try:
        return parse_time(str(value)).astimezone(LOCAL).strftime("%d-%m-%Y %H:%M")
    except (TypeError, ValueError):
        return "" if value is None else str(value)


def alerts_table(open_alerts: list[dict[str, Any]]) -> Table:
    columns = (
        Column("kanaal", "Kanaal"),
        Column("metriek", "Wat ging mis"),
        Column("waarde", "Nu"),
        Column("basislijn", "Normaal"),
        Column("sinds", "Sinds"),
    )
    rows = []
    for alert in open_alerts:
        evidence = alert.get("bewijs") or {}
        enough = int(evidence.get("aantal", alert.get("aantal", MIN_ANSWERS)) or 0) >= MIN_ANSWERS
        rows.append(
            Row(
                str(alert.get("serviceAlertId")),
                _value(alert, "dienst"),
                (
                    text_cell(_value(alert, "kanaal") or "alle"),
                    text_cell(METRICS_NL.get(str(alert.get("metriek")), alert.get("metriek"))),
                    Cell("aandeel", alert.get("waarde")) if enough else SUPPRESSED,
                    Cell("aandeel", evidence.get("basislijn"))
                    if "basislijn" in evidence
                    else Cell("leeg"),
                    text_cell(_local(alert.get("aangemaaktOp"))),
                ),
            )
        )
    return Table("servicemeldingen", "Open servicemeldingen", "Dienst", columns, tuple(rows))


def themes_table(themes: list[ServiceThemes], with_examples: bool) -> Table:
    columns = (
        Column("thema", "Thema (kernwoorden)"),
        Column("opmerkingen", "Opmerkingen"),
    )
    rows = []
    for service in themes:
        if not service.themes:
            rows.append(Row(f"{service.dienst}", service.dienst, (SUPPRESSED, SUPPRESSED)))
            continue
        for i, theme in enumerate(service.themes, start=1):
            examples = theme.examples if with_examples else ()
            count = Cell("getal", theme.count) if theme.count >= MIN_ANSWERS else SUPPRESSED
            rows.append(
                Row(
                    f"{service.dienst}.{i}",
                    service.dienst,
                    (Cell("tekst", ", ".join(theme.terms), extra=examples), count),
                )
            )
    return Table(
        "themas",
        "Onderwerpen in opmerkingen per dienst",
        "Dienst",
        columns,
        tuple(rows),
        note="Onderwerpen gevonden met tekstanalyse (NMF) in opmerkingen zonder persoonsgegevens.",
    )
