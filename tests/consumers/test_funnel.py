"""GET /v1/funnel: the figures equal an independent count over what the test sent."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from consumers.funnel import FIGURES, SqlVisitRecorder, funnel
from consumers.warehouse import Warehouse
from pipeline.app import System, build_embedded
from pipeline.ports import SinkRecord
from pipeline.settings import Settings
from schemas.cloudevents import new_event
from schemas.models import OptOut
from schemas.types import CONTACT, DISPATCH, INVITATION, OPT_OUT, RESPONSE
from tests.support.events import contact_data, envelope, klant
from tests.support.inbox_helpers import add_token
from tests.support.smtp_server import SmtpServer, smtp_server  # noqa: F401

TOKEN = "funnel-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KANALEN = ("telefoon", "e-formulier", "balie", "chat")
DIENSTEN = (("paspoort", "Paspoort aanvragen"), ("afval", "Afval"), ("parkeren", "Parkeren"))


@pytest.fixture
def system(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[System]:  # noqa: F811
    settings = Settings(
        data_dir=tmp_path,
        api_token=TOKEN,
        link_key="k",
        pseudonym_key="p",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        email_delay_seconds=0,
    )
    built = build_embedded(settings)
    built.start()
    yield built
    built.close()


def _post(client: TestClient, events: list[dict[str, Any]]) -> None:
    posted = client.post(
        "/v1/events",
        content=json.dumps(events),
        headers={**AUTH, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert posted.status_code == 202, posted.text


def _wait(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.mark.slow
def test_funnel_equals_an_independent_count(
    system: System,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    client = TestClient(system.web)
    smtp_server.recorder.reject["bounce-7@example.nl"] = "550 5.1.1 Onbekend"
    contacts, address = [], {}
    for i in range(36):
        kanaal, (code, naam) = KANALEN[i % 4], DIENSTEN[i % 3]
        reach: dict[str, Any] = {"enqueteToestemming": i % 9 != 8}  # 4 without consent
        if i % 2:
            reach["email"] = f"{'bounce' if i == 7 else 'burger'}-{i}@example.nl"
        else:
            reach["kanalen"] = ["inline"]
        data = contact_data(
            klant=klant(500 + i),
            kanaal=kanaal,
            dienst={"code": code, "naam": naam},
            bereikbaarheid=reach,
        )
        contacts.append(envelope(CONTACT.name, data))
        if "email" in reach:
            address[data["contactId"]] = reach["email"]
    _post(client, contacts)
    invited = [c["data"] for c in contacts if c["data"]["bereikbaarheid"]["enqueteToestemming"]]

    def invitations() -> dict[str, dict[str, Any]]:
        found = {}
        for c in invited:
            rows = system.warehouse.invitations_for_contact(c["contactId"])
            if rows:
                found[c["contactId"]] = rows[0]
        return found

    by_contact = _wait(lambda: (lambda f: f if len(f) == len(invited) else None)(invitations()))
    assert by_contact, "every contact with consent got an invitation"

    # What citizens do: answer, open or start the questionnaire, opt out.
    answered = [c for n, c in enumerate(invited) if n % 3 == 0]
    opened = [c for n, c in enumerate(invited) if n % 4 == 1]
    started = [c for n, c in enumerate(invited) if n % 8 == 1]
    opted = [c for n, c in enumerate(invited) if n % 5 == 2]
    _post(
        client,
        [
            envelope(
                RESPONSE.name,
                {
                    "responseId": f"r-{c['contactId']}",
                    "invitationId": by_contact[c["contactId"]]["invitation_id"],
                    "contactId": c["contactId"],
                    "klant": c["klant"],
                    "answeredAt": "2026-11-23T11:00:00Z",
                    "terugbelToestemming": False,
                    "nps": {"score": 8},
                },
            )
            for c in answered
        ],
    )
    visits = SqlVisitRecorder(system.warehouse)
    for c in opened:
        visits.record_visit(by_contact[c["contactId"]]["invitation_id"], "opened")
        visits.record_visit(by_contact[c["contactId"]]["invitation_id"], "opened")  # reload
    for c in started:
        visits.record_visit(by_contact[c["contactId"]]["invitation_id"], "started")
    system.runtime.publish(  # type: ignore[union-attr]
        OPT_OUT.topic,
        [
            new_event(
                OPT_OUT.name,
                OptOut(
                    opt_out_id=f"o-{c['contactId']}",
                    klant=c["klant"],
                    gegeven_op="2026-11-23T12:00:00Z",
                    bron="vragenlijst",
                    invitation_id=by_contact[c["contactId"]]["invitation_id"],
                ).to_dict(),
                source="/test",
                key=c["klant"],
            )
            for c in opted
        ],
    )

    emailed = [c for c in invited if c["contactId"] in address]
    # Wait until dispatch has settled every e-mail (delivered, refused or cancelled).
    outbox = system.dispatcher.outbox  # type: ignore[union-attr]

    def settled() -> bool:
        states = outbox.states().values()
        return len(states) == len(emailed) and all(
            s not in ("pending", "sending") for s, _, _ in states
        )

    assert _wait(settled)
    received = {m["To"] for m in smtp_server.recorder.messages}

    def expected(by: str) -> dict[str, dict[str, int]]:
        def key(c: dict[str, Any]) -> str:
            return c["kanaal"] if by == "kanaal" else c["dienst"]["code"]

        def count(group: list[dict[str, Any]]) -> Counter[str]:
            return Counter(key(c) for c in group)

        def ids(*groups: list[dict[str, Any]]) -> set[str]:
            return {c["contactId"] for group in groups for c in group}

        delivered = [
            c
            for c in invited
            if c["contactId"] not in address or address[c["contactId"]] in received
        ]
        figures = {
            "invited": count(invited),
            "delivered": count(delivered),
            "opened": count(
                [c for c in invited if c["contactId"] in ids(opened + started + answered)]
            ),
            "started": count([c for c in invited if c["contactId"] in ids(started, answered)]),
            "answered": count(answered),
            "optedOut": count(opted),
        }
        groups = sorted(figures["invited"])
        return {g: {name: figures[name][g] for name in figures} for g in groups}

    for by in ("kanaal", "dienst"):
        want = expected(by)

        def got(by: str = by) -> dict[str, dict[str, int]]:
            body = client.get("/v1/funnel", params={"by": by}, headers=AUTH).json()
            return {r[by]: {k: r[k] for k in FIGURES} for r in body["rows"]}

        _wait(lambda got=got, want=want: got() == want)
        assert got() == want
    totals = client.get("/v1/funnel", params={"by": "dienst"}, headers=AUTH).json()["totals"]
    assert totals["invited"] == len(invited) and totals["answered"] == len(answered)
    assert totals["responseRate"] == round(len(answered) / len(invited), 4)
    assert totals["optedOutCitizens"] == len(opted)


def test_funnel_needs_a_token_that_may_read_and_a_known_grouping(
    system: System, tmp_path: Path
) -> None:
    client = TestClient(system.web)
    assert client.get("/v1/funnel").status_code == 401
    wrong = client.get("/v1/funnel", params={"by": "team"}, headers=AUTH)
    assert wrong.status_code == 400 and "by" in wrong.json()["error"]
    ingest = add_token(tmp_path, "kanaal-systeem", "ingest")
    reader = add_token(tmp_path, "bi-tool", "alerts:read")
    denied = client.get("/v1/funnel", headers={"Authorization": f"Bearer {ingest}"})
    assert denied.status_code == 403
    allowed = client.get("/v1/funnel", headers={"Authorization": f"Bearer {reader}"})
    assert allowed.status_code == 200 and allowed.json()["by"] == "kanaal"


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_funnel_query_on_sqlite_and_postgresql(
    db: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The same events give the same figures on both warehouse databases; an invitation
    answered twice (a revision) or opened twice counts once."""
    url = (
        request.getfixturevalue("postgres_url")
        if db == "postgres"
        else f"sqlite:///{tmp_path / 'w.db'}"
    )
    warehouse = Warehouse(url)
    records, position = [], 0

    def add(type_name: str, data: dict[str, Any]) -> None:
        nonlocal position
        position += 1
        event = new_event(type_name, data, source="/t", key=data["klant"])
        records.append(SinkRecord("t", str(position), event))

    routes = ["email", "sms", "inline", "email"]
    for i, route in enumerate(routes):
        add(
            INVITATION.name,
            {
                "invitationId": f"i{i}",
                "contactId": f"c{i}",
                "klant": klant(800 + i),
                "token": f"token-{i:02d}-abcdefghijklmnop",
                "kanaal": "telefoon" if i < 2 else "balie",
                "dienst": {"code": "afval", "naam": "Afval"},
                "team": "KCC",
                "dispatch": [route],
                "createdAt": "2026-11-23T10:00:00Z",
                "expiresAt": "2026-11-30T10:00:00Z",
            },
        )
    for i, outcome in ((0, "delivered"), (1, "failed"), (3, "delivered"), (3, "reminded")):
        add(
            DISPATCH.name,
            {
                "outcomeId": f"o{i}{outcome}",
                "invitationId": f"i{i}",
                "klant": klant(800 + i),
                "route": routes[i],
                "uitkomst": outcome,
                "op": "2026-11-23T10:05:00Z",
            },
        )
    for n in (1, 2):  # i0 answered, then revised
        add(
            RESPONSE.name,
            {
                "responseId": f"r0-{n}",
                "invitationId": "i0",
                "contactId": "c0",
                "klant": klant(800),
                "answeredAt": f"2026-11-23T11:0{n}:00Z",
                "terugbelToestemming": False,
            },
        )
    add(
        OPT_OUT.name,
        {
            "optOutId": "oo3",
            "klant": klant(803),
            "gegevenOp": "2026-11-24T09:00:00Z",
            "bron": "e-mail",
            "invitationId": "i3",
        },
    )
    warehouse.store(records)
    visits = SqlVisitRecorder(warehouse)
    for stage in ("opened", "opened", "started"):
        visits.record_visit("i2", stage)
    result = funnel(warehouse, "kanaal")
    rows = {r["kanaal"]: {k: r[k] for k in FIGURES} for r in result["rows"]}
    assert rows == {
        "balie": {
            "invited": 2,
            "delivered": 2,
            "opened": 1,
            "started": 1,
            "answered": 0,
            "optedOut": 1,
        },
        "telefoon": {
            "invited": 2,
            "delivered": 1,
            "opened": 1,
            "started": 1,
            "answered": 1,
            "optedOut": 0,
        },
    }
    assert result["totals"]["responseRate"] == 0.25


def test_opening_and_starting_the_questionnaire_are_counted(system: System) -> None:
    client = TestClient(system.web)
    contact = envelope(CONTACT.name, contact_data(klant=klant(900), kanaal="chat"))
    _post(client, [contact])
    rows = _wait(lambda: system.warehouse.invitations_for_contact(contact["data"]["contactId"]))
    token = rows[0]["token"]

    def figures() -> dict[str, int]:
        body = client.get("/v1/funnel", params={"by": "kanaal"}, headers=AUTH).json()
        [row] = body["rows"]
        return {k: row[k] for k in ("invited", "opened", "started", "answered")}

    assert client.get(f"/q/{token}/afmelden").status_code == 200  # not the questionnaire
    assert client.get("/q/" + "x" * 32).status_code == 404  # no such link: nothing counted
    assert figures() == {"invited": 1, "opened": 0, "started": 0, "answered": 0}
    assert client.get(f"/q/{token}").status_code == 200
    assert client.get(f"/q/{token}").status_code == 200  # a reload counts once
    assert figures() == {"invited": 1, "opened": 1, "started": 0, "answered": 0}
    # A first answer with a mistake to correct: started, not answered.
    wrong = client.post(f"/q/{token}", data={"nps": "8", "ces": "12"})
    assert wrong.status_code == 422, wrong.text[:300]
    assert figures() == {"invited": 1, "opened": 1, "started": 1, "answered": 0}
