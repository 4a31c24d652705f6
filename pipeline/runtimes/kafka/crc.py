"""kafka-python's record batch checksum, compiled.

kafka-python computes the CRC-32C (Castagnoli) of every record batch it reads (the
consumer's check_crcs, on by default) or writes, in pure Python unless the optional
`crc32c` package is installed: ~150 us per KB, about 250 us per sealed event of this
project. In the warehouse sink that was the largest single cost per record (docs/kafka.md,
Performance). aiokafka, which the worker runs on and so is installed wherever this is,
ships the same checksum compiled (a few us per KB). `use_compiled_crc32c` points
kafka-python's record batches at it: the same checksum, so corrupt batches are still
refused (tests/pipeline/runtimes/kafka/test_sink_batch.py).

Process-wide: every kafka-python client of the process checks and writes with it. The sink
processes (`run_sink`) call it; the web edge and the bench's bare pass-through do not.
"""

from __future__ import annotations

_CHECK = (b"123456789", 0xE3069283)  # the CRC-32C check value (RFC 3720, B.4)


def use_compiled_crc32c() -> bool:
    """Make kafka-python's record batches use a compiled CRC-32C; True when they do now
    (already, or from here on), False when none is to be had (pure Python stays)."""
    from kafka.record import default_records, util

    if util.crc32c_c is not None:
        return True  # the crc32c package is installed: kafka-python uses it already
    try:
        from aiokafka.record.util import calc_crc32c, calc_crc32c_py
    except ImportError:  # pragma: no cover - aiokafka is a dependency
        return False
    if calc_crc32c is calc_crc32c_py or calc_crc32c(_CHECK[0]) != _CHECK[1]:
        return False  # aiokafka without its extensions: its own pure-Python fallback
    default_records.calc_crc32c = calc_crc32c  # what validate_crc and the builder call
    return True


__all__ = ["use_compiled_crc32c"]
