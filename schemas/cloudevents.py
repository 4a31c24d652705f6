"""CloudEvents 1.0 envelope: structured mode (HTTP, embedded log) and Kafka binary mode."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas import jsonfast

SPEC_VERSION = "1.0"
# Context attributes that are not extensions; everything else on the envelope is one.
_CORE = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema")
_NOT_EXTENSIONS = frozenset((*_CORE, "data", "partitionkey"))


def utc_now() -> str:
    """The time now, to the millisecond ("2026-11-30T06:12:15.123Z"). Every derived event
    gets one, so the text of the current millisecond is made once (same clock, same text),
    and the text of the current second too: a millisecond of it only adds its digits
    (`ms_text`, the same text as the datetime's isoformat)."""
    global _now
    ms = time.time_ns() // 1_000_000
    last = _now
    if last[0] == ms:
        return last[1]
    text = ms_text(ms)
    _now = (ms, text)
    return text


def ms_text(ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 in UTC to the millisecond: what
    `datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")` gives with
    "Z" for "+00:00", the second's part made once per second."""
    global _second
    seconds, millis = divmod(ms, 1000)
    second = _second
    if second[0] != seconds:
        at = datetime.fromtimestamp(seconds, UTC)
        second = (seconds, at.isoformat(timespec="seconds").removesuffix("+00:00") + ".")
        _second = second
    return f"{second[1]}{millis:03d}Z"


_now: tuple[int, str] = (-1, "")  # (millisecond, its text), replaced as a whole
_second: tuple[int, str] = (-1, "")  # (second, its text up to the "."), the same


@dataclass(frozen=True)
class CloudEvent:
    id: str
    source: str
    type: str
    data: dict[str, Any]
    time: str | None = None
    subject: str | None = None
    # Kafka binding's partitioning extension: the pseudonymous klant key.
    partitionkey: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    # The schema `$id` the data was validated against (set by the edge and the stages).
    dataschema: str | None = None

    def to_structured(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "datacontenttype": "application/json",
        }
        if self.time:
            out["time"] = self.time
        if self.subject:
            out["subject"] = self.subject
        if self.partitionkey:
            out["partitionkey"] = self.partitionkey
        if self.dataschema:
            out["dataschema"] = self.dataschema
        out.update(self.extensions)
        out["data"] = self.data
        return out

    @classmethod
    def from_structured(cls, raw: dict[str, Any]) -> CloudEvent:
        """Build from an already validated structured-mode dict."""
        extensions = {k: v for k, v in raw.items() if k not in _NOT_EXTENSIONS}
        if cls is not CloudEvent:
            return cls(**_structured_fields(raw, extensions))
        return built(_structured_fields(raw, extensions))

    def to_binary(self) -> tuple[bytes | None, list[tuple[str, bytes]], bytes]:
        """Kafka binary content mode: (key, ce_ headers, JSON data as the value)."""
        attrs = self.to_structured()
        data = attrs.pop("data")
        content_type = attrs.pop("datacontenttype")
        headers = [("content-type", content_type.encode())]
        headers += [(f"ce_{k}", str(v).encode()) for k, v in attrs.items()]
        key = self.partitionkey.encode() if self.partitionkey else None
        return key, headers, jsonfast.dumps(data)

    @classmethod
    def from_binary(
        cls, key: bytes | None, headers: list[tuple[str, bytes]] | None, value: bytes | None
    ) -> CloudEvent:
        """Parse Kafka binary mode; raises ValueError with a reason when it is not a CloudEvent."""
        attrs: dict[str, Any] = {}
        for name, raw in headers or []:
            if name.startswith("ce_"):
                attrs[name[3:]] = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        missing = [a for a in ("specversion", "id", "source", "type") if a not in attrs]
        if missing:
            names = ", ".join("ce_" + m for m in missing)
            raise ValueError(f"not a CloudEvent: missing header(s) {names}")
        try:
            data = jsonfast.loads_text(value) if value else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"record value is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("record value must be a JSON object")
        if "partitionkey" not in attrs and key:
            attrs["partitionkey"] = key.decode("utf-8", "replace")
        attrs["data"] = data
        return cls.from_structured(attrs)


def _structured_fields(raw: dict[str, Any], extensions: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": raw["id"],
        "source": raw["source"],
        "type": raw["type"],
        "data": raw.get("data") or {},
        "time": raw.get("time"),
        "subject": raw.get("subject"),
        "partitionkey": raw.get("partitionkey"),
        "extensions": extensions,
        "dataschema": raw.get("dataschema"),
    }


_FIELDS = frozenset(CloudEvent.__dataclass_fields__)


def built(fields: dict[str, Any]) -> CloudEvent:
    """CloudEvent(**fields) for a dict of ALL its fields, without the frozen dataclass's
    __init__ (one object.__setattr__ per field): the same object, made several times faster
    (stages make one per record they read and per event they emit). A dict with other keys
    goes through __init__, which refuses it as before."""
    if fields.keys() != _FIELDS:
        return CloudEvent(**fields)
    event = object.__new__(CloudEvent)
    event.__dict__.update(fields)
    return event


def new_event(
    type_: str,
    data: dict[str, Any],
    *,
    source: str,
    key: str | None,
    subject: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    return built(
        {
            "id": event_id or str(uuid.uuid4()),
            "source": source,
            "type": type_,
            "data": data,
            "time": utc_now(),
            "subject": subject,
            "partitionkey": key,
            "extensions": {},
            "dataschema": None,
        }
    )


def derived_id(namespace: str, *parts: str) -> str:
    """Deterministic id for an event derived from others, so a replayed stage emits the same id.

    uuid.uuid5(NAMESPACE_URL, name) computed directly (stages derive an id for most records
    they read; the test compares the two)."""
    name = f"klantsignaal:{namespace}:" + ":".join(parts)
    digest = _SHA1_URL_NAMESPACE.copy()  # sha1(namespace + name), the namespace hashed once
    digest.update(name.encode())
    value = int.from_bytes(digest.digest()[:16])
    value = (value & _UUID5_KEEP) | _UUID5_BITS
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes
_SHA1_URL_NAMESPACE = hashlib.sha1(_URL_NAMESPACE)
# RFC 4122 variant and version 5, set as uuid.UUID(bytes=..., version=5) sets them.
_UUID5_KEEP = ~((0xC000 << 48) | (0xF000 << 64))
_UUID5_BITS = (0x8000 << 48) | (5 << 76)
