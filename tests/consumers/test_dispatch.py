"""Dispatch against a real SMTP server (aiosmtpd) and a real local HTTP SMS gateway.

The dispatcher runs in-process with a clock the test moves, so back-off, reminders and
expiry are checked without waiting; everything it talks to is real.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from consumers.dispatch import SqlAddressBook
from consumers.dispatch_outbox import Outbox
from consumers.dispatch_senders import SmsGateway, SmtpConfig, SmtpMailer
from consumers.dispatcher import DispatchConfig, Dispatcher, DispatchSink
from pipeline.identity import contact_key
from pipeline.invitation_policy import load_policy
from pipeline.ports import SinkRecord
from pipeline.stages.trigger import TriggerStage
from pipeline.times import iso
from schemas.cloudevents import CloudEvent, new_event
from schemas.models import OptOut
from schemas.types import CONTACT, INVITATION, OPT_OUT, RESPONSE
from schemas.validation import validate_data
from tests.infra._proc import free_ports
from tests.support.events import contact_event, klant, response_event
from tests.support.smtp_server import SmtpServer, plain_and_html, smtp_server  # noqa: F401

BASE = "https://klantsignaal.example.nl"
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday, office hours


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Events:
    """The Publisher port as a list (the outcome events dispatch publishes)."""

    def __init__(self) -> None:
        self.published: list[CloudEvent] = []

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        self.publish_many({topic: events})

    def publish_many(self, batches: dict[str, Sequence[CloudEvent]]) -> None:
        for events in batches.values():
            self.published.extend(events)

    def outcomes(self, invitation_id: str) -> list[str]:
        return [
            e.data["uitkomst"] for e in self.published if e.data["invitationId"] == invitation_id
        ]


class Rig:
    def __init__(
        self,
        tmp: Path,
        smtp: SmtpServer | None,
        sms_url: str | None = None,
        url: str | None = None,
    ):
        url = url or f"sqlite:///{tmp / 'dispatch.db'}"
        self.clock = Clock()
        self.addresses = SqlAddressBook(url)
        self.outbox = Outbox(url)
        self.events = Events()
        self.sink = DispatchSink(self.outbox, self.addresses, clock=self.clock)
        self.policy = load_policy().with_delay("email", 0)
        self.trigger = TriggerStage(link_key="k", policy=self.policy, clock=self.clock)
        mailer = SmtpMailer(SmtpConfig(smtp.host, smtp.port, timeout=5)) if smtp else None
        self.config = DispatchConfig(
            base_url=BASE,
            mail_from="Gemeente Test <enquete@gemeente.example.nl>",
            mailer=mailer,
            sms=SmsGateway(sms_url, timeout=5) if sms_url else None,
            retry_seconds=60,
        )
        self.dispatcher = self._dispatcher()
        self._position = 0

    def _dispatcher(self) -> Dispatcher:
        return Dispatcher(self.outbox, self.addresses, self.events, self.config, clock=self.clock)

    def restart(self) -> None:
        """A new process: a new dispatcher over the same database."""
        self.dispatcher = self._dispatcher()

    def feed(self, *events: CloudEvent) -> None:
        records = []
        for event in events:
            self._position += 1
            topic = {INVITATION.name: INVITATION.topic, RESPONSE.name: RESPONSE.topic}.get(
                event.type, OPT_OUT.topic
            )
            records.append(SinkRecord(topic, str(self._position), event))
        self.sink.handle(records)

    def invite(self, email: str | None = None, phone: str | None = None, **contact: Any) -> dict:
        kanalen = (["email"] if email else []) + (["sms"] if phone else [])
        event = contact_event(
            klant=contact.pop("klant", klant(len(email or phone or "") + 50)),
            bereikbaarheid={"enqueteToestemming": True, "kanalen": kanalen},
            **contact,
        )
        key = contact_key(event.data["klant"], event.data["contactId"])
        self.addresses.remember(key, email, phone)
        [emit] = self.trigger.process(
            CONTACT.topic, event, {"last_invited": _D(), "opted_out": _D()}
        )
        self.feed(emit.event)
        return emit.event.data


class _D(dict):
    def put(self, key: str, value: dict) -> None:
        self[key] = value


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rig(request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer) -> Rig:  # noqa: F811
    """The outbox and address book on SQLite (embedded) and on PostgreSQL (compose)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return Rig(tmp_path, smtp_server, url=url)


def _address(rig: Rig, invitation: dict) -> tuple[str | None, str | None] | None:
    return rig.addresses.lookup_for(invitation["klant"], invitation["contactId"])


def _links(text: str) -> list[str]:
    pattern = r"https://klantsignaal\.example\.nl/q/[A-Za-z0-9_-]+(?:/afmelden\?bron=[a-z-]+)?"
    return re.findall(pattern, text)


def test_email_in_dutch_with_html_plain_text_link_and_opt_out(
    rig: Rig,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    invitation = rig.invite("jan@example.nl", klant=klant(60))
    assert rig.dispatcher.step() == 1
    [message] = smtp_server.recorder.to("jan@example.nl")
    plain, html = plain_and_html(message)
    link = f"{BASE}/q/{invitation['token']}"
    assert message["Subject"] == "Hoe hebben wij u geholpen?"
    assert message["From"] == "Gemeente Test <enquete@gemeente.example.nl>"
    assert message["List-Unsubscribe"].strip() == f"<{link}/afmelden?bron=e-mail>"
    assert _links(plain) == [link, f"{link}/afmelden?bron=e-mail"]
    assert f'href="{link}"' in html and f'href="{link}/afmelden?bron=e-mail"' in html
    assert "Paspoort aanvragen" in plain and 'lang="nl"' in html
    assert "Meld u af" in html
    assert rig.events.outcomes(invitation["invitationId"]) == ["delivered"]
    for event in rig.events.published:
        assert not validate_data(event.type, event.data), "outcome events follow their schema"
        assert "jan@example.nl" not in json.dumps(event.data)
    # Another pass sends nothing again.
    rig.clock.advance(hours=1)
    rig.dispatcher.step()
    assert len(smtp_server.recorder.to("jan@example.nl")) == 1


def test_english_for_contacts_in_english_and_text_is_escaped_in_html(
    rig: Rig,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    rig.invite(
        "ann@example.org",
        klant=klant(61),
        taal="eng",
        dienst={"code": "afval", "naam": "Afval <script>alert(1)</script>"},
    )
    rig.dispatcher.step()
    [message] = smtp_server.recorder.to("ann@example.org")
    plain, html = plain_and_html(message)
    assert message["Subject"] == "How did we help you?"
    assert "Unsubscribe" in html and 'lang="en"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_smtp_550_marks_the_invitation_undeliverable_without_retries(
    rig: Rig,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    smtp_server.recorder.reject["weg@example.nl"] = "550 5.1.1 Onbekende gebruiker"
    invitation = rig.invite("weg@example.nl", klant=klant(62))
    for _ in range(5):
        rig.dispatcher.step()
        rig.clock.advance(hours=2)
    assert smtp_server.recorder.rcpt_attempts["weg@example.nl"] == 1, "no retry storm"
    assert rig.events.outcomes(invitation["invitationId"]) == ["failed"]
    [outcome] = [e.data for e in rig.events.published]
    assert outcome["reden"] == "SMTP 550 op RCPT TO" and outcome["pogingen"] == 1
    assert _address(rig, invitation) is None, "address deleted"


def test_temporary_failure_is_retried_with_back_off(
    rig: Rig,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    smtp_server.recorder.temporary["later@example.nl"] = 2
    invitation = rig.invite("later@example.nl", klant=klant(63))
    rig.dispatcher.step()
    rig.dispatcher.step()  # within the back-off: no new attempt
    assert smtp_server.recorder.rcpt_attempts["later@example.nl"] == 1
    rig.clock.advance(seconds=61)
    rig.dispatcher.step()
    assert smtp_server.recorder.rcpt_attempts["later@example.nl"] == 2
    rig.clock.advance(seconds=119)
    rig.dispatcher.step()
    assert smtp_server.recorder.rcpt_attempts["later@example.nl"] == 2, "back-off doubles"
    rig.clock.advance(seconds=2)
    rig.dispatcher.step()
    assert len(smtp_server.recorder.to("later@example.nl")) == 1
    [delivered] = [e.data for e in rig.events.published]
    assert delivered["uitkomst"] == "delivered" and delivered["pogingen"] == 3
    assert rig.events.outcomes(invitation["invitationId"]) == ["delivered"]


def test_one_reminder_when_unanswered_none_when_answered(
    rig: Rig,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    quiet = rig.invite("stil@example.nl", klant=klant(64))
    answers = rig.invite("antwoord@example.nl", klant=klant(65))
    assert quiet["reminderAt"] and answers["reminderAt"]
    rig.dispatcher.step()
    assert _address(rig, quiet) is not None, "kept for the reminder"
    rig.feed(response_event(answers, rapportcijfer={"score": 8}))
    assert _address(rig, answers) is None, "answered: address deleted"
    rig.clock.now = datetime.fromisoformat(quiet["reminderAt"].replace("Z", "+00:00"))
    for _ in range(3):
        rig.dispatcher.step()
        rig.clock.advance(hours=5)
    reminders = [m for m in smtp_server.recorder.messages if "Herinnering" in m["Subject"]]
    assert [m["To"] for m in reminders] == ["stil@example.nl"]
    assert rig.events.outcomes(quiet["invitationId"]) == ["delivered", "reminded"]
    assert rig.events.outcomes(answers["invitationId"]) == ["delivered"]
    assert _address(rig, quiet) is None, "nothing more to send: deleted"


def test_opt_out_before_sending_stops_it_and_expiry_deletes_the_address(
    rig: Rig,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    rig.policy = load_policy()  # e-mail after an hour, in office hours
    rig.trigger = TriggerStage(link_key="k", policy=rig.policy, clock=rig.clock)
    stopped = rig.invite("stop@example.nl", klant=klant(66))
    unanswered = rig.invite("niemand@example.nl", klant=klant(67))
    rig.dispatcher.step()
    assert smtp_server.recorder.messages == [], "the policy's delay is kept"
    optout = OptOut(opt_out_id="o-1", klant=klant(66), gegeven_op=iso(rig.clock.now), bron="kanaal")
    rig.feed(new_event(OPT_OUT.name, optout.to_dict(), source="/t", key=klant(66)))
    rig.config.mailer = None  # the SMTP server goes away for a week
    rig.clock.advance(days=8)
    rig.dispatcher.step()
    assert smtp_server.recorder.messages == []
    assert rig.events.outcomes(stopped["invitationId"]) == []
    assert rig.events.outcomes(unanswered["invitationId"]) == ["expired"]
    assert _address(rig, stopped) is None
    assert _address(rig, unanswered) is None


def test_a_claim_left_by_a_crash_is_never_resent(
    rig: Rig,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    invitation = rig.invite("crash@example.nl", klant=klant(68))
    [job] = rig.outbox.due(rig.clock.now, ["email"])
    assert rig.outbox.claim(job, rig.dispatcher.owner, rig.clock.now)
    # ... and here the process died, before or after the SMTP server took the message.
    rig.restart()
    rig.dispatcher.step()
    rig.clock.advance(hours=1)
    rig.dispatcher.step()
    assert smtp_server.recorder.messages == []
    assert rig.outbox.states()[invitation["invitationId"]][0] == "unknown"
    [outcome] = [e.data for e in rig.events.published]
    assert outcome["uitkomst"] == "failed" and "onderbroken" in outcome["reden"]


class _Gateway(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []
    replies: list[int] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((dict(self.headers), body))
        status = self.replies.pop(0) if self.replies else 202
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def sms_gateway() -> Iterator[type[_Gateway]]:
    handler = type("Gateway", (_Gateway,), {"received": [], "replies": []})
    (port,) = free_ports(1)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{port}/sms"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_sms_goes_to_the_http_gateway_as_json(tmp_path: Path, sms_gateway: type[_Gateway]) -> None:
    rig = Rig(tmp_path, None, sms_url=sms_gateway.url)  # type: ignore[attr-defined]
    rig.trigger = TriggerStage(
        link_key="k", policy=rig.policy.with_delay("sms", 0), clock=rig.clock
    )
    sms_gateway.replies[:] = [503]  # busy once: retried
    invitation = rig.invite(phone="+31612345678", klant=klant(69))
    rig.dispatcher.step()
    rig.clock.advance(minutes=2)
    rig.dispatcher.step()
    assert len(sms_gateway.received) == 2
    headers, body = sms_gateway.received[-1]
    assert body["to"] == "+31612345678"
    link = f"{BASE}/q/{invitation['token']}"
    assert _links(body["text"]) == [link, f"{link}/afmelden?bron=sms"]
    assert headers["Idempotency-Key"] == f"{invitation['invitationId']}.uitnodiging"
    assert rig.events.outcomes(invitation["invitationId"]) == ["delivered"]
    # A gateway that refuses the number for good: undeliverable, not retried.
    sms_gateway.replies[:] = [400]
    refused = rig.invite(phone="+31600000000", klant=klant(70))
    for _ in range(3):
        rig.dispatcher.step()
        rig.clock.advance(hours=1)
    assert len(sms_gateway.received) == 3
    assert rig.events.outcomes(refused["invitationId"]) == ["failed"]


def test_an_inline_invitation_needs_no_address(rig: Rig, smtp_server: SmtpServer) -> None:  # noqa: F811
    event = contact_event(
        klant=klant(71), bereikbaarheid={"enqueteToestemming": True, "kanalen": ["inline", "email"]}
    )
    rig.addresses.remember(contact_key(klant(71), event.data["contactId"]), "al@example.nl", None)
    [emit] = rig.trigger.process(CONTACT.topic, event, {"last_invited": _D(), "opted_out": _D()})
    assert emit.event.data["dispatch"] == ["inline"], "the policy prefers the thank-you page"
    rig.feed(emit.event)
    rig.dispatcher.step()
    assert _address(rig, emit.event.data) is None
    assert smtp_server.recorder.messages == []
