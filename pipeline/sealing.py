"""Crypto-shredding of Kafka records and stage state, per citizen (klant).

On Kafka a record cannot be deleted from a topic, so whatever links a record to a citizen
is sealed with a key of that citizen's own (AES-256-GCM), kept in the key store (the port
`KeyStore` below; its SQL adapter is `pipeline.runtimes.kafka.keystore`);
`klantsignaal privacy forget` deletes the key, and with it every
record and state entry of that citizen on every topic and changelog becomes unreadable:
- the record key (the klant pseudonym, also the partition key) is replaced by a random
  route id that only the key store maps to the klant, so partitioning stays per citizen;
- the value and every header but the non-personal ones (type, source, content type,
  dead-letter stage and topic) travel inside the sealed value;
- stage state keyed by a klant is stored under the route id, its value sealed.
Readers that find no key for a route treat the record as erased (skip it, no dead letter).
Records whose key is no klant (service alerts, monitor observations) stay as they are.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipeline.stages.base import StateUnavailable
from schemas import jsonfast

SEAL_HEADER = "ks_seal"
SEAL_VERSION = b"1"
_MAGIC = b"KS1"
_PLAIN_HEADERS = frozenset(
    ["content-type", "ce_specversion", "ce_type", "ce_source", "dl_stage", "dl_topic"]
)
_KLANT = re.compile(r"k-[0-9a-f]{32}")
_ROUTE = re.compile(rb"r-[0-9a-f]{32}")  # the routes the key store gives out
Headers = list[tuple[str, bytes]]
Record = tuple[bytes | None, Headers, bytes]


@dataclass(frozen=True)
class KlantKey:
    klant: str
    route: str
    secret: bytes  # 32 bytes


class KeyLookup(Protocol):
    store_id: str

    def for_klant(self, klant: str, create: bool) -> KlantKey | None: ...

    def for_route(self, route: str) -> KlantKey | None: ...


class BatchKeyLookup(KeyLookup, Protocol):
    """A key lookup that finds (and creates) the keys of many klanten in one round trip."""

    def for_klants(self, klants: Iterable[str], create: bool) -> dict[str, KlantKey]: ...


class KeyStore(BatchKeyLookup, Protocol):
    """The port of the key store every process of a Kafka deployment shares.

    Keys read from the store may be cached by a process for at most its bound (seconds)
    from the moment they were read, never longer however often they are used: a key
    forgotten in another process stops opening records within that bound.
    """

    def forget(self, klant: str) -> int: ...

    def close(self) -> None: ...


class Erased:
    """A sealed record or state entry whose key is gone: treat as never there."""

    def __repr__(self) -> str:
        return "ERASED"


ERASED = Erased()


class NotCached:
    """`Sealer.open_cached`: the record's key is not in the key store's cache (open it
    where waiting for the key store is fine, with `open_fresh`)."""

    def __repr__(self) -> str:
        return "NOT_CACHED"


NOT_CACHED = NotCached()


def is_klant(key: str) -> bool:
    return _KLANT.fullmatch(key) is not None


def _cipher(key: KlantKey) -> AESGCM:
    """The klant's AES-GCM cipher, made once per KlantKey (the key store caches those for
    its bound): a new AESGCM sets its key up again on first use, ~9 µs a record instead of
    ~1 µs with the one kept. Kept on the key object, so it goes when the key goes."""
    cipher = key.__dict__.get("_cipher")
    if cipher is None:
        cipher = AESGCM(key.secret)
        object.__setattr__(key, "_cipher", cipher)  # frozen: not a field, not compared
    return cipher


def _encrypt(key: KlantKey, plain: bytes) -> bytes:
    nonce = os.urandom(12)
    return _MAGIC + nonce + _cipher(key).encrypt(nonce, plain, key.route.encode())


def _decrypt(key: KlantKey, sealed: bytes) -> bytes:
    if not sealed.startswith(_MAGIC) or len(sealed) < len(_MAGIC) + 12 + 16:
        raise ValueError("sealed record is malformed")
    nonce, body = sealed[3:15], sealed[15:]
    try:
        return _cipher(key).decrypt(nonce, body, key.route.encode())
    except InvalidTag as exc:
        raise ValueError("sealed record does not decrypt with its klant's key") from exc


def _strings_json(inner: dict[str, Any]) -> bytes:
    """`jsonfast.dumps` of a sealed record's inside, which holds nothing but strings (the
    klant, header names, and header values and the value read as Latin-1): orjson's text
    as is. `jsonfast.dumps` writes the same bytes, but first reads the whole text back
    whenever it contains "null" (any record whose JSON value has a null in it), to rule
    out a NaN that no string can be. Anything else (not expected) goes through it."""
    try:
        return orjson.dumps(inner, option=jsonfast.STDLIB_TYPES_ONLY)  # its options too
    except TypeError:
        return jsonfast.dumps(inner)


class Sealer:
    """Seals and opens records and state entries with the per-klant keys of `keys`."""

    def __init__(self, keys: KeyLookup) -> None:
        self.keys = keys

    # -- records ------------------------------------------------------------------------
    def seal(
        self, key: bytes | None, headers: Headers, value: bytes
    ) -> tuple[bytes | None, Headers, bytes]:
        klant = key.decode("utf-8", "replace") if key else ""
        if not is_klant(klant):
            return key, headers, value
        found = self.keys.for_klant(klant, create=True)
        assert found is not None
        return self._sealed(found, headers, value)

    def seal_many(self, records: Sequence[Record]) -> list[Record]:
        """Like `seal` for each record, with the keys of all their klanten looked up (and the
        new ones created) together: one key-store round trip for a group of records."""
        klants = [k.decode("utf-8", "replace") for k, _, _ in records if k]
        wanted = [k for k in klants if is_klant(k)]
        batch = getattr(self.keys, "for_klants", None)
        found = batch(wanted, create=True) if batch is not None and wanted else {}
        out: list[Record] = []
        for key, headers, value in records:
            klant = key.decode("utf-8", "replace") if key else ""
            own = found.get(klant)
            out.append(self._sealed(own, headers, value) if own else self.seal(key, headers, value))
        return out

    def _sealed(self, found: KlantKey, headers: Headers, value: bytes) -> Record:
        klant = found.klant
        inner = {
            "k": klant,
            "h": [[n, v.decode("latin-1")] for n, v in headers],
            "v": value.decode("latin-1"),
        }
        plain = _strings_json(inner)
        seal_header = SEAL_VERSION + b":" + self.keys.store_id.encode()
        outer = [(SEAL_HEADER, seal_header)] + [(n, v) for n, v in headers if n in _PLAIN_HEADERS]
        return found.route.encode(), outer, _encrypt(found, plain)

    def open(
        self, key: bytes | None, headers: Headers, value: bytes | None
    ) -> tuple[bytes | None, Headers, bytes | None] | Erased:
        """The record as sealed, ERASED when its key is gone; ValueError when tampered."""
        opened = self._open(key, headers, value, self.keys.for_route, ERASED)
        return opened  # type: ignore[return-value]  # never NOT_CACHED

    def open_cached(
        self, key: bytes | None, headers: Headers, value: bytes | None
    ) -> tuple[bytes | None, Headers, bytes | None] | Erased | NotCached:
        """As `open`, without a key store call: NOT_CACHED when a sealed record's key is not
        in the key store's cache (its `cached_route`; a store without one caches nothing).
        For a caller that must not wait for the key store (the Kafka worker's event loop);
        it opens such a record with `open_fresh` where waiting is fine. A record that is
        not sealed, or cannot be opened whatever its key, is answered as by `open`."""
        cached = getattr(self.keys, "cached_route", None)
        return self._open(key, headers, value, cached, NOT_CACHED)

    def open_fresh(
        self, key: bytes | None, headers: Headers, value: bytes | None
    ) -> tuple[bytes | None, Headers, bytes | None] | Erased:
        """As `open`, with the key store's `fresh_route` when it has one (a key about to
        leave the cache is read again): what `open_cached` did not open."""
        find = getattr(self.keys, "fresh_route", None) or self.keys.for_route
        opened = self._open(key, headers, value, find, ERASED)
        return opened  # type: ignore[return-value]  # never NOT_CACHED

    def _open(
        self,
        key: bytes | None,
        headers: Headers,
        value: bytes | None,
        find: Any,
        missing: Erased | NotCached,
    ) -> tuple[bytes | None, Headers, bytes | None] | Erased | NotCached:
        """The record opened with the key `find(route)` gives; `missing` when it gives none."""
        seal = next((v for name, v in headers if name == SEAL_HEADER), None)
        if seal is None:
            return key, headers, value
        if seal != SEAL_VERSION + b":" + self.keys.store_id.encode():
            raise ValueError(
                "record sealed with another key store: every process must share "
                "KLANTSIGNAAL_KEYSTORE_URL (docs/privacy.md)"
            )
        if key is None or _ROUTE.fullmatch(key) is None:  # not looked up: no route of ours
            raise ValueError("sealed record has no route as its key")
        found = find(key.decode()) if find is not None else None
        if found is None:
            return missing
        try:
            inner = jsonfast.loads(_decrypt(found, value or b""))
            restored = [(str(n), str(v).encode("latin-1")) for n, v in inner["h"]]
            return inner["k"].encode(), restored, inner["v"].encode("latin-1")
        except ValueError:
            raise
        except Exception as exc:  # its content is not a sealed record: the type, never a value
            raise ValueError(f"sealed record is malformed ({type(exc).__name__})") from exc

    def prefetch(self, keys: Iterable[bytes | None]) -> None:
        """Warm the key cache for the routes among these record keys in one round trip
        (a key store with `prefetch_routes`; best effort): `open` then finds them cached.
        Blocks on the key store: the Kafka worker runs `prefetch_routes` off its event loop
        (pipeline/runtimes/kafka/key_reads.py)."""
        routes = self.routes_to_prefetch(keys)
        if routes:
            self.prefetch_routes(routes)

    def routes_to_prefetch(self, keys: Iterable[bytes | None]) -> list[str]:
        """The routes among these record keys whose keys a prefetch would read: none with
        fewer than two not cached (one is looked up by its record), or a key store without
        `prefetch_routes` and `uncached_routes`. Reads only the cache."""
        uncached = getattr(self.keys, "uncached_routes", None)
        if uncached is None or not hasattr(self.keys, "prefetch_routes"):
            return []
        missing: list[str] = uncached([k.decode() for k in keys if k and _ROUTE.fullmatch(k)])
        return missing if len(missing) >= 2 else []

    def prefetch_routes(self, routes: Sequence[str]) -> None:
        """Read the keys of these routes into the key store's cache (best effort)."""
        self.keys.prefetch_routes(routes)  # type: ignore[attr-defined]

    def release_reads(self) -> None:
        """Drop the calling thread's key-read connection (a key store that keeps one per
        thread: `release_reads`), at the end of a thread that read keys."""
        release = getattr(self.keys, "release_reads", None)
        if release is not None:
            release()

    # -- state --------------------------------------------------------------------------
    def _state_key_of(self, klant: str, create: bool) -> KlantKey | None:
        """The klant's key for a state entry. A key store that fails (what its own retries
        did not cover: a lost grant, a missing table) is never the record's fault: raised
        as StateUnavailable, so the stage does not dead-letter the record."""
        try:
            return self.keys.for_klant(klant, create=create)
        except Exception as exc:
            raise StateUnavailable(f"key store: {type(exc).__name__}") from exc

    def state_key(self, key: str, *, create: bool) -> str | None:
        """The table key for a state key: the route of a klant (None: no key, so no state)."""
        if not is_klant(key):
            return key
        found = self._state_key_of(key, create)
        return found.route if found else None

    def seal_state(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        if not is_klant(key):
            return value
        found = self._state_key_of(key, True)
        assert found is not None
        plain = jsonfast.dumps(value)
        return {"sealed": base64.b64encode(_encrypt(found, plain)).decode()}

    def open_state(self, key: str, stored: dict[str, Any]) -> dict[str, Any] | None:
        if not is_klant(key) or "sealed" not in stored:
            return stored
        found = self._state_key_of(key, False)
        if found is None:
            return None
        return jsonfast.loads(_decrypt(found, base64.b64decode(stored["sealed"])))
