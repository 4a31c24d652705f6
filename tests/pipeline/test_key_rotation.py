"""Rotating the link key: links already sent keep working until they expire (they are looked
up, not re-verified), new invitations get tokens from the new key."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consumers.warehouse import Warehouse
from pipeline.app import build_embedded
from pipeline.privacy import Pseudonymiser
from pipeline.settings import Settings
from schemas.types import CONTACT
from tests.support.events import contact_data, envelope, klant

AUTH = {"Authorization": "Bearer t"}


def _link(client: TestClient, n: int) -> str:
    event = envelope(CONTACT.name, contact_data(klant=klant(n)))  # no quarantine
    headers = {**AUTH, "Content-Type": "application/cloudevents+json"}
    assert client.post("/v1/events", content=json.dumps(event), headers=headers).status_code == 202
    params = {"contact_id": event["data"]["contactId"], "source": event["source"]}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = client.get("/v1/invitations", params=params, headers=AUTH).json()["invitations"]
        if found:
            return "/" + found[0]["url"].split("/", 3)[3]
        time.sleep(0.05)
    raise AssertionError("no invitation")


def test_old_links_keep_working_after_the_link_key_is_rotated(tmp_path: Path) -> None:
    links = []
    for link_key in ("oude-sleutel", "nieuwe-sleutel"):
        settings = Settings(data_dir=tmp_path, api_token="t", link_key=link_key, pseudonym_key="p")
        system = build_embedded(settings)
        system.runtime.start()  # type: ignore[union-attr]
        try:
            client = TestClient(system.web)
            links.append(_link(client, len(links)))
            for link in links:
                assert client.get(link).status_code == 200, link
        finally:
            system.close()
    assert links[0] != links[1]


def _contact_with_bsn(client: TestClient, bsn: str) -> dict:
    data = contact_data()
    del data["klant"]
    data["bsn"] = bsn
    event = envelope(CONTACT.name, data)
    assert client.post("/v1/events", content=json.dumps(event), headers=SINGLE).status_code == 202
    return data


def _klanten(system: object, contact_ids: list[str]) -> dict[str, str]:
    from sqlalchemy import text

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with system.warehouse.engine.connect() as conn:  # type: ignore[attr-defined]
            rows = dict(conn.execute(text("SELECT contact_id, klant FROM contacts")).all())
        if all(c in rows for c in contact_ids):
            return rows
        time.sleep(0.05)
    raise AssertionError("contacts not in the warehouse")


SINGLE = {**AUTH, "Content-Type": "application/cloudevents+json"}
ANNA, BERT = "111222333", "123456782"


def test_a_rotated_pseudonym_key_keeps_joins_and_forget_finds_both(tmp_path: Path) -> None:
    """After rotating PSEUDONYM_KEY (the old one kept in PSEUDONYM_KEYS_OLD), a citizen known
    from before keeps the pseudonym, so quarantine and joins hold; a new citizen gets the
    new key's; `privacy forget <BSN>` erases under both keys."""
    old = Settings(data_dir=tmp_path, api_token="t", link_key="l", pseudonym_key="oud")
    system = build_embedded(old)
    system.runtime.start()  # type: ignore[union-attr]
    try:
        first = _contact_with_bsn(TestClient(system.web), ANNA)["contactId"]
        _klanten(system, [first])
    finally:
        system.close()
    # The old key goes to secrets.json (0600), as an operator would keep it.
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"pseudonym_keys_old": "oud"}))
    secrets_file.chmod(0o600)
    new = Settings(data_dir=tmp_path, api_token="t", link_key="l", pseudonym_key="nieuw")
    system = build_embedded(new.with_secrets())
    system.runtime.start()  # type: ignore[union-attr]
    try:
        client = TestClient(system.web)
        again = _contact_with_bsn(client, ANNA)["contactId"]
        other = _contact_with_bsn(client, BERT)["contactId"]
        klanten = _klanten(system, [first, again, other])
        system.runtime.run_until_idle()  # type: ignore[union-attr]
        invited = system.warehouse.count("invitations")
    finally:
        system.close()
    assert klanten[again] == klanten[first] == Pseudonymiser("oud").klant(ANNA)
    assert klanten[other] == Pseudonymiser("nieuw").klant(BERT)
    assert invited == 2  # the second contact of the same citizen is in quarantine: joined

    from consumers.privacy_ops import forget

    report = forget(new.with_secrets(), ANNA)
    assert set(report["klanten"]) == {Pseudonymiser(k).klant(ANNA) for k in ("oud", "nieuw")}
    assert report["removed"]["warehouse:contacts"] == 2


def test_with_a_rotated_key_the_warehouse_lookup_never_runs_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotated key looks new citizens up in the warehouse (on PostgreSQL: a network round
    trip); on the event loop that would hold up every request of the process."""
    settings = Settings(
        data_dir=tmp_path,
        api_token="t",
        link_key="l",
        pseudonym_key="nieuw",
        pseudonym_keys_old="oud",
    )
    on_loop: list[bool] = []
    real = Warehouse.klant_known

    def recording(self: Warehouse, klant: str) -> bool:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(self, klant)

    monkeypatch.setattr(Warehouse, "klant_known", recording)
    system = build_embedded(settings)
    try:
        _contact_with_bsn(TestClient(system.web), "111222333")  # one small event
    finally:
        system.close()
    assert on_loop and not any(on_loop), "warehouse query ran on the asyncio event loop"
