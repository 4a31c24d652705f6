"""Reading the Kafka topics from the beginning, as a sink reads them (for rebuilds).

No consumer group: the partitions are assigned by hand and read from their beginning up
to the end offsets taken at the start, with read_committed (never a record of an aborted
or open transaction), so a rebuild never moves the running sinks' committed offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from pipeline.runtimes.kafka.keystore import sealer_for
from pipeline.runtimes.kafka.sinks import to_sink_record
from pipeline.runtimes.replay import ReplayBatch
from pipeline.settings import Settings

log = logging.getLogger(__name__)


class TopicReplay:
    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        batch_size: int = 500,
        poll_timeout: float = 1.0,
    ):
        self.logical = {settings.topic(t): t for t in topics}
        self.sealer = sealer_for(settings)  # sealed records open; forgotten klanten stay out
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            client_id=f"{settings.kafka_topic_prefix}klantsignaal-rebuild",
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_poll_records=batch_size,
        )
        partitions = []
        for topic in self.logical:
            found = self.consumer.partitions_for_topic(topic)
            if not found:
                log.warning("topic %s not found: nothing to read from it", topic)
            for p in sorted(found or ()):
                partitions.append(TopicPartition(topic, p))
        if not partitions:
            self.consumer.close()
            raise LookupError(
                f"geen Kafka-topics gevonden op {settings.kafka_bootstrap} "
                f"(prefix {settings.kafka_topic_prefix!r})"
            )
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning(*partitions)
        start = self.consumer.beginning_offsets(partitions)
        # Under read_committed these are the last stable offsets: nothing open is awaited.
        self.end = self.consumer.end_offsets(partitions)
        self.total = sum(self.end[tp] - start[tp] for tp in partitions)
        log.info("rebuild reads %d partition(s), about %d record(s)", len(partitions), self.total)

    def _done(self) -> bool:
        return all(self.consumer.position(tp) >= end for tp, end in self.end.items())

    def batches(self) -> Iterator[ReplayBatch]:
        try:
            while not self._done():
                polled = self.consumer.poll(
                    timeout_ms=int(self.poll_timeout * 1000), max_records=self.batch_size
                )
                batch, read = [], 0
                for tp, records in polled.items():
                    for record in records:
                        if record.offset >= self.end[tp]:
                            continue  # arrived after the rebuild started: the live sink has it
                        read += 1
                        item = to_sink_record(self.logical[tp.topic], record, self.sealer)
                        if item is not None:
                            batch.append(item)
                if read:
                    yield ReplayBatch(batch, read)
        finally:
            self.consumer.close()
