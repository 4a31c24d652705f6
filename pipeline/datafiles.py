"""Data files readable by the service account only: the data directory 0700, files 0600.

SQLite creates its -wal and -shm files with the mode of the database file, so creating
the database file 0600 before SQLite opens it covers those too.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def secure_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def secure_sqlite_file(path: Path) -> None:
    """Create the database file 0600 if missing; tighten it and its companions if not.

    An existing file is never opened here: closing any descriptor of a file drops every
    POSIX lock this process holds on it, SQLite's included. A second store opened in a
    process that already had the file open then left SQLite unprotected: another process
    closing its last connection deleted the WAL under it, and what this process wrote next
    went to the deleted WAL, invisible to every other process (keys a worker then read as
    "erased")."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)  # a new, empty file: nothing holds a lock on it yet
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.chmod(companion, FILE_MODE)


def sqlite_path(url: str) -> Path | None:
    """The file of a sqlite:/// URL, None for other databases or in-memory SQLite."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or ":memory:" in url:
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def database_urls(settings: object) -> tuple[str, ...]:
    """Every database URL the settings name (properties warehouse, dispatch, ... that are
    URLs), so a database added later is covered without a change here."""
    urls = []
    for name in dir(type(settings)):
        if isinstance(getattr(type(settings), name, None), property):
            value = getattr(settings, name)
            if isinstance(value, str) and "://" in value and not value.startswith("http"):
                urls.append(value)
    return tuple(urls)


def secure_data_files(data_dir: Path, urls: tuple[str, ...]) -> None:
    """The data directory and every SQLite database in it (log, warehouse, dispatch)."""
    secure_dir(data_dir)
    for file in data_dir.glob("*.json"):
        os.chmod(file, FILE_MODE)
    secure_sqlite_file(data_dir / "log.db")
    for existing in data_dir.glob("*.db"):
        secure_sqlite_file(existing)
    for url in urls:
        path = sqlite_path(url)
        if path is not None:
            secure_sqlite_file(path)
