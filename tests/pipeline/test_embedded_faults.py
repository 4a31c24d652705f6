"""Fault tests of the embedded runtime: a killed process loses nothing it acknowledged."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx

from consumers.warehouse import Warehouse
from pipeline.runtimes.embedded import EventLog
from pipeline.topology import DEAD_LETTER
from schemas.types import CONTACT, INVITATION
from tests.support.events import contact_data, envelope, klant
from tests.support.live_server import free_port, spawn_run, wait_healthy

TOKEN = "fault-token"


def _start(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen:
    proc = spawn_run(data_dir, port, log_path.open("ab"), TOKEN)
    wait_healthy(proc, f"http://127.0.0.1:{port}", log_path)
    return proc


def test_kill_9_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    data_dir, log_path = tmp_path / "data", tmp_path / "server.log"
    port = free_port()
    proc = _start(data_dir, port, log_path)
    acknowledged: list[str] = []
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/cloudevents-batch+json",
    }
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
        for batch in range(15):
            events = [
                envelope(CONTACT.name, contact_data(klant=klant(1000 + batch * 20 + i)))
                for i in range(20)
            ]
            answer = client.post("/v1/events", content=json.dumps(events))
            assert answer.status_code == 202
            acknowledged += [e["data"]["contactId"] for e in events]
    # Kill without warning while the pipeline is still working through the backlog.
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    proc = _start(data_dir, port, log_path)
    warehouse = Warehouse(f"sqlite:///{data_dir / 'warehouse.db'}")
    deadline = time.monotonic() + 60
    while warehouse.count("invitations") < len(acknowledged) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)

    log = EventLog(data_dir / "log.db")
    contacts = [r["data"]["contactId"] for r in log.records(CONTACT.topic)]
    invitations = [r["data"]["contactId"] for r in log.records(INVITATION.topic)]
    assert sorted(contacts) == sorted(acknowledged), "every acknowledged contact is in the log"
    assert sorted(invitations) == sorted(acknowledged), "one invitation each, none twice"
    assert log.records(DEAD_LETTER) == []
    assert warehouse.count("contacts") == len(acknowledged)
    assert warehouse.count("invitations") == len(acknowledged)
