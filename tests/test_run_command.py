"""`klantsignaal run` as a new user starts it: a real server process on a loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas.types import CONTACT
from tests.events import contact_data, envelope

TOKEN = "run-command-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "KLANTSIGNAAL_API_TOKEN": TOKEN}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "run",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "data"),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("server did not start:\n" + log_path.read_text())
            time.sleep(0.2)
        try:
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert "klantsignaal draait" in log_path.read_text()


def _poll(fn, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"nothing within {timeout}s")


def test_run_serves_the_whole_chain(server: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    event = envelope(CONTACT.name, contact_data())
    posted = httpx.post(
        server + "/v1/events",
        content=json.dumps(event),
        headers={**auth, "Content-Type": "application/cloudevents+json"},
    )
    assert posted.status_code == 202
    contact_id = event["data"]["contactId"]
    invitations = _poll(
        lambda: httpx.get(
            f"{server}/v1/invitations", params={"contact_id": contact_id}, headers=auth
        ).json()["invitations"],
        10,
    )
    link = invitations[0]["url"]
    assert link.startswith(server + "/q/")
    form = httpx.get(link)
    assert form.status_code == 200 and "Welk rapportcijfer geeft u?" in form.text
    answered = httpx.post(
        link,
        data={
            "ces": "1",
            "nps": "1",
            "rapportcijfer": "1",
            "rapportcijfer_opmerking": "Waardeloos. Niemand belt ooit terug, ik ben het zat!",
        },
    )
    assert answered.status_code == 200
    started = time.monotonic()
    alerts = _poll(lambda: httpx.get(server + "/v1/alerts", headers=auth).json()["alerts"], 2.0)
    assert time.monotonic() - started < 2.0
    assert alerts[0]["contactId"] == contact_id
