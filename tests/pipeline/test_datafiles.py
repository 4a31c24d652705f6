"""pipeline.datafiles: securing a SQLite file never breaks SQLite's locks in this process."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from pipeline.datafiles import FILE_MODE, secure_sqlite_file
from pipeline.runtimes.kafka.keystore import SqlKeyStore

# Another process opens the store and closes it again: with SQLite's locks of this process
# dropped, it believed it was the last connection and deleted the WAL under this process.
_OTHER = """
import sys
from pipeline.runtimes.kafka.keystore import SqlKeyStore
store = SqlKeyStore(sys.argv[1])
store.for_klants(["k-" + "0" * 32], create=False)
store.close()
"""


def _other_process(url: str) -> None:
    subprocess.run([sys.executable, "-c", _OTHER, url], check=True, timeout=60)


def test_a_second_store_in_one_process_keeps_new_keys_visible_to_others(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    url = f"sqlite:///{path}"
    edge = SqlKeyStore(url)  # the web edge's store, connections open
    edge.for_klants(["k-" + "1" * 32], create=True)
    SqlKeyStore(url)  # a second store in the same process (another component)
    _other_process(url)  # a worker that stops
    new = edge.for_klants(["k-" + "2" * 32], create=True)["k-" + "2" * 32]
    # What the edge created must be readable by every other process (the worker):
    # without the fix the edge wrote into a deleted WAL and this found nothing.
    with sqlite3.connect(path) as other:
        rows = other.execute("SELECT count(*) FROM klant_keys WHERE route = ?", (new.route,))
        assert rows.fetchone() == (1,)


def test_a_new_file_is_created_private_and_an_existing_one_tightened(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    secure_sqlite_file(new)
    assert new.exists() and (new.stat().st_mode & 0o777) == FILE_MODE
    loose = tmp_path / "loose.db"
    loose.write_bytes(b"")
    os.chmod(loose, 0o644)
    secure_sqlite_file(loose)
    assert (loose.stat().st_mode & 0o777) == FILE_MODE
