"""pytest plugin: a real Kafka broker and a real PostgreSQL for the test session.

Both start lazily, on the first test that asks for them, and stop at session end. When one
cannot start, its tests are skipped locally but fail under CI=true: in CI a missing broker
means the Kafka path went untested, which must not look green.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.infra.kafka_broker import KafkaBroker
from tests.infra.postgres_server import PostgresServer


@dataclass
class _InfraReport:
    """What the terminal summary prints; lives in config.stash, one per session."""

    lines: list[str] = field(default_factory=list)


_REPORT_KEY = pytest.StashKey[_InfraReport]()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(what: str, exc: BaseException) -> None:
    reason = f"{what} could not start: {exc}"
    if _in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT_KEY] = _InfraReport()
    # kafka-python 3.0 loads its protocol schemas with deprecated importlib.resources
    # calls: ~200 identical warnings per session that would bury our own.
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[KafkaBroker]:
    """A single-node Kafka 4.x (KRaft) broker; `.bootstrap` is "127.0.0.1:PORT"."""
    # pytest caches a session fixture's exception, so a broker that failed to start is
    # not retried (90 s each) by every later Kafka test.
    report = request.config.stash[_REPORT_KEY]
    broker = KafkaBroker()
    error: Exception | None = None
    try:
        broker.start()
    except Exception as exc:
        error = exc
    if error is not None:  # outside `except`: keeps the report free of chained tracebacks
        report.lines.append(f"kafka broker: FAILED to start ({type(error).__name__})")
        _unavailable("Kafka broker", error)
    rss = broker.rss_kib()
    try:
        yield broker
    finally:
        broker.stop()
        peak = broker.peak_rss_kib
        report.lines.append(
            f"kafka broker: started in {broker.startup_seconds:.1f} s"
            + (f", RSS at start {rss / 1024:.0f} MiB" if rss else "")
            + (f", peak RSS {peak / 1024:.0f} MiB" if peak else "")
        )


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL; `.url` is a SQLAlchemy URL to database klantsignaal_test."""
    report = request.config.stash[_REPORT_KEY]
    server = PostgresServer()
    error: Exception | None = None
    try:
        server.start()
    except Exception as exc:
        error = exc
    if error is not None:  # outside `except`: keeps the report free of chained tracebacks
        report.lines.append(f"postgresql: FAILED to start ({type(error).__name__})")
        _unavailable("PostgreSQL", error)
    try:
        yield server
    finally:
        server.stop()
        report.lines.append(f"postgresql: started in {server.startup_seconds:.1f} s")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database for this test only (dropped after)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def kafka_topic_prefix(request: pytest.FixtureRequest) -> str:
    """A unique topic-name prefix per test, so tests sharing the session broker never see
    each other's records. Contains the test name (shortened) to make broker logs readable."""
    short = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:40]
    return f"t-{short}-{uuid.uuid4().hex[:8]}-"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = terminalreporter.config.stash.get(_REPORT_KEY, None)
    if report is None or not report.lines:
        return
    terminalreporter.section("test infrastructure")
    for line in report.lines:
        terminalreporter.write_line(line)
