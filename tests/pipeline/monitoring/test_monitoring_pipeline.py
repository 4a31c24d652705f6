"""The monitor end to end on the embedded runtime: a drop injected through the real pipeline
becomes a service alert in the warehouse and at GET /v1/service-alerts, and so does the
recovery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.app import System, build_embedded
from pipeline.times import iso
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, RESPONSE, SERVICE_ALERT
from tests.support.events import contact_event, envelope, klant

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BAD_COMMENT = "Heel slecht geholpen, niemand belt terug. Mail me op jan.jansen@example.nl"
GOOD_COMMENT = "Prima geholpen, vriendelijke medewerker."


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    from pipeline.settings import Settings

    settings = Settings(
        data_dir=tmp_path,
        api_token=TOKEN,
        link_key="k",
        pseudonym_key="p",
        monitor_warmup_min=40,
        monitor_warmup_days=0,
        monitor_arl0=300,
    )
    built = build_embedded(settings)
    yield built
    built.close()


class Feed:
    """Contacts and answers for one service and channel, one minute apart, ending ~now."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.n = 0
        self.start = datetime.now(UTC) - timedelta(days=5)

    def answers(self, scores: list[int], comment: str) -> None:
        contacts: list[CloudEvent] = []
        responses: list[CloudEvent] = []
        for score in scores:
            self.n += 1
            at = self.start + timedelta(minutes=2 * self.n)
            contact = contact_event(klant=klant(100 + self.n), plaatsgevondenOp=iso(at))
            data = {
                "responseId": f"r-{self.n}",
                "invitationId": f"i-{self.n}",
                "contactId": contact.data["contactId"],
                "klant": contact.data["klant"],
                "answeredAt": iso(at + timedelta(minutes=1)),
                "terugbelToestemming": False,
                "nps": {"score": score, "opmerking": comment if score <= 6 else GOOD_COMMENT},
            }
            raw = envelope(RESPONSE.name, data, partitionkey=data["klant"])
            contacts.append(contact)
            responses.append(CloudEvent.from_structured(raw))
        self.system.publisher.publish_many({CONTACT.topic: contacts, RESPONSE.topic: responses})
        self.system.runtime.run_until_idle()  # type: ignore[union-attr]


def _service_alerts(system: System) -> list[dict]:
    return [r["data"] for r in system.runtime.log.records(SERVICE_ALERT.topic)]  # type: ignore[union-attr]


def test_drop_becomes_service_alert_with_evidence_then_recovers(system: System) -> None:
    client = TestClient(system.web)
    feed = Feed(system)
    # Warm-up: 40 answers, 8 detractors (20%).
    feed.answers(([3] + [9] * 4) * 8, "Niet zo goed.")
    assert _service_alerts(system) == []
    # The drop: only detractors.
    feed.answers([2] * 30, BAD_COMMENT)
    opened = [a for a in _service_alerts(system) if a["metriek"] == "aandeel-detractors"]
    assert len(opened) == 1, opened
    alert = opened[0]
    assert alert["status"] == "open"
    assert alert["dienst"]["code"] == "paspoort" and alert["kanaal"] == "telefoon"
    evidence = alert["bewijs"]
    assert evidence["basislijn"] == pytest.approx(8.5 / 41, abs=0.001)
    assert evidence["statistiek"] >= evidence["limiet"]
    assert alert["waarde"] >= alert["drempel"] > evidence["basislijn"]
    assert evidence["aantalSlecht"] <= evidence["aantal"] == alert["aantal"]
    assert evidence["voorbeeldOpmerkingen"], "examples of what citizens wrote"
    assert all("@" not in c for c in evidence["voorbeeldOpmerkingen"]), "comments are scrubbed"
    assert alert["venster"] == f"{evidence['vensterStart']}/{evidence['vensterEinde']}"
    # In the warehouse and at the API, open.
    assert system.warehouse.count("service_alerts") >= 1
    body = client.get("/v1/service-alerts", headers=AUTH).json()
    assert alert["serviceAlertId"] in {a["serviceAlertId"] for a in body["open"]}
    assert alert["serviceAlertId"] in {a["serviceAlertId"] for a in body["recent"]}
    # Back to normal: the recovery chart needs as much evidence as the alarm did.
    feed.answers([9] * 150, GOOD_COMMENT)
    recovered = [
        a
        for a in _service_alerts(system)
        if a["metriek"] == "aandeel-detractors" and a["status"] == "hersteld"
    ]
    assert len(recovered) == 1
    assert recovered[0]["herstelVan"] == alert["serviceAlertId"]
    assert recovered[0]["waarde"] <= recovered[0]["drempel"]
    body = client.get("/v1/service-alerts?dienst=paspoort", headers=AUTH).json()
    assert alert["serviceAlertId"] not in {a["serviceAlertId"] for a in body["open"]}
    statuses = {a["serviceAlertId"]: a["status"] for a in body["recent"]}
    assert statuses[alert["serviceAlertId"]] == "open"
    assert statuses[recovered[0]["serviceAlertId"]] == "hersteld"
    # Contacts all succeeded: that chart stayed quiet.
    assert not [a for a in _service_alerts(system) if a["metriek"] == "aandeel-contact-niet-gelukt"]


def test_replaying_the_log_gives_the_same_alerts(system: System, tmp_path: Path) -> None:
    feed = Feed(system)
    feed.answers(([3] + [9] * 4) * 8 + [2] * 30, BAD_COMMENT)
    first = {a["serviceAlertId"] for a in _service_alerts(system)}
    assert first
    # Same events again (at-least-once delivery upstream): no new alerts, no double counts.
    log = system.runtime.log  # type: ignore[union-attr]
    again = [CloudEvent.from_structured(r) for r in log.records(RESPONSE.topic)]
    system.publisher.publish(RESPONSE.topic, again)
    system.runtime.run_until_idle()  # type: ignore[union-attr]
    assert {a["serviceAlertId"] for a in _service_alerts(system)} == first


def test_service_alerts_api_needs_token_and_checks_parameters(system: System) -> None:
    client = TestClient(system.web)
    assert client.get("/v1/service-alerts").status_code == 401
    bad = client.get("/v1/service-alerts?since=gisteren", headers=AUTH)
    assert bad.status_code == 400 and "since" in bad.json()["error"]
    bad = client.get("/v1/service-alerts?status=dicht", headers=AUTH)
    assert bad.status_code == 400 and "status" in bad.json()["error"]
    ok = client.get("/v1/service-alerts", headers=AUTH)
    assert ok.status_code == 200 and ok.json()["open"] == []


def test_who_may_read_service_alerts_and_measures(system: System) -> None:
    from pipeline.web.accounts import AccountStore

    store = AccountStore(system.settings.accounts)
    reader = store.add_token("bi-tool", "alerts:read", [])
    team_only = store.add_token("team-kcc", "alerts:read", ["KCC"])
    ingest = store.add_token("kanaal", "ingest", [])
    client = TestClient(system.web)

    def status(path: str, token: str) -> int:
        return client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code

    assert status("/v1/service-alerts", reader) == 200
    assert status("/v1/measures", reader) == 200
    # Service alerts are about services; a token limited to a team does not get them.
    assert status("/v1/service-alerts", team_only) == 403
    assert status("/v1/service-alerts", ingest) == 403
    assert status("/v1/measures", ingest) == 403
    assert status("/v1/measures", "wrong") == 401


def test_roles_for_service_alerts_and_measures() -> None:
    from consumers.measures_api import may_read_measures
    from consumers.service_alerts_api import may_read_service_alerts
    from pipeline.web.authz import Principal

    def user(role: str) -> Principal:
        return Principal(name=role, kind="user", role=role)

    assert [
        r
        for r in ("caseworker", "coordinator", "analyst", "admin")
        if may_read_service_alerts(user(r))
    ] == ["coordinator", "admin"]
    assert [
        r for r in ("caseworker", "coordinator", "analyst", "admin") if may_read_measures(user(r))
    ] == ["coordinator", "analyst", "admin"]
