"""Revised answers in the warehouse: the latest revision of a response wins, idempotently.

A citizen may change the answers for an hour (producers/questionnaire.py). Each change is
a new response event with the same `responseId`, a higher `revisie` and a later
`answeredAt`; its signal has the same `signalId`. Here, inside the warehouse's write
transaction, older rows of the same response (and signal) are replaced by the newer one,
and a replayed older revision is ignored. The follow-up answers and the revision facts
live in their own table, `response_details` (no new columns on existing tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
)

from pipeline.identity import event_key
from pipeline.ports import SinkRecord
from pipeline.privacy import scrub
from pipeline.times import as_utc
from schemas.types import RESPONSE

details_metadata = MetaData()
response_details = Table(
    "response_details",
    details_metadata,
    Column("response_id", String(100), primary_key=True),
    Column("invitation_id", String(100), nullable=False, index=True),
    Column("klant", String(80), nullable=False, index=True),
    Column("event_id", String(200), nullable=False),  # the revision now in `responses`
    Column("revisie", Integer, nullable=False),
    Column("first_answered_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Column("vervolg_soort", String(10)),  # "mis" or "goed"
    Column("vervolg_oorzaken", JSON),
    Column("vervolg_toelichting", Text),
    Column("contact_via", String(10)),  # "telefoon" or "email"; the number is never here
)


def _rank(at: datetime | None, event_id: str) -> tuple[datetime, str]:
    """Later wins; at the same moment the larger event id, so arrival order never matters."""
    return (as_utc(at), event_id)  # type: ignore[return-value]


def _latest_per_key(rows: list[dict[str, Any]], key: str, at: str) -> list[dict[str, Any]]:
    """Within one batch, only the latest row per key."""
    best: dict[Any, dict[str, Any]] = {}
    for row in rows:
        seen = best.get(row[key])
        if seen is None or _rank(row[at], row["event_id"]) > _rank(seen[at], seen["event_id"]):
            best[row[key]] = row
    return list(best.values())


def keep_latest(conn: Connection, table: Table, rows: list[dict[str, Any]], key: str, at: str):
    """The rows to insert: older stored rows of the same key are deleted, older new ones dropped."""
    latest = _latest_per_key(rows, key, at)
    stored: dict[Any, list[tuple[str, datetime]]] = {}
    keys = [row[key] for row in latest]
    for start in range(0, len(keys), 500):  # one query per 500 keys, not one per row
        query = select(table.c[key], table.c.event_id, table.c[at]).where(
            table.c[key].in_(keys[start : start + 500])
        )
        for found_key, event_id, stored_at in conn.execute(query):
            stored.setdefault(found_key, []).append((event_id, stored_at))
    out, older = [], []
    for row in latest:
        known = stored.get(row[key], [])
        mine = _rank(row[at], row["event_id"])
        if any(_rank(when, event_id) >= mine for event_id, when in known):
            continue  # a replay of an older revision (or the same one again)
        older += [event_id for event_id, _ in known]
        out.append(row)
    for start in range(0, len(older), 500):
        conn.execute(delete(table).where(table.c.event_id.in_(older[start : start + 500])))
    return out


def _details_row(event_id: str, d: dict[str, Any], at: datetime) -> dict[str, Any]:
    vervolg = d.get("vervolg") or {}
    toelichting = vervolg.get("toelichting")
    return {
        "response_id": d["responseId"],
        "invitation_id": d["invitationId"],
        "klant": d["klant"],
        "event_id": event_id,
        "revisie": int(d.get("revisie") or 1),
        "first_answered_at": at,
        "answered_at": at,
        "vervolg_soort": vervolg.get("soort"),
        "vervolg_oorzaken": list(vervolg.get("oorzaken") or []) or None,
        "vervolg_toelichting": scrub(toelichting) if toelichting else None,
        "contact_via": d.get("contactVia"),
    }


def store_details(conn: Connection, records: Sequence[SinkRecord], parse: Any) -> None:
    """Upsert response_details for the response events in a batch (latest revision wins)."""
    rows = [
        _details_row(
            event_key(r.event.source, r.event.id), r.event.data, parse(r.event.data["answeredAt"])
        )
        for r in records
        if r.event is not None and r.event.type == RESPONSE.name
    ]
    t = response_details
    earliest: dict[str, datetime] = {}
    for row in rows:  # the first answer of a response, also when revisions share a batch
        key, at = row["response_id"], row["answered_at"]
        earliest[key] = min(earliest.get(key, at), at)
    latest = _latest_per_key(rows, "response_id", "answered_at")
    stored = _stored_details(conn, [row["response_id"] for row in latest])
    inserts = []
    for row in latest:
        row = {**row, "first_answered_at": earliest[row["response_id"]]}
        known = stored.get(row["response_id"])
        if known is None:
            inserts.append(row)
            continue
        first = min(as_utc(known[1]), as_utc(row["first_answered_at"]))  # type: ignore[type-var]
        if _rank(known[0], known[2]) >= _rank(row["answered_at"], row["event_id"]):
            values = {"first_answered_at": first}  # an older revision replayed
        else:
            values = {**row, "first_answered_at": first}
        conn.execute(t.update().where(t.c.response_id == row["response_id"]).values(**values))
    if inserts:  # new responses (the common case): one executemany, not one per row
        conn.execute(t.insert(), inserts)


def _stored_details(conn: Connection, keys: list[str]) -> dict[str, Any]:
    """(answered_at, first_answered_at, event_id) per stored response_id, 500 keys a query."""
    t = response_details
    stored: dict[str, Any] = {}
    for start in range(0, len(keys), 500):
        query = select(t.c.response_id, t.c.answered_at, t.c.first_answered_at, t.c.event_id)
        for found in conn.execute(query.where(t.c.response_id.in_(keys[start : start + 500]))):
            stored[found[0]] = tuple(found[1:])
    return stored


def latest_details(conn: Connection, invitation_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(response_details).where(response_details.c.invitation_id == invitation_id)
    ).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["first_answered_at"] = as_utc(out["first_answered_at"])
    out["answered_at"] = as_utc(out["answered_at"])
    return out
