"""Records on the wire: CloudEvents in Kafka binary content mode, and dead letters as JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.processing import DeadLetter
from pipeline.sealing import Erased, NotCached, Sealer
from schemas.cloudevents import CloudEvent

Headers = list[tuple[str, bytes]]
log = logging.getLogger(__name__)


def headers_list(headers: Any) -> Headers:
    """Headers as (name, bytes) pairs, whichever shape the client library delivers."""
    if not headers:
        return []
    items: Iterable[tuple[str, Any]] = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in items]


def _text(raw: bytes | None) -> str | None:
    return raw.decode("utf-8", "replace") if raw is not None else None


def raw_parts(key: bytes | None, headers: Headers, value: bytes | None) -> dict[str, Any]:
    """A JSON-safe picture of an undecodable record, for the dead-letter body."""
    return {
        "key": _text(key),
        "headers": {k: _text(v) for k, v in headers},
        "value": _text(value),
    }


def decode(key: bytes | None, headers: Headers, value: bytes | None) -> CloudEvent | str:
    """The event in binary content mode, or the reason it is not one."""
    try:
        return CloudEvent.from_binary(key, headers, value)
    except Exception as exc:  # any decode failure is a dead-letter reason, never a crash
        # Our own ValueErrors name the problem, never a value; anything else only by type.
        return str(exc) if isinstance(exc, ValueError) else f"geen CloudEvent: {type(exc).__name__}"


def dead_letter_record(dl: DeadLetter) -> tuple[bytes, Headers]:
    """Value (DeadLetter.to_dict() as JSON) and headers of a dead-letter record. Whatever
    text the record holds, this gives a record: a str UTF-8 cannot carry (a lone surrogate)
    is written as a JSON escape, so the dead letter is never the error that loses it."""
    body = dl.to_dict()
    try:
        value = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        value = json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode()
    headers: Headers = [
        ("content-type", b"application/json"),
        ("dl_reason", _header(dl.reason)[:1000]),
        ("dl_stage", _header(dl.stage)),
        ("dl_topic", _header(dl.topic)),
    ]
    return value, headers


def _header(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")


def seal(
    sealer: Sealer | None, key: bytes | None, headers: Headers, value: bytes
) -> tuple[bytes | None, Headers, bytes]:
    """A record as it goes on the wire: sealed per klant when crypto-shredding is on."""
    return sealer.seal(key, headers, value) if sealer is not None else (key, headers, value)


def open_input(
    sealer: Sealer | None,
    key: bytes | None,
    headers: Headers,
    value: bytes | None,
    cached_only: bool = False,
) -> tuple[bytes | None, Headers, bytes | None] | Erased | NotCached | str:
    """A stage's input record opened, ERASED, or the reason it cannot be opened (a record
    sealed with another key store, a key that is no route, content that is no sealed
    record): the stages dead-letter it. Named by type, never a value. What else raises is
    not the record's fault (the key store failing: retried in place inside it, or raised
    for the worker to stop). `cached_only` (the worker's event loop): NOT_CACHED instead
    of a key store call (`Sealer.open_cached`); else the key is read if not cached, or
    due to leave the cache soon (`Sealer.open_fresh`; pipeline/runtimes/kafka/key_reads.py)."""
    if sealer is None:
        return key, headers, value
    try:
        if cached_only:
            return sealer.open_cached(key, headers, value)
        return sealer.open_fresh(key, headers, value)
    except (ValueError, KeyError, TypeError) as exc:
        # Sealing's own ValueErrors name the problem, never a value; others only by type.
        why = str(exc) if type(exc) is ValueError else type(exc).__name__
        return f"verzegeld record niet te openen: {why}"


def open_record(
    sealer: Sealer | None, key: bytes | None, headers: Headers, value: bytes | None
) -> tuple[bytes | None, Headers, bytes | None] | Erased:
    """A record as read from the wire, opened; ERASED when its klant was forgotten. A
    sealed record that does not open (tampered, another key store) stays sealed: decode
    then finds no CloudEvent in it, so it is dead-lettered or skipped with a warning."""
    if sealer is None:
        return key, headers, value
    try:
        return sealer.open(key, headers, value)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("sealed record not opened: %s", exc)
        return key, headers, value
