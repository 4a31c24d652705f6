"""Star schema: dimensions for date, channel, service and team; date keys on the facts;
conformed views for responses, invitations (with dispatch outcomes) and alerts.

Existing rows get their `datum_key` and the dimensions are filled from them by the same
rules the sink uses (consumers/warehouse_schema.py), so an upgraded warehouse equals one
rebuilt from the log. The revision is frozen: it carries its own copies of the tables,
channels and rules as they were at this revision, and imports no warehouse code, so a later
change of the live schema cannot change what this step does. It does use the domain's
calendar helpers (Dutch month and day names, public holidays) for the date dimension.

Revision ID: 0002_star_schema
Revises: 0001_baseline
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from pipeline.times import MONTHS_NL, WEEKDAYS_NL, as_utc
from pipeline.workdays import WorkingCalendar

revision = "0002_star_schema"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

_DIMENSIONS: dict[str, list[sa.Column[Any]]] = {
    "dim_datum": [
        sa.Column("datum_key", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("datum", sa.Date, nullable=False),
        sa.Column("jaar", sa.Integer, nullable=False),
        sa.Column("kwartaal", sa.Integer, nullable=False),
        sa.Column("maand", sa.Integer, nullable=False),
        sa.Column("maand_naam", sa.String(12), nullable=False),
        sa.Column("jaar_maand", sa.String(7), nullable=False),
        sa.Column("iso_jaar", sa.Integer, nullable=False),
        sa.Column("iso_week", sa.Integer, nullable=False),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("dag_van_week", sa.Integer, nullable=False),
        sa.Column("dag_naam", sa.String(10), nullable=False),
        sa.Column("werkdag", sa.Boolean, nullable=False),
        sa.Column("feestdag", sa.String(60)),
    ],
    "dim_kanaal": [
        sa.Column("kanaal", sa.String(30), primary_key=True),
        sa.Column("omschrijving", sa.String(100), nullable=False),
    ],
    "dim_dienst": [
        sa.Column("dienst_code", sa.String(64), primary_key=True),
        sa.Column("dienst_naam", sa.String(200)),
        sa.Column("naam_op", sa.DateTime(timezone=True)),
    ],
    "dim_team": [sa.Column("team", sa.String(100), primary_key=True)],
}

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
_ZONE = ZoneInfo("Europe/Amsterdam")

# Columns of each fact table that feed the dimensions (besides its time column).
_DIMENSION_COLUMNS = ("kanaal", "dienst_code", "dienst_naam", "team")

VIEWS: dict[str, str] = {
    "v_responses": """
        SELECT r.event_id, r.response_id, r.invitation_id, r.contact_id, r.klant,
               i.kanaal, i.dienst_code, i.dienst_naam, i.team, r.datum_key,
               r.ces, r.ces_schaal, r.nps, r.rapportcijfer, r.terugbel_toestemming,
               r.answered_at
        FROM responses r LEFT JOIN invitations i ON i.invitation_id = r.invitation_id""",
    "v_invitations": """
        SELECT i.invitation_id, i.contact_id, i.klant, i.kanaal, i.dienst_code,
               i.dienst_naam, i.team, i.datum_key, i.created_at, i.expires_at,
               (SELECT MIN(d.op) FROM dispatch_outcomes d WHERE d.invitation_id =
                i.invitation_id AND d.uitkomst = 'delivered') AS afgeleverd_op,
               (SELECT MIN(d.op) FROM dispatch_outcomes d WHERE d.invitation_id =
                i.invitation_id AND d.uitkomst = 'failed') AS mislukt_op,
               (SELECT MIN(d.op) FROM dispatch_outcomes d WHERE d.invitation_id =
                i.invitation_id AND d.uitkomst = 'reminded') AS herinnerd_op,
               (SELECT MIN(d.op) FROM dispatch_outcomes d WHERE d.invitation_id =
                i.invitation_id AND d.uitkomst = 'expired') AS verlopen_op,
               (SELECT COUNT(*) FROM responses r WHERE r.invitation_id = i.invitation_id)
                AS beantwoord
        FROM invitations i""",
    "v_alerts": """
        SELECT a.alert_id, a.signal_id, a.response_id, a.contact_id, a.klant, a.team,
               a.kanaal, a.dienst_code, a.dienst_naam, a.datum_key, a.ernst,
               a.terugbel_toestemming, a.aangemaakt_op, d.soort, d.uiterlijk_op,
               COALESCE((SELECT s.status FROM alert_status_changes s
                         WHERE s.alert_id = a.alert_id
                         ORDER BY s.op DESC, s.event_id DESC LIMIT 1), 'open')
                AS actuele_status,
               (SELECT MIN(s.op) FROM alert_status_changes s WHERE s.alert_id = a.alert_id
                AND s.status = 'afgehandeld') AS afgehandeld_op
        FROM alerts a LEFT JOIN alert_details d ON d.alert_id = a.alert_id""",
}


def datum_key(moment: datetime | None) -> int | None:
    """YYYYMMDD of the local (Europe/Amsterdam) date of a moment; naive means UTC."""
    if moment is None:
        return None
    day = as_utc(moment).astimezone(_ZONE).date()
    return day.year * 10000 + day.month * 100 + day.day


def _date_row(key: int, calendar: WorkingCalendar) -> dict[str, Any]:
    day = date(key // 10000, key // 100 % 100, key % 100)
    iso_year, iso_week, weekday = day.isocalendar()
    holiday = calendar.holiday(day)
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


def _beats(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """The name of the latest event wins, ties by name (as the sink decides)."""
    if new["naam_op"] is None:
        return False
    if old["naam_op"] is None:
        return True
    return (new["naam_op"], new["dienst_naam"]) > (as_utc(old["naam_op"]), old["dienst_naam"])


class _Dimensions:
    """What the existing fact rows refer to, gathered over all tables, inserted once."""

    def __init__(self) -> None:
        self.kanalen: set[str] = set()
        self.teams: set[str] = set()
        self.keys: set[int] = set()
        self.diensten: dict[str, dict[str, Any]] = {}

    def add(self, row: dict[str, Any], time_column: str | None) -> None:
        if row.get("kanaal"):
            self.kanalen.add(row["kanaal"])
        if row.get("team"):
            self.teams.add(row["team"])
        if row.get("datum_key"):
            self.keys.add(row["datum_key"])
        if row.get("dienst_code"):
            naam, at = row.get("dienst_naam"), row.get(time_column) if time_column else None
            cand = {
                "dienst_code": row["dienst_code"],
                "dienst_naam": naam,
                "naam_op": as_utc(at) if (naam and at) else None,
            }
            seen = self.diensten.get(cand["dienst_code"])
            if seen is None or _beats(cand, seen):
                self.diensten[cand["dienst_code"]] = cand

    def insert(self, conn: sa.Connection) -> None:
        """Insert the dimension rows that are not there yet."""
        meta = sa.MetaData()
        tables = {
            name: sa.Table(name, meta, *[c._copy() for c in cols])
            for name, cols in _DIMENSIONS.items()
        }
        rows = {
            "dim_kanaal": [{"kanaal": k, "omschrijving": KANALEN.get(k, k)} for k in self.kanalen],
            "dim_team": [{"team": t} for t in self.teams],
            "dim_datum": [_date_row(k, WorkingCalendar()) for k in self.keys],
            "dim_dienst": list(self.diensten.values()),
        }
        for name, values in rows.items():
            key = next(iter(tables[name].primary_key.columns))
            known = {r[0] for r in conn.execute(sa.select(key))}
            fresh = [v for v in values if v[key.name] not in known]
            fresh.sort(key=lambda v: v[key.name])
            for start in range(0, len(fresh), 1000):
                conn.execute(sa.insert(tables[name]), fresh[start : start + 1000])
        self._rename_diensten(conn, tables["dim_dienst"])

    def _rename_diensten(self, conn: sa.Connection, dim: sa.Table) -> None:
        """Rows already in dim_dienst take a later name, by the sink's rule."""
        for row in conn.execute(sa.select(dim)).mappings():
            cand = self.diensten.get(row["dienst_code"])
            if cand is not None and _beats(cand, dict(row)):
                conn.execute(
                    sa.update(dim)
                    .where(dim.c.dienst_code == cand["dienst_code"])
                    .values(dienst_naam=cand["dienst_naam"], naam_op=cand["naam_op"])
                )


def _scan_service_alerts(conn: sa.Connection, dims: _Dimensions) -> None:
    """Service alerts carry a service (and maybe a channel) but no date key: the sink fills
    dim_dienst from them too, without a naming moment."""
    if "service_alerts" not in sa.inspect(conn).get_table_names():
        return
    existing = {c["name"] for c in sa.inspect(conn).get_columns("service_alerts")}
    cols = [sa.column(c) for c in _DIMENSION_COLUMNS if c in existing]
    for row in conn.execute(sa.select(*cols).select_from(sa.table("service_alerts"))):
        dims.add(dict(row._mapping), None)


def _backfill(conn: sa.Connection, table: str, time_column: str, dims: _Dimensions) -> None:
    """datum_key on the existing rows; remember the dimensions they refer to."""
    t = sa.table(table, sa.column("event_id"), sa.column(time_column), sa.column("datum_key"))
    existing = {c["name"] for c in sa.inspect(conn).get_columns(table)}
    wanted = [c for c in _DIMENSION_COLUMNS if c in existing]
    cols = [
        sa.column("event_id"),
        sa.column(time_column, sa.DateTime(timezone=True)),
        *[sa.column(c) for c in wanted],
    ]
    query = sa.select(*cols).select_from(sa.table(table))
    rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        # SQLite hands back naive datetimes (they are UTC); datum_key treats naive as UTC.
        row["datum_key"] = datum_key(row[time_column])
    update = (
        sa.update(t)
        .where(t.c.event_id == sa.bindparam("b_event_id"))
        .values(datum_key=sa.bindparam("b_datum_key"))
    )
    params = [
        {"b_event_id": r["event_id"], "b_datum_key": r["datum_key"]}
        for r in rows
        if r["datum_key"] is not None
    ]
    for start in range(0, len(params), 1000):
        conn.execute(update, params[start : start + 1000])
    for row in rows:
        dims.add(row, time_column)


def upgrade() -> None:
    conn = op.get_bind()
    have = set(sa.inspect(conn).get_table_names())
    for name, columns in _DIMENSIONS.items():
        if name not in have:
            op.create_table(name, *[c._copy() for c in columns])
    kanaal = sa.table("dim_kanaal", sa.column("kanaal"), sa.column("omschrijving"))
    known = {r[0] for r in conn.execute(sa.select(kanaal.c.kanaal))}
    seeds = [{"kanaal": k, "omschrijving": v} for k, v in KANALEN.items() if k not in known]
    if seeds:
        op.bulk_insert(kanaal, seeds)
    dims = _Dimensions()
    for table, time_column in FACT_TIMES.items():
        columns = {c["name"] for c in sa.inspect(conn).get_columns(table)}
        if "datum_key" not in columns:
            with op.batch_alter_table(table) as batch:
                batch.add_column(sa.Column("datum_key", sa.Integer))
                batch.create_index(f"ix_{table}_datum_key", ["datum_key"])
        _backfill(conn, table, time_column, dims)
    _scan_service_alerts(conn, dims)
    dims.insert(conn)
    for name, body in VIEWS.items():
        op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in FACT_TIMES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_datum_key")
            batch.drop_column("datum_key")
    for name in _DIMENSIONS:
        op.drop_table(name)
