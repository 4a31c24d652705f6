"""`klantsignaal run` sending invitations to a real SMTP server (aiosmtpd): the link in the
e-mail works, and a kill -9 in the middle of sending never makes an e-mail go out twice."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from consumers.dispatch_outbox import Outbox
from schemas.types import CONTACT, RESPONSE
from tests.support.events import contact_data, envelope, klant
from tests.support.live_server import TOKEN, free_port, live_server, poll, spawn_run, wait_healthy
from tests.support.smtp_server import SmtpServer, plain_and_html, smtp_server  # noqa: F401

AUTH = {"Authorization": f"Bearer {TOKEN}"}
TERMINAL = {"sent", "failed", "unknown", "expired", "answered", "cancelled"}


def _env(smtp: SmtpServer) -> dict[str, str]:
    return {
        "KLANTSIGNAAL_SMTP_HOST": smtp.host,
        "KLANTSIGNAAL_SMTP_PORT": str(smtp.port),
        "KLANTSIGNAAL_MAIL_FROM": "Gemeente Test <enquete@gemeente.example.nl>",
        "KLANTSIGNAAL_EMAIL_DELAY_SECONDS": "0",
    }


def _contacts(base: str, count: int, first: int) -> list[dict]:
    events = []
    for i in range(count):
        data = contact_data(
            klant=klant(first + i),
            bereikbaarheid={"enqueteToestemming": True, "email": f"burger{first + i}@example.nl"},
        )
        events.append(envelope(CONTACT.name, data))
    posted = httpx.post(
        base + "/v1/events",
        content=json.dumps(events),
        headers={**AUTH, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert posted.status_code == 202, posted.text
    return events


def _links(message: EmailMessage) -> tuple[str, str]:
    plain, _ = plain_and_html(message)
    found = re.findall(
        r"http://127\.0\.0\.1:\d+/q/[A-Za-z0-9_-]+(?:/afmelden\?bron=e-mail)?", plain
    )
    assert len(found) == 2 and found[1] == found[0] + "/afmelden?bron=e-mail", found
    return found[0], found[1]


def _addresses(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "dispatch.db") as db:
        return int(db.execute("SELECT count(*) FROM dispatch_addresses").fetchone()[0])


@pytest.mark.slow
def test_email_links_work_answer_and_opt_out_end_to_end(
    tmp_path: Path,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    recorder = smtp_server.recorder
    with live_server(tmp_path, extra_env=_env(smtp_server)) as server:
        answers, leaves = _contacts(server.base, 2, first=300)
        recorder.wait_for(2)
        [to_answer] = recorder.to("burger300@example.nl")
        [to_leave] = recorder.to("burger301@example.nl")
        link, _ = _links(to_answer)
        page = httpx.get(link)
        assert page.status_code == 200, page.text
        assert "Paspoort aanvragen" in page.text
        # Answered: the address is no longer needed and leaves the address book.
        invitation = httpx.get(
            server.base + "/v1/invitations",
            params={"contact_id": answers["data"]["contactId"], "source": answers["source"]},
            headers=AUTH,
        ).json()["invitations"][0]
        response = envelope(
            RESPONSE.name,
            {
                "responseId": "r-live-1",
                "invitationId": invitation["invitationId"],
                "contactId": answers["data"]["contactId"],
                "klant": answers["data"]["klant"],
                "answeredAt": "2026-11-23T11:00:00Z",
                "terugbelToestemming": False,
                "rapportcijfer": {"score": 8},
            },
        )
        posted = httpx.post(
            server.base + "/v1/events",
            content=json.dumps(response),
            headers={**AUTH, "Content-Type": "application/cloudevents+json"},
        )
        assert posted.status_code == 202
        poll(lambda: _addresses(tmp_path / "data") == 1, 15)

        # The other citizen follows "Meld u af" in the e-mail and confirms.
        _, opt_out = _links(to_leave)
        assert httpx.get(opt_out).status_code == 200
        done = httpx.post(opt_out.split("?")[0], data={"bron": "e-mail"})
        assert done.status_code == 200, done.text
        poll(lambda: _addresses(tmp_path / "data") == 0, 15)
        # Two months later, on another channel, with consent: no invitation, no e-mail.
        again = contact_data(
            klant=leaves["data"]["klant"],
            kanaal="balie",
            plaatsgevondenOp="2027-01-25T10:00:00Z",
            bereikbaarheid={"enqueteToestemming": True, "email": "burger301@example.nl"},
        )
        marker = contact_data(klant=klant(399))  # the embedded log keeps order: a sync point
        for data in (again, marker):
            event = envelope(CONTACT.name, data)
            posted = httpx.post(
                server.base + "/v1/events",
                content=json.dumps(event),
                headers={**AUTH, "Content-Type": "application/cloudevents+json"},
            )
            assert posted.status_code == 202
        server.invitation_link(marker["contactId"], source=event["source"])
        none = httpx.get(
            server.base + "/v1/invitations",
            params={"contact_id": again["contactId"], "source": event["source"]},
            headers=AUTH,
        ).json()["invitations"]
        assert none == [], "opted out: no invitation on any channel"
        assert len(recorder.to("burger301@example.nl")) == 1


@pytest.mark.slow
def test_kill_9_mid_dispatch_and_restart_sends_no_email_twice(
    tmp_path: Path,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    recorder = smtp_server.recorder
    recorder.delay = 0.25  # a slow mail server: many invitations wait in the outbox
    count = 30
    data_dir = tmp_path / "data"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = spawn_run(data_dir, port, log, TOKEN, _env(smtp_server))
        wait_healthy(proc, base, log_path)
        outbox = Outbox(f"sqlite:///{data_dir / 'dispatch.db'}")
        _contacts(base, count, first=400)
        # Kill while a message is on the wire, with more waiting behind it.
        poll(lambda: len(recorder.messages) >= 5 and recorder.in_data == 1, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        at_kill = len(recorder.messages)
        assert at_kill < count, "the kill came before everything was sent"

        proc = spawn_run(data_dir, port, log, TOKEN, _env(smtp_server))
        try:
            wait_healthy(proc, base, log_path)
            poll(
                lambda: (
                    len(outbox.states()) == count
                    and all(s in TERMINAL for s, _, _ in outbox.states().values())
                ),
                60,
            )
            outcomes = poll(lambda: _outcomes(data_dir, count), 20)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    time.sleep(0.5)  # a message still in flight at the server would show up now
    per_address = Counter(m["To"] for m in recorder.messages)
    assert max(per_address.values()) == 1, f"sent twice: {per_address.most_common(3)}"
    assert len({m["Message-ID"] for m in recorder.messages}) == len(recorder.messages)
    states = Counter(s for s, _, _ in outbox.states().values())
    # The one on the wire at the kill is 'unknown' (never resent); all others went once.
    assert states["unknown"] <= 1 and states["sent"] + states["unknown"] == count, states
    assert states["sent"] <= len(recorder.messages) <= states["sent"] + states["unknown"]
    expected = {"delivered": states["sent"], "failed": states["unknown"]}
    assert outcomes == {k: v for k, v in expected.items() if v}


def _outcomes(data_dir: Path, count: int) -> dict[str, int] | None:
    """Outcome events per kind in the warehouse, once there is one per invitation."""
    with sqlite3.connect(data_dir / "warehouse.db") as db:
        rows = db.execute("SELECT uitkomst, count(*) FROM dispatch_outcomes GROUP BY uitkomst")
        found = dict(rows.fetchall())
    return found if sum(found.values()) == count else None
