"""The inbox and the alerts API over HTTP against `klantsignaal run`: who sees what, CSRF,
lock-out, scoped tokens, status events into the warehouse, InterneTaak, inert comments."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.inbox_helpers import (
    add_token,
    add_user,
    alert_for,
    answer,
    cli,
    csrf_of,
    sign_in,
)
from tests.support.live_server import LiveServer, live_server, poll

XSS = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> "
    '<a href="javascript:alert(3)">x</a> {{7*7}} waardeloos'
)


@dataclass
class World:
    server: LiveServer
    data: Path
    alert_a: dict
    alert_b: dict


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("inbox-http")
    with live_server(workdir) as server:
        data = workdir / "data"
        # Added while the server runs: they must work at once.
        add_user(data, "anna", "caseworker", "KCC")
        add_user(data, "bram", "caseworker", "Burgerzaken")
        add_user(data, "carla", "coordinator")
        add_user(data, "dirk", "analyst")
        contact_a, _ = answer(server, team="KCC", comment=XSS)
        contact_b, _ = answer(server, team="Burgerzaken", consent=True)
        yield World(server, data, alert_for(server, contact_a), alert_for(server, contact_b))


def test_security_headers_on_every_page(world: World) -> None:
    for path in ("/login", "/inbox", "/v1/alerts", "/healthz", "/q/unknown-token"):
        headers = httpx.get(world.server.base + path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    for path in ("/login", "/inbox"):
        assert httpx.get(world.server.base + path).headers["cache-control"] == "no-store"


def test_caseworker_sees_only_own_team(world: World) -> None:
    anna = sign_in(world.server.base, "anna")
    a_id, b_id = world.alert_a["alertId"], world.alert_b["alertId"]
    listing = anna.get("/inbox").text
    assert f"/inbox/{a_id}" in listing and f"/inbox/{b_id}" not in listing
    assert anna.get(f"/inbox/{a_id}").status_code == 200
    assert anna.get(f"/inbox/{b_id}").status_code == 404  # guessed URL of team B
    assert anna.get("/inbox/does-not-exist").status_code == 404
    assert [a["alertId"] for a in anna.get("/v1/alerts").json()["alerts"]] == [a_id]
    assert anna.get(f"/v1/alerts/{b_id}").status_code == 404
    assert anna.get(f"/v1/alerts/{b_id}/internetaak").status_code == 404
    csrf = csrf_of(anna.get(f"/inbox/{a_id}").text)
    refused = anna.post(f"/inbox/{b_id}/actie", data={"csrf": csrf, "handeling": "claim"})
    assert refused.status_code == 404
    refused = anna.post(f"/inbox/{b_id}/sentiment", data={"csrf": csrf, "label": "pos"})
    assert refused.status_code == 404
    # Team filter for another team shows nothing either.
    assert f"/inbox/{b_id}" not in anna.get("/inbox", params={"team": "Burgerzaken"}).text
    # Only a coordinator assigns.
    assigned = anna.post(
        f"/inbox/{a_id}/actie",
        data={"csrf": csrf, "handeling": "toewijzen", "toegewezen_aan": "anna"},
    )
    assert assigned.status_code == 403


def test_analyst_sees_no_personal_data(world: World) -> None:
    dirk = sign_in(world.server.base, "dirk")
    for path in (
        "/inbox",
        f"/inbox/{world.alert_a['alertId']}",
        f"/inbox/{world.alert_a['alertId']}?contactgegevens=toon",
        "/v1/alerts",
        f"/v1/alerts/{world.alert_a['alertId']}",
        f"/v1/alerts/{world.alert_a['alertId']}/internetaak",
    ):
        response = dirk.get(path)
        assert response.status_code == 403, path
        body = response.text
        assert world.alert_a["klant"] not in body
        assert "06-12345678" not in body and "waardeloos" not in body.lower()


def test_tokens_are_scoped(world: World) -> None:
    base = world.server.base
    ingest = add_token(world.data, "website", "ingest")
    reader_b = add_token(world.data, "zaaksysteem-b", "alerts:read", "Burgerzaken")
    assert ingest.startswith("ks_") and reader_b.startswith("ks_")
    bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    assert httpx.get(base + "/v1/alerts", headers=bearer(ingest)).status_code == 403
    one = f"/v1/alerts/{world.alert_a['alertId']}"
    assert httpx.get(base + one, headers=bearer(ingest)).status_code == 403
    invitations = httpx.get(base + "/v1/invitations?contact_id=x&source=/x", headers=bearer(ingest))
    assert invitations.status_code == 200
    seen = httpx.get(base + "/v1/alerts", headers=bearer(reader_b)).json()["alerts"]
    assert [a["alertId"] for a in seen] == [world.alert_b["alertId"]]
    assert httpx.get(base + one, headers=bearer(reader_b)).status_code == 404
    posted = httpx.post(
        base + "/v1/events",
        headers={**bearer(reader_b), "Content-Type": "application/cloudevents+json"},
        content=b"{}",
    )
    assert posted.status_code == 403
    assert httpx.get(base + "/v1/alerts", headers=bearer("ks_guessed")).status_code == 401
    # The legacy KLANTSIGNAAL_API_TOKEN still reads every team.
    assert len(world.server.alerts()) == 2
    # Only hashes are stored.
    stored = sqlite3.connect(world.data / "accounts.db").execute("SELECT * FROM api_tokens")
    assert ingest not in repr(stored.fetchall())


def test_post_without_valid_csrf_is_refused(world: World) -> None:
    anna = sign_in(world.server.base, "anna")
    a_id = world.alert_a["alertId"]
    for data in ({"handeling": "claim"}, {"handeling": "claim", "csrf": "forged"}):
        response = anna.post(f"/inbox/{a_id}/actie", data=data)
        assert response.status_code == 403
    assert "nog niemand" in anna.get(f"/inbox/{a_id}").text
    # Sign-in itself needs its form token too.
    no_token = httpx.post(
        world.server.base + "/login", data={"gebruikersnaam": "anna", "wachtwoord": "x"}
    )
    assert no_token.status_code == 403


def test_repeated_wrong_passwords_lock_the_account(world: World) -> None:
    add_user(world.data, "eva", "caseworker", "KCC")
    client = httpx.Client(base_url=world.server.base)
    statuses = []
    for _ in range(6):
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"csrf": csrf_of(page.text), "gebruikersnaam": "eva", "wachtwoord": "fout"},
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]
    page = client.get("/login")
    right = client.post(
        "/login",
        data={
            "csrf": csrf_of(page.text),
            "gebruikersnaam": "eva",
            "wachtwoord": "correct horse battery staple",
        },
    )
    assert right.status_code == 429 and "Te veel mislukte pogingen" in right.text


def test_status_changes_flow_to_the_warehouse_and_internetaak(world: World) -> None:
    carla = sign_in(world.server.base, "carla")
    b_id = world.alert_b["alertId"]
    page = carla.get(f"/inbox/{b_id}")
    csrf = csrf_of(page.text)
    steps = [
        {"handeling": "toewijzen", "toegewezen_aan": "bram"},
        {"handeling": "terugbelpoging", "uitkomst": "voicemail", "notitie": "Bel 0612345678 terug"},
        {"handeling": "afhandelen", "categorie": "uitleg gegeven"},
    ]
    for step in steps:
        done = carla.post(f"/inbox/{b_id}/actie", data={"csrf": csrf, **step})
        assert done.status_code == 303, done.text
    again = carla.post(f"/inbox/{b_id}/actie", data={"csrf": csrf, "handeling": "claim"})
    assert again.status_code == 409 and "al afgehandeld" in again.text
    detail = carla.get(f"/inbox/{b_id}").text
    assert "0612345678" not in detail and "[telefoon]" in detail  # notes are scrubbed
    warehouse = sqlite3.connect(world.data / "warehouse.db")

    def history() -> list[tuple]:
        return warehouse.execute(
            "SELECT handeling, status, door, toegewezen_aan, uitkomst, categorie "
            "FROM alert_status_changes WHERE alert_id = ? ORDER BY op",
            (b_id,),
        ).fetchall()

    rows = poll(lambda: len(history()) == 3 and history(), 5)
    assert rows == [
        ("toewijzen", "in-behandeling", "carla", "bram", None, None),
        ("terugbelpoging", "in-behandeling", "carla", "bram", "voicemail", None),
        ("afhandelen", "afgehandeld", "carla", "bram", None, "uitleg gegeven"),
    ]
    taak = httpx.get(
        world.server.base + f"/v1/alerts/{b_id}/internetaak", headers=world.server.auth
    ).json()
    assert taak["gevraagdeHandeling"] == "Terugbellen naar aanleiding van klantsignaal"
    assert taak["status"] == "verwerkt" and taak["afgehandeldOp"]
    assert [(a["soortActor"], a["naam"]) for a in taak["toegewezenAanActoren"]] == [
        ("organisatorische_eenheid", "Burgerzaken"),
        ("medewerker", "bram"),
    ]
    assert taak["aanleidinggevendKlantcontact"]["referentienummer"] == world.alert_b["contactId"]
    assert world.alert_b["klant"] not in str(taak) and "06-12345678" not in str(taak)
    one = httpx.get(world.server.base + f"/v1/alerts/{b_id}", headers=world.server.auth).json()
    assert one["status"] == "afgehandeld" and len(one["statusHistorie"]) == 3


def test_sentiment_correction_is_stored_for_retraining(world: World) -> None:
    anna = sign_in(world.server.base, "anna")
    a_id = world.alert_a["alertId"]
    csrf = csrf_of(anna.get(f"/inbox/{a_id}").text)
    bad = anna.post(f"/inbox/{a_id}/sentiment", data={"csrf": csrf, "label": "zuur"})
    assert bad.status_code == 422
    done = anna.post(f"/inbox/{a_id}/sentiment", data={"csrf": csrf, "label": "neu"})
    assert done.status_code == 303
    rows = (
        sqlite3.connect(world.data / "warehouse.db")
        .execute("SELECT text, label_from, label_to, door FROM sentiment_corrections")
        .fetchall()
    )
    assert len(rows) == 1
    text, label_from, label_to, door = rows[0]
    assert "<script>" in text and (label_to, door) == ("neu", "anna") and label_from


def test_comments_are_inert_in_pages_and_exports(world: World) -> None:
    anna = sign_in(world.server.base, "anna")
    page = anna.get(f"/inbox/{world.alert_a['alertId']}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x" not in page and 'href="javascript:' not in page
    assert "{{7*7}}" in page and ">49<" not in page
    for path in (f"/v1/alerts/{world.alert_a['alertId']}", "/v1/alerts"):
        response = anna.get(path)
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_actions_through_the_api_need_alerts_write(world: World) -> None:
    base = world.server.base
    a_id = world.alert_a["alertId"]
    reader = add_token(world.data, "lezer", "alerts:read")
    writer_b = add_token(world.data, "crm-b", "alerts:write", "Burgerzaken")
    writer_a = add_token(world.data, "crm-a", "alerts:write", "KCC")

    def post(token: str, body: object) -> httpx.Response:
        return httpx.post(
            f"{base}/v1/alerts/{a_id}/status",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )

    assert post(reader, {"handeling": "claim"}).status_code == 403
    assert post(writer_b, {"handeling": "claim"}).status_code == 404  # another team
    bad = post(writer_a, {"handeling": "wegpoetsen", "bsn": "123456782"})
    assert bad.status_code == 422
    assert {p["pointer"] for p in bad.json()["problems"]} == {"/handeling", "/bsn"}
    assert post(writer_a, ["claim"]).status_code == 422
    done = post(writer_a, {"handeling": "terugbelpoging", "uitkomst": "voicemail"})
    assert done.status_code == 200, done.text
    assert done.json() == {"alertId": a_id, "status": "in-behandeling", "toegewezenAan": "crm-a"}
    # A signed-in caseworker cannot use the API for actions (no CSRF there): 401.
    anna = sign_in(base, "anna")
    assert anna.post(f"/v1/alerts/{a_id}/status", json={"handeling": "claim"}).status_code == 401


def test_removed_users_and_revoked_tokens_stop_working_at_once(world: World) -> None:
    """An operator offboards a caseworker and retires a token while the server runs."""
    add_user(world.data, "eva", "caseworker", "KCC")
    listed = cli("users", "list", "--data-dir", str(world.data))
    assert "eva\tcaseworker\tKCC" in listed and "argon2" not in listed
    eva = sign_in(world.server.base, "eva")
    assert eva.get("/inbox").status_code == 200
    secret = add_token(world.data, "oud-zaaksysteem", "alerts:read")
    api = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(world.server.base + "/v1/alerts", headers=api).status_code == 200
    tokens = cli("tokens", "list", "--data-dir", str(world.data))
    assert "oud-zaaksysteem\talerts:read" in tokens and secret not in tokens

    assert "removed" in cli("users", "remove", "eva", "--data-dir", str(world.data))
    after = eva.get("/inbox", follow_redirects=False)
    assert after.status_code in (302, 303) and "/login" in after.headers["location"]
    assert "revoked" in cli("tokens", "revoke", "oud-zaaksysteem", "--data-dir", str(world.data))
    assert httpx.get(world.server.base + "/v1/alerts", headers=api).status_code == 401
    assert "eva" not in cli("users", "list", "--data-dir", str(world.data))
