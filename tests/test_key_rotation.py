"""Rotating the link key: links already sent keep working until they expire (they are looked
up, not re-verified), new invitations get tokens from the new key."""

from __future__ import annotations

import json
import time
from pathlib import Path

from starlette.testclient import TestClient

from pipeline.app import build_embedded
from pipeline.settings import Settings
from schemas.types import CONTACT
from tests.events import contact_data, envelope, klant

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
