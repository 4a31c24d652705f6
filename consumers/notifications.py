"""Notifications per team: e-mail (SMTP) and webhooks (Teams, Slack), on a new alert and when
an alert passes its due date.

- `NotificationSink` is a Sink of the runtimes (embedded: driven like the warehouse sink;
  Kafka: `klantsignaal notifications run`). It only writes the outbox: quick and idempotent.
- `NotificationSender` runs in its own thread: it sends what the outbox holds, retries with
  back-off, records failures, and scans for overdue alerts. A slow or failing webhook
  therefore never holds up the pipeline.

No personal data in any message: team, severity, kind, service, due date and a link to the
inbox. Never the klant key, the comment, the reasons or any contact detail.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from consumers.notify_outbox import Notification, Outbox, redacted
from consumers.service_alert_notifications import service_alert_notifications, teams_for
from consumers.warehouse import alert_details, alerts, current_alert_status
from pipeline.ops.metrics import notification_outcome
from pipeline.ports import SinkRecord
from pipeline.settings import Settings
from pipeline.times import as_utc, parse_time
from schemas.types import ALERT, SERVICE_ALERT

log = logging.getLogger(__name__)
SEVERITIES = ("middel", "hoog", "urgent")
LOCAL = ZoneInfo("Europe/Amsterdam")

# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamRoute:
    emails: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()
    min_severity: str = "middel"  # new alerts from this severity; urgent and overdue always
    coordinators: tuple[str, ...] = ()  # e-mail: service alerts of this team's services


@dataclass(frozen=True)
class NotificationConfig:
    teams: Mapping[str, TeamRoute] = field(default_factory=dict)
    default: TeamRoute = field(default_factory=TeamRoute)

    def route(self, team: str) -> TeamRoute:
        return self.teams.get(team, self.default)


def _route(raw: Mapping[str, Any], where: str) -> TeamRoute:
    unknown = sorted(set(raw) - {"email", "webhooks", "ernst_min", "coordinatoren"})
    if unknown:
        raise ValueError(f"notifications config: unknown key {where}.{unknown[0]}")
    severity = raw.get("ernst_min", "middel")
    if severity not in SEVERITIES:
        raise ValueError(f"notifications config: {where}.ernst_min must be one of {SEVERITIES}")
    webhooks = tuple(raw.get("webhooks", ()))
    for url in webhooks:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"notifications config: {where}.webhooks: not an http(s) URL")
    coordinators = tuple(raw.get("coordinatoren", ()))
    return TeamRoute(tuple(raw.get("email", ())), webhooks, severity, coordinators)


def load_notification_config(path: str | Path | None) -> NotificationConfig:
    """Team -> recipients and webhook URLs from a TOML file; empty path: nobody is notified."""
    if not path:
        return NotificationConfig()
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    unknown = sorted(set(raw) - {"team", "standaard"})
    if unknown:
        raise ValueError(f"notifications config {path}: unknown key {unknown[0]}")
    teams = {name: _route(r, f"team.{name}") for name, r in raw.get("team", {}).items()}
    return NotificationConfig(teams, _route(raw.get("standaard", {}), "standaard"))


# -- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertFacts:
    """What a notification may say about an alert: nothing personal."""

    alert_id: str
    team: str
    ernst: str
    dienst: str | None
    soort: str | None
    uiterlijk_op: datetime | None


def _local(moment: datetime | None) -> str:
    return moment.astimezone(LOCAL).strftime("%d-%m-%Y %H:%M") if moment else "onbekend"


def compose(facts: AlertFacts, aanleiding: str, base_url: str) -> tuple[str, str]:
    """Subject and text (Dutch) of a notification."""
    link = f"{base_url.rstrip('/')}/inbox/{facts.alert_id}"
    dienst = facts.dienst or "onbekende dienst"
    wat = "terugbelverzoek" if facts.soort == "terugbellen" else "klantsignaal"
    if aanleiding == "verlopen":
        subject = f"[klantsignaal] Termijn verstreken: {wat} voor team {facts.team}"
        body = (
            f"Een {wat} voor team {facts.team} is niet op tijd afgehandeld "
            f"(uiterlijk {_local(facts.uiterlijk_op)}). Ernst: {facts.ernst}. Dienst: {dienst}."
        )
    elif facts.ernst == "urgent":
        subject = f"[klantsignaal] URGENT: {wat} voor team {facts.team}"
        body = (
            f"URGENT {wat} voor team {facts.team}: mogelijk gevaar. Pak het nu op. "
            f"Dienst: {dienst}. Uiterlijk: {_local(facts.uiterlijk_op)}."
        )
    else:
        subject = f"[klantsignaal] Nieuw {wat} voor team {facts.team} (ernst {facts.ernst})"
        body = (
            f"Nieuw {wat} voor team {facts.team}. Ernst: {facts.ernst}. Dienst: {dienst}. "
            f"Uiterlijk: {_local(facts.uiterlijk_op)}."
        )
    return subject, f"{body}\nBekijk het in de inbox: {link}"


def notifications_for(
    facts: AlertFacts, aanleiding: str, config: NotificationConfig, base_url: str
) -> list[Notification]:
    route = config.route(facts.team)
    below = SEVERITIES.index(facts.ernst) < SEVERITIES.index(route.min_severity)
    if aanleiding == "nieuw" and facts.ernst != "urgent" and below:
        return []
    subject, body = compose(facts, aanleiding, base_url)
    targets = [("email", a) for a in route.emails] + [("webhook", u) for u in route.webhooks]
    return [
        Notification(
            facts.alert_id, aanleiding, kanaal, doel, facts.team, facts.ernst, subject, body
        )
        for kanaal, doel in targets
    ]


def facts_from_event(data: Mapping[str, Any]) -> AlertFacts:
    due = data.get("uiterlijkOp")
    return AlertFacts(
        alert_id=str(data["alertId"]),
        team=str(data.get("team") or "onbekend"),
        ernst=str(data.get("ernst") or "middel"),
        dienst=(data.get("dienst") or {}).get("naam"),
        soort=data.get("soort"),
        uiterlijk_op=parse_time(due) if due else None,
    )


# -- the sink ---------------------------------------------------------------------------------


class NotificationSink:
    """New alerts and service alerts into the outbox (sending happens in NotificationSender)."""

    name = "notifications"
    topics = (ALERT.topic, SERVICE_ALERT.topic)

    def __init__(
        self,
        outbox: Outbox,
        config: NotificationConfig,
        base_url: str,
        *,
        max_age: timedelta = timedelta(hours=48),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake: Callable[[], None] = lambda: None,
    ):
        self.outbox = outbox
        self.config = config
        self.base_url = base_url
        self.max_age = max_age
        self.clock = clock
        self.wake = wake

    def handle(self, records: Sequence[SinkRecord]) -> None:
        now = self.clock()
        pending: list[Notification] = []
        for record in records:
            if record.event is None or record.event.type not in (ALERT.name, SERVICE_ALERT.name):
                continue
            data = record.event.data
            created = parse_time(data["aangemaaktOp"])
            if now - created > self.max_age:
                continue  # an old alert replayed (rebuild, first start): no news any more
            if record.event.type == SERVICE_ALERT.name:
                pending.extend(self._service_alert(data, created))
                continue
            pending.extend(
                notifications_for(facts_from_event(data), "nieuw", self.config, self.base_url)
            )
        self.outbox.enqueue(pending, now)
        if pending:
            self.wake()

    def _service_alert(self, data: Mapping[str, Any], created: datetime) -> list[Notification]:
        """To the coordinators of the service's teams (consumers/service_alert_notifications)."""
        dienst = (data.get("dienst") or {}).get("code", "")
        if not self.outbox.has_table("contacts"):
            teams: list[str] = []  # no warehouse in this database: the standaard list
        else:
            teams = teams_for(self.outbox.engine, dienst, str(data.get("kanaal") or ""), created)
        recipients = {name: route.coordinators for name, route in self.config.teams.items()}
        return service_alert_notifications(
            data, recipients, self.config.default.coordinators, teams, self.base_url
        )


# -- transports -------------------------------------------------------------------------------


class ChannelNotConfigured(RuntimeError):
    """The outbox holds a notification for a channel this process has no transport for."""


class WebhookRefused(RuntimeError):
    """The webhook answered, but not with 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"webhook antwoordde {status}")
        self.status = status


def failure_reason(exc: Exception, kanaal: str) -> str:
    """What an operator may see of a failed send: the exception type and the protocol code.

    Never the exception's text: smtplib puts the recipient's address in it
    (SMTPRecipientsRefused) and httpx the webhook URL with its secret."""
    name = type(exc).__name__
    if isinstance(exc, ChannelNotConfigured):
        return f"{name}: kanaal {kanaal} is niet ingesteld"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"{name}: SMTP {', '.join(map(str, codes))}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{name}: SMTP {exc.smtp_code}"
    if isinstance(exc, WebhookRefused):
        return f"{name}: HTTP {exc.status}"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{name}: HTTP {exc.response.status_code}"
    return name


class Transport(Protocol):
    def send(self, target: str, subject: str, body: str) -> None:
        """Deliver or raise."""
        ...


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    mail_from: str
    timeout: float = 10.0
    security: str = "none"  # none | starttls | tls (the dispatch settings, when present)
    user: str = ""
    password: str = ""

    def send(self, target: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = target
        message["Subject"] = subject
        message.set_content(body)
        if self.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(message)


@dataclass(frozen=True)
class WebhookTransport:
    """JSON with a `text` field: what Slack and Microsoft Teams incoming webhooks accept."""

    timeout: float = 10.0

    def send(self, target: str, subject: str, body: str) -> None:
        response = httpx.post(target, json={"text": body}, timeout=self.timeout)
        if not 200 <= response.status_code < 300:
            raise WebhookRefused(response.status_code)


# -- overdue alerts ---------------------------------------------------------------------------


def overdue_alerts(outbox: Outbox, now: datetime, window: timedelta) -> list[AlertFacts]:
    """Alerts past their due date (within `window`) whose current status is not afgehandeld
    (the warehouse's one definition, `current_alert_status`)."""
    # Where the inbox's status table is not there yet, every alert is still open.
    status = current_alert_status() if outbox.has_table("alert_status_changes") else alerts.c.status
    query = (
        select(
            alerts.c.alert_id,
            alerts.c.team,
            alerts.c.ernst,
            alerts.c.dienst_naam,
            alert_details.c.soort,
            alert_details.c.uiterlijk_op,
        )
        .join(alert_details, alert_details.c.alert_id == alerts.c.alert_id)
        .where(alert_details.c.uiterlijk_op < now, alert_details.c.uiterlijk_op >= now - window)
        .where(status != "afgehandeld")
    )
    with outbox.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return [
        AlertFacts(
            alert_id=r["alert_id"],
            team=r["team"],
            ernst=r["ernst"],
            dienst=r["dienst_naam"],
            soort=r["soort"],
            uiterlijk_op=as_utc(r["uiterlijk_op"]),
        )
        for r in rows
    ]


# -- the sender -------------------------------------------------------------------------------


@dataclass
class SenderPolicy:
    retry_base: timedelta = timedelta(seconds=30)
    retry_max: timedelta = timedelta(hours=1)
    max_attempts: int = 10
    scan_every: timedelta = timedelta(seconds=60)
    overdue_window: timedelta = timedelta(days=14)
    lease: timedelta = timedelta(minutes=2)

    def retry_after(self, attempt: int) -> timedelta:
        """Exponential back-off: base, 2x base, 4x base ... up to retry_max."""
        return min(self.retry_base * (2 ** (attempt - 1)), self.retry_max)


class NotificationSender:
    """Sends the outbox in its own thread: never inside a stage or sink step."""

    def __init__(
        self,
        outbox: Outbox,
        transports: Mapping[str, Transport],
        config: NotificationConfig,
        base_url: str,
        policy: SenderPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.outbox = outbox
        self.transports = transports
        self.config = config
        self.base_url = base_url
        self.policy = policy or SenderPolicy()
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_scan: datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    def scan_overdue(self, now: datetime) -> int:
        facts = overdue_alerts(self.outbox, now, self.policy.overdue_window)
        pending = [
            n for f in facts for n in notifications_for(f, "verlopen", self.config, self.base_url)
        ]
        self.outbox.enqueue(pending, now)
        return len(pending)

    def send_due(self, now: datetime) -> int:
        sent = 0
        for row in self.outbox.due(now):
            if self._stop.is_set():
                break
            if not self.outbox.claim(row["id"], now, self.policy.lease):
                continue  # another sender has it
            sent += self._send(row)
        return sent

    def _send(self, row: dict[str, Any]) -> int:
        transport = self.transports.get(row["kanaal"])
        try:
            if transport is None:
                raise ChannelNotConfigured(row["kanaal"])
            transport.send(row["doel"], row["onderwerp"], row["tekst"])
        except Exception as exc:
            self._failed(row, failure_reason(exc, row["kanaal"]))
            return 0
        self.outbox.mark_sent(row["id"], self.clock())
        notification_outcome(row["kanaal"], "sent")
        log.info("notification %s sent (%s)", row["id"], row["kanaal"])
        return 1

    def _failed(self, row: dict[str, Any], error: str) -> None:
        now = self.clock()
        attempt = int(row["pogingen"]) + 1
        retry = (
            None if attempt >= self.policy.max_attempts else now + self.policy.retry_after(attempt)
        )
        self.outbox.mark_failed(row, error, now, retry)
        notification_outcome(row["kanaal"], "given_up" if retry is None else "retry")
        target = redacted(row["kanaal"], row["doel"])
        if retry is None:
            log.error(
                "notification %s to %s given up after %d attempts: %s",
                row["id"],
                target,
                attempt,
                error,
            )
        else:
            log.warning(
                "notification %s to %s failed (attempt %d), retry at %s: %s",
                row["id"],
                target,
                attempt,
                retry.isoformat(),
                error,
            )

    def run_once(self) -> int:
        now = self.clock()
        if self._last_scan is None or now - self._last_scan >= self.policy.scan_every:
            self._last_scan = now
            self.scan_overdue(now)
        return self.send_due(now)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("notification sender pass failed; retrying")
            self._wake.wait(min(1.0, self.policy.scan_every.total_seconds()))
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="klantsignaal-notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)


__all__ = [
    "AlertFacts",
    "NotificationConfig",
    "NotificationSender",
    "NotificationSink",
    "SenderPolicy",
    "SmtpTransport",
    "WebhookTransport",
    "build_notifications",
    "compose",
    "load_notification_config",
]


def build_notifications(settings: Settings) -> tuple[NotificationSink, NotificationSender]:
    """The outbox sink and its sender, from the settings (SMTP, config file, retry timing)."""
    config = load_notification_config(settings.notifications_config)
    outbox = Outbox(settings.warehouse)
    transports: dict[str, Transport] = {"webhook": WebhookTransport()}
    if settings.smtp_host:
        transports["email"] = SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            # The SMTP server and its settings are shared with invitation dispatch.
            security=settings.smtp_security,
            user=settings.smtp_user,
            password=settings.smtp_password,
        )
    policy = SenderPolicy(
        retry_base=timedelta(seconds=settings.notification_retry_seconds),
        max_attempts=settings.notification_max_attempts,
        scan_every=timedelta(seconds=settings.notification_scan_seconds),
    )
    sender = NotificationSender(outbox, transports, config, settings.base_url, policy)
    sink = NotificationSink(
        outbox,
        config,
        settings.base_url,
        max_age=timedelta(hours=settings.notification_max_age_hours),
        wake=sender.wake,
    )
    return sink, sender
