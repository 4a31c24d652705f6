"""Operations of the Kafka worker: logs, the ops listener, readiness and consumer lag."""

from __future__ import annotations

from typing import Any

from pipeline.ops.health import READINESS, serve_ops
from pipeline.ops.logs import dict_config
from pipeline.runtimes.kafka.agent_plan import consumed_topics
from pipeline.runtimes.kafka.lag import watch_lag
from pipeline.runtimes.kafka.topics import app_id
from pipeline.settings import Settings
from pipeline.topology import Topology

READY_PART = "worker"  # ready when the runtime logs READY_MARKER (partitions assigned)


def start_worker_ops(settings: Settings, topology: Topology, level: str) -> dict[str, Any]:
    """Start /healthz, /readyz, /metrics (when KLANTSIGNAAL_OPS_PORT is
    set) and watch the workers' group lag; returns the logging config for faust's Worker."""
    READINESS.expect(READY_PART)
    # The topics the group reads: not those only chained stages read (agent_plan).
    inputs = [settings.topic(t) for t in consumed_topics(topology)]
    watch_lag(settings.kafka_bootstrap, app_id(settings), inputs)
    serve_ops(settings, "worker")
    return dict_config(level, settings.log_format)


def worker_ready() -> None:
    READINESS.mark(READY_PART)


def worker_not_ready() -> None:
    """A rebalance began: partitions revoked, not yet assigned and recovered (/readyz 503)."""
    READINESS.mark(READY_PART, False)
