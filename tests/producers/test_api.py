"""The HTTP edge on the embedded default: acceptance, rejection, privacy, questionnaire, alerts."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pipeline.app import System, build_embedded
from pipeline.identity import contact_key
from pipeline.settings import Settings
from producers.ingestion import IngestionEdge
from schemas.types import CONTACT
from tests.support.events import BSNS, contact_data, envelope

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SINGLE = {**AUTH, "Content-Type": "application/cloudevents+json"}
BATCH = {**AUTH, "Content-Type": "application/cloudevents-batch+json"}


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    settings = Settings(data_dir=tmp_path, api_token=TOKEN, link_key="k", pseudonym_key="p")
    built = build_embedded(settings)
    built.runtime.start()  # type: ignore[union-attr]
    yield built
    built.close()


@pytest.fixture
def client(system: System) -> TestClient:
    return TestClient(system.web)


def _contact(**overrides) -> dict:
    return envelope(CONTACT.name, contact_data(**overrides))


def _post(client: TestClient, body: object, headers: dict = SINGLE):
    return client.post("/v1/events", content=json.dumps(body), headers=headers)


def _wait(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_valid_contact_is_accepted_with_its_id(client: TestClient) -> None:
    event = _contact()
    response = _post(client, event)
    assert response.status_code == 202
    assert response.json()["accepted"][0]["id"] == event["id"]


def test_the_api_lets_the_edge_take_its_parsed_body_apart_in_place(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body is parsed for this request alone and never read again, so the API hands
    it to the edge as `owned` (no deep copy per event; tests/producers/test_ingestion_edge.py):
    a small single event (prepared on the event loop) and a batch (in a thread)."""
    calls: list[tuple[bool, bool]] = []
    prepare = IngestionEdge.prepare

    def spy(self: IngestionEdge, items: Any, *, batch: bool, owned: bool = False) -> Any:
        calls.append((batch, owned))
        return prepare(self, items, batch=batch, owned=owned)

    monkeypatch.setattr(IngestionEdge, "prepare", spy)
    assert _post(client, _contact()).status_code == 202
    assert _post(client, [_contact(), _contact()], BATCH).status_code == 202
    assert calls == [(False, True), (True, True)]  # (batch, owned)


def test_no_token_is_401(client: TestClient) -> None:
    response = client.post(
        "/v1/events",
        content=json.dumps(_contact()),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert response.status_code == 401
    assert client.get("/v1/alerts").status_code == 401
    wrong = client.get("/v1/alerts", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_malformed_json_is_400_naming_the_problem(client: TestClient) -> None:
    response = client.post("/v1/events", content=b'{"specversion": "1.0",', headers=SINGLE)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]


def test_not_a_cloudevent_is_422_with_pointers(client: TestClient) -> None:
    response = _post(client, {"hello": "world"})
    assert response.status_code == 422
    pointers = {p["pointer"] for p in response.json()["problems"]}
    assert {"/specversion", "/id", "/source", "/type"} <= pointers


def test_contact_without_kanaal_names_the_field(client: TestClient) -> None:
    event = _contact()
    del event["data"]["kanaal"]
    response = _post(client, event)
    assert response.status_code == 422
    problem = response.json()["problems"][0]
    assert problem["pointer"] == "/data/kanaal"
    assert problem["rule"] == "required"


def test_unknown_event_type_is_rejected(client: TestClient) -> None:
    event = _contact()
    event["type"] = "nl.klantsignaal.contact.v9"
    response = _post(client, event)
    assert response.status_code == 422
    assert response.json()["problems"][0]["pointer"] == "/type"


def test_pipeline_internal_types_cannot_be_posted(client: TestClient) -> None:
    event = envelope("nl.klantsignaal.alert.v1", {"alertId": "x"})
    assert _post(client, event).status_code == 422


def test_twelve_megabyte_body_is_413(client: TestClient) -> None:
    big = b'{"data": "' + b"x" * (12 * 1024 * 1024) + b'"}'
    response = client.post("/v1/events", content=big, headers=SINGLE)
    assert response.status_code == 413


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        "/v1/events",
        content=b"kanaal=telefoon",
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


def test_batch_is_all_or_nothing(client: TestClient, system: System) -> None:
    good = _contact()
    bad = _contact()
    bad["data"]["taal"] = "Nederlands"
    response = _post(client, [good, bad], BATCH)
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert [p["pointer"] for p in problems] == ["/1/data/taal"]
    time.sleep(0.3)
    assert system.runtime.log.records("contact-events") == []  # type: ignore[union-attr]
    assert system.warehouse.count("contacts") == 0
    accepted = _post(client, [good, _contact()], BATCH)
    assert accepted.status_code == 202
    assert len(accepted.json()["accepted"]) == 2


def test_bsn_and_addresses_never_reach_topics_or_warehouse(
    client: TestClient, system: System
) -> None:
    data = contact_data(inhoud="Bel mij op 06-12345678 of mail piet@example.org, BSN 111222333")
    del data["klant"]
    data["bsn"] = BSNS[0]
    data["bereikbaarheid"] = {"enqueteToestemming": True, "email": "piet@example.org"}
    assert _post(client, envelope(CONTACT.name, data)).status_code == 202
    _wait(lambda: system.warehouse.count("invitations") == 1)
    # WAL mode: recent rows live in the -wal files, so read those too.
    everything = b"".join(
        path.read_bytes()
        for path in system.settings.data_dir.iterdir()
        if path.name.startswith(("log.db", "warehouse.db"))
    )
    for secret in (BSNS[0].encode(), b"111222333", b"piet@example.org", b"06-12345678"):
        assert secret not in everything
    contact = system.runtime.log.records("contact-events")[0]["data"]  # type: ignore[union-attr]
    assert re.fullmatch(r"k-[0-9a-f]{32}", contact["klant"])
    assert contact["bereikbaarheid"]["kanalen"] == ["email"]
    # Dispatch, and only dispatch, has the address.
    from consumers.dispatch import SqlAddressBook

    book = SqlAddressBook(system.settings.dispatch)
    key = contact_key(contact["klant"], contact["contactId"])
    assert book.lookup(key) == ("piet@example.org", None)


def test_envelope_extensions_and_subject_do_not_travel(client: TestClient, system: System) -> None:
    event = _contact()
    event["bsn"] = BSNS[2]  # an extension attribute a careless sender adds
    event["subject"] = "jan@example.nl"
    event["partitionkey"] = "jan@example.nl"
    assert _post(client, event).status_code == 202
    [stored] = system.runtime.log.records("contact-events")  # type: ignore[union-attr]
    assert "bsn" not in stored and "subject" not in stored
    assert stored["partitionkey"] == event["data"]["klant"]


def test_no_address_is_kept_without_consent(client: TestClient, system: System) -> None:
    event = _contact(bereikbaarheid={"enqueteToestemming": False, "email": "x@example.org"})
    assert _post(client, event).status_code == 202
    from consumers.dispatch import SqlAddressBook

    key = contact_key(event["data"]["klant"], event["data"]["contactId"])
    assert SqlAddressBook(system.settings.dispatch).lookup(key) is None


@pytest.mark.parametrize(
    "body",
    [
        {"specversion": "1.0", "id": "x", "source": "/s", "type": [], "data": {}},
        {"specversion": "1.0", "id": 5, "source": "/s", "type": CONTACT.name, "data": {}},
        {"specversion": "1.0", "id": "x", "source": "/s", "type": CONTACT.name, "data": []},
        envelope(
            CONTACT.name, contact_data(bereikbaarheid={"enqueteToestemming": True, "kanalen": 5})
        ),
        envelope(
            CONTACT.name, contact_data(bereikbaarheid={"enqueteToestemming": True, "email": 5})
        ),
        envelope(CONTACT.name, contact_data(plaatsgevondenOp="0001-01-01T00:30:00+01:00")),
        envelope(CONTACT.name, contact_data(onderwerp="nul\x00byte")),
        envelope(CONTACT.name, contact_data(contactId="x" * 500)),
    ],
)
def test_malformed_events_get_422_not_500(client: TestClient, body: dict) -> None:
    response = _post(client, body)
    assert response.status_code == 422, response.text
    assert response.json()["problems"]


def test_deeply_nested_json_is_400(client: TestClient) -> None:
    deep = "[" * 5000 + "]" * 5000
    assert client.post("/v1/events", content=deep, headers=SINGLE).status_code == 400
    nested: dict = {}
    node = nested
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    assert _post(client, envelope(CONTACT.name, nested)).status_code == 400


def test_odd_query_and_header_values_are_4xx(client: TestClient) -> None:
    assert (
        client.get("/v1/alerts", headers={"Authorization": "Bearer é".encode()}).status_code == 401
    )
    for query in ("limit=-1", "limit=abc", "since=9999-12-31T23:59:59-01:00", "status=weg"):
        assert client.get(f"/v1/alerts?{query}", headers=AUTH).status_code == 400, query
    assert client.get("/v1/alerts?since=2026-01-01", headers=AUTH).status_code == 200


def test_invalid_bsn_is_rejected(client: TestClient) -> None:
    data = contact_data()
    del data["klant"]
    data["bsn"] = "123456789"  # fails the elfproef
    response = _post(client, envelope(CONTACT.name, data))
    assert response.status_code == 422
    assert response.json()["problems"][0]["pointer"] == "/data/bsn"


def test_questionnaire_to_alert_in_the_warehouse(client: TestClient, system: System) -> None:
    event = _contact(team="Burgerzaken")
    contact_id = event["data"]["contactId"]
    assert _post(client, event).status_code == 202

    def invitation_url() -> str | None:
        params = {"contact_id": contact_id, "source": event["source"]}
        found = client.get("/v1/invitations", params=params, headers=AUTH).json()
        return found["invitations"][0]["url"] if found["invitations"] else None

    path = "/" + _wait(invitation_url).split("/", 3)[3]
    page = client.get(path)
    assert page.status_code == 200
    assert "Hoe makkelijk was het om dit te regelen?" in page.text
    assert 'lang="nl"' in page.text
    step1 = {
        "ces": "1",
        "nps": "0",
        "rapportcijfer": "2",
        "contact": "telefoon",
        "telefoon": "06 12345678",
        "nps_opmerking": "Drie keer doorverwezen en niemand wist het. Schandalig!",
    }
    followup = client.post(path, data=step1)  # very negative: "Wat ging er mis?" first
    assert followup.status_code == 200
    assert "Wat ging er mis?" in followup.text
    assert system.warehouse.count("responses") == 0
    answered = client.post(path, data={**step1, "stap": "2", "oorzaak": "doorverwezen"})
    assert answered.status_code == 200
    assert "Bedankt" in answered.text
    started = time.monotonic()
    alerts = _wait(lambda: client.get("/v1/alerts", headers=AUTH).json()["alerts"], 2.0)
    assert time.monotonic() - started < 2.0
    alert = alerts[0]
    assert alert["contactId"] == contact_id
    assert alert["team"] == "Burgerzaken"
    assert alert["status"] == "open"
    assert client.get("/v1/alerts?team=Anders", headers=AUTH).json()["alerts"] == []
    assert client.get("/v1/alerts?status=afgehandeld", headers=AUTH).json()["alerts"] == []
    assert client.get("/v1/alerts?since=2999-01-01T00:00:00Z", headers=AUTH).json()["alerts"] == []
    assert client.get("/v1/alerts?since=gisteren", headers=AUTH).status_code == 400
    _wait(lambda: system.warehouse.count("alerts") == 1)
    for table in ("contacts", "invitations", "responses", "signals", "alerts"):
        assert system.warehouse.count(table) == 1, table
    # Within the hour the answers can be changed: the form shows them again.
    assert "nog wijzigen" in client.get(path).text


def test_questionnaire_validates_answers_in_dutch(client: TestClient, system: System) -> None:
    event = _contact()
    _post(client, event)
    contact_id = event["data"]["contactId"]
    url = _wait(
        lambda: client.get(
            "/v1/invitations",
            params={"contact_id": contact_id, "source": event["source"]},
            headers=AUTH,
        ).json()["invitations"]
    )[0]["url"]
    path = "/" + url.split("/", 3)[3]
    page = client.post(path, data={"nps": "11"})
    assert page.status_code == 422
    assert "Kies bij vraag 2 een cijfer van 0 tot en met 10" in page.text
    assert client.get("/q/onbekend-token-123456").status_code == 404


def test_mixed_batch_goes_to_each_topic_in_one_go(client: TestClient, system: System) -> None:
    feedback = envelope(
        "nl.klantsignaal.page-feedback.v1",
        {
            "feedbackId": "f-1",
            "pagina": "https://www.voorbeeldstad.nl/paspoort",
            "beoordeling": "slecht",
            "opmerking": "Ik kan nergens vinden hoe ik een afspraak maak.",
            "gegevenOp": "2026-11-23T10:00:00Z",
        },
    )
    response = _post(client, [_contact(), feedback], BATCH)
    assert response.status_code == 202
    assert [a["topic"] for a in response.json()["accepted"]] == ["contact-events", "page-feedback"]
    _wait(lambda: system.warehouse.count("page_feedback") == 1)
    _wait(lambda: system.warehouse.count("signals") == 1)  # page feedback is scored too
