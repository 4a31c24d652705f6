"""The default Kafka partitioner with its key hashes remembered.

aiokafka's DefaultPartitioner hashes every record key with murmur2 in pure Python (the
partition Java clients pick for the same key). A worker sends several records per key
(an answer's signal and alert, a run's observations per service cell, table changelog
writes), so the hash of a recent key is looked up instead of computed again: the same
partition for the same key, as before (tests/pipeline/runtimes/kafka/test_worker_speed.py).
"""

from __future__ import annotations

import random
from functools import lru_cache

from aiokafka.partitioner import murmur2

KEYS_REMEMBERED = 16_384


@lru_cache(maxsize=KEYS_REMEMBERED)
def key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


class RememberingPartitioner:
    """aiokafka's DefaultPartitioner (same result for every key), hashes remembered."""

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:  # as the default: any available partition
            return random.choice(available or all_partitions)
        return all_partitions[key_hash(bytes(key)) % len(all_partitions)]
