"""The monitor's observations on their topic, whether single or coalesced (one record per
cell and run, pipeline/monitoring/batches.py): tests count observations, not records."""

from __future__ import annotations

import time
from typing import Any

from pipeline.monitoring.batches import observation_items
from schemas.types import MONITOR_OBSERVATION


def observations(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every observation in structured records of either type, in order (wire form)."""
    return [item for record in records for item in observation_items(record)]


def wait_observations(runtime: Any, min_count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The observations on the topic once at least `min_count` are there."""
    deadline = time.monotonic() + timeout
    while True:
        found = observations(runtime.records(MONITOR_OBSERVATION.topic, min_count=0))
        if len(found) >= min_count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(found)} observation(s) after {timeout} s, wanted {min_count}"
            )
        time.sleep(0.2)
