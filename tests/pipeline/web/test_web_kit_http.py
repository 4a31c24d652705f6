"""The web kit's sign-in over HTTP (in process): hostile input gets a 4xx, never a 5xx."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient

from pipeline.web.accounts import AccountStore
from pipeline.web.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, WebAuth

PASSWORD = "correct horse battery staple"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _client(tmp_path: Path) -> TestClient:
    store = AccountStore(f"sqlite:///{tmp_path / 'accounts.db'}")
    store.add_user("anna", PASSWORD, "caseworker", ["KCC"])
    app = Starlette(routes=WebAuth(store, "admin-token").routes())
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert found
    return found.group(1)


def test_login_with_non_ascii_csrf_is_refused_not_500(tmp_path: Path) -> None:
    client = _client(tmp_path)
    _csrf(client)  # the login cookie is set
    typed = client.post("/login", data={"csrf": "é", "gebruikersnaam": "anna"})
    assert typed.status_code == 403
    raw = client.post("/login", content=b"csrf=%ff%fe&gebruikersnaam=%ff", headers=FORM)
    assert raw.status_code == 403
    client.cookies.set(LOGIN_CSRF_COOKIE, "%C3%A9")
    assert client.post("/login", data={"csrf": "é"}).status_code == 403
    assert SESSION_COOKIE not in client.cookies
    # The real form still signs in.
    client.cookies.clear()
    form = {"csrf": _csrf(client), "gebruikersnaam": "anna", "wachtwoord": PASSWORD}
    assert client.post("/login", data=form).status_code == 303
    assert client.cookies.get(SESSION_COOKIE)


def test_logout_with_non_ascii_csrf_is_refused_not_500(tmp_path: Path) -> None:
    client = _client(tmp_path)
    form = {"csrf": _csrf(client), "gebruikersnaam": "anna", "wachtwoord": PASSWORD}
    assert client.post("/login", data=form).status_code == 303
    assert client.post("/logout", data={"csrf": "é"}).status_code == 403
    raw = client.post("/logout", content=b"csrf=%ff", headers=FORM)
    assert raw.status_code == 403


def test_api_action_with_a_lone_surrogate_gets_422_naming_the_field(tmp_path: Path) -> None:
    from consumers.warehouse import alerts
    from pipeline.app import build_embedded
    from pipeline.settings import Settings

    settings = Settings(data_dir=tmp_path, api_token="admin", link_key="k", pseudonym_key="p")
    system = build_embedded(settings)  # not started: the web app alone
    now = datetime.now(UTC)
    with system.warehouse.engine.begin() as conn:
        conn.execute(
            alerts.insert().values(
                event_id="e-1",
                stored_at=now,
                alert_id="alert-1",
                signal_id="signal-1",
                klant="k",
                team="KCC",
                ernst="hoog",
                redenen=["zeer negatief"],
                terugbel_toestemming=False,
                status="open",
                aangemaakt_op=now,
            )
        )
    token = AccountStore(system.settings.accounts).add_token("zaaksysteem", "alerts:write", [])
    client = TestClient(system.web, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for field, body in (
        ("notitie", b'{"handeling": "claim", "notitie": "\\ud800"}'),
        ("toegewezenAan", b'{"handeling": "toewijzen", "toegewezenAan": "\\udfff x"}'),
    ):
        refused = client.post("/v1/alerts/alert-1/status", content=body, headers=headers)
        assert refused.status_code == 422, refused.text
        assert [p["pointer"] for p in refused.json()["problems"]] == [f"/{field}"]
    ok = client.post("/v1/alerts/alert-1/status", json={"handeling": "claim"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["status"] == "in-behandeling"
    system.close()


def _alert(system: Any, alert_id: str, team: str) -> None:
    from consumers.warehouse import alerts

    now = datetime.now(UTC)
    with system.warehouse.engine.begin() as conn:
        conn.execute(
            alerts.insert().values(
                event_id=f"e-{alert_id}",
                stored_at=now,
                alert_id=alert_id,
                signal_id="signal-1",
                klant="k",
                team=team,
                ernst="hoog",
                redenen=["zeer negatief"],
                terugbel_toestemming=False,
                status="open",
                aangemaakt_op=now,
            )
        )


def test_nul_characters_get_4xx_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """PostgreSQL refuses NUL in text: a NUL from a client must never reach it (was a 500)."""
    from pipeline.app import build_embedded
    from pipeline.settings import Settings

    urls = {f"{n}_url": postgres_url for n in ("warehouse", "accounts", "inbox", "dispatch")}
    settings = Settings(data_dir=tmp_path, api_token="a", link_key="k", pseudonym_key="p", **urls)
    system = build_embedded(settings)  # not started: the web app alone
    _alert(system, "alert-1", "KCC")
    store = AccountStore(system.settings.accounts)
    store.add_user("anna", PASSWORD, "caseworker", ["KCC"])
    token = store.add_token("zaaksysteem", "alerts:write", [])
    staff = TestClient(system.web, raise_server_exceptions=False, follow_redirects=False)
    form = {"csrf": _csrf(staff), "gebruikersnaam": "an\x00na", "wachtwoord": PASSWORD}
    assert staff.post("/login", data=form).status_code == 401
    form = {"csrf": _csrf(staff), "gebruikersnaam": "anna", "wachtwoord": PASSWORD}
    assert staff.post("/login", data=form).status_code == 303
    for path in ("/inbox?team=%00", "/inbox?dienst=%00&ernst=%00", "/v1/alerts?team=%00"):
        assert staff.get(path).status_code == 200, path
    for path in ("/inbox/%00", "/v1/alerts/%00", "/v1/alerts/%00/internetaak"):
        assert staff.get(path).status_code == 404, path
    csrf = re.findall(r'name="csrf" value="([^"]+)"', staff.get("/inbox/alert-1").text)[-1]
    action = {"csrf": csrf, "handeling": "claim"}
    assert staff.post("/inbox/%00/actie", data=action).status_code == 404
    done = staff.post("/inbox/alert-1/actie", data={**action, "notitie": "ge\x00beld"})
    assert done.status_code == 303
    assert "gebeld" in staff.get("/inbox/alert-1").text
    api = TestClient(system.web, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"}
    for field, body in (
        ("toegewezenAan", {"handeling": "toewijzen", "toegewezenAan": "x\x00"}),
        ("notitie", {"handeling": "terugbelpoging", "uitkomst": "bereikt", "notitie": "\x00"}),
    ):
        refused = api.post("/v1/alerts/alert-1/status", json=body, headers=headers)
        assert refused.status_code == 422, refused.text
        assert [p["pointer"] for p in refused.json()["problems"]] == [f"/{field}"]
    system.close()


def test_invitations_query_with_nul_gets_400_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    from pipeline.app import build_embedded
    from pipeline.settings import Settings

    settings = Settings(
        data_dir=tmp_path,
        api_token="a",
        link_key="k",
        pseudonym_key="p",
        warehouse_url=postgres_url,
    )
    system = build_embedded(settings)
    api = TestClient(system.web, raise_server_exceptions=False)
    headers = {"Authorization": "Bearer a"}
    for name, query in (
        ("contact_id", "contact_id=%00&source=x"),
        ("source", "contact_id=x&source=a%00"),
    ):
        refused = api.get(f"/v1/invitations?{query}", headers=headers)
        assert refused.status_code == 400 and name in refused.json()["error"], refused.text
    found = api.get("/v1/invitations?contact_id=x&source=y", headers=headers)
    assert found.status_code == 200
    system.close()


def test_login_form_without_content_length_is_bounded(tmp_path: Path) -> None:
    """A chunked body has no Content-Length: it was read whole, past the form limit."""
    client = _client(tmp_path)
    csrf = _csrf(client)

    def chunks() -> Any:
        yield f"csrf={csrf}&gebruikersnaam=anna&wachtwoord=".encode()
        for _ in range(100):
            yield b"x" * 10_000

    sent = client.post("/login", content=chunks(), headers=FORM)
    assert sent.status_code == 413
    assert SESSION_COOKIE not in client.cookies
