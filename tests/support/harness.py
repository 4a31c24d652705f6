"""Runtime harnesses: one interface over both runtimes for the behavioural tests."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol

from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
from pipeline.sentiment import load_scorer
from pipeline.settings import Settings
from pipeline.topology import build_topology
from schemas.cloudevents import CloudEvent

TEST_LINK_KEY = "test-link-key"


class RuntimeHarness(Protocol):
    name: str

    def publish(self, topic: str, events: list[CloudEvent]) -> None: ...

    def records(self, topic: str, *, min_count: int = 1, timeout: float = 30.0) -> list[dict]: ...

    def close(self) -> None: ...


class EmbeddedHarness:
    """The embedded runtime with its background thread, as `klantsignaal run` uses it."""

    name = "embedded"

    def __init__(self, data_dir: Path, **overrides: Any):
        settings = Settings(data_dir=data_dir, link_key=TEST_LINK_KEY, **overrides)
        self.log = EventLog(data_dir / "log.db")
        self.runtime = EmbeddedRuntime(self.log, build_topology(settings, load_scorer()))
        self.runtime.start()

    def publish(self, topic: str, events: list[CloudEvent]) -> None:
        self.runtime.publish(topic, events)

    def records(self, topic: str, *, min_count: int = 1, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.log.records(topic)
            if len(found) >= min_count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(found)} record(s) on {topic} after {timeout}s, wanted {min_count}: "
                    + json.dumps(found, ensure_ascii=False)[:2000]
                )
            time.sleep(0.05)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until every stage has read every record on its input topics."""
        deadline = time.monotonic() + timeout
        conn = self.log._connection()
        while True:
            behind = []
            for stage in self.runtime.topology.stages:
                marks = ",".join("?" * len(stage.inputs))
                (last,) = conn.execute(
                    f"SELECT COALESCE(MAX(offset), 0) FROM log WHERE topic IN ({marks})",
                    tuple(stage.inputs),
                ).fetchone()
                if last > EventLog.offset(conn, stage.name):
                    behind.append(stage.name)
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"stages {behind} not idle after {timeout}s")
            time.sleep(0.05)

    def close(self) -> None:
        self.runtime.stop()
