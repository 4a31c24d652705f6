"""A worker whose key store (PostgreSQL) is reached through a proxy the test can cut or
black-hole (tests/support/tcp_proxy.py), for the key-store outage and hang tests; the
test's own reads and other workers reach the same database directly."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from schemas.cloudevents import CloudEvent
from tests.support.kafka_harness import KafkaHarness
from tests.support.tcp_proxy import CuttableProxy


def proxied(postgres_url: str) -> tuple[CuttableProxy, str]:
    """A proxy in front of the database of `postgres_url`, and the URL through it."""
    direct = make_url(postgres_url)
    assert direct.port is not None
    proxy = CuttableProxy(direct.port)
    return proxy, direct.set(port=proxy.port).render_as_string(hide_password=False)


def proxied_worker_harness(
    bootstrap: str,
    prefix: str,
    workdir: Path,
    postgres_url: str,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[KafkaHarness, CuttableProxy]:
    """A harness whose worker's key store goes through a new proxy (with `env` for the
    worker); the harness itself (publishing, reading) uses the database directly."""
    proxy, url = proxied(postgres_url)
    worker_env = {"KLANTSIGNAAL_KEYSTORE_URL": url, **(env or {})}
    harness = KafkaHarness(
        bootstrap, prefix, workdir, keystore_url=postgres_url, env=worker_env, **kwargs
    )
    return harness, proxy


def start_warmed_up(harness: KafkaHarness, warm: Sequence[CloudEvent]) -> None:
    """Start the worker and wait for the invitations of the contacts `warm`: after that
    its connections (the key store's, through the proxy, among them) are open."""
    harness.start_worker()
    harness.publish("contact-events", warm)
    harness.records("survey-invitations", min_count=len(warm), timeout=60)


def worker_log(harness: KafkaHarness) -> str:
    return harness.worker_log_path.read_text("utf-8", "replace")


def wait_for(what: str, check: Callable[[], bool], harness: KafkaHarness, timeout: float) -> None:
    """Until `check()`; fails with `what` and the worker's log tail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}:\n{harness.worker_log_tail()}"
        time.sleep(0.1)
