"""The warehouse as a star schema: dimension tables and the date key of every fact row.

The event tables of consumers/warehouse.py are the fact tables (one row per event, keyed by
the CloudEvent identity). They point at the dimensions by natural key: `kanaal`,
`dienst_code`, `team` and `datum_key` (the local date in Europe/Amsterdam as YYYYMMDD).
The sink fills the dimensions in the same transaction as the facts, idempotently and
independent of the order in which events arrive, so a rebuild from the log gives the same
rows as the live run. Documented for BI users in docs/warehouse.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    or_,
)
from sqlalchemy.dialects import postgresql, sqlite

from pipeline.times import MONTHS_NL, WEEKDAYS_NL, as_utc
from pipeline.workdays import WorkingCalendar

ZONE = ZoneInfo("Europe/Amsterdam")
star_metadata = MetaData()

dim_datum = Table(
    "dim_datum",
    star_metadata,
    Column("datum_key", Integer, primary_key=True, autoincrement=False),
    Column("datum", Date, nullable=False),
    Column("jaar", Integer, nullable=False),
    Column("kwartaal", Integer, nullable=False),
    Column("maand", Integer, nullable=False),
    Column("maand_naam", String(12), nullable=False),
    Column("jaar_maand", String(7), nullable=False),
    Column("iso_jaar", Integer, nullable=False),
    Column("iso_week", Integer, nullable=False),
    Column("week", String(8), nullable=False),
    Column("dag_van_week", Integer, nullable=False),
    Column("dag_naam", String(10), nullable=False),
    Column("werkdag", Boolean, nullable=False),
    Column("feestdag", String(60)),
)
dim_kanaal = Table(
    "dim_kanaal",
    star_metadata,
    Column("kanaal", String(30), primary_key=True),
    Column("omschrijving", String(100), nullable=False),
)
dim_dienst = Table(
    "dim_dienst",
    star_metadata,
    Column("dienst_code", String(64), primary_key=True),
    Column("dienst_naam", String(200)),
    Column("naam_op", DateTime(timezone=True)),  # when the event that gave this name happened
)
dim_team = Table(
    "dim_team",
    star_metadata,
    Column("team", String(100), primary_key=True),
)

KANALEN: dict[str, str] = {
    "e-formulier": "E-formulier op de website",
    "telefoon": "Telefoon (KCC)",
    "balie": "Balie of afspraak",
    "e-mail": "E-mail",
    "chat": "Chat",
    "whatsapp": "WhatsApp",
    "social-media": "Sociale media",
    "brief": "Brief",
}

# Fact table -> the column whose moment gives its datum_key.
FACT_TIMES: dict[str, str] = {
    "contacts": "plaatsgevonden_op",
    "invitations": "created_at",
    "responses": "answered_at",
    "signals": "ontvangen_op",
    "alerts": "aangemaakt_op",
    "alert_status_changes": "op",
    "page_feedback": "gegeven_op",
    "dispatch_outcomes": "op",
    "opt_outs": "gegeven_op",
}

_CALENDAR = WorkingCalendar()


def datum_key(moment: datetime | None) -> int | None:
    """YYYYMMDD of the local (Europe/Amsterdam) date of a moment; naive means UTC."""
    if moment is None:
        return None
    day = as_utc(moment).astimezone(ZONE).date()
    return day.year * 10000 + day.month * 100 + day.day


def date_row(key: int) -> dict[str, Any]:
    """The dim_datum row of a datum_key: everything follows from the date alone."""
    day = date(key // 10000, key // 100 % 100, key % 100)
    iso_year, iso_week, weekday = day.isocalendar()
    holiday = _CALENDAR.holiday(day)
    return {
        "datum_key": key,
        "datum": day,
        "jaar": day.year,
        "kwartaal": (day.month - 1) // 3 + 1,
        "maand": day.month,
        "maand_naam": MONTHS_NL[day.month - 1],
        "jaar_maand": f"{day.year}-{day.month:02d}",
        "iso_jaar": iso_year,
        "iso_week": iso_week,
        "week": f"{iso_year}-W{iso_week:02d}",
        "dag_van_week": weekday,
        "dag_naam": WEEKDAYS_NL[weekday - 1],
        "werkdag": weekday < 6 and holiday is None,
        "feestdag": holiday,
    }


def add_datum_keys(table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Set `datum_key` on fact rows from their time column (in place)."""
    column = FACT_TIMES.get(table)
    if column is None:
        return
    for row in rows:
        row["datum_key"] = datum_key(row.get(column))


def _dienst_candidates(rows: Iterable[tuple[dict[str, Any], str | None]]) -> dict[str, Any]:
    """Per dienst_code the winning name: the one of the latest event, ties by name."""
    best: dict[str, dict[str, Any]] = {}
    for row, time_column in rows:
        code = row.get("dienst_code")
        if not code:
            continue
        naam = row.get("dienst_naam")
        at = row.get(time_column) if time_column else None
        cand = {
            "dienst_code": code,
            "dienst_naam": naam,
            "naam_op": as_utc(at) if (naam and at) else None,
        }
        seen = best.get(code)
        if seen is None or _beats(cand, seen):
            best[code] = cand
    return best


def _beats(new: dict[str, Any], old: dict[str, Any]) -> bool:
    if new["naam_op"] is None:
        return False
    if old["naam_op"] is None:
        return True
    return (new["naam_op"], new["dienst_naam"]) > (old["naam_op"], old["dienst_naam"])


def fill_dimensions(conn: Connection, grouped: dict[str, list[dict[str, Any]]]) -> None:
    """Upsert the dimension rows the fact rows of one batch refer to (order independent)."""
    kanalen: set[str] = set()
    teams: set[str] = set()
    keys: set[int] = set()
    diensten: list[tuple[dict[str, Any], str | None]] = []
    for table, rows in grouped.items():
        for row in rows:
            if row.get("kanaal"):
                kanalen.add(row["kanaal"])
            if row.get("team"):
                teams.add(row["team"])
            if row.get("datum_key"):
                keys.add(row["datum_key"])
            if row.get("dienst_code"):
                diensten.append((row, FACT_TIMES.get(table)))
    name = conn.dialect.name
    if kanalen:
        values = [{"kanaal": k, "omschrijving": KANALEN.get(k, k)} for k in sorted(kanalen)]
        conn.execute(_insert_new(name, "dim_kanaal"), values)
    if teams:
        values = [{"team": t} for t in sorted(teams)]
        conn.execute(_insert_new(name, "dim_team"), values)
    if keys:
        values = [date_row(k) for k in sorted(keys)]
        conn.execute(_insert_new(name, "dim_datum"), values)
    best = _dienst_candidates(diensten)
    if best:
        conn.execute(_upsert_diensten(name), [best[code] for code in sorted(best)])


@cache
def _insert_new(dialect_name: str, table: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING into a dimension table, built once per dialect
    (a statement is immutable; built per batch, it cost its building and its cache key)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(star_metadata.tables[table]).on_conflict_do_nothing()


@cache
def _upsert_diensten(dialect_name: str) -> Any:
    """The dim_dienst upsert (a later name wins), built once per dialect."""
    stmt = (postgresql if dialect_name == "postgresql" else sqlite).insert(dim_dienst)
    new, old = stmt.excluded, dim_dienst.c
    later = or_(
        old.naam_op.is_(None),
        new.naam_op > old.naam_op,
        (new.naam_op == old.naam_op) & (new.dienst_naam > old.dienst_naam),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.dienst_code],
        set_={"dienst_naam": new.dienst_naam, "naam_op": new.naam_op},
        where=new.naam_op.is_not(None) & later,
    )
    return stmt


__all__ = [
    "FACT_TIMES",
    "KANALEN",
    "add_datum_keys",
    "date_row",
    "datum_key",
    "dim_datum",
    "dim_dienst",
    "dim_kanaal",
    "dim_team",
    "fill_dimensions",
    "star_metadata",
]
