"""The notification outbox: what must be sent, persisted, so a restart neither loses nor
duplicates a notification; and the failures, visible to admins.

Rows are keyed by (reason, alert, channel, target): enqueueing the same notification again
(a replayed alert, a second overdue scan) is a no-op. A sender claims a row with a short
lease before sending, so two senders (two sink processes) never send the same row at once.
Tables live in the warehouse database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
    update,
)

from consumers.warehouse import _insert_ignore, create_tables, make_engine
from pipeline.times import as_utc

outbox_metadata = MetaData()
outbox = Table(
    "notification_outbox",
    outbox_metadata,
    Column("id", String(200), primary_key=True),
    Column("alert_id", String(100), nullable=False, index=True),
    Column("aanleiding", String(20), nullable=False),  # nieuw | verlopen
    Column("kanaal", String(20), nullable=False),  # email | webhook
    Column("doel", Text, nullable=False),  # recipient address or webhook URL (config)
    Column("team", String(100)),
    Column("ernst", String(10)),
    Column("onderwerp", Text, nullable=False),
    Column("tekst", Text, nullable=False),
    Column("status", String(20), nullable=False, index=True),  # wachtend|verzonden|opgegeven
    Column("pogingen", Integer, nullable=False, default=0),
    Column("volgende_poging", DateTime(timezone=True), nullable=False, index=True),
    Column("geclaimd_tot", DateTime(timezone=True)),
    Column("laatste_fout", Text),
    Column("aangemaakt_op", DateTime(timezone=True), nullable=False),
    Column("verzonden_op", DateTime(timezone=True)),
)
failures = Table(
    "notification_failures",
    outbox_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", String(200), nullable=False, index=True),
    Column("alert_id", String(100), nullable=False),
    Column("kanaal", String(20), nullable=False),
    Column("doel", Text, nullable=False),  # redacted: address domain or webhook host
    Column("poging", Integer, nullable=False),
    Column("fout", Text, nullable=False),
    Column("op", DateTime(timezone=True), nullable=False, index=True),
)

PRIORITY = {"urgent": 0, "hoog": 1, "middel": 2}


@dataclass(frozen=True)
class Notification:
    alert_id: str
    aanleiding: str  # nieuw | verlopen
    kanaal: str  # email | webhook
    doel: str
    team: str
    ernst: str
    onderwerp: str
    tekst: str

    @property
    def id(self) -> str:
        target = hashlib.sha256(self.doel.encode()).hexdigest()[:16]
        return f"{self.aanleiding}:{self.alert_id}:{self.kanaal}:{target}"


def redacted(kanaal: str, doel: str) -> str:
    """A target as admins may see it in failures and logs (webhook URLs hold secrets)."""
    if kanaal == "webhook":
        rest = doel.split("://", 1)[-1]
        return doel.split("://", 1)[0] + "://" + rest.split("/", 1)[0] + "/…"
    return "…@" + doel.rsplit("@", 1)[-1]


class Outbox:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        create_tables(self.engine, outbox_metadata)

    def enqueue(self, notifications: Sequence[Notification], now: datetime) -> None:
        rows = [
            {
                "id": n.id,
                "alert_id": n.alert_id,
                "aanleiding": n.aanleiding,
                "kanaal": n.kanaal,
                "doel": n.doel,
                "team": n.team,
                "ernst": n.ernst,
                "onderwerp": n.onderwerp,
                "tekst": n.tekst,
                "status": "wachtend",
                "pogingen": 0,
                "volgende_poging": now,
                "aangemaakt_op": now,
            }
            for n in notifications
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(_insert_ignore(self.engine, outbox), rows)

    def due(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Rows waiting whose time has come, most severe first."""
        query = (
            select(outbox)
            .where(outbox.c.status == "wachtend", outbox.c.volgende_poging <= now)
            .where((outbox.c.geclaimd_tot.is_(None)) | (outbox.c.geclaimd_tot < now))
            .order_by(outbox.c.volgende_poging)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        return sorted(rows, key=lambda r: PRIORITY.get(r["ernst"], 9))

    def claim(self, row_id: str, now: datetime, lease: timedelta) -> bool:
        """True when this sender now owns the row until the lease ends."""
        free = (outbox.c.geclaimd_tot.is_(None)) | (outbox.c.geclaimd_tot < now)
        query = (
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.status == "wachtend", free)
            .values(geclaimd_tot=now + lease)
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def mark_sent(self, row_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(status="verzonden", verzonden_op=now, geclaimd_tot=None)
            )

    def mark_failed(
        self, row: dict[str, Any], error: str, now: datetime, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt; retry at `retry_at`, or give up when it is None."""
        attempt = int(row["pogingen"]) + 1
        values: dict[str, Any] = {
            "pogingen": attempt,
            "laatste_fout": error,
            "geclaimd_tot": None,
            "status": "wachtend" if retry_at is not None else "opgegeven",
            "volgende_poging": retry_at or now,
        }
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row["id"]).values(**values))
            conn.execute(
                failures.insert().values(
                    outbox_id=row["id"],
                    alert_id=row["alert_id"],
                    kanaal=row["kanaal"],
                    doel=redacted(row["kanaal"], row["doel"]),
                    poging=attempt,
                    fout=error,
                    op=now,
                )
            )

    # -- for admins ------------------------------------------------------------------------

    def status(self, limit: int = 50) -> dict[str, Any]:
        counts = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        recent = select(failures).order_by(failures.c.op.desc()).limit(limit)
        given_up = select(outbox).where(outbox.c.status == "opgegeven").limit(limit)
        with self.engine.connect() as conn:
            per_status = {status: int(n) for status, n in conn.execute(counts)}
            failed = [dict(r._mapping) for r in conn.execute(recent)]
            abandoned = [dict(r._mapping) for r in conn.execute(given_up)]
        return {
            "aantallen": {s: per_status.get(s, 0) for s in ("wachtend", "verzonden", "opgegeven")},
            "opgegeven": [
                {
                    "id": r["id"],
                    "alertId": r["alert_id"],
                    "kanaal": r["kanaal"],
                    "doel": redacted(r["kanaal"], r["doel"]),
                    "pogingen": r["pogingen"],
                    "laatsteFout": r["laatste_fout"],
                }
                for r in abandoned
            ],
            "recenteFouten": [
                {
                    "outboxId": r["outbox_id"],
                    "alertId": r["alert_id"],
                    "kanaal": r["kanaal"],
                    "doel": r["doel"],
                    "poging": r["poging"],
                    "fout": r["fout"],
                    "op": as_utc(r["op"]).isoformat().replace("+00:00", "Z"),  # type: ignore[union-attr]
                }
                for r in failed
            ],
        }

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(outbox))]

    def has_table(self, name: str) -> bool:
        return inspect(self.engine).has_table(name)


__all__ = ["Notification", "Outbox", "redacted"]
