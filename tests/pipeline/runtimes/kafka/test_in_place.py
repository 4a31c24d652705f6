"""Retry in place (pipeline/runtimes/kafka/in_place.py): bounded backoff while a
dependency is away, give up (stop the worker) after the limit, never swallow other errors."""

from __future__ import annotations

import asyncio
from typing import NoReturn

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from pipeline.runtimes.kafka.in_place import Outage
from pipeline.runtimes.kafka.keystore import is_unavailable


class GaveUp(Exception):
    pass


def _give_up(what: str, exc: BaseException) -> NoReturn:
    raise GaveUp(what)


def _outage(limit: float) -> Outage:
    return Outage(limit_seconds=limit, pauses=(0.001, 0.002), give_up=_give_up)


def test_retries_until_the_dependency_is_back(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return "key"

    assert _outage(10).retry("key store (reading a key)", flaky, is_unavailable) == "key"
    assert len(calls) == 4
    assert "retrying in place" in caplog.text and "works again after 3" in caplog.text


def test_gives_up_after_the_limit_and_raises_other_errors_at_once() -> None:
    def away() -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    with pytest.raises(GaveUp):
        _outage(0.05).retry("key store", away, is_unavailable)

    calls = []

    def bad() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("duplicate"))

    with pytest.raises(IntegrityError):
        _outage(10).retry("key store", bad, is_unavailable)
    assert len(calls) == 1


def test_async_sends_are_retried_then_given_up() -> None:
    calls = []

    async def send() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("broker away")
        return "sent"

    assert asyncio.run(_outage(10).retry_async("sending", send)) == "sent"

    async def never() -> None:
        raise RuntimeError("broker away")

    with pytest.raises(GaveUp):
        asyncio.run(_outage(0.05).retry_async("sending", never))


def test_a_rebalance_during_a_retry_gives_up_at_once_from_the_consumer_thread() -> None:
    """The group takes the partitions while a record waits for the key store: the worker
    stops (give_up) from the consumer thread, not after the outage limit; a retry that
    fails while a rebalance is under way gives up too. Without a retry under way, or once
    the partitions are handed back, a rebalance changes nothing."""
    import threading

    outage = Outage(limit_seconds=60, pauses=(0.5,), give_up=_give_up)
    outage.partitions_revoked(True)  # nothing retrying: nothing to stop
    outage.partitions_revoked(False)
    assert outage.retry("key store", lambda: "key", is_unavailable) == "key"

    stopped: list[str] = []
    in_retry = threading.Event()

    def away() -> None:
        in_retry.set()
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    def consumer_thread() -> None:
        in_retry.wait(5)
        try:
            outage.partitions_revoked(True)
        except GaveUp as exc:
            stopped.append(str(exc))

    thread = threading.Thread(target=consumer_thread)
    thread.start()
    with pytest.raises(GaveUp, match="while the group takes the partitions"):
        outage.retry("key store", away, is_unavailable)  # the next failure sees the rebalance
    thread.join(5)
    assert stopped and "while the group takes the partitions" in stopped[0]
    assert outage._retrying == 0


def test_a_stop_during_a_retry_gives_up_at_once_and_a_later_failure_does_not_retry() -> None:
    """The worker begins to stop (SIGTERM: faust's shutdown would wait for the record in
    hand) while a record waits for the key store: it gives up at once, from the stopping
    side, not after the outage limit; a retry that fails after the stop began gives up
    too instead of pausing for another attempt. A stop with no retry under way changes
    nothing for a call that works (faust's graceful stop finishes that record)."""
    import threading

    quiet = Outage(limit_seconds=60, pauses=(0.5,), give_up=_give_up)
    quiet.worker_stops()  # nothing retrying: nothing to stop
    assert quiet.retry("key store", lambda: "key", is_unavailable) == "key"
    with pytest.raises(GaveUp, match="while the worker stops"):  # the first failure: no retry
        quiet.retry("key store", _refused, is_unavailable)

    outage = Outage(limit_seconds=60, pauses=(0.01, 0.5), give_up=_give_up)
    stopped: list[str] = []
    in_retry = threading.Event()
    calls: list[int] = []

    def away() -> None:
        calls.append(1)
        if len(calls) > 1:  # the first failure is counted: a retry is under way
            in_retry.set()
        _refused()

    def stopping() -> None:
        in_retry.wait(5)
        try:
            outage.worker_stops()
        except GaveUp as exc:
            stopped.append(str(exc))

    thread = threading.Thread(target=stopping)
    thread.start()
    with pytest.raises(GaveUp, match="while the worker stops"):
        outage.retry("key store", away, is_unavailable)
    thread.join(5)
    assert stopped and "while the worker stops" in stopped[0]
    assert outage._retrying == 0


def _refused() -> None:
    raise OperationalError("SELECT", {}, Exception("connection refused"))
