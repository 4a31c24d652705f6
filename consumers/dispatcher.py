"""Dispatch: sends e-mail and SMS invitations from the durable outbox; both runtimes drive it.

- `DispatchSink` (a Sink of either runtime) reads invitations, responses and opt-outs and
  keeps the outbox (consumers.dispatch_outbox) up to date; idempotent, so replays are free.
- `Dispatcher` is a loop (its own thread in `klantsignaal run`, its own process
  `klantsignaal dispatch` on Kafka) that claims due messages, sends them, records the
  outcome and publishes outcome events (nl.klantsignaal.dispatch.v1). See docs/dispatch.md.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from consumers.dispatch import SqlAddressBook
from consumers.dispatch_outbox import Job, Outbox
from consumers.dispatch_senders import (
    Links,
    SendError,
    SmsGateway,
    SmtpConfig,
    SmtpMailer,
    Texts,
)
from pipeline.ops.metrics import dispatch_outcome
from pipeline.ports import Publisher, SinkRecord
from pipeline.settings import Settings
from pipeline.times import parse_time
from schemas.cloudevents import new_event
from schemas.types import DISPATCH, INVITATION, OPT_OUT, RESPONSE

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class DispatchSink:
    """Keeps the outbox in step with invitations, responses and opt-outs."""

    name = "dispatch"
    topics = (INVITATION.topic, RESPONSE.topic, OPT_OUT.topic)

    def __init__(
        self, outbox: Outbox, address_book: SqlAddressBook, clock: Callable[[], datetime] = utc_now
    ):
        self.outbox = outbox
        self.address_book = address_book
        self.clock = clock

    def handle(self, records: Sequence[SinkRecord]) -> None:
        now = self.clock()
        invitations, answered, opt_outs = [], [], []
        for rec in records:
            if rec.event is None:
                continue
            if rec.event.type == INVITATION.name:
                invitations.append(rec.event.data)
            elif rec.event.type == RESPONSE.name:
                answered.append(rec.event.data["invitationId"])
            elif rec.event.type == OPT_OUT.name:
                opt_outs.append((rec.event.data["klant"], parse_time(rec.event.data["gegevenOp"])))
        forget = self.outbox.add_invitations(invitations, now)
        forget += self.outbox.mark_answered(answered, now)
        forget += self.outbox.mark_opted_out(opt_outs, now)
        # Data minimisation: an inline, answered or opted-out invitation needs no address.
        for contact_id in forget:
            self.address_book.forget(contact_id)


@dataclass
class DispatchConfig:
    base_url: str
    mail_from: str
    mailer: SmtpMailer | None = None  # None: e-mail not configured, nothing is sent
    sms: SmsGateway | None = None
    texts: Texts = field(default_factory=Texts)
    retry_seconds: float = 30.0  # first back-off after a temporary failure, doubling
    max_retry_seconds: float = 3600.0
    max_attempts: int = 8
    claim_timeout: timedelta = timedelta(minutes=10)  # a claim older than this is dead
    address_retention: timedelta = timedelta(days=8)  # addresses never needed go after this
    sweep_interval: timedelta = timedelta(seconds=60)  # how often settled addresses are deleted
    idle_seconds: float = 1.0


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        address_book: SqlAddressBook,
        publisher: Publisher,
        config: DispatchConfig,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.outbox = outbox
        self.address_book = address_book
        self.publisher = publisher
        self.config = config
        self.clock = clock
        self.owner = uuid.uuid4().hex  # this process's claims
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._swept: datetime | None = None  # last address sweep

    def routes(self) -> list[str]:
        return [r for r, on in (("email", self.config.mailer), ("sms", self.config.sms)) if on]

    # -- one pass ------------------------------------------------------------------------------
    def step(self) -> int:
        """Recover, expire, send what is due, publish outcomes; returns messages handled."""
        now = self.clock()
        # At start-up every 'sending' row was left by a process that died mid-send.
        older = None if not self._started else self.config.claim_timeout
        self._started = True
        self.outbox.recover(now, older)
        self.outbox.expire(now)
        done = 0
        for job in self.outbox.due(now, self.routes()):
            if self._stop.is_set():
                break
            done += self._send(job)
        self.publish_outcomes()
        if self._swept is None or now - self._swept >= self.config.sweep_interval:
            self.outbox.forget_settled_addresses(now, now - self.config.address_retention)
            self._swept = now
        return done

    def _send(self, job: Job) -> int:
        now = self.clock()
        if not self.outbox.claim(job, self.owner, now):
            return 0  # another dispatcher has it, or the klant opted out meanwhile
        address = self.address_book.lookup(job.contact_id)
        to = (address[0] if job.route == "email" else address[1]) if address else None
        if not to:
            self._finish(job, "failed", "failed", "geen adres bekend")
            return 1
        try:
            self._deliver(job, to)
        except SendError as exc:
            self._failed(job, exc)
            return 1
        except Exception as exc:  # a bug here must not leave the claim open or resend
            log.exception("dispatch of %s failed unexpectedly", job.invitation_id)
            self._finish(job, "unknown", "failed", f"interne fout ({type(exc).__name__})")
            return 1
        outcome = "reminded" if job.reminder else "delivered"
        self._finish(job, "sent", outcome, None)
        log.info("%s %s for invitation %s", job.route, outcome, job.invitation_id)
        return 1

    def _deliver(self, job: Job, to: str) -> None:
        base = self.config.base_url.rstrip("/")
        # The opt-out page records where the citizen came from (bron e-mail or sms).
        bron = "e-mail" if job.route == "email" else "sms"
        links = Links(f"{base}/q/{job.token}", f"{base}/q/{job.token}/afmelden?bron={bron}")
        dienst = job.dienst_naam or "uw vraag"
        kind = "herinnering" if job.reminder else "uitnodiging"
        key = f"{job.invitation_id}.{kind}"
        texts = self.config.texts
        if job.route == "email":
            assert self.config.mailer is not None
            message = texts.email(
                sender=self.config.mail_from,
                to=to,
                taal=job.taal,
                dienst=dienst,
                links=links,
                expires=job.expires_at,
                reminder=job.reminder,
                message_key=key,
            )
            self.config.mailer.send(message)
        else:
            assert self.config.sms is not None
            text = texts.sms(
                taal=job.taal,
                dienst=dienst,
                links=links,
                expires=job.expires_at,
                reminder=job.reminder,
            )
            self.config.sms.send(to, text, key)

    def _failed(self, job: Job, exc: SendError) -> None:
        attempts = job.attempts + 1
        if exc.kind == "temporary" and attempts < self.config.max_attempts:
            pause = min(
                self.config.retry_seconds * 2 ** (attempts - 1), self.config.max_retry_seconds
            )
            retry_at = self.clock() + timedelta(seconds=pause)
            if retry_at < job.expires_at:
                log.warning(
                    "%s for %s: %s; retry in %.0f s", job.route, job.invitation_id, exc, pause
                )
                self._finish(job, "pending", None, None, retry_at)
                return
        state = "unknown" if exc.kind == "unknown" else "failed"
        log.warning("%s for %s undeliverable: %s", job.route, job.invitation_id, exc)
        self._finish(job, state, "failed", exc.reason)

    def _finish(
        self,
        job: Job,
        state: str,
        outcome: str | None,
        reason: str | None,
        retry_at: datetime | None = None,
    ) -> None:
        if job.reminder and outcome == "failed":
            reason = f"herinnering: {reason}"
        dispatch_outcome(job.route, state, outcome)
        ok = self.outbox.finish(
            job,
            self.owner,
            self.clock(),
            state=state,
            outcome=outcome,
            reason=reason,
            retry_at=retry_at,
        )
        if not ok:
            log.warning("claim on %s was taken over; outcome not recorded", job.invitation_id)

    def publish_outcomes(self) -> int:
        pending = self.outbox.unpublished()
        if not pending:
            return 0
        events = [
            new_event(
                DISPATCH.name,
                data,
                source="/klantsignaal/dispatch",
                key=data["klant"],
                event_id=data["outcomeId"],
            )
            for data in pending
        ]
        self.publisher.publish(DISPATCH.topic, events)
        self.outbox.mark_published(d["outcomeId"] for d in pending)
        return len(events)

    # -- loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Until stop(): a pass, then a short pause when there was nothing to do."""
        log.info("dispatch running (routes: %s)", ", ".join(self.routes()) or "none")
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception:
                log.exception("dispatch pass failed; retrying")
                busy = 0
            if not busy:
                self._stop.wait(self.config.idle_seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="klantsignaal-dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=35)


def build_dispatch(settings: Settings, publisher: Publisher) -> tuple[DispatchSink, Dispatcher]:
    """The sink and the sending loop from the settings (composition helper)."""
    address_book = SqlAddressBook(settings.dispatch)
    outbox = Outbox(settings.dispatch)
    mailer = None
    if settings.smtp_host:
        mailer = SmtpMailer(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                user=settings.smtp_user,
                password=settings.smtp_password,
            )
        )
    sms = (
        SmsGateway(settings.sms_gateway_url, settings.sms_gateway_token)
        if settings.sms_gateway_url
        else None
    )
    policy = settings.invitation_policy()
    config = DispatchConfig(
        base_url=settings.base_url,
        mail_from=settings.mail_from,
        mailer=mailer,
        sms=sms,
        texts=Texts(settings.dispatch_texts_file or None),
        retry_seconds=settings.dispatch_retry_seconds,
        address_retention=timedelta(days=policy.max_expiry_days() + 1),
    )
    sink = DispatchSink(outbox, address_book)
    return sink, Dispatcher(outbox, address_book, publisher, config)
