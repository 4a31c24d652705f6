"""`klantsignaal web` on Kafka is ready only while a Kafka broker answers: it publishes every
accepted event before it answers 202, so without a broker it could only answer errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.runtimes.kafka.broker_probe import BrokerProbe
from pipeline.settings import Settings
from tests.infra._proc import terminate
from tests.support.live_server import free_port
from tests.support.ops_helpers import kafka_env, spawn, status

pytestmark = [pytest.mark.kafka]


def test_the_probe_answers_for_a_live_broker_and_not_for_a_dead_one(kafka_broker: Any) -> None:
    live = BrokerProbe(kafka_broker.bootstrap)
    dead = BrokerProbe(f"127.0.0.1:{free_port()}", timeout=1.0)
    try:
        assert live() is True
        began = time.monotonic()
        assert dead() is False
        assert time.monotonic() - began < 15, "a dead cluster must not hang /readyz"
    finally:
        live.close()
        dead.close()


def _web(bootstrap: str, workdir: Path) -> tuple[Any, int, Path]:
    settings = Settings(
        data_dir=workdir,
        runtime="kafka",
        kafka_bootstrap=bootstrap,
        api_token="t",
        pseudonym_key="p",
        link_key="l",
    )
    port = free_port()
    log = workdir / "web.log"
    workdir.mkdir(parents=True, exist_ok=True)
    args = ["web", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(workdir)]
    return spawn(args, kafka_env(settings), log), port, log


def _readiness(port: int, proc: Any, log: Path, timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while status(port, "/healthz") != 200:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)


def test_the_web_edge_is_ready_only_while_a_broker_answers(
    kafka_broker: Any, tmp_path: Path
) -> None:
    dead_proc, dead_port, dead_log = _web(f"127.0.0.1:{free_port()}", tmp_path / "dead")
    live_proc, live_port, live_log = _web(kafka_broker.bootstrap, tmp_path / "live")
    try:
        dead = _readiness(dead_port, dead_proc, dead_log)
        assert dead.status_code == 503, dead.text
        assert dead.json()["parts"]["kafka"] is False
        assert dead.json()["parts"]["warehouse"] is True  # only Kafka is missing
        live = _readiness(live_port, live_proc, live_log)
        assert live.status_code == 200, live.text
        assert live.json()["parts"]["kafka"] is True
    finally:
        terminate(dead_proc, 10)
        terminate(live_proc, 10)
