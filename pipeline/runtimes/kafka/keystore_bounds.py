"""Bounds on the key store's database calls: a database that does not answer fails a call
instead of hanging it.

A key store that is down (connection refused) fails at once, and the worker retries in
place (in_place.py). One that does not answer at all (a network black hole that drops
packets, a stuck or overloaded server, a proxy that accepts and forwards nothing) would
hang a call forever: the driver waits for an answer with no timeout, and the worker's
event loop waits with it (key lookups are synchronous). So, on PostgreSQL:

- `connect_timeout` (libpq; the whole connection set-up, at least 2 s): a new connection
  to a silent server fails;
- `statement_timeout` (server side): a statement the server runs too long (a lock wait, an
  overloaded server) is cancelled by the server;
- TCP keepalives: an idle pooled connection whose peer vanished is found dead;
- a call deadline (`CallDeadline`, client side): a call that is still waiting after
  `call_seconds` has its connections' sockets shut down from a watchdog thread, so the
  blocked driver call returns with "server closed the connection" (an OperationalError,
  which the worker retries in place). Nothing else bounds a server that accepted the
  connection and then went silent: its kernel still acknowledges packets and keepalives,
  and a server that never saw the statement cannot time it out.

A bounded failure is then an outage like any other: retried in place, and past
KLANTSIGNAAL_KAFKA_OUTAGE_SECONDS the worker stops (exit 75) before the record is acked.
SQLite (the embedded default, a local file) has its busy timeout and needs none of this.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyStoreTimeouts:
    """Settings `keystore_*` (pipeline/settings.py); 0 switches a bound off."""

    connect_seconds: int = 5
    statement_ms: int = 5000
    call_seconds: float = 10.0
    keepalive_seconds: int = 10

    @classmethod
    def from_settings(cls, settings: object) -> KeyStoreTimeouts:
        return cls(
            connect_seconds=int(getattr(settings, "keystore_connect_timeout_seconds", 5)),
            statement_ms=int(getattr(settings, "keystore_statement_timeout_ms", 5000)),
            call_seconds=float(getattr(settings, "keystore_call_timeout_seconds", 10.0)),
            keepalive_seconds=int(getattr(settings, "keystore_keepalive_seconds", 10)),
        )


def pg_connect_args(timeouts: KeyStoreTimeouts, url_options: str | None) -> dict[str, Any]:
    """libpq connection parameters for the bounds (psycopg passes them to libpq)."""
    args: dict[str, Any] = {}
    if timeouts.connect_seconds > 0:
        args["connect_timeout"] = timeouts.connect_seconds
    if timeouts.keepalive_seconds > 0:
        seconds = timeouts.keepalive_seconds
        args |= {
            "keepalives": 1,
            "keepalives_idle": seconds,  # idle this long: the first probe
            "keepalives_interval": seconds,  # then one per interval
            "keepalives_count": 3,  # three unanswered: the connection is dead
        }
    if timeouts.statement_ms > 0:
        # Appended to options from the URL (?options=...), which connect_args would replace.
        statement = f"-c statement_timeout={timeouts.statement_ms}"
        args["options"] = f"{url_options} {statement}" if url_options else statement
    return args


def _fileno(dbapi_conn: Any) -> int | None:
    with contextlib.suppress(Exception):
        if not getattr(dbapi_conn, "closed", False):
            return int(dbapi_conn.fileno())
    return None


def _shut(fd: int) -> None:
    """Shut the socket down (not close: the fd stays the driver's), waking a blocked read."""
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.detach()  # the fd is the driver's; never closed here


class CallDeadline:
    """Cuts the connections of a call that outlives `seconds` (see the module docstring).

    `bounded(call)` arms a deadline for the calling thread for the time of the call. The
    connections the thread has checked out of the engine's pool (including a raw one held
    for good, as the key lookups by route do) are known from the pool's events; a watchdog
    thread shuts down the sockets of every connection of a thread whose deadline passed.
    The lock keeps a connection from being closed (its fd reused) while it is shut down:
    the pool's events for checkin, invalidate, close and detach run before the close."""

    def __init__(self, engine: Engine, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._armed: dict[int, float] = {}  # thread -> monotonic deadline
        self._conns: dict[int, tuple[int, Any]] = {}  # id(dbapi conn) -> (thread, conn)
        self._cut: set[int] = set()  # shut down already (until the pool lets go of them)
        self.cuts = 0  # connections shut down, for the log and the tests
        # Pool events on the engine: they follow its pool when dispose() makes a new one.
        event.listen(engine, "checkout", self._checked_out)
        for name in ("checkin", "invalidate", "close", "detach", "close_detached"):
            event.listen(engine, name, self._gone)
        self._tick = max(0.05, min(0.5, seconds / 4))
        self._stopped = threading.Event()
        threading.Thread(target=self._watch, name="keystore-deadline", daemon=True).start()

    def _checked_out(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        with self._lock:
            self._conns[id(dbapi_conn)] = (threading.get_ident(), dbapi_conn)

    def _gone(self, dbapi_conn: Any, *_: Any) -> None:
        if dbapi_conn is not None:
            with self._lock:
                self._conns.pop(id(dbapi_conn), None)
                self._cut.discard(id(dbapi_conn))

    def bounded(self, call: Any) -> Any:
        """call() with this thread's deadline armed."""
        ident = threading.get_ident()
        with self._lock:  # the watchdog iterates over them
            self._armed[ident] = time.monotonic() + self.seconds
        try:
            return call()
        finally:
            with self._lock:  # no cut of this thread's connections after this
                self._armed.pop(ident, None)

    def stop(self) -> None:
        """End the watchdog (the key store is closed)."""
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(self._tick):
            if self._armed:
                try:
                    self._cut_overdue(time.monotonic())
                except Exception:  # the watchdog must outlive any surprise
                    log.exception("key store call deadline: checking failed")

    def _cut_overdue(self, now: float) -> None:
        with self._lock:
            late = {ident for ident, until in self._armed.items() if until <= now}
            for ident, conn in list(self._conns.values()):
                if ident not in late or id(conn) in self._cut:
                    continue
                fd = _fileno(conn)
                if fd is not None:
                    _shut(fd)
                    self._cut.add(id(conn))
                    self.cuts += 1
                    log.warning(
                        "key store call still waiting after %.1f s: its connection is cut",
                        self.seconds,
                    )
