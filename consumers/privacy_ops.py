"""Erasure (`klantsignaal privacy forget`) and retention (`klantsignaal privacy retention`,
and the daily job in `klantsignaal run`) over the stores of the embedded runtime.

The stores are found by reflection, so a table added later is covered when it links to a
citizen the usual way: a `klant` column, or an id (invitation, alert, signal, response)
of one of the citizen's records.

- log.db (embedded log and stage state): the citizen's records are deleted
  (`secure_delete`, then VACUUM, so the bytes are gone from the file and its WAL too);
- warehouse, dispatch (address book, outbox, callbacks): rows deleted;
- inbox (status, audit trail, notes): kept but unlinkable: the alert id is replaced by a
  tombstone and note texts by "[vergeten]".

Kafka: not covered here (topics would need crypto-shredding or compacted tombstones);
the warehouse and dispatch parts work on PostgreSQL too.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, delete, select, text, update

from consumers.warehouse import make_engine
from pipeline.identity import contact_key
from pipeline.monitoring.batches import without_mark
from pipeline.privacy import Pseudonymiser, is_valid_bsn, key_list, normalise_bsn
from pipeline.settings import Settings
from pipeline.state_retention import state_due
from schemas.types import MONITOR_OBSERVATIONS

LINK_COLUMNS = ("invitation_id", "alert_id", "signal_id", "response_id", "feedback_id")
TOMBSTONE = "vergeten"


def klanten_of(who: str, settings: Settings) -> list[str]:
    """The klant pseudonyms of a BSN (8 or 9 digits: under the current and every previous
    pseudonym key) or of a pseudonym given as such."""
    who = who.strip()
    if who.startswith("k-") and all(c in "0123456789abcdef" for c in who[2:]):
        return [who]
    if is_valid_bsn(who):
        keys = [settings.pseudonym_key, *key_list(settings.pseudonym_keys_old)]
        return [Pseudonymiser(k).klant(normalise_bsn(who)) for k in keys]
    raise ValueError("give a BSN (8 or 9 digits, elfproef) or a klant pseudonym (k-...)")


def klant_of(who: str, settings: Settings) -> str:
    """The klant pseudonym of a BSN under the current key, or of a pseudonym given."""
    return klanten_of(who, settings)[0]


@dataclass
class Removed:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, where: str, n: int) -> None:
        if n:
            self.counts[where] = self.counts.get(where, 0) + n


def _reflect(engine: Engine) -> list[Table]:
    meta = MetaData()
    meta.reflect(engine)
    return list(meta.sorted_tables)


def _urls(settings: Settings) -> dict[str, str]:
    return {
        "warehouse": settings.warehouse,
        "dispatch": settings.dispatch,
        "inbox": settings.inbox,
    }


# -- the embedded log ------------------------------------------------------------------------


def _log(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA secure_delete=ON")
    return conn


def _compact(conn: sqlite3.Connection) -> None:
    """Deleted bytes out of the file and its WAL."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


_COMMENT_KEYS = ("opmerking", "toelichting", "inhoud")


def _traces(values: Iterable[str]) -> tuple[set[str], set[str]]:
    """Ids (event ids, *Id fields) and comment texts in the citizen's records."""
    ids: set[str] = set()
    texts: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and key.endswith("Id") and len(value) >= 8:
                    ids.add(value)
                elif isinstance(value, str) and key in _COMMENT_KEYS and len(value) >= 8:
                    texts.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for value in values:
        record = json.loads(value)
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            ids.add(record["id"])
        walk(record)
    return ids, texts


_BATCH_TYPE = MONITOR_OBSERVATIONS.name
# The record's own type as compact JSON writes it: inside a string (a comment quoting the
# type name) its quotes are escaped, so a single observation never matches and is deleted.
_BATCH_MARK = f'"type":"{_BATCH_TYPE}"'
_NOT_BATCH = (
    f" AND NOT (topic = '{MONITOR_OBSERVATIONS.topic}' AND instr(value, '{_BATCH_MARK}') > 0)"
)


def _forget_in_batches(
    conn: sqlite3.Connection, mark: str, removed: Removed
) -> list[tuple[str, str]]:
    """Take the observations mentioning `mark` out of coalesced monitor records (one
    record holds many citizens' observations, pipeline/monitoring/batches.py); a record
    left empty is deleted. Returns the observations taken out, as (topic, JSON)."""
    rows = conn.execute(
        "SELECT offset, value FROM log WHERE topic = ? AND instr(value, ?) > 0"
        " AND instr(value, ?) > 0",
        (MONITOR_OBSERVATIONS.topic, _BATCH_TYPE, mark),
    ).fetchall()
    taken: list[tuple[str, str]] = []
    for offset, value in rows:
        record = json.loads(value)
        if record.get("type") != _BATCH_TYPE:
            continue
        kept, gone = without_mark(record, mark)
        if not gone:
            continue
        if kept is None:
            conn.execute("DELETE FROM log WHERE offset = ?", (offset,))
        else:
            text = json.dumps(kept, ensure_ascii=False, separators=(",", ":"))
            conn.execute("UPDATE log SET value = ? WHERE offset = ?", (text, offset))
        removed.add("log.db:log (observations)", len(gone))
        taken += [(MONITOR_OBSERVATIONS.topic, json.dumps(item)) for item in gone]
    return taken


def _forget_in_log(path: Path, klant: str, removed: Removed) -> list[str]:
    """Delete the citizen's records, and records derived from them (by id); unlink the
    state of other keys. Returns the contactIds seen."""
    if not path.exists():
        return []
    conn = _log(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        marks = {klant}
        ids: set[str] = set()
        texts: set[str] = set()
        contact_ids: list[str] = []
        for _ in range(3):  # derived records, and records derived from those
            found = []
            for mark in sorted(marks):
                # Coalesced observations of many citizens: only this one's items go.
                found += _forget_in_batches(conn, mark, removed)
                found += conn.execute(
                    "SELECT topic, value FROM log WHERE (key = ? OR instr(value, ?) > 0)"
                    + _NOT_BATCH,
                    (mark, mark),
                ).fetchall()
                removed.add(
                    "log.db:log",
                    conn.execute(
                        "DELETE FROM log WHERE (key = ? OR instr(value, ?) > 0)" + _NOT_BATCH,
                        (mark, mark),
                    ).rowcount,
                )
            if not found:
                break
            new_ids, new_texts = _traces(v for _, v in found)
            contact_ids += [
                json.loads(v).get("data", {}).get("contactId")
                for t, v in found
                if t == "contact-events"
            ]
            marks = new_ids - ids
            ids |= new_ids
            texts |= new_texts
        cur = conn.execute("DELETE FROM state WHERE key = ?", (klant,))
        removed.add("log.db:state", cur.rowcount)
        # State of other keys that mentions the citizen (a monitor's evidence): unlink.
        for trace, tombstone in (
            [(klant, TOMBSTONE)]
            + [(i, TOMBSTONE) for i in ids]
            + [(t, "[vergeten]") for t in texts]
        ):
            escaped = json.dumps(trace, ensure_ascii=False)[1:-1]
            cur = conn.execute(
                "UPDATE state SET value = replace(value, ?, ?) WHERE instr(value, ?) > 0",
                (escaped, tombstone, escaped),
            )
            removed.add("log.db:state (unlinked)", cur.rowcount)
        conn.execute("COMMIT")
        _compact(conn)
    finally:
        conn.close()
    return [c for c in contact_ids if c]


# -- SQL stores ------------------------------------------------------------------------------


def _ids_of(tables: list[Table], engine: Engine, klant: str) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {c: set() for c in LINK_COLUMNS + ("contact_id",)}
    with engine.connect() as conn:
        for table in tables:
            if "klant" not in table.c:
                continue
            for column in ids:
                if column in table.c:
                    rows = conn.execute(select(table.c[column]).where(table.c.klant == klant))
                    ids[column].update(r[0] for r in rows if r[0])
    return ids


def _delete_linked(
    engine: Engine, store: str, klant: str, ids: dict[str, set[str]], removed: Removed
) -> None:
    tables = _reflect(engine)
    with engine.begin() as conn:
        for table in reversed(tables):
            where = []
            if "klant" in table.c:
                where.append(table.c.klant == klant)
            for column in LINK_COLUMNS:
                if column in table.c and ids[column]:
                    where.append(table.c[column].in_(ids[column]))
            if table.name == "dispatch_addresses" and ids["contact_id"]:
                keys = {contact_key(klant, c) for c in ids["contact_id"]}
                where.append(table.c.contact_id.in_(keys))
            for condition in where:
                removed.add(
                    f"{store}:{table.name}", conn.execute(delete(table).where(condition)).rowcount
                )
    if engine.dialect.name == "sqlite":
        _vacuum(engine)


def _vacuum(engine: Engine) -> None:
    """Deleted rows out of the SQLite file and its WAL (free pages keep old bytes)."""
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        conn.execute(text("VACUUM"))
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


def _unlink_inbox(engine: Engine, alert_ids: set[str], removed: Removed) -> None:
    """Status, audit trail and notes stay (accountability) but no longer point to the alert."""
    if not alert_ids:
        return
    tables = _reflect(engine)
    with engine.begin() as conn:
        for alert_id in alert_ids:
            tombstone = f"{TOMBSTONE}-{uuid.uuid4().hex[:16]}"
            for table in tables:
                if "alert_id" not in table.c:
                    continue
                values: dict[str, Any] = {"alert_id": tombstone}
                if "tekst" in table.c:
                    values["tekst"] = "[vergeten]"
                n = conn.execute(
                    update(table).where(table.c.alert_id == alert_id).values(**values)
                ).rowcount
                removed.add(f"inbox:{table.name} (unlinked)", n)
    if engine.dialect.name == "sqlite":
        _vacuum(engine)


def _shred_keys(settings: Settings, klant: str, removed: Removed) -> None:
    """Kafka: delete the klant's key (pipeline.sealing): every record and state entry of
    theirs on every topic and changelog can no longer be read or linked to them."""
    if settings.runtime != "kafka" and not settings.keystore_url:
        path = settings.data_dir / "keys.db"
        if not path.exists():
            return
    from pipeline.runtimes.kafka.keystore import KeyStore

    store = KeyStore(settings.keystore)
    try:
        removed.add(
            "keys:klant_keys (Kafka records and state of this klant unreadable)",
            store.forget(klant),
        )
    finally:
        store.close()


def forget(settings: Settings, who: str) -> dict[str, Any]:
    """Erase one citizen from every store (both runtimes), under every pseudonym key;
    what was removed."""
    klanten = klanten_of(who, settings)
    removed = Removed()
    for klant in klanten:
        _forget_klant(settings, klant, removed)
    out: dict[str, Any] = {"klant": klanten[0], "removed": removed.counts}
    if len(klanten) > 1:
        out["klanten"] = klanten  # the pseudonyms under previous keys too
    return out


def _forget_klant(settings: Settings, klant: str, removed: Removed) -> None:
    _shred_keys(settings, klant, removed)
    contact_ids = set(_forget_in_log(settings.data_dir / "log.db", klant, removed))
    engines = {name: make_engine(url) for name, url in _urls(settings).items()}
    try:
        warehouse_tables = _reflect(engines["warehouse"])
        ids = _ids_of(warehouse_tables, engines["warehouse"], klant)
        ids["contact_id"] |= contact_ids
        dispatch_ids = _ids_of(_reflect(engines["dispatch"]), engines["dispatch"], klant)
        for column, values in dispatch_ids.items():
            ids[column] |= values
        _delete_linked(engines["warehouse"], "warehouse", klant, ids, removed)
        _delete_linked(engines["dispatch"], "dispatch", klant, ids, removed)
        _unlink_inbox(engines["inbox"], ids["alert_id"], removed)
    finally:
        for engine in engines.values():
            engine.dispose()


# -- retention -------------------------------------------------------------------------------

# Comment columns per warehouse table: raw comments go after retention_comments_days.
COMMENT_COLUMNS: dict[str, tuple[str, str]] = {
    "responses": ("answered_at", "ces_opmerking nps_opmerking rapportcijfer_opmerking"),
    "signals": ("ontvangen_op", "opmerking"),
    "alerts": ("aangemaakt_op", "opmerking"),
    "page_feedback": ("gegeven_op", "opmerking"),
    "response_details": ("answered_at", "vervolg_toelichting"),
}


def _clear_comments(engine: Engine, before: datetime, removed: Removed) -> None:
    tables = {t.name: t for t in _reflect(engine)}
    with engine.begin() as conn:
        for name, (moment, columns) in COMMENT_COLUMNS.items():
            table = tables.get(name)
            if table is None:
                continue
            cols = [c for c in columns.split() if c in table.c]
            if not cols or moment not in table.c:
                continue
            cleared = conn.execute(
                update(table)
                .where(table.c[moment] < before, _any_not_null(table, cols))
                .values(**dict.fromkeys(cols))
            ).rowcount
            removed.add(f"warehouse:{name} comments", cleared)


def _any_not_null(table: Table, cols: Iterable[str]) -> Any:
    from sqlalchemy import or_

    return or_(*(table.c[c].is_not(None) for c in cols))


def _delete_closed_alerts(engine: Engine, before: datetime, removed: Removed) -> set[str]:
    tables = {t.name: t for t in _reflect(engine)}
    alerts, changes = tables.get("alerts"), tables.get("alert_status_changes")
    if alerts is None or changes is None:
        return set()
    with engine.begin() as conn:
        closed = {
            r[0]
            for r in conn.execute(
                select(changes.c.alert_id).where(
                    changes.c.status == "afgehandeld", changes.c.op < before
                )
            )
        }
        reopened = {
            r[0]
            for r in conn.execute(
                select(changes.c.alert_id).where(
                    changes.c.status != "afgehandeld", changes.c.op >= before
                )
            )
        }
        gone = closed - reopened
        if gone:
            removed.add(
                "warehouse:alerts",
                conn.execute(delete(alerts).where(alerts.c.alert_id.in_(gone))).rowcount,
            )
    return gone


def _trim_log(path: Path, now: datetime, keep: timedelta, removed: Removed) -> None:
    """Delete log records older than `keep` that every stage and sink has read.

    The log has no time per record; each run notes the highest offset with the time, and
    a later run deletes up to the highest offset noted at least `keep` ago."""
    if not path.exists():
        return
    conn = _log(path)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS retention_marks (at TEXT NOT NULL, offset INTEGER NOT NULL)"
        )
        top = conn.execute("SELECT coalesce(max(offset), 0) FROM log").fetchone()[0]
        conn.execute("INSERT INTO retention_marks VALUES (?, ?)", (now.isoformat(), top))
        due = conn.execute(
            "SELECT max(offset) FROM retention_marks WHERE at <= ?", ((now - keep).isoformat(),)
        ).fetchone()[0]
        read = conn.execute("SELECT min(offset) FROM offsets").fetchone()[0]
        if due is None or read is None:
            return
        limit = min(due, read)
        conn.execute("BEGIN IMMEDIATE")
        removed.add(
            "log.db:log", conn.execute("DELETE FROM log WHERE offset <= ?", (limit,)).rowcount
        )
        conn.execute(
            "DELETE FROM retention_marks WHERE offset < ? AND at <= ?",
            (limit, (now - keep).isoformat()),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _trim_state(path: Path, before: datetime, removed: Removed) -> None:
    """Embedded stage state without activity since `before` (pipeline.state_retention)."""
    if not path.exists():
        return
    conn = _log(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        due = [
            (namespace, key)
            for namespace, key, value in conn.execute("SELECT namespace, key, value FROM state")
            if state_due(namespace, json.loads(value), before)
        ]
        for namespace, key in due:
            conn.execute("DELETE FROM state WHERE namespace = ? AND key = ?", (namespace, key))
            removed.add(f"log.db:state {namespace}", 1)
        conn.execute("COMMIT")
        if due:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _drop_old_addresses(engine: Engine, before: datetime, removed: Removed) -> None:
    tables = {t.name: t for t in _reflect(engine)}
    for name in ("dispatch_addresses", "callback_addresses"):
        table = tables.get(name)
        if table is None or "stored_at" not in table.c:
            continue
        with engine.begin() as conn:
            n = conn.execute(delete(table).where(table.c.stored_at < before)).rowcount
        removed.add(f"dispatch:{name}", n)


def _drop_old_notifications(engine: Engine, before: datetime, removed: Removed) -> None:
    """Sent or given-up notifications (their text may quote scrubbed example comments)."""
    tables = {t.name: t for t in _reflect(engine)}
    outbox, failures = tables.get("notification_outbox"), tables.get("notification_failures")
    if outbox is None:
        return
    done = select(outbox.c.id).where(
        outbox.c.status.in_(("verzonden", "opgegeven")), outbox.c.aangemaakt_op < before
    )
    with engine.begin() as conn:
        if failures is not None:
            conn.execute(delete(failures).where(failures.c.outbox_id.in_(done)))
        n = conn.execute(delete(outbox).where(outbox.c.id.in_(done))).rowcount
    removed.add("warehouse:notification_outbox", n)


def retention(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Remove what is due (see docs/privacy.md); returns what was removed."""
    now = now or datetime.now(UTC)
    removed = Removed()
    days = timedelta(days=1)
    warehouse = make_engine(settings.warehouse)
    dispatch = make_engine(settings.dispatch)
    try:
        _clear_comments(warehouse, now - settings.retention_comments_days * days, removed)
        alert_ids = _delete_closed_alerts(
            warehouse, now - settings.retention_alerts_days * days, removed
        )
        _drop_old_addresses(dispatch, now - settings.retention_addresses_days * days, removed)
        notifications_before = now - settings.retention_notifications_days * days
        _drop_old_notifications(warehouse, notifications_before, removed)
    finally:
        warehouse.dispose()
        dispatch.dispose()
    if alert_ids:
        inbox = make_engine(settings.inbox)
        try:
            _unlink_inbox(inbox, alert_ids, removed)
        finally:
            inbox.dispose()
    _trim_log(settings.data_dir / "log.db", now, settings.retention_log_days * days, removed)
    state_before = now - settings.retention_state_days * days
    _trim_state(settings.data_dir / "log.db", state_before, removed)
    if settings.runtime == "kafka":
        from pipeline.runtimes.kafka.state_retention import trim_changelogs

        trim_changelogs(settings, state_before, removed.add)
    return {"at": now.isoformat(), "removed": removed.counts}
