"""A PostgreSQL key store that cannot be opened leaves nothing running behind.

The web edge makes its sealer on the first publish and, while the key store is down,
tries again on every publish (pipeline/runtimes/kafka/publisher.py `_sealer`). Each try
builds a SqlKeyStore, whose call deadline starts a watchdog thread
(pipeline/runtimes/kafka/keystore_bounds.py) before the store is opened: a store that
failed to open must stop it, or an outage of the key store leaks a thread per request.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy.exc import OperationalError

from pipeline.runtimes.kafka.keystore import SqlKeyStore
from pipeline.runtimes.kafka.keystore_bounds import KeyStoreTimeouts

ATTEMPTS = 5


def _refused_url() -> str:
    """A PostgreSQL URL on a loopback port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql+psycopg://klantsignaal@127.0.0.1:{port}/klantsignaal"


def _watchdogs() -> int:
    return sum(t.name == "keystore-deadline" and t.is_alive() for t in threading.enumerate())


def test_a_store_that_cannot_open_leaves_no_watchdog_thread() -> None:
    before = _watchdogs()
    url = _refused_url()
    bounds = KeyStoreTimeouts(connect_seconds=2, statement_ms=2000, call_seconds=5.0)
    for _ in range(ATTEMPTS):
        with pytest.raises(OperationalError):
            SqlKeyStore(url, timeouts=bounds)
    deadline = time.monotonic() + 10.0  # a stopped watchdog ends within one tick (<= 0.5 s)
    while _watchdogs() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _watchdogs() == before, "a watchdog thread per failed open is left running"
