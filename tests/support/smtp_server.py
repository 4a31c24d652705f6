"""A real local SMTP server (aiosmtpd) for the dispatch tests, with scripted failures."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.infra._proc import free_ports


@dataclass
class Recorder:
    """Accepts mail, remembers every message, and fails as told per recipient."""

    delay: float = 0.0  # seconds before answering DATA: a slow server
    reject: dict[str, str] = field(default_factory=dict)  # address -> reply, e.g. 550
    temporary: Counter[str] = field(default_factory=Counter)  # address -> 451s to give first
    rcpt_attempts: Counter[str] = field(default_factory=Counter)
    messages: list[EmailMessage] = field(default_factory=list)
    in_data: int = 0  # messages being received right now
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, _o: Any):
        with self.lock:
            self.rcpt_attempts[address] += 1
            if address in self.reject:
                return self.reject[address]
            if self.temporary[address] > 0:
                self.temporary[address] -= 1
                return "451 4.3.0 Probeer het later opnieuw"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.in_data += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.in_data -= 1
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK: queued"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} message(s) within {timeout}s, wanted {count}")


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: Recorder


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    recorder = Recorder()
    (port,) = free_ports(1)
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, recorder)
    finally:
        controller.stop()


def plain_and_html(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None, "e-mail has plain text and HTML"
    return plain.get_content(), html.get_content()
