"""The key store of crypto-shredding (see pipeline.sealing): one random key and one random
route id per klant, in a database every process of a Kafka deployment shares (SQLite file
`keys.db` in the data dir by default, PostgreSQL with KLANTSIGNAAL_KEYSTORE_URL).

`forget(klant)` deletes the row: from then on nothing can open that citizen's records on
any topic or changelog, and nothing links the route id to the klant. Processes cache keys
for KEY_CACHE_SECONDS, so a running worker stops reading them at most that long after.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from pipeline.datafiles import secure_sqlite_file, sqlite_path
from pipeline.sealing import KlantKey, Sealer

KEY_CACHE_SECONDS = 30.0

_metadata = MetaData()
klant_keys = Table(
    "klant_keys",
    _metadata,
    Column("klant", String(40), primary_key=True),
    Column("route", String(40), nullable=False, unique=True),
    Column("secret", LargeBinary(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA secure_delete=ON")  # a forgotten key leaves no bytes behind
    cur.close()


keystore_meta = Table(
    "keystore_meta",
    _metadata,
    Column("store_id", String(40), primary_key=True),
)


class KeyStore:
    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        if path is not None:
            secure_sqlite_file(path)  # 0600: the keys open every sealed record
        self.engine: Engine = create_engine(url, future=True, hide_parameters=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(4215011)"))
            _metadata.create_all(conn)
            if conn.execute(select(keystore_meta.c.store_id)).first() is None:
                conn.execute(keystore_meta.insert().values(store_id=os.urandom(8).hex()))
        with self.engine.connect() as conn:
            # Sealed records name the store that can open them: a process configured with
            # another store (KLANTSIGNAAL_KEYSTORE_URL) must fail loudly, not read "erased".
            self.store_id: str = conn.execute(select(keystore_meta.c.store_id)).scalar_one()
        self._cache: dict[str, tuple[float, KlantKey]] = {}
        self._lock = threading.Lock()

    def _cached(self, name: str) -> KlantKey | None:
        hit = self._cache.get(name)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def _remember(self, key: KlantKey) -> KlantKey:
        until = time.monotonic() + KEY_CACHE_SECONDS
        with self._lock:
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key.klant] = self._cache["@" + key.route] = (until, key)
        return key

    def _select(self, where: object) -> KlantKey | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(klant_keys).where(where)).first()  # type: ignore[arg-type]
        return KlantKey(row.klant, row.route, bytes(row.secret)) if row else None

    def for_klant(self, klant: str, create: bool) -> KlantKey | None:
        found = self._cached(klant) or self._select(klant_keys.c.klant == klant)
        if found is None and create:
            row = {
                "klant": klant,
                "route": "r-" + os.urandom(16).hex(),
                "secret": os.urandom(32),
                "created_at": datetime.now(UTC),
            }
            try:
                with self.engine.begin() as conn:
                    conn.execute(klant_keys.insert().values(**row))
            except IntegrityError:
                pass  # another process created it first: use theirs
            found = self._select(klant_keys.c.klant == klant)
        return self._remember(found) if found else None

    def for_route(self, route: str) -> KlantKey | None:
        found = self._cached("@" + route) or self._select(klant_keys.c.route == route)
        return self._remember(found) if found else None

    def forget(self, klant: str) -> int:
        """Delete the klant's key (crypto-shredding); how many rows went."""
        with self.engine.begin() as conn:
            n = conn.execute(delete(klant_keys).where(klant_keys.c.klant == klant)).rowcount
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:  # the deleted key out of the WAL file too
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        with self._lock:
            self._cache.clear()
        return n

    def close(self) -> None:
        self.engine.dispose()


def sealer_for(settings: object) -> Sealer | None:
    """The sealer of a Kafka deployment (None when KLANTSIGNAAL_KAFKA_SEAL=0)."""
    if not getattr(settings, "kafka_seal", 1):
        return None
    return Sealer(KeyStore(settings.keystore))  # type: ignore[attr-defined]
