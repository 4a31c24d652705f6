"""The worker's key store on a PostgreSQL that refuses writes for a while (a primary being
failed over, a standby, maintenance with `default_transaction_read_only`): creating the
key of a new citizen is retried in place like any outage (pipeline/runtimes/kafka/
in_place.py), not raised. Raised, the error escaped the agent while an output was sealed,
and faust acked the record anyway: the invitation or signal of a new citizen skipped.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipeline.runtimes.kafka.in_place import Outage
from pipeline.runtimes.kafka.keystore import SqlKeyStore


class GaveUp(Exception):
    pass


def _give_up(what: str, exc: BaseException) -> NoReturn:
    raise GaveUp(f"{what}: {exc!r}")


@pytest.mark.postgres
def test_a_key_store_refusing_writes_is_waited_out_not_raised(postgres_url: str) -> None:
    store = SqlKeyStore(
        postgres_url, outage=Outage(limit_seconds=60, pauses=(0.1,), give_up=_give_up)
    )
    database = make_url(postgres_url).database
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
            )
        store.engine.dispose()  # new sessions start read-only

        def writable_again() -> None:
            time.sleep(1.0)
            with admin.connect() as conn:
                conn.execute(text("SET default_transaction_read_only = off"))
                conn.execute(
                    text(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
                )
                # as a failover does: the sessions on the read-only server end
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                )

        thread = threading.Thread(target=writable_again)
        thread.start()
        klant = "k-" + uuid.uuid4().hex
        began = time.monotonic()
        try:
            keys = store.for_klants([klant], create=True)
        finally:
            thread.join()
        assert klant in keys
        assert time.monotonic() - began >= 0.9  # it waited for the writes to come back
    finally:
        store.engine.dispose()
        admin.dispose()
