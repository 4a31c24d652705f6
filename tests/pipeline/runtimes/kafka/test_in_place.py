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
