"""A test server of a module's or a test's own (a broker to restart, a PostgreSQL to shut
down) beside the session's: started, skipped like the session's when it cannot start,
always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

S = TypeVar("S", bound=Any)


@contextmanager
def own_server(server: S, what: str) -> Iterator[S]:
    """`with own_server(RestartableBroker(), "Kafka broker") as broker:` in a fixture."""
    try:
        server.start()
    except Exception as exc:  # same policy as the session's servers
        pytest.skip(f"no {what}: {exc}")
    try:
        yield server
    finally:
        server.stop()
