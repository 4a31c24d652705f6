"""kafka-python checksums every record batch with CRC-32C: in C when the `crc32c` package
(a dependency) is installed, else in pure Python, ~0.45 ms per 2.5 KB batch, which was the
web edge's largest single cost per request (docs/kafka.md, Performance)."""

from __future__ import annotations

import os

from kafka.record import _crc32c, util


def test_kafka_python_checksums_batches_in_c() -> None:
    import crc32c  # the dependency in pyproject.toml; an ImportError fails this test

    assert util._crc32c is crc32c.crc32c, "kafka-python fell back to its pure-Python CRC-32C"


def test_the_c_checksum_is_the_one_kafka_python_computes_itself() -> None:
    for data in (b"", b"123456789", os.urandom(2500), bytes(range(256)) * 9):
        assert util.calc_crc32c(memoryview(data)) == _crc32c.crc(memoryview(data))
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the CRC-32C check value
