"""Team notifications: a real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1
receive them; no personal data in either; a failing webhook is retried and never holds up
the pipeline; overdue alerts are announced once; failures are visible to admins."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes as _parse
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY
from sqlalchemy import text
from starlette.testclient import TestClient

from consumers.notifications import (
    NotificationSender,
    SenderPolicy,
    SmtpTransport,
    WebhookTransport,
    load_notification_config,
)
from consumers.notify_outbox import Outbox
from consumers.warehouse import Warehouse
from pipeline.app import System, build_embedded
from pipeline.ports import SinkRecord
from pipeline.settings import Settings
from schemas.cloudevents import new_event
from schemas.types import ALERT, CONTACT, RESPONSE, SERVICE_ALERT
from tests.support.events import contact_data, contact_event, envelope, response_event
from tests.support.kafka_harness import kafka_harness  # noqa: F401 - the worker fixture
from tests.support.live_server import free_port, poll

TOKEN = "notify-admin-token"


def message_from_bytes(mail: bytes) -> Any:
    return _parse(mail, policy=policy.default)


BSN = "111222333"
PHONE = "0612345678"
EMAIL = "jan.jansen@example.org"
COMMENT = "Bel me op 06-12345678, mijn BSN is 111222333. Schandalig, ik stap naar de ombudsman!"


# -- local servers ------------------------------------------------------------------------


@dataclass
class Mailbox:
    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(bytes(envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


class Webhook:
    """A webhook receiver answering 500 until `healthy`; the first answer takes a while."""

    def __init__(self) -> None:
        self.healthy = False
        self.first_delay = 2.0
        self.accepted: list[bytes] = []
        self.refused: list[bytes] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hook.first_delay:
                    delay, hook.first_delay = hook.first_delay, 0.0
                    time.sleep(delay)
                ok = hook.healthy
                (hook.accepted if ok else hook.refused).append(body)
                self.send_response(200 if ok else 500)
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"kapot")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/team-kcc?secret=s3cr3t"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


SERVICE_COORDINATOR = "dienstcoordinator@gemeente.example"  # service alerts (monitoring)


def write_config(path: Path, webhook_url: str) -> Path:
    path.write_text(
        f"""
[team.KCC]
email = ["kcc-team@gemeente.example"]
webhooks = ["{webhook_url}"]
coordinatoren = ["{SERVICE_COORDINATOR}"]

[standaard]
email = ["coordinatoren@gemeente.example"]
coordinatoren = ["{SERVICE_COORDINATOR}"]
"""
    )
    return path


def decoded(mail: bytes) -> bytes:
    """The e-mail as a reader sees it (headers and the decoded text, no line wrapping)."""
    message = message_from_bytes(mail)
    body = message.get_body().get_content()  # type: ignore[union-attr]
    return (str(message["Subject"]) + "\n" + body).encode()


def assert_no_personal_data(blob: bytes, klanten: list[str]) -> None:
    lowered = blob.lower()
    for secret in (BSN, PHONE, "06-12345678", EMAIL, "ombudsman", "schandalig", *klanten):
        assert secret.lower().encode() not in lowered, secret
    assert b"opmerking" not in lowered and b'"klant"' not in lowered
    assert not re.search(rb"k-[0-9a-f]{16}", lowered), "no klant pseudonym"


# -- the whole embedded system ------------------------------------------------------------


@pytest.fixture
def system(tmp_path: Path, smtp: tuple[Mailbox, int], webhook: Webhook) -> Iterator[System]:
    settings = Settings(
        data_dir=tmp_path,
        api_token=TOKEN,
        link_key="k",
        pseudonym_key="p",
        public_url="https://klantsignaal.gemeente.example",
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        mail_from="klantsignaal@gemeente.example",
        notifications_config=str(write_config(tmp_path / "notify.toml", webhook.url)),
        notification_retry_seconds=1,
        notification_scan_seconds=1,
    )
    built = build_embedded(settings)
    built.start()
    yield built
    built.close()


def _answer_very_negatively(system: System, client: TestClient) -> tuple[str, str]:
    """A contact through the HTTP edge (BSN, e-mail, phone) and a very negative answer now.
    Returns (klant pseudonym, responseId)."""
    data = contact_data(
        bereikbaarheid={
            "enqueteToestemming": True,
            "email": EMAIL,
            "telefoonnummer": PHONE,
        },
        contactId=f"c-{uuid.uuid4().hex[:10]}",
        plaatsgevondenOp=(datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    )
    data.pop("klant")
    data["bsn"] = BSN
    posted = client.post(
        "/v1/events",
        content=json.dumps(envelope(CONTACT.name, data)),
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/cloudevents+json",
        },
    )
    assert posted.status_code == 202, posted.text
    log = system.runtime.log  # type: ignore[union-attr]
    # The same citizen each time: quarantine gives no new invitation, so answer by contact.
    contact = poll(
        lambda: [
            r["data"]
            for r in log.records(CONTACT.topic)
            if r["data"]["contactId"] == data["contactId"]
        ],
        15,
    )[0]
    invitation = {"invitationId": f"i-{uuid.uuid4().hex[:8]}", **contact}
    response = response_event(
        invitation,
        nps={"score": 0, "opmerking": COMMENT},
        rapportcijfer={"score": 1},
        answeredAt=datetime.now(UTC).isoformat(),
    )
    system.runtime.publish(RESPONSE.topic, [response])  # type: ignore[union-attr]
    return invitation["klant"], response.data["responseId"]


def _alert_ids(system: System) -> dict[str, str]:
    return {a["response_id"]: a["alert_id"] for a in system.warehouse.alerts(limit=1000)}


def test_team_email_and_webhook_arrive_without_personal_data_and_a_failing_webhook_is_retried(
    system: System, smtp: tuple[Mailbox, int], webhook: Webhook
) -> None:
    mailbox = smtp[0]
    client = TestClient(system.web)
    klant, first = _answer_very_negatively(system, client)
    # The e-mail arrives; the webhook first hangs, then answers 500, and is tried again.
    poll(lambda: mailbox.messages, 20)
    poll(lambda: len(webhook.refused) >= 2, 30)
    assert not webhook.accepted

    # Meanwhile the pipeline keeps flowing: later answers still become alerts.
    later = [_answer_very_negatively(system, client)[1] for _ in range(3)]
    poll(lambda: set(later) <= set(_alert_ids(system)), 20)
    assert not webhook.accepted, "the webhook is still down: the alerts did not wait for it"

    webhook.healthy = True
    alert_ids = _alert_ids(system)
    poll(lambda: len(webhook.accepted) >= 4, 40)
    poll(lambda: len(mailbox.messages) >= 4, 20)
    time.sleep(1.5)  # a duplicate would come within the next sender passes
    assert len(webhook.accepted) == 4 and len(mailbox.messages) == 4, "one per alert per target"

    links = {f"/inbox/{alert_ids[r]}" for r in [first, *later]}
    texts = [json.loads(body)["text"] for body in webhook.accepted]
    assert {t.rsplit("klantsignaal.gemeente.example", 1)[1] for t in texts} == links
    assert all("team KCC" in t and "Paspoort aanvragen" in t for t in texts)
    mails = b"\n".join(mailbox.messages)
    assert b"kcc-team@gemeente.example" in mails and b"Ernst: hoog" in mails
    readable = [decoded(m) for m in mailbox.messages]
    for blob in (*webhook.accepted, *webhook.refused, *mailbox.messages, *readable):
        assert_no_personal_data(blob, [klant])
    for mail in readable:
        assert b"@" not in mail.split(b"\n", 1)[1], "no address in the text"

    # Failures are visible to admins, without the webhook's secret.
    denied = client.get("/v1/notifications/failures")
    assert denied.status_code == 401
    status = client.get(
        "/v1/notifications/failures", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()
    assert status["aantallen"]["verzonden"] == 8
    assert len(status["recenteFouten"]) >= 2
    assert all("500" in f["fout"] for f in status["recenteFouten"])
    assert "s3cr3t" not in json.dumps(status)


# -- overdue alerts, restarts and giving up -----------------------------------------------


def _store_alert(warehouse: Warehouse, alert_id: str, due: datetime, created: datetime) -> None:
    data = {
        "alertId": alert_id,
        "signalId": f"s-{alert_id}",
        "klant": "k-" + "ab" * 16,
        "team": "KCC",
        "ernst": "middel",
        "redenen": ["rapportcijfer 2"],
        "terugbelToestemming": True,
        "aangemaaktOp": created.isoformat(),
        "dienst": {"code": "paspoort", "naam": "Paspoort aanvragen"},
        "opmerking": "een opmerking die nergens heen mag",
        "soort": "terugbellen",
        "uiterlijkOp": due.isoformat(),
    }
    event = new_event(ALERT.name, data, source="/t", key=data["klant"], event_id=alert_id)
    warehouse.store([SinkRecord(ALERT.topic, "1", event)])


def _sender(outbox: Outbox, config_path: Path, now: Callable[[], datetime]) -> NotificationSender:
    policy = SenderPolicy(retry_base=timedelta(seconds=60), max_attempts=3, scan_every=timedelta(0))
    return NotificationSender(
        outbox,
        {"webhook": WebhookTransport(timeout=5)},
        load_notification_config(config_path),
        "https://inbox.example",
        policy,
        clock=now,
    )


def test_overdue_alerts_are_announced_once_unless_resolved_also_across_a_restart(
    tmp_path: Path, webhook: Webhook
) -> None:
    webhook.first_delay = 0
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    _store_alert(warehouse, "open-overdue", start - timedelta(hours=2), start - timedelta(days=4))
    _store_alert(warehouse, "resolved", start - timedelta(hours=2), start - timedelta(days=4))
    _store_alert(warehouse, "tie", start - timedelta(hours=2), start - timedelta(days=4))
    _store_alert(warehouse, "not-yet-due", start + timedelta(days=1), start - timedelta(hours=1))
    # The inbox's status table (latest row per alert counts); "resolved" was reopened, then
    # closed. "tie" has two changes at the same moment: the higher event id decides (as in the
    # inbox), not the order the rows were stored in (event ids fall as rows are added).
    changes = (
        ("resolved", "afgehandeld", 10),
        ("resolved", "open", 8),
        ("resolved", "afgehandeld", 6),
        ("open-overdue", "in-behandeling", 3),
        ("tie", "afgehandeld", 5),
        ("tie", "open", 5),
    )
    with warehouse.engine.begin() as conn:
        for n, (alert_id, status, hours) in enumerate(changes):
            conn.execute(
                text(
                    "INSERT INTO alert_status_changes (event_id, stored_at, alert_id, status, "
                    "handeling, op) VALUES (:id, :op, :a, :s, 'claim', :op)"
                ),
                {
                    "id": f"change-{9 - n}",
                    "a": alert_id,
                    "s": status,
                    "op": (start - timedelta(hours=hours)).replace(tzinfo=None),
                },
            )
    config = write_config(tmp_path / "notify.toml", webhook.url)
    clock = [start]
    sender = _sender(Outbox(url), config, lambda: clock[0])
    sender.run_once()  # webhook down: fails, retry in 60 s
    sender.run_once()
    assert len(webhook.refused) == 1 and not webhook.accepted

    # A restart: new objects on the same database. Nothing lost, nothing doubled.
    webhook.healthy = True
    clock[0] = start + timedelta(seconds=61)
    restarted = _sender(Outbox(url), config, lambda: clock[0])
    restarted.run_once()
    restarted.run_once()
    clock[0] += timedelta(minutes=5)
    restarted.run_once()
    assert len(webhook.accepted) == 1
    message = json.loads(webhook.accepted[0])["text"]
    assert "niet op tijd afgehandeld" in message
    assert message.endswith("https://inbox.example/inbox/open-overdue")
    assert "nergens heen" not in message and "k-abab" not in message


OUTCOME_KEYS = [
    ("webhook", "retry"),
    ("webhook", "given_up"),
    ("email", "retry"),
    ("email", "given_up"),
    ("webhook", "sent"),
]


def _outcomes(kanaal: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "klantsignaal_notification_outcomes_total", {"kanaal": kanaal, "outcome": outcome}
    )
    return value or 0.0


def test_a_notification_that_keeps_failing_is_given_up_and_shown_to_admins(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    _store_alert(warehouse, "a-1", start - timedelta(hours=1), start - timedelta(days=2))
    dead = f"http://127.0.0.1:{free_port()}/hook?token=geheim"  # nobody listens here
    config = write_config(tmp_path / "notify.toml", dead)
    clock = [start]
    sender = _sender(Outbox(url), config, lambda: clock[0])
    before = {k: _outcomes(*k) for k in OUTCOME_KEYS}
    for _ in range(4):
        sender.run_once()
        clock[0] += timedelta(minutes=10)
    # Prometheus counts each attempt: two retries, then given up, per target.
    counted = {k: _outcomes(*k) - before[k] for k in OUTCOME_KEYS}
    assert counted == {
        ("webhook", "retry"): 2,
        ("webhook", "given_up"): 1,
        ("email", "retry"): 2,
        ("email", "given_up"): 1,
        ("webhook", "sent"): 0,
    }
    status = Outbox(url).status()
    # Both targets given up: the webhook (refused) and e-mail (no SMTP server configured).
    assert status["aantallen"]["opgegeven"] == 2
    assert {g["pogingen"] for g in status["opgegeven"]} == {3}
    errors = " ".join(g["laatsteFout"] for g in status["opgegeven"])
    assert "ConnectError" in errors and "email is niet ingesteld" in errors
    assert "geheim" not in json.dumps(status)
    # The CLI shows the same to an operator.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "notifications",
            "status",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout)["aantallen"]["opgegeven"] == 2


class RefusingServer:
    """A real SMTP server that refuses every recipient, as a mail server does for a typo."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, _o: Any):  # noqa: N802
        return "550 5.1.1 mailbox unavailable"


def test_a_refused_address_is_never_in_the_outbox_or_the_log(
    tmp_path: Path, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.first_delay = 0
    webhook.healthy = True
    port = free_port()
    controller = Controller(RefusingServer(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
        start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        _store_alert(Warehouse(url), "a-1", start - timedelta(hours=1), start - timedelta(days=2))
        config = load_notification_config(write_config(tmp_path / "n.toml", webhook.url))
        policy = SenderPolicy(max_attempts=1, scan_every=timedelta(0))
        transports = {
            "email": SmtpTransport("127.0.0.1", port, "klantsignaal@gemeente.example"),
            "webhook": WebhookTransport(timeout=5),
        }
        sender = NotificationSender(
            Outbox(url), transports, config, "https://inbox.example", policy, clock=lambda: start
        )
        with caplog.at_level("DEBUG"):
            sender.run_once()
    finally:
        controller.stop()
    status = Outbox(url).status()
    errors = [g["laatsteFout"] for g in status["opgegeven"]]
    assert errors == ["SMTPRecipientsRefused: SMTP 550"]  # the code, not the address
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.")]
    assert any("SMTPRecipientsRefused: SMTP 550" in line for line in ours)
    assert "kcc-team" not in json.dumps(status) + "\n".join(ours)


# -- Kafka: `klantsignaal notifications run` beside the faust worker ------------------------


def _service_alert_event() -> Any:
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now - timedelta(days=2)).isoformat()
    data = {
        "serviceAlertId": "sa-" + uuid.uuid4().hex,
        "dienst": {"code": "paspoort", "naam": "Paspoort aanvragen"},
        "kanaal": "telefoon",
        "metriek": "aandeel-detractors",
        "status": "open",
        "waarde": 0.39,
        "drempel": 0.33,
        "venster": f"{start}/{now.isoformat()}",
        "aantal": 62,
        "aangemaaktOp": now.isoformat(),
        "bewijs": {
            "basislijn": 0.2,
            "huidigeWaarde": 0.39,
            "limiet": 4.1,
            "statistiek": 4.2,
            "vensterStart": start,
            "vensterEinde": now.isoformat(),
            "aantal": 62,
            "aantalSlecht": 24,
            "voorbeeldOpmerkingen": [
                f"Wachttijd veel te lang. Bel me op 06-12345678 of mail {EMAIL}, mijn BSN is {BSN}."
            ],
        },
    }
    return new_event(SERVICE_ALERT.name, data, source="/t", key="paspoort|telefoon")


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.postgres
def test_kafka_notification_runner_sends_team_email_and_webhook(
    request: pytest.FixtureRequest,
    postgres_url: str,
    tmp_path: Path,
    smtp: tuple[Mailbox, int],
    webhook: Webhook,
) -> None:
    from tests.infra._proc import terminate

    harness = request.getfixturevalue("kafka_harness")
    s = harness.settings
    webhook.healthy, webhook.first_delay = True, 0.0
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTSIGNAAL_")}
    env.update(
        {
            "KLANTSIGNAAL_RUNTIME": "kafka",
            "KLANTSIGNAAL_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "KLANTSIGNAAL_KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix,
            "KLANTSIGNAAL_KAFKA_PARTITIONS": str(s.kafka_partitions),
            "KLANTSIGNAAL_WAREHOUSE_URL": postgres_url,
            "KLANTSIGNAAL_DATA_DIR": str(tmp_path / "notify-data"),
            "KLANTSIGNAAL_KEYSTORE_URL": s.keystore,  # every process shares the key store
            "KLANTSIGNAAL_PUBLIC_URL": "https://klantsignaal.gemeente.example",
            "KLANTSIGNAAL_SMTP_HOST": "127.0.0.1",
            "KLANTSIGNAAL_SMTP_PORT": str(smtp[1]),
            "KLANTSIGNAAL_NOTIFICATIONS_CONFIG": str(
                write_config(tmp_path / "notify.toml", webhook.url)
            ),
        }
    )
    log_path = tmp_path / "notifications.log"
    runner = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "notifications", "run"],
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        who = "k-" + uuid.uuid4().hex
        contact = contact_event(klant=who, plaatsgevondenOp=datetime.now(UTC).isoformat())
        harness.publish(CONTACT.topic, [contact])
        invitation = {"invitationId": "i-k", "contactId": contact.data["contactId"], "klant": who}
        answer = response_event(
            invitation,
            nps={"score": 0, "opmerking": COMMENT},
            rapportcijfer={"score": 1},
            answeredAt=datetime.now(UTC).isoformat(),
        )
        harness.publish(RESPONSE.topic, [answer])
        [alert] = [
            a["data"]
            for a in harness.records(ALERT.topic)
            if a["data"]["responseId"] == answer.data["responseId"]
        ]
        poll(lambda: webhook.accepted and smtp[0].messages, 60)
        text_ = json.loads(webhook.accepted[0])["text"]
        assert text_.endswith(f"https://klantsignaal.gemeente.example/inbox/{alert['alertId']}")
        # A service alert from the monitor reaches the service's coordinators too (the
        # runner reads the service-alerts topic; example comments are scrubbed again).
        harness.publish(SERVICE_ALERT.topic, [_service_alert_event()])
        to_coordinator = f"To: {SERVICE_COORDINATOR}".encode()
        poll(lambda: [m for m in smtp[0].messages if to_coordinator in m], 60)
        [mail] = [decoded(m) for m in smtp[0].messages if to_coordinator in m]
        assert b"Let op: Paspoort aanvragen via telefoon" in mail
        assert b"Wachttijd veel te lang." in mail, "the example comment, scrubbed"
        for blob in (*webhook.accepted, *smtp[0].messages, *map(decoded, smtp[0].messages)):
            assert_no_personal_data(blob, [who])
    except BaseException:
        print(f"--- notifications log ---\n{log_path.read_text()}", file=sys.stderr)
        raise
    finally:
        terminate(runner, 10)
