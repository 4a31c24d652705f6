"""`klantsignaal run` as a new user starts it: a real server process on a loopback port.

Shared by the tests that drive the whole system from outside (HTTP clients, a browser).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest

from schemas.types import CONTACT
from tests.support.events import contact_data, envelope

T = TypeVar("T")
TOKEN = "run-command-token"
DEFAULT_SOURCE = "/test/kanaal"  # tests.support.events.envelope's source


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    base: str
    token: str
    log_path: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post_contact(self, **overrides: Any) -> str:
        """Publish a contact event as a channel system does; returns its contactId."""
        event = envelope(CONTACT.name, contact_data(**overrides))
        posted = httpx.post(
            self.base + "/v1/events",
            content=json.dumps(event),
            headers={**self.auth, "Content-Type": "application/cloudevents+json"},
        )
        assert posted.status_code == 202, posted.text
        return str(event["data"]["contactId"])

    def invitation_link(
        self, contact_id: str, timeout: float = 10, source: str = DEFAULT_SOURCE
    ) -> str:
        """The questionnaire link a thank-you page would show for this contact."""
        params = {"contact_id": contact_id, "source": source}
        invitations = poll(
            lambda: httpx.get(
                f"{self.base}/v1/invitations", params=params, headers=self.auth
            ).json()["invitations"],
            timeout,
        )
        return str(invitations[0]["url"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.base + "/v1/alerts", headers=self.auth).json()["alerts"])


def poll(fn: Callable[[], T], timeout: float) -> T:
    """The first truthy value of fn(), retried every 50 ms for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"nothing within {timeout}s")


def spawn_run(
    data_dir: Path,
    port: int,
    log_file: IO[bytes],
    token: str,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """`python -m pipeline.cli run` as a new user would start it, logging to log_file."""
    env = {**os.environ, "KLANTSIGNAAL_API_TOKEN": token, **(extra_env or {})}
    command = [sys.executable, "-m", "pipeline.cli", "run", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--data-dir", str(data_dir)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )


def wait_healthy(proc: subprocess.Popen, base: str, log_path: Path, timeout: float = 30) -> None:
    """Until /healthz answers; fails the test with the server log when it does not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail("server did not start:\n" + log_path.read_text())
        time.sleep(0.2)


@contextmanager
def live_server(
    workdir: Path, token: str = TOKEN, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """`python -m pipeline.cli run` on a free port with its data in workdir/data.

    Fails the test with the server log when it does not answer /healthz within 30 s;
    on exit stops it with SIGINT (as Ctrl+C would) and checks it had announced itself.
    """
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log_file:
        proc = spawn_run(workdir / "data", port, log_file, token, extra_env)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(proc, base, log_path)
        try:
            yield LiveServer(base=base, token=token, log_path=log_path)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert "klantsignaal draait" in log_path.read_text()
