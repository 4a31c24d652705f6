"""`klantsignaal run` as a new user starts it: a real server process on a loopback port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import LiveServer, live_server, poll


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as running:
        yield running


def test_run_serves_the_whole_chain(server: LiveServer) -> None:
    contact_id = server.post_contact()
    link = server.invitation_link(contact_id)
    assert link.startswith(server.base + "/q/")
    form = httpx.get(link)
    assert form.status_code == 200 and "Welk rapportcijfer geeft u?" in form.text
    answers = {
        "ces": "1",
        "nps": "1",
        "rapportcijfer": "1",
        "rapportcijfer_opmerking": "Waardeloos. Niemand belt ooit terug, ik ben het zat!",
    }
    assert "Wat ging er mis?" in httpx.post(link, data=answers).text  # the follow-up step
    answered = httpx.post(link, data={**answers, "stap": "2"})
    assert answered.status_code == 200
    started = time.monotonic()
    alerts = poll(server.alerts, 2.0)
    assert time.monotonic() - started < 2.0
    assert alerts[0]["contactId"] == contact_id
