"""The monitor's state for one (dienst, kanaal) cell: a chart per metric plus evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.monitoring.charts import Finding, MonitorConfig, new_chart, observe
from pipeline.monitoring.dedup import SEEN_CHARS, SEEN_IDS, Position, already_seen, remember
from pipeline.monitoring.outcomes import NOT_ANSWERED
from pipeline.monitoring.pending import Store
from pipeline.monitoring.response import has_open, response_outcomes

__all__ = ["SEEN_CHARS", "SEEN_IDS", "already_seen", "examples", "new_cell", "observe_cell"]


def new_cell() -> dict[str, Any]:
    return {"charts": {}, "examples": {}, "seen": []}


def observe_cell(
    cell: dict[str, Any],
    observation_id: str,
    outcomes: Mapping[str, bool],
    at: str,
    comment: str | None,
    config: MonitorConfig,
    invited: str | None = None,
    answered: str | None = None,
    store: Store | None = None,
    key: str = "",
    position: Position | None = None,
    window: list[int] | None = None,
) -> list[Finding]:
    """Feed one observation's outcomes into the cell's charts (cell mutated in place).

    `invited`/`answered` (contactIds) feed the response-rate chart through the pending
    invitations, which live in `store` under keys starting with the cell's `key`
    (pipeline/monitoring/response.py); without a store the chart is not fed. `position`:
    where the observation came from, and `window` its log's window (changed in place), for
    counting it once (pipeline/monitoring/dedup.py)."""
    remember(cell, observation_id, position, window)
    cell.pop("pending", None)  # the layout before the queues had their own keys
    cell.pop("early", None)
    found: list[Finding] = []
    if store is not None and (invited is not None or answered is not None or has_open(cell)):
        decided = response_outcomes(cell, store, key, at, config.response_days, invited, answered)
        for bad in decided:
            chart = cell["charts"].setdefault(NOT_ANSWERED, new_chart())
            finding = observe(chart, NOT_ANSWERED, bad, at, config)
            if finding is not None:
                found.append(finding)
    for metric, bad in sorted(outcomes.items()):
        if bad and comment:
            kept = cell["examples"].get(metric, [])
            cell["examples"][metric] = [*kept, comment][-config.examples :]
        chart = cell["charts"].setdefault(metric, new_chart())
        finding = observe(chart, metric, bad, at, config)
        if finding is not None:
            found.append(finding)
    return found


def examples(cell: dict[str, Any], metric: str) -> tuple[str, ...]:
    return tuple(cell["examples"].get(metric, ()))
