"""The warehouse: clean tables for BI tools and data teams (SQLAlchemy 2; SQLite or PostgreSQL).

Writes are idempotent on the CloudEvent id, so replaying a batch after a crash is harmless.
Nothing here holds a BSN or an address: klant is the pseudonym and comments are scrubbed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from consumers.warehouse_insert import BulkInserts
from consumers.warehouse_migrate import upgrade_schema
from consumers.warehouse_revisions import details_metadata, keep_latest, store_details
from consumers.warehouse_schema import add_datum_keys, fill_dimensions
from pipeline.identity import event_key
from pipeline.ports import SinkRecord
from pipeline.privacy import scrub, scrub_repeated
from pipeline.times import iso_utc, parse_time
from schemas.types import (
    ALERT,
    ALERT_STATUS,
    CONTACT,
    DISPATCH,
    EVENT_TYPES,
    INVITATION,
    OPT_OUT,
    PAGE_FEEDBACK,
    RESPONSE,
    SERVICE_ALERT,
    SIGNAL,
)

log = logging.getLogger(__name__)
metadata = MetaData()


def _id_columns() -> list[Column[Any]]:
    return [
        Column("event_id", String(200), primary_key=True),
        Column("stored_at", DateTime(timezone=True), nullable=False),
    ]


def _dienst_columns() -> list[Column[Any]]:
    return [Column("dienst_code", String(64), index=True), Column("dienst_naam", String(200))]


def _datum_key() -> Column[Any]:
    return Column("datum_key", Integer, index=True)


contacts = Table(
    "contacts",
    metadata,
    *_id_columns(),
    Column("contact_id", String(100), nullable=False, index=True),
    Column("klant", String(80), nullable=False, index=True),
    Column("kanaal", String(30), nullable=False),
    Column("onderwerp", String(200)),
    *_dienst_columns(),
    Column("team", String(100), index=True),
    Column("contact_gelukt", Boolean),
    Column("vertrouwelijk", Boolean),
    Column("taal", String(3)),
    Column("plaatsgevonden_op", DateTime(timezone=True), index=True),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)
invitations = Table(
    "invitations",
    metadata,
    *_id_columns(),
    Column("invitation_id", String(100), nullable=False, unique=True),
    Column("contact_id", String(100), nullable=False, index=True),
    Column("klant", String(80), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("kanaal", String(30)),
    *_dienst_columns(),
    Column("team", String(100)),
    Column("dispatch", JSON),
    Column("created_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)
responses = Table(
    "responses",
    metadata,
    *_id_columns(),
    Column("response_id", String(100), nullable=False, index=True),
    Column("invitation_id", String(100), nullable=False, index=True),
    Column("contact_id", String(100), nullable=False, index=True),
    Column("klant", String(80), nullable=False),
    Column("ces", Integer),
    Column("ces_schaal", Integer),
    Column("ces_opmerking", Text),
    Column("nps", Integer),
    Column("nps_opmerking", Text),
    Column("rapportcijfer", Integer),
    Column("rapportcijfer_opmerking", Text),
    Column("terugbel_toestemming", Boolean),
    Column("answered_at", DateTime(timezone=True), index=True),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)
signals = Table(
    "signals",
    metadata,
    *_id_columns(),
    Column("signal_id", String(100), nullable=False, index=True),
    Column("bron", String(20), nullable=False),
    Column("response_id", String(100)),
    Column("feedback_id", String(100)),
    Column("contact_id", String(100)),
    Column("klant", String(80)),
    Column("kanaal", String(30)),
    *_dienst_columns(),
    Column("team", String(100), index=True),
    Column("ces", Integer),
    Column("ces_schaal", Integer),
    Column("nps", Integer),
    Column("rapportcijfer", Integer),
    Column("beoordeling", String(10)),
    Column("opmerking", Text),
    Column("sentiment_label", String(3), index=True),
    Column("sentiment_score", Float),
    Column("very_negative", Boolean),
    Column("sentiment_explanation", JSON),
    Column("model_version", String(80)),
    Column("taal_opmerking", String(3)),
    Column("ontvangen_op", DateTime(timezone=True), index=True),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)
alerts = Table(
    "alerts",
    metadata,
    *_id_columns(),
    Column("alert_id", String(100), nullable=False, unique=True),
    Column("signal_id", String(100), nullable=False),
    Column("response_id", String(100)),
    Column("contact_id", String(100)),
    Column("klant", String(80), nullable=False),
    Column("team", String(100), nullable=False, index=True),
    Column("kanaal", String(30)),
    *_dienst_columns(),
    Column("ernst", String(10), nullable=False),
    Column("redenen", JSON, nullable=False),
    Column("opmerking", Text),
    Column("terugbel_toestemming", Boolean, nullable=False),
    Column("status", String(20), nullable=False, default="open", index=True),
    Column("aangemaakt_op", DateTime(timezone=True), nullable=False, index=True),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)
# Alert details added after the alerts table existed (no migrations yet): one row per alert.
alert_details = Table(
    "alert_details",
    metadata,
    Column("alert_id", String(100), primary_key=True),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    Column("soort", String(20), index=True),  # terugbellen | procesverbetering
    Column("uiterlijk_op", DateTime(timezone=True), index=True),
    Column("contacthistorie", JSON),
)
page_feedback = Table(
    "page_feedback",
    metadata,
    *_id_columns(),
    Column("feedback_id", String(100), nullable=False),
    Column("pagina", String(500), nullable=False),
    *_dienst_columns(),
    Column("beoordeling", String(10), nullable=False),
    Column("opmerking", Text),
    Column("gegeven_op", DateTime(timezone=True), index=True),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)
service_alerts = Table(
    "service_alerts",
    metadata,
    *_id_columns(),
    *_dienst_columns(),
    Column("metriek", String(40)),
    Column("waarde", Float),
    Column("drempel", Float),
    Column("venster", String(100)),
    Column("body", JSON),
)
opt_outs = Table(
    "opt_outs",
    metadata,
    *_id_columns(),
    Column("opt_out_id", String(100), nullable=False),
    Column("klant", String(80), index=True),
    Column("bron", String(20)),
    Column("invitation_id", String(100)),
    Column("gegeven_op", DateTime(timezone=True), index=True),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)
alert_status_changes = Table(
    "alert_status_changes",
    metadata,
    *_id_columns(),
    Column("alert_id", String(100), nullable=False, index=True),
    Column("team", String(100), index=True),
    Column("status", String(20), nullable=False),
    Column("handeling", String(30), nullable=False),
    Column("door", String(100)),
    Column("op", DateTime(timezone=True), nullable=False, index=True),
    Column("uitkomst", String(20)),
    Column("categorie", String(100)),
    Column("toegewezen_aan", String(100)),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)


def current_alert_status() -> Any:
    """An alert's current status: its latest change (by `op`, ties by `event_id`), else
    open — the one definition, as the view v_alerts.actuele_status (alerts.status is the
    status at creation, always open). Every reader of an alert's status uses this."""
    changes = alert_status_changes.c
    latest = (
        select(changes.status)
        .where(changes.alert_id == alerts.c.alert_id)
        .order_by(changes.op.desc(), changes.event_id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(latest, "open")


# Caseworkers' "sentiment klopt niet" on a comment: training data for `sentiment retrain`.
sentiment_corrections = Table(
    "sentiment_corrections",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("signal_id", String(100), nullable=False, index=True),
    Column("text", Text, nullable=False),  # the scrubbed comment
    Column("label_from", String(3)),
    Column("label_to", String(3), nullable=False),
    Column("door", String(100)),
    Column("op", DateTime(timezone=True), nullable=False),
)
dispatch_outcomes = Table(
    "dispatch_outcomes",
    metadata,
    *_id_columns(),
    Column("outcome_id", String(100), nullable=False),
    Column("invitation_id", String(100), nullable=False, index=True),
    Column("klant", String(80)),
    Column("route", String(10)),
    Column("uitkomst", String(20), nullable=False, index=True),
    Column("reden", String(200)),
    Column("pogingen", Integer),
    Column("kanaal", String(30)),
    *_dienst_columns(),
    Column("op", DateTime(timezone=True), index=True),
    _datum_key(),  # star schema: consumers/warehouse_schema.py
)
# Filled by the questionnaire through the VisitRecorder port (consumers.funnel): one row per
# invitation and stage, "opened" (the page was shown) or "started" (a first answer sent).
questionnaire_visits = Table(
    "questionnaire_visits",
    metadata,
    Column("invitation_id", String(100), primary_key=True),
    Column("stage", String(10), primary_key=True),
    Column("op", DateTime(timezone=True), nullable=False),
)
# Which channel system (CloudEvents source) reported which contactId for which klant: a
# contactId is only unique per source, so lookups by contactId need the source too.
contact_sources = Table(
    "contact_sources",
    metadata,
    *_id_columns(),
    Column("source", String(500), nullable=False),
    Column("contact_id", String(100), nullable=False),
    Column("klant", String(80), nullable=False),
    Index("contact_sources_lookup", "contact_id", "source"),
)
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("position", String(100), primary_key=True),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    Column("stage", String(50)),
    Column("topic", String(100)),
    Column("reason", Text, nullable=False),
    Column("event_id", String(200)),
    Column("event_type", String(100)),
)


def _ts(value: str | None) -> datetime | None:
    # Always UTC: SQLite keeps no offset, so mixed offsets would compare wrongly.
    return parse_time(value).astimezone(UTC) if value else None


def _clean(text: str | None) -> str | None:
    return scrub(text) if text else None


def _dienst(data: dict[str, Any]) -> dict[str, Any]:
    dienst = data.get("dienst") or {}
    return {"dienst_code": dienst.get("code"), "dienst_naam": dienst.get("naam")}


def _answer(data: dict[str, Any], name: str) -> dict[str, Any]:
    answer = data.get(name) or {}
    out = {name: answer.get("score"), f"{name}_opmerking": _clean(answer.get("opmerking"))}
    if name == "ces":
        out["ces_schaal"] = answer.get("schaal")
    return out


def _contact_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "contact_id": d["contactId"],
        "klant": d["klant"],
        "kanaal": d["kanaal"],
        # Subjects repeat (comments do not): a subject once found clean is not scrubbed again.
        "onderwerp": scrub_repeated(d["onderwerp"]) if d.get("onderwerp") else None,
        **_dienst(d),
        "team": d.get("team"),
        "contact_gelukt": d.get("indicatieContactGelukt"),
        "vertrouwelijk": d.get("vertrouwelijk"),
        "taal": d.get("taal"),
        "plaatsgevonden_op": _ts(d.get("plaatsgevondenOp")),
    }


def _invitation_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "invitation_id": d["invitationId"],
        "contact_id": d["contactId"],
        "klant": d["klant"],
        "token": d["token"],
        "kanaal": d.get("kanaal"),
        **_dienst(d),
        "team": d.get("team"),
        "dispatch": list(d.get("dispatch", [])),
        "created_at": _ts(d.get("createdAt")),
        "expires_at": _ts(d.get("expiresAt")),
    }


def _response_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "response_id": d["responseId"],
        "invitation_id": d["invitationId"],
        "contact_id": d["contactId"],
        "klant": d["klant"],
        **_answer(d, "ces"),
        **_answer(d, "nps"),
        **_answer(d, "rapportcijfer"),
        "terugbel_toestemming": d.get("terugbelToestemming"),
        "answered_at": _ts(d.get("answeredAt")),
    }


def _signal_row(d: dict[str, Any]) -> dict[str, Any]:
    s = d["sentiment"]
    return {
        "signal_id": d["signalId"],
        "bron": d["bron"],
        "response_id": d.get("responseId"),
        "feedback_id": d.get("feedbackId"),
        "contact_id": d.get("contactId"),
        "klant": d.get("klant"),
        "kanaal": d.get("kanaal"),
        **_dienst(d),
        "team": d.get("team"),
        "ces": d.get("ces"),
        "ces_schaal": d.get("cesSchaal"),
        "nps": d.get("nps"),
        "rapportcijfer": d.get("rapportcijfer"),
        "beoordeling": d.get("beoordeling"),
        "opmerking": _clean(d.get("opmerking")),
        "sentiment_label": s["label"],
        "sentiment_score": s["score"],
        "very_negative": s["very_negative"],
        "sentiment_explanation": list(s.get("explanation", [])),
        "model_version": s["model_version"],
        "taal_opmerking": s["language"],
        "ontvangen_op": _ts(d.get("ontvangenOp")),
    }


def _alert_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": d["alertId"],
        "signal_id": d["signalId"],
        "response_id": d.get("responseId"),
        "contact_id": d.get("contactId"),
        "klant": d["klant"],
        "team": d["team"],
        "kanaal": d.get("kanaal"),
        **_dienst(d),
        "ernst": d["ernst"],
        "redenen": list(d["redenen"]),
        "opmerking": _clean(d.get("opmerking")),
        "terugbel_toestemming": d["terugbelToestemming"],
        "status": "open",
        "aangemaakt_op": _ts(d["aangemaaktOp"]),
    }


def _alert_details_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": d["alertId"],
        "soort": d.get("soort"),
        "uiterlijk_op": _ts(d.get("uiterlijkOp")),
        "contacthistorie": list(d.get("contacthistorie") or []),
    }


def _page_feedback_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "feedback_id": d["feedbackId"],
        "pagina": d["pagina"],
        **_dienst(d),
        "beoordeling": d["beoordeling"],
        "opmerking": _clean(d.get("opmerking")),
        "gegeven_op": _ts(d.get("gegevenOp")),
    }


def _service_alert_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        **_dienst(d),
        "metriek": d.get("metriek"),
        "waarde": d.get("waarde"),
        "drempel": d.get("drempel"),
        "venster": d.get("venster"),
        "body": d,
    }


def _opt_out_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "opt_out_id": d["optOutId"],
        "klant": d["klant"],
        "bron": d["bron"],
        "invitation_id": d.get("invitationId"),
        "gegeven_op": _ts(d.get("gegevenOp")),
    }


def _alert_status_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": d["alertId"],
        "team": d.get("team"),
        "status": d["status"],
        "handeling": d["handeling"],
        "door": d.get("door"),
        "op": _ts(d["op"]),
        "uitkomst": d.get("uitkomst"),
        "categorie": d.get("categorie"),
        "toegewezen_aan": d.get("toegewezenAan"),
    }


def _dispatch_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome_id": d["outcomeId"],
        "invitation_id": d["invitationId"],
        "klant": d["klant"],
        "route": d["route"],
        "uitkomst": d["uitkomst"],
        "reden": d.get("reden"),
        "pogingen": d.get("pogingen"),
        "kanaal": d.get("kanaal"),
        **_dienst(d),
        "op": _ts(d.get("op")),
    }


ROWS: dict[str, tuple[Table, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    CONTACT.name: (contacts, _contact_row),
    INVITATION.name: (invitations, _invitation_row),
    RESPONSE.name: (responses, _response_row),
    SIGNAL.name: (signals, _signal_row),
    ALERT.name: (alerts, _alert_row),
    PAGE_FEEDBACK.name: (page_feedback, _page_feedback_row),
    SERVICE_ALERT.name: (service_alerts, _service_alert_row),
    OPT_OUT.name: (opt_outs, _opt_out_row),
    ALERT_STATUS.name: (alert_status_changes, _alert_status_row),
    DISPATCH.name: (dispatch_outcomes, _dispatch_row),
}


# Further rows some events also give, in tables of their own (keyed by their own id).
EXTRA_ROWS: dict[str, tuple[tuple[Table, Callable[[dict[str, Any]], dict[str, Any]]], ...]] = {
    ALERT.name: ((alert_details, _alert_details_row),),
}


# Revised answers replace earlier ones: (key, time) of the tables where the latest row wins.
LATEST_WINS: dict[str, tuple[str, str]] = {
    "responses": ("response_id", "answered_at"),
    "signals": ("signal_id", "ontvangen_op"),
}


def make_engine(url: str) -> Engine:
    # hide_parameters: a failed statement must not log the rows (comments, addresses).
    engine = create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    return engine


def create_tables(engine: Engine, tables: MetaData) -> None:
    """CREATE TABLE IF NOT EXISTS, safe when several processes start at once (web, sink)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Two concurrent create_all calls race on the catalog; serialise them.
            conn.execute(text("SELECT pg_advisory_xact_lock(4215001)"))
        tables.create_all(conn)


def _insert_ignore(engine: Engine, table: Table) -> Any:
    """INSERT that skips rows whose primary key is already there (idempotent replays)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


class Warehouse:
    """Write and read access to the warehouse tables."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        # Alembic (consumers/migrations); tables added without a migration are still created.
        upgrade_schema(self.engine, also=(metadata, details_metadata))
        self._inserts = BulkInserts(self.engine)  # SQLite: Core's statement, bound once

    def store(self, records: Sequence[SinkRecord]) -> int:
        """Store a batch in one transaction; returns how many rows it offered."""
        now = datetime.now(UTC)
        grouped: dict[str, list[dict[str, Any]]] = {}
        for rec in records:
            if rec.event is None:
                if rec.raw is not None:
                    grouped.setdefault("dead_letters", []).append(self._dead_letter_row(rec, now))
                continue
            mapping = ROWS.get(rec.event.type)
            if mapping is None:
                continue
            table, to_row = mapping
            # Identity of an event is (source, id): two channel systems may use the same id.
            key = event_key(rec.event.source, rec.event.id)
            row = {"event_id": key, "stored_at": now, **to_row(rec.event.data)}
            grouped.setdefault(table.name, []).append(row)
            for extra_table, extra_row in EXTRA_ROWS.get(rec.event.type, ()):
                extra = {"stored_at": now, **extra_row(rec.event.data)}
                grouped.setdefault(extra_table.name, []).append(extra)
            if rec.event.type == CONTACT.name:
                grouped.setdefault(contact_sources.name, []).append(
                    {
                        "event_id": key,
                        "stored_at": now,
                        "source": rec.event.source,
                        "contact_id": row["contact_id"],
                        "klant": row["klant"],
                    }
                )
        for name, rows in grouped.items():
            add_datum_keys(name, rows)
        with self.engine.begin() as conn:
            fill_dimensions(conn, grouped)
            for name, rows in grouped.items():
                if name in LATEST_WINS:
                    rows = keep_latest(conn, metadata.tables[name], rows, *LATEST_WINS[name])
                table = metadata.tables[name]
                if rows and not self._inserts.insert_ignore(conn, table, rows):
                    conn.execute(_insert_ignore(self.engine, table), rows)
            store_details(conn, records, _ts)
        return sum(len(rows) for rows in grouped.values())

    @staticmethod
    def _dead_letter_row(rec: SinkRecord, now: datetime) -> dict[str, Any]:
        raw = rec.raw or {}
        original = raw.get("record") or {}
        return {
            "position": f"{raw.get('topic')}:{raw.get('position')}:{raw.get('stage')}"[:100],
            "stored_at": now,
            "stage": raw.get("stage"),
            "topic": raw.get("topic"),
            "reason": scrub(str(raw.get("reason", "")))[:2000],
            "event_id": str(original.get("id"))[:200] if isinstance(original, dict) else None,
            "event_type": str(original.get("type"))[:100] if isinstance(original, dict) else None,
        }

    # -- reads ------------------------------------------------------------------------------
    def alerts(
        self,
        *,
        status: str | None = None,
        team: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        # `status` is the current status (the latest change), not the column (always open).
        current = current_alert_status()
        columns = [c for c in alerts.c if c.name != "status"]
        query = select(*columns, current.label("status"))
        query = query.order_by(alerts.c.aangemaakt_op.desc()).limit(limit)
        if status:
            query = query.where(current == status)
        if team:
            query = query.where(alerts.c.team == team)
        if since:
            query = query.where(alerts.c.aangemaakt_op >= since.astimezone(UTC))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def invitation_by_token(self, token: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(invitations).where(invitations.c.token == token)).first()
        return dict(row._mapping) if row else None

    def invitations_for_contact(
        self, contact_id: str, source: str | None = None
    ) -> list[dict[str, Any]]:
        """Invitations for a contactId; with `source`, only for the citizen(s) whose contact
        that channel system reported under this contactId."""
        query = select(invitations).where(invitations.c.contact_id == contact_id)
        if source is not None:
            klanten = select(contact_sources.c.klant).where(
                contact_sources.c.contact_id == contact_id, contact_sources.c.source == source
            )
            query = query.where(invitations.c.klant.in_(klanten))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def has_response(self, invitation_id: str) -> bool:
        query = select(responses.c.event_id).where(responses.c.invitation_id == invitation_id)
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def klant_known(self, klant: str) -> bool:
        """Whether the warehouse holds a contact of this pseudonym (key rotation)."""
        with self.engine.connect() as conn:
            query = select(contacts.c.klant).where(contacts.c.klant == klant).limit(1)
            return conn.execute(query).first() is not None

    def count(self, table_name: str) -> int:
        table = metadata.tables[table_name]
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def comments_with_scores(self) -> list[tuple[str, int | None, int | None]]:
        """(comment, nps, rapportcijfer) of every scored response, for weak sentiment labels."""
        query = select(signals.c.opmerking, signals.c.nps, signals.c.rapportcijfer).where(
            signals.c.bron == "response", signals.c.opmerking.is_not(None)
        )
        with self.engine.connect() as conn:
            return [(text, nps, cijfer) for text, nps, cijfer in conn.execute(query)]


def weak_label_source(url: str) -> Callable[[], Iterable[tuple[str, int | None, int | None]]]:
    """The warehouse adapter for `klantsignaal sentiment retrain`."""
    return lambda: Warehouse(url).comments_with_scores()


class WarehouseSink:
    """The warehouse as a Sink of the runtimes: every event topic plus dead-letter."""

    name = "warehouse"

    def __init__(self, warehouse: Warehouse, topics: tuple[str, ...]):
        self.warehouse = warehouse
        self.topics = topics
        # What it has rows for (monitor observations, for one, it has none): the embedded
        # runtime reads only these topics for it.
        unused = {t.topic for t in EVENT_TYPES.values()} - {
            t.topic for t in EVENT_TYPES.values() if t.name in ROWS
        }
        self.stored_topics = tuple(t for t in topics if t not in unused)

    def handle(self, records: Sequence[SinkRecord]) -> None:
        try:
            self.warehouse.store(records)
        except Exception:
            if len(records) == 1 and records[0].event is None:
                raise  # the dead-letter row itself cannot be stored: the database is the problem
            # One record the database refuses must not stop the warehouse for everything
            # after it: store record by record and set the refused ones aside.
            log.warning("warehouse refused a batch of %d; storing one by one", len(records))
            for record in records:
                self._store_one(record)

    def _store_one(self, record: SinkRecord) -> None:
        try:
            self.warehouse.store([record])
        except Exception as exc:
            if record.event is None:
                raise
            log.error(
                "warehouse refused event %s (%s): %s",
                record.event.id,
                record.event.type,
                type(exc).__name__,
            )
            refused = {
                "reason": f"warehouse weigerde het event: {type(exc).__name__}",
                "stage": self.name,
                "topic": record.topic,
                "position": record.position,
                "record": {"id": record.event.id[:200], "type": record.event.type[:100]},
            }
            # Raises when even this fails: then the database is down and the batch retries.
            self.warehouse.store([SinkRecord(record.topic, record.position, None, refused)])


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    """A warehouse row as JSON-ready dict (datetimes to ISO 8601 UTC)."""
    return {k: (iso_utc(v) if isinstance(v, datetime) else v) for k, v in row.items()}


__all__ = ["Warehouse", "WarehouseSink", "iso_utc", "to_json", "weak_label_source"]
