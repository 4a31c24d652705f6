"""faust's Monitor sensor without its per-record statistics (issue 10: per-record cost).

faust calls its Monitor for every message in and out, every stream event, every table read
and write and every send: counters, timings and a deque of latencies per event, which
only faust's own web views read (`web_enabled=False` here; the worker's figures are the
Prometheus metrics of pipeline/ops). What faust itself reads from the Monitor is kept:
when a stream last took an event of a partition (`stream_inbound_time`, for its "stream
stalled" warnings), the end and committed offsets it is told, and rebalance and commit
timings (per rebalance or commit, not per record).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.monitor import Monitor


class LeanMonitor(Monitor):
    """faust's Monitor, minus the bookkeeping per record, table access and send."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()  # read by faust's stall check
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None
