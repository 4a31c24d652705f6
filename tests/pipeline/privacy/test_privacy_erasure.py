"""Personal data through the whole embedded system, erasure (`privacy forget`), retention,
and the scrubber measured on labelled cases (`privacy scrub-report`)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consumers.dispatch import SqlAddressBook
from consumers.inbox_store import InboxStore
from consumers.privacy_ops import retention
from pipeline.app import System, build_embedded
from pipeline.identity import contact_key
from pipeline.ports import SinkRecord
from pipeline.privacy import Pseudonymiser
from pipeline.scrub_report import evaluate, load_cases
from pipeline.settings import Settings
from schemas.cloudevents import new_event
from schemas.types import ALERT, ALERT_STATUS, CONTACT, PAGE_FEEDBACK, RESPONSE
from tests.support.events import BSNS, contact_data, envelope
from tests.support.paths import TEST_DATA

TOKEN = "test-token"
KEYS = {"api_token": TOKEN, "link_key": "link-k", "pseudonym_key": "pseudo-k"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SINGLE = {**AUTH, "Content-Type": "application/cloudevents+json"}
DATA = TEST_DATA


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    built = build_embedded(Settings(data_dir=tmp_path / "data", **KEYS))  # type: ignore[arg-type]
    built.runtime.start()  # type: ignore[union-attr]
    yield built
    built.close()


def _wait(predicate: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _bytes(data_dir: Path, skip: tuple[str, ...] = ()) -> bytes:
    return b"".join(
        p.read_bytes()
        for p in sorted(data_dir.iterdir())
        if p.is_file() and not p.name.startswith(skip)
    )


def _citizen(client: TestClient, bsn: str, email: str, comment: str, **fields: str) -> dict:
    """A contact with a BSN and an e-mail address, answered very negatively with `comment`."""
    data = contact_data(bereikbaarheid={"enqueteToestemming": True, "email": email}, **fields)
    del data["klant"]
    data["bsn"] = bsn
    event = envelope(CONTACT.name, data)
    assert client.post("/v1/events", content=json.dumps(event), headers=SINGLE).status_code == 202
    params = {"contact_id": data["contactId"], "source": event["source"]}
    url = _wait(
        lambda: client.get("/v1/invitations", params=params, headers=AUTH).json()["invitations"]
    )[0]["url"]  # type: ignore[index]
    path = "/" + url.split("/", 3)[3]
    answers = {"ces": "1", "nps": "0", "rapportcijfer": "1", "nps_opmerking": comment}
    client.post(path, data=answers)
    done = client.post(path, data={**answers, "stap": "2", "oorzaak": "doorverwezen"})
    assert done.status_code == 200, done.text
    return data


# -- must show: nothing personal outside the address book -------------------------------

SECRETS = {
    "bsn9": "123456782",
    "bsn8": "12345672",
    "email": "jan.jansen@example.nl",
    "phone": "(020) 7654321",
    "mobile": "06-87654321",
    "iban": "NL91ABNA0417164300",
    "postcode": "9876 zx",
    "dob": "12-03-1985",
    "plate": "GJ-345-K",
}


def test_personal_data_in_every_text_field_reaches_no_store_or_log(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(system.web)
    s = SECRETS
    comment = (
        f"BSN {s['bsn9']} en {s['bsn8']}, mail {s['email']}, bel {s['phone']} of {s['mobile']}, "
        f"IBAN {s['iban']}, postcode {s['postcode']}, geboren op {s['dob']}, kenteken {s['plate']}."
        " Schandalig, niemand helpt!"
    )
    with caplog.at_level(logging.DEBUG):
        data = _citizen(
            client,
            "111222333",
            "burger@example.org",
            comment,
            onderwerp=f"Verhuizing {s['postcode']}, tel {s['phone']}",
            inhoud=comment[:2000],
            referentienummer=s["bsn9"],
            hoofdOnderwerpType=s["email"],
        )
        feedback = {
            "feedbackId": "f-pii",
            "pagina": f"https://gemeente.nl/zoek?q={s['email']}",
            "beoordeling": "slecht",
            "opmerking": comment,
            "gegevenOp": "2026-11-23T10:00:00Z",
        }
        event = envelope(PAGE_FEEDBACK.name, feedback)
        client.post("/v1/events", content=json.dumps(event), headers=SINGLE)
        _wait(lambda: system.warehouse.count("alerts") == 1)
        _wait(lambda: system.warehouse.count("page_feedback") == 1)
        system.runtime.run_until_idle()  # type: ignore[union-attr]
    data_dir = system.settings.data_dir
    outside_address_book = _bytes(data_dir, skip=("dispatch.db",))
    everywhere = _bytes(data_dir)
    for name, secret in {**SECRETS, "contact bsn": "111222333"}.items():
        assert secret.encode() not in outside_address_book, name
        assert secret not in caplog.text, name
    for name in ("bsn9", "bsn8", "iban", "dob", "plate"):
        assert SECRETS[name].encode() not in everywhere, name  # not even in the address book
    assert b"burger@example.org" not in outside_address_book
    # Answered: dispatch no longer needs the address, so even the address book let it go.
    key = contact_key(Pseudonymiser("pseudo-k").klant("111222333"), data["contactId"])
    _wait(lambda: SqlAddressBook(system.settings.dispatch).lookup(key) is None)


# -- privacy forget ------------------------------------------------------------------------


def test_forget_erases_one_citizen_everywhere_and_keeps_the_others(
    system: System, tmp_path: Path
) -> None:
    client = TestClient(system.web)
    a = _citizen(client, BSNS[0], "anna@example.nl", "Schandalig, drie keer doorverwezen!")
    b = _citizen(client, BSNS[1], "bert@example.nl", "Waardeloos, niemand belt terug!")
    _wait(lambda: system.warehouse.count("alerts") == 2)
    system.runtime.run_until_idle()  # type: ignore[union-attr]
    klant_a = Pseudonymiser("pseudo-k").klant(BSNS[0])
    klant_b = Pseudonymiser("pseudo-k").klant(BSNS[1])
    alert_a = next(r for r in system.warehouse.alerts() if r["klant"] == klant_a)["alert_id"]
    inbox = InboxStore(system.settings.inbox)
    inbox.log(alert_a, "femke", "bekeek de contactgegevens")
    inbox.engine.dispose()
    rows_before = system.warehouse.count("contacts")
    system.close()

    env = {**os.environ, **{f"KLANTSIGNAAL_{k.upper()}": v for k, v in KEYS.items()}}
    data_dir = system.settings.data_dir
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "privacy",
            "forget",
            BSNS[0],
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["klant"] == klant_a
    for where in ("log.db:log", "warehouse:contacts", "warehouse:alerts", "warehouse:responses"):
        assert report["removed"].get(where, 0) >= 1, where
    assert (
        report["removed"].get("inbox:inbox_audit (unlinked)", 0)
        + report["removed"].get("inbox:audit (unlinked)", 0)
        >= 1
    ), report
    stored = _bytes(data_dir)
    for trace in (klant_a, a["contactId"], "anna@example.nl", alert_a, "drie keer doorverwezen"):
        assert trace.encode() not in stored, trace
    for kept in (klant_b, b["contactId"], "niemand belt terug"):
        assert kept.encode() in stored, kept
    again = build_embedded(Settings(data_dir=data_dir, **KEYS))  # type: ignore[arg-type]
    try:
        assert again.warehouse.count("contacts") == rows_before - 1
        assert len(InboxStore(again.settings.inbox).audit_trail(alert_a)) == 0
    finally:
        again.close()


# -- retention -----------------------------------------------------------------------------


def _store(system: System, type_: object, data: dict) -> None:
    event = new_event(type_.name, data, source="/test", key=data.get("klant"))  # type: ignore[attr-defined]
    system.warehouse.store([SinkRecord(type_.topic, "0", event)])  # type: ignore[attr-defined]


def test_retention_removes_what_is_due_and_nothing_else(system: System) -> None:
    client = TestClient(system.web)
    now = datetime.now(UTC)
    klant = Pseudonymiser("x").klant("retentie")
    for label, answered in (
        ("oud", now - timedelta(days=400)),
        ("nieuw", now - timedelta(days=10)),
    ):
        response = {
            "responseId": f"r-{label}",
            "invitationId": f"i-{label}",
            "contactId": f"c-{label}",
            "klant": klant,
            "answeredAt": answered.isoformat().replace("+00:00", "Z"),
            "terugbelToestemming": False,
            "nps": {"score": 3, "opmerking": f"{label} commentaar"},
        }
        event = envelope(RESPONSE.name, response)
        assert (
            client.post("/v1/events", content=json.dumps(event), headers=SINGLE).status_code == 202
        )
    alerts = {"gesloten-oud": 800, "gesloten-recent": 30, "open-oud": None}
    for alert_id, closed_days_ago in alerts.items():
        _store(
            system,
            ALERT,
            {
                "alertId": alert_id,
                "signalId": f"s-{alert_id}",
                "klant": klant,
                "team": "KCC",
                "ernst": "hoog",
                "redenen": ["rapportcijfer 1"],
                "terugbelToestemming": False,
                "aangemaaktOp": (now - timedelta(days=900)).isoformat().replace("+00:00", "Z"),
            },
        )
        if closed_days_ago is not None:
            op = (now - timedelta(days=closed_days_ago)).isoformat().replace("+00:00", "Z")
            status = {"alertId": alert_id, "team": "KCC", "status": "afgehandeld"}
            _store(
                system, ALERT_STATUS, {**status, "handeling": "afhandelen", "door": "f", "op": op}
            )
    _wait(lambda: system.warehouse.count("responses") == 2)
    system.runtime.run_until_idle()  # type: ignore[union-attr]
    log_before = len(system.runtime.log.records(RESPONSE.topic))  # type: ignore[union-attr]

    result = retention(system.settings, now)
    with system.warehouse.engine.connect() as conn:
        from sqlalchemy import text

        comments = dict(
            conn.execute(text("SELECT response_id, nps_opmerking FROM responses")).all()
        )
        alert_ids = {r[0] for r in conn.execute(text("SELECT alert_id FROM alerts"))}
    assert comments == {"r-oud": None, "r-nieuw": "nieuw commentaar"}
    assert alert_ids == {"gesloten-recent", "open-oud"}
    assert result["removed"]["warehouse:alerts"] == 1
    # The log: nothing is older than the first mark yet; 91 days later all that was read goes.
    assert len(system.runtime.log.records(RESPONSE.topic)) == log_before  # type: ignore[union-attr]
    later = retention(system.settings, now + timedelta(days=91))
    assert later["removed"].get("log.db:log", 0) >= log_before
    assert system.runtime.log.records(RESPONSE.topic) == []  # type: ignore[union-attr]


def test_retention_drops_addresses_after_their_time(system: System) -> None:
    book = SqlAddressBook(system.settings.dispatch)
    book.remember("c-adres", "a@example.nl", None)
    retention(system.settings, datetime.now(UTC) + timedelta(days=29))
    assert book.lookup("c-adres") == ("a@example.nl", None)
    retention(system.settings, datetime.now(UTC) + timedelta(days=31))
    assert book.lookup("c-adres") is None


# -- the scrubber measured -----------------------------------------------------------------

# Floors below what was measured (see docs/privacy.md): the development set was written
# with the scrubber; the hold-out set afterwards and never tuned on.
FLOORS = {"precision": 0.85, "recall": 0.8}


def test_scrubber_precision_and_recall_per_kind_stay_above_the_floors() -> None:
    cases = [
        case
        for name in ("scrub_cases", "scrub_cases_holdout", "scrub_cases_holdout2")
        for case in load_cases(DATA / f"{name}.jsonl")
    ]
    report = evaluate(cases).to_dict()
    for kind, score in report["kinds"].items():
        assert score["spans"] >= 5, kind
        assert score["precision"] >= FLOORS["precision"], (kind, score)
        assert score["recall"] >= FLOORS["recall"], (kind, score)
    assert report["hard_negatives"] >= 50
    assert report["hard_negatives_changed"] <= 0.05 * report["hard_negatives"]


def test_scrub_report_command_prints_figures_per_kind() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "privacy",
            "scrub-report",
            str(DATA / "scrub_cases.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)[str(DATA / "scrub_cases.jsonl")]
    assert set(report["kinds"]) >= {"bsn", "email", "telefoon", "iban", "postcode", "kenteken"}
