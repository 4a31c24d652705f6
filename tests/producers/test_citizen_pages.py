"""The citizen pages over HTTP on the embedded default: revisions, bad links, limits,
opt-out, language and the page-feedback endpoint. (The browser tests are in
tests/producers/test_browser_citizen.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from consumers.callback_book import CallbackFirst, SqlCallbackBook
from consumers.dispatch import SqlAddressBook
from consumers.warehouse_revisions import response_details
from pipeline.app import System, build_embedded
from pipeline.ports import SinkRecord
from pipeline.settings import Settings
from schemas.cloudevents import new_event
from schemas.models import Dienst, Invitation
from schemas.types import (
    CONTACT,
    INVITATION,
    MONITOR_OBSERVATION,
    OPT_OUT,
    PAGE_FEEDBACK,
    RESPONSE,
)
from tests.support.events import contact_data, envelope, klant
from tests.support.observations import observations

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ORIGIN = "http://127.0.0.1:9876"
VERY_NEGATIVE = {
    "ces": "1",
    "nps": "0",
    "rapportcijfer": "2",
    "nps_opmerking": "Drie keer doorverwezen en niemand wist het. Schandalig!",
    "contact": "telefoon",
    "telefoon": "06 11223344",
}


def _system(tmp_path: Path, **overrides) -> System:
    settings = Settings(
        data_dir=tmp_path,
        api_token=TOKEN,
        link_key="k",
        pseudonym_key="p",
        widget_origins=ORIGIN,
        **overrides,
    )
    built = build_embedded(settings)
    built.runtime.start()  # type: ignore[union-attr]
    return built


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    built = _system(tmp_path)
    yield built
    built.close()


@pytest.fixture
def client(system: System) -> TestClient:
    return TestClient(system.web)


def _wait(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _link(client: TestClient, **overrides) -> str:
    event = envelope(CONTACT.name, contact_data(**overrides))
    posted = client.post(
        "/v1/events",
        content=json.dumps(event),
        headers={**AUTH, "Content-Type": "application/cloudevents+json"},
    )
    assert posted.status_code == 202, posted.text
    contact_id = event["data"]["contactId"]
    found = _wait(
        lambda: client.get(
            "/v1/invitations",
            params={"contact_id": contact_id, "source": event["source"]},
            headers=AUTH,
        ).json()["invitations"]
    )
    return "/" + found[0]["url"].split("/", 3)[3]


def _events(system: System, topic: str) -> list[dict]:
    return system.runtime.log.records(topic)  # type: ignore[union-attr]


def test_a_revision_replaces_the_answers_and_keeps_one_alert(
    client: TestClient, system: System
) -> None:
    path = _link(client, team="Burgerzaken")
    assert "Wat ging er mis?" in client.post(path, data=VERY_NEGATIVE).text
    done = client.post(path, data={**VERY_NEGATIVE, "stap": "2", "oorzaak": "doorverwezen"})
    assert done.status_code == 200 and "Bedankt" in done.text
    _wait(lambda: system.warehouse.count("alerts") == 1)

    again = client.get(path)  # within the hour: the stored answers, to change
    assert "nog wijzigen" in again.text
    assert 'value="0" checked' in again.text  # NPS 0 as given
    revised = {**VERY_NEGATIVE, "nps": "2", "nps_opmerking": "Toch nog teleurgesteld."}
    client.post(path, data=revised)
    assert "Bedankt" in client.post(path, data={**revised, "stap": "2"}).text

    responses = _events(system, RESPONSE.topic)
    assert [r["data"]["revisie"] for r in responses] == [1, 2]
    assert len({r["data"]["responseId"] for r in responses}) == 1
    assert len({r["id"] for r in responses}) == 2  # two events, one response

    def latest_stored() -> bool:
        with system.warehouse.engine.connect() as conn:
            row = conn.execute(select(response_details)).first()
        return row is not None and row.revisie == 2

    _wait(latest_stored)
    _wait(lambda: len(_events(system, "scored-signals")) == 2)
    system.runtime.run_until_idle()  # type: ignore[union-attr]
    for table in ("responses", "signals", "alerts"):
        assert system.warehouse.count(table) == 1, table
    observed = {
        o["observationId"]
        for o in observations(_events(system, MONITOR_OBSERVATION.topic))
        if o["bron"] == "response"
    }
    assert len(observed) == 1  # the service monitor counts the response once
    with system.warehouse.engine.connect() as conn:
        nps = conn.exec_driver_sql("SELECT nps, nps_opmerking FROM responses").one()
    assert tuple(nps) == (2, "Toch nog teleurgesteld.")

    # A replay of everything (as after a crash) changes nothing: the latest still wins.
    records = [
        SinkRecord(topic, str(i), __import__("schemas").cloudevents.CloudEvent.from_structured(r))
        for topic in (RESPONSE.topic, "scored-signals")
        for i, r in enumerate(_events(system, topic))
    ]
    system.warehouse.store(records)
    with system.warehouse.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT nps FROM responses").scalar_one() == 2
        assert conn.exec_driver_sql("SELECT nps FROM signals").scalar_one() == 2
    assert system.warehouse.count("alerts") == 1


def test_after_the_window_the_link_is_used_up_and_makes_no_event(tmp_path: Path) -> None:
    system = _system(tmp_path, revision_minutes=0)
    try:
        client = TestClient(system.web)
        path = _link(client)
        answer = {"ces": "4", "nps": "8", "rapportcijfer": "7"}
        assert "Bedankt" in client.post(path, data=answer).text
        _wait(lambda: system.warehouse.count("responses") == 1)
        page = client.get(path)
        assert page.status_code == 200 and "al ingevuld" in page.text
        assert "<form" not in page.text
        assert client.post(path, data=answer).status_code == 409
        assert len(_events(system, RESPONSE.topic)) == 1
    finally:
        system.close()


def test_expired_and_forged_links_get_a_friendly_page_and_no_event(
    client: TestClient, system: System
) -> None:
    expired = Invitation(
        invitation_id="inv-verlopen",
        contact_id="c-verlopen",
        klant=klant(1),
        token="verlopen-token-0123456789",
        kanaal="telefoon",
        dienst=Dienst(code="paspoort", naam="Paspoort aanvragen"),
        team="KCC",
        dispatch=("inline",),
        created_at="2026-01-01T10:00:00Z",
        expires_at=(datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    )
    event = new_event(INVITATION.name, expired.to_dict(), source="/test", key=expired.klant)
    system.warehouse.store([SinkRecord(INVITATION.topic, "1", event)])
    page = client.get("/q/verlopen-token-0123456789")
    assert page.status_code == 410 and "Deze vragenlijst is verlopen" in page.text
    posted = client.post("/q/verlopen-token-0123456789", data={"ces": "1"})
    assert posted.status_code == 410
    for forged in ("Zm9yZ2VkLXRva2VuLTAxMjM0NTY3ODk", "kort", "a" * 65, "ab%21cd%40ef-0123456789"):
        page = client.get(f"/q/{forged}")
        assert page.status_code == 404, forged
        assert "Deze link werkt niet" in page.text
        assert client.post(f"/q/{forged}", data={"ces": "1"}).status_code == 404
    assert _events(system, RESPONSE.topic) == []
    assert _events(system, OPT_OUT.topic) == []


def test_huge_score_and_long_comments_are_dutch_field_errors(
    client: TestClient, system: System
) -> None:
    path = _link(client)
    page = client.post(path, data={"ces": "9" * 4301})
    assert page.status_code == 422
    assert "Kies bij vraag 1 een cijfer van 1 tot en met 5." in page.text
    assert 'href="#ces-1"' in page.text  # the error summary links to the field
    started = time.monotonic()
    page = client.post(path, data={"nps": "3", "nps_opmerking": "a." * 20_000})
    assert page.status_code in (413, 422)
    assert time.monotonic() - started < 2.0
    page = client.post(path, data={"nps": "3", "nps_opmerking": "a" * 2001})
    assert page.status_code == 422
    assert "te lang" in page.text and 'href="#nps_opmerking"' in page.text
    page = client.post(path, data={"nps": "8", "contact": "telefoon", "telefoon": "bel maar"})
    assert page.status_code == 422 and 'href="#telefoon"' in page.text
    assert _events(system, RESPONSE.topic) == []


def test_rate_limit_per_link(tmp_path: Path) -> None:
    system = _system(tmp_path, rate_per_link=5, rate_per_address=1000)
    try:
        client = TestClient(system.web)
        path, other = _link(client, klant=klant(1)), _link(client, klant=klant(2))
        statuses = [client.get(path).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        busy = client.get(path)
        assert int(busy.headers["Retry-After"]) >= 1 and "Even geduld" in busy.text
        assert client.get(other).status_code == 200  # another link is not affected
    finally:
        system.close()


def test_opt_out_publishes_for_the_klant_of_the_invitation(
    client: TestClient, system: System
) -> None:
    path = _link(client, klant=klant(2))
    assert f'href="{path}/afmelden"' in client.get(path).text
    confirm = client.get(path + "/afmelden?bron=e-mail")
    assert confirm.status_code == 200
    assert "Geen vragenlijsten meer ontvangen" in confirm.text
    assert _events(system, OPT_OUT.topic) == []  # a GET changes nothing
    done = client.post(path + "/afmelden", data={"bron": "e-mail"})
    assert done.status_code == 200 and "U krijgt geen vragenlijsten meer" in done.text
    client.post(path + "/afmelden", data={"bron": "e-mail"})  # twice: the same opt-out
    events = _events(system, OPT_OUT.topic)
    assert {e["id"] for e in events} == {events[0]["id"]}
    assert events[0]["data"]["klant"] == klant(2)
    assert events[0]["data"]["bron"] == "e-mail"
    assert events[0]["partitionkey"] == klant(2)
    _wait(lambda: system.warehouse.count("opt_outs") == 1)


def test_english_for_eng_contacts_and_english_browsers(client: TestClient) -> None:
    english = client.get(_link(client, taal="eng"))
    assert 'lang="en"' in english.text and "How easy was it to arrange this?" in english.text
    path = _link(client, klant=klant(1))
    assert 'lang="nl"' in client.get(path).text
    browser = client.get(path, headers={"Accept-Language": "en-GB,en;q=0.9,nl;q=0.5"})
    assert 'lang="en"' in browser.text
    dutch_first = client.get(path, headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.8"})
    assert 'lang="nl"' in dutch_first.text


def test_callback_number_only_in_dispatch_database(
    client: TestClient, system: System, tmp_path: Path
) -> None:
    path = _link(client)
    client.post(path, data=VERY_NEGATIVE)
    client.post(path, data={**VERY_NEGATIVE, "stap": "2"})
    response = _events(system, RESPONSE.topic)[0]["data"]
    assert response["contactVia"] == "telefoon" and response["terugbelToestemming"] is True
    book = SqlCallbackBook(system.settings.dispatch)
    assert book.callback(response["responseId"]) == ("telefoon", "06 11223344")
    # What the caseworker's inbox is given as the contact details of this contact:
    details = CallbackFirst(book, SqlAddressBook(system.settings.dispatch))
    assert details.lookup_for(response["klant"], response["contactId"]) == (None, "06 11223344")
    _wait(lambda: system.warehouse.count("responses") == 1)
    for name in ("warehouse.db", "warehouse.db-wal", "log.db", "log.db-wal"):
        if (tmp_path / name).exists():
            assert b"11223344" not in (tmp_path / name).read_bytes(), name


def test_page_feedback_endpoint_checks_origin_and_fields(
    client: TestClient, system: System
) -> None:
    form = {
        "beoordeling": "slecht",
        "opmerking": "Ik vind het formulier niet.",
        "pagina": "https://www.voorbeeldstad.nl/paspoort?bsn=123456782",
        "antwoord": "json",
    }
    refused = client.post("/feedback", data=form, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    accepted = client.post("/feedback", data=form, headers={"Origin": ORIGIN})
    assert accepted.status_code == 202
    assert accepted.headers["Access-Control-Allow-Origin"] == ORIGIN
    preflight = client.options("/feedback", headers={"Origin": ORIGIN})
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    plain = client.post("/feedback", data={**form, "antwoord": ""})  # the no-JS form
    assert plain.status_code == 200 and "Bedankt voor uw reactie!" in plain.text
    missing = client.post("/feedback", data={"pagina": form["pagina"]})
    assert missing.status_code == 422 and "Kies een smiley" in missing.text
    events = _events(system, PAGE_FEEDBACK.topic)
    assert len(events) == 2
    assert events[0]["data"]["pagina"] == "https://www.voorbeeldstad.nl/paspoort"
    assert events[0]["data"]["beoordeling"] == "slecht"
    script = client.get("/widget.js")
    assert script.status_code == 200 and "text/javascript" in script.headers["content-type"]
    fallback = client.get("/feedback?pagina=https://www.voorbeeldstad.nl/x")
    assert "frame-ancestors 'self' " + ORIGIN in fallback.headers["Content-Security-Policy"]


def test_opening_and_answering_feed_the_funnel(client: TestClient, system: System) -> None:
    answered, only_opened = _link(client, klant=klant(1)), _link(client, klant=klant(2))
    client.get(answered)
    client.get(answered)  # twice: one invitation opened
    client.post(answered, data={"nps": "8"})
    client.get(only_opened)

    def totals() -> dict | None:
        found = client.get("/v1/funnel?by=kanaal", headers=AUTH).json()["totals"]
        return found if found["answered"] == 1 else None

    figures = _wait(totals)
    assert (figures["invited"], figures["opened"], figures["started"]) == (2, 2, 1)
