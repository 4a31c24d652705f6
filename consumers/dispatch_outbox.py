"""Dispatch's durable outbox: one row per e-mail/SMS invitation, moved through a state machine.

    pending ──claim──► sending ──► sent ──(reminder claim)──► reminder sent
       │                  │  └──► failed (permanent error, or temporary errors used up)
       │                  └──(crash: found 'sending' on restart)──► unknown (never resent)
       ├──► answered / cancelled (opt-out) / expired          (nothing sent)
       └──◄ temporary error: back to pending with a later next_attempt_at

The claim (pending → sending) is committed before the message goes out, so a crash between
claim and send loses at most that one message and never sends it twice: at-most-once per
invitation and per reminder. Outcome events are queued in the same transaction as the
state change and published afterwards (ids derived from the invitation, so a re-publish is
deduplicated downstream).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from consumers.dispatch import addresses
from consumers.warehouse import create_tables, make_engine
from pipeline.identity import contact_key
from pipeline.times import as_utc, iso, parse_time
from schemas.cloudevents import derived_id
from schemas.models import Dienst, DispatchOutcome

_metadata = MetaData()
outbox = Table(
    "dispatch_outbox",
    _metadata,
    Column("invitation_id", String(100), primary_key=True),
    Column("contact_id", String(100), nullable=False),
    Column("klant", String(80), nullable=False, index=True),
    Column("route", String(10), nullable=False),
    Column("taal", String(3)),
    Column("token", String(64), nullable=False),
    Column("kanaal", String(30)),
    Column("dienst_code", String(64)),
    Column("dienst_naam", String(200)),
    Column("send_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("reminder_at", DateTime(timezone=True)),
    Column("state", String(12), nullable=False, index=True),
    Column("reminder_state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("claimed_by", String(40)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
outcome_queue = Table(
    "dispatch_outcome_queue",
    _metadata,
    Column("outcome_id", String(100), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("published", Boolean, nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
opted_out = Table(
    "dispatch_opt_outs",
    _metadata,
    Column("klant", String(80), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
answered = Table(
    "dispatch_answered",
    _metadata,
    Column("invitation_id", String(100), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

SENDABLE_ROUTES = ("email", "sms")


@dataclass(frozen=True)
class Job:
    """One message to send: the first invitation or its reminder."""

    invitation_id: str
    contact_id: str
    klant: str
    route: str
    taal: str | None
    token: str
    kanaal: str | None
    dienst_code: str | None
    dienst_naam: str | None
    expires_at: datetime
    attempts: int
    reminder: bool

    @classmethod
    def from_row(cls, row: Any, reminder: bool) -> Job:
        m = row._mapping
        return cls(
            m["invitation_id"],
            m["contact_id"],
            m["klant"],
            m["route"],
            m["taal"],
            m["token"],
            m["kanaal"],
            m["dienst_code"],
            m["dienst_naam"],
            as_utc(m["expires_at"]),  # type: ignore[arg-type]
            m["attempts"],
            reminder,
        )


class Outbox:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        create_tables(self.engine, _metadata)

    def _insert_ignore(self, table: Table) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    # -- fed by the sink (idempotent: replays change nothing) ---------------------------------
    def add_invitations(self, invitations: Iterable[dict[str, Any]], now: datetime) -> list[str]:
        """Queue e-mail/SMS invitations (data dicts); returns contact ids of inline ones,
        whose address (if any) dispatch no longer needs."""
        rows, inline = [], []
        for d in invitations:
            route = (d.get("dispatch") or ["inline"])[0]
            if route not in SENDABLE_ROUTES:
                inline.append(contact_key(d["klant"], d["contactId"]))
                continue
            rows.append(_outbox_row(d, route, now))
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self._insert_ignore(outbox), rows)
                # A response or opt-out may have come first (topics are not ordered).
                self._settle_answered(conn, now)
                self._settle_opted_out(conn, now)
        return inline

    def mark_answered(self, invitation_ids: Iterable[str], now: datetime) -> list[str]:
        """Returns the contact ids whose address can go."""
        ids = list(invitation_ids)
        if not ids:
            return []
        with self.engine.begin() as conn:
            conn.execute(
                self._insert_ignore(answered), [{"invitation_id": i, "at": now} for i in ids]
            )
            self._settle_answered(conn, now)
            rows = conn.execute(
                select(outbox.c.contact_id).where(outbox.c.invitation_id.in_(ids))
            ).all()
        return [r[0] for r in rows]

    def mark_opted_out(self, opt_outs: Iterable[tuple[str, datetime]], now: datetime) -> list[str]:
        items = list(opt_outs)
        if not items:
            return []
        with self.engine.begin() as conn:
            conn.execute(self._insert_ignore(opted_out), [{"klant": k, "at": a} for k, a in items])
            self._settle_opted_out(conn, now)
            klanten = [k for k, _ in items]
            rows = conn.execute(
                select(outbox.c.contact_id).where(outbox.c.klant.in_(klanten))
            ).all()
        return [r[0] for r in rows]

    @staticmethod
    def _settle_answered(conn: Connection, now: datetime) -> None:
        done = outbox.c.invitation_id.in_(select(answered.c.invitation_id))
        _settle(conn, done, first_state="answered", now=now)

    @staticmethod
    def _settle_opted_out(conn: Connection, now: datetime) -> None:
        gone = outbox.c.klant.in_(select(opted_out.c.klant))
        _settle(conn, gone, first_state="cancelled", now=now)

    # -- driven by the dispatcher ------------------------------------------------------------
    def due(self, now: datetime, routes: Iterable[str], limit: int = 20) -> list[Job]:
        """First messages and reminders that may go out now (not yet claimed)."""
        routes = list(routes)
        first = select(outbox).where(
            outbox.c.state == "pending",
            outbox.c.route.in_(routes),
            outbox.c.send_at <= now,
            outbox.c.expires_at > now,
            or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
        )
        reminders = select(outbox).where(
            outbox.c.state == "sent",
            outbox.c.reminder_state == "pending",
            outbox.c.route.in_(routes),
            outbox.c.reminder_at <= now,
            outbox.c.expires_at > now,
            or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
        )
        with self.engine.connect() as conn:
            jobs = [Job.from_row(r, False) for r in conn.execute(first.limit(limit))]
            jobs += [Job.from_row(r, True) for r in conn.execute(reminders.limit(limit))]
        return jobs

    def claim(self, job: Job, owner: str, now: datetime) -> bool:
        """pending → sending, durably, before anything is sent; False if someone else has it."""
        column = outbox.c.reminder_state if job.reminder else outbox.c.state
        values = {"reminder_state" if job.reminder else "state": "sending"}
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(
                    outbox.c.invitation_id == job.invitation_id,
                    column == "pending",
                    ~outbox.c.klant.in_(select(opted_out.c.klant)),
                )
                .values(
                    **values,
                    attempts=outbox.c.attempts + 1,
                    claimed_by=owner,
                    claimed_at=now,
                    updated_at=now,
                )
            )
            return done.rowcount == 1

    def finish(
        self,
        job: Job,
        owner: str,
        now: datetime,
        *,
        state: str,
        outcome: str | None,
        reason: str | None = None,
        retry_at: datetime | None = None,
    ) -> bool:
        """sending → `state` (sent, failed, or pending again with `retry_at`), with the
        outcome event queued in the same transaction. False if the claim was taken from us."""
        name = "reminder_state" if job.reminder else "state"
        column = outbox.c[name]
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(
                    outbox.c.invitation_id == job.invitation_id,
                    column == "sending",
                    outbox.c.claimed_by == owner,
                )
                .values(**{name: state}, next_attempt_at=retry_at, updated_at=now)
            )
            if done.rowcount != 1:
                return False
            if outcome is not None:
                self._queue(conn, job, outcome, now, reason, job.attempts + 1)
        return True

    def recover(self, now: datetime, older_than: timedelta | None) -> list[str]:
        """Claims left 'sending' by a process that died (all of them at start-up, else those
        older than `older_than`): never resent, marked unknown with a failed outcome.
        Returns the contact ids whose address can go."""
        contact_ids: list[str] = []
        for name, reminder in (("state", False), ("reminder_state", True)):
            column = outbox.c[name]
            query = select(outbox).where(column == "sending")
            if older_than is not None:
                query = query.where(outbox.c.claimed_at < now - older_than)
            with self.engine.begin() as conn:
                for row in conn.execute(query).all():
                    job = Job.from_row(row, reminder)
                    conn.execute(
                        update(outbox)
                        .where(outbox.c.invitation_id == job.invitation_id, column == "sending")
                        .values(**{name: "unknown"}, updated_at=now)
                    )
                    reason = "onbekend of verzonden: verzenden onderbroken (niet opnieuw verstuurd)"
                    self._queue(conn, job, "failed", now, reason, job.attempts)
                    contact_ids.append(job.contact_id)
        return contact_ids

    def expire(self, now: datetime) -> list[str]:
        """Pending rows past their expiry: an 'expired' outcome; returns contact ids."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(outbox).where(outbox.c.state == "pending", outbox.c.expires_at <= now)
            ).all()
            for row in rows:
                job = Job.from_row(row, False)
                conn.execute(
                    update(outbox)
                    .where(outbox.c.invitation_id == job.invitation_id, outbox.c.state == "pending")
                    .values(state="expired", updated_at=now)
                )
                reason = "verlopen voordat het verstuurd kon worden"
                self._queue(conn, job, "expired", now, reason, job.attempts)
        return [r.contact_id for r in rows]

    def forget_settled_addresses(self, now: datetime, stale_before: datetime) -> int:
        """Delete addresses nothing more will be sent to (answered, expired, opted out,
        undeliverable, or the last message sent), and any stored before `stale_before`
        (contacts that got no e-mail/SMS invitation at all). Returns how many went."""
        active = (outbox.c.expires_at > now) & or_(
            outbox.c.state.in_(("pending", "sending")),
            outbox.c.reminder_state.in_(("pending", "sending")) & (outbox.c.state == "sent"),
        )
        settled = select(outbox.c.contact_id).where(~active)
        still_needed = select(outbox.c.contact_id).where(active)
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(addresses).where(
                    or_(
                        addresses.c.contact_id.in_(settled),
                        addresses.c.stored_at < stale_before,
                    ),
                    ~addresses.c.contact_id.in_(still_needed),
                )
            )
        return int(done.rowcount or 0)

    @staticmethod
    def _queue(
        conn: Connection,
        job: Job,
        outcome: str,
        now: datetime,
        reason: str | None,
        attempts: int,
    ) -> None:
        event = DispatchOutcome(
            outcome_id=derived_id("dispatch", job.invitation_id, outcome),
            invitation_id=job.invitation_id,
            klant=job.klant,
            route=job.route,
            uitkomst=outcome,
            op=iso(now),
            reden=reason[:200] if reason else None,
            pogingen=attempts,
            kanaal=job.kanaal,
            dienst=Dienst(job.dienst_code, job.dienst_naam) if job.dienst_code else None,
        )
        stmt = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(outcome_queue)
        conn.execute(
            stmt.on_conflict_do_nothing(),
            {
                "outcome_id": event.outcome_id,
                "data": event.to_dict(),
                "published": False,
                "created_at": now,
            },
        )

    def unpublished(self, limit: int = 500) -> list[dict[str, Any]]:
        query = (
            select(outcome_queue.c.data)
            .where(outcome_queue.c.published.is_(False))
            .order_by(outcome_queue.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r[0]) for r in conn.execute(query)]

    def mark_published(self, outcome_ids: Iterable[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outcome_queue)
                .where(outcome_queue.c.outcome_id.in_(list(outcome_ids)))
                .values(published=True)
            )

    def states(self) -> dict[str, tuple[str, str, int]]:
        """invitation id → (state, reminder state, attempts); for operators and tests."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    outbox.c.invitation_id,
                    outbox.c.state,
                    outbox.c.reminder_state,
                    outbox.c.attempts,
                )
            ).all()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _settle(conn: Connection, matching: Any, first_state: str, now: datetime) -> None:
    """Messages not sent yet get `first_state`; reminders not sent yet are cancelled."""
    conn.execute(
        update(outbox)
        .where(matching, outbox.c.state == "pending")
        .values(state=first_state, updated_at=now)
    )
    conn.execute(
        update(outbox)
        .where(matching, outbox.c.reminder_state == "pending")
        .values(reminder_state="cancelled", updated_at=now)
    )


def _outbox_row(d: dict[str, Any], route: str, now: datetime) -> dict[str, Any]:
    dienst = d.get("dienst") or {}
    return {
        "invitation_id": d["invitationId"],
        # The address book's key (klant + contactId), not the bare contactId.
        "contact_id": contact_key(d["klant"], d["contactId"]),
        "klant": d["klant"],
        "route": route,
        "taal": d.get("taal"),
        "token": d["token"],
        "kanaal": d.get("kanaal"),
        "dienst_code": dienst.get("code"),
        "dienst_naam": dienst.get("naam"),
        "send_at": parse_time(d.get("sendAt") or d["createdAt"]).astimezone(UTC),
        "expires_at": parse_time(d["expiresAt"]).astimezone(UTC),
        "reminder_at": parse_time(d["reminderAt"]).astimezone(UTC) if d.get("reminderAt") else None,
        "state": "pending",
        "reminder_state": "pending" if d.get("reminderAt") else "none",
        "attempts": 0,
        "next_attempt_at": None,
        "claimed_by": None,
        "claimed_at": None,
        "updated_at": now,
    }
