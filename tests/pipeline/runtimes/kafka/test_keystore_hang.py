"""The key store on a PostgreSQL that does not answer (pipeline/runtimes/kafka/
keystore_bounds.py): a network black hole or a stuck server. Connections are accepted and
read by a proxy that forwards and answers nothing, the way a server whose process hangs
(its kernel still acknowledging every packet) behaves. No statement timeout or TCP
keepalive can end such a wait; the call deadline does: the call fails as an outage
(retried in place by the worker), on the plain driver connection of the key lookups by
route, on the pooled ones of reads and key creation, and on new connections (libpq's
connect_timeout). Without the bounds each of these calls hangs for good.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, NoReturn

import pytest
from sqlalchemy.exc import OperationalError

from pipeline.runtimes.kafka.in_place import Outage
from pipeline.runtimes.kafka.keystore import SqlKeyStore, is_unavailable
from pipeline.runtimes.kafka.keystore_bounds import KeyStoreTimeouts
from tests.support.keystore_proxy import proxied

pytestmark = pytest.mark.postgres

# Short bounds for the test; the defaults are 5 s connect, 5 s statement, 10 s per call.
BOUNDS = KeyStoreTimeouts(connect_seconds=2, statement_ms=2000, call_seconds=1.0)
SLACK = 20.0  # a loaded 2-core machine: the bound is shown by failing, not by its timing


class GaveUp(Exception):
    pass


def _give_up(what: str, exc: BaseException) -> NoReturn:
    raise GaveUp(f"{what}: {exc!r}")


def _in_thread(call: Any, timeout: float) -> tuple[str, Any]:
    """('returned', value) or ('raised', exc), or ('hung', None) after `timeout`."""
    outcome: list[tuple[str, Any]] = []

    def run() -> None:
        try:
            outcome.append(("returned", call()))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome.append(("raised", exc))

    worker = threading.Thread(target=run, daemon=True)  # a hung one is left behind
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else ("hung", None)


def klant() -> str:
    return "k-" + uuid.uuid4().hex


def test_a_black_holed_key_store_fails_each_kind_of_call_instead_of_hanging(
    postgres_url: str,
) -> None:
    proxy, url = proxied(postgres_url)
    store = SqlKeyStore(url, timeouts=BOUNDS)  # the web edge's: no outage, fails at once
    try:
        known = store.for_klants([klant()], create=True)
        route = next(iter(known.values())).route
        store._cache.clear()
        assert store.for_route(route) is not None  # the plain route connection is open
        proxy.black_hole()
        calls = {
            "route lookup (plain connection)": lambda: store.for_route(route),
            "key creation (pooled connection)": lambda: store.for_klants([klant()], True),
        }
        for what, call in calls.items():
            store._cache.clear()
            began = time.monotonic()
            kind, result = _in_thread(call, SLACK)
            assert kind == "raised", f"{what}: {kind} {result!r}"
            assert isinstance(result, OperationalError) and is_unavailable(result), result
            assert time.monotonic() - began < SLACK
        store.engine.dispose()  # a new connection to a silent server: connect_timeout
        kind, result = _in_thread(lambda: store.for_klants([klant()], True), SLACK)
        assert kind == "raised" and is_unavailable(result), (kind, result)
        assert proxy.swallowed > 0  # the requests went into the hole
        proxy.heal()
        store._cache.clear()
        assert store.for_route(route) is not None  # works again, no restart needed
    finally:
        proxy.heal()
        proxy.cut()
        store.close()


def test_the_worker_store_retries_a_black_hole_in_place_and_recovers_when_it_heals(
    postgres_url: str,
) -> None:
    proxy, url = proxied(postgres_url)
    outage = Outage(limit_seconds=60, pauses=(0.1,), give_up=_give_up)
    store = SqlKeyStore(url, outage=outage, timeouts=BOUNDS)
    try:
        route = next(iter(store.for_klants([klant()], create=True).values())).route
        store._cache.clear()
        proxy.black_hole()
        threading.Timer(3.0, proxy.heal).start()
        kind, result = _in_thread(lambda: store.for_route(route), 60)
        assert kind == "returned" and result is not None and result.route == route, result
        assert store._deadline is not None and store._deadline.cuts >= 1
    finally:
        proxy.heal()
        proxy.cut()
        store.close()
