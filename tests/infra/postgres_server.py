"""A real, throw-away PostgreSQL server for the tests (the Debian `postgresql` package).

initdb + postgres in a fresh temporary directory, listening on a free loopback port with
trust auth. As root it runs as the `postgres` OS user, because initdb/postgres refuse root.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.infra._proc import die_with_parent, free_ports, tail, terminate

DEFAULT_DATABASE = "klantsignaal_test"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresStartError(RuntimeError):
    """initdb failed or the server did not accept connections in time."""


def find_pg_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin holding pg_ctl (override: PG_BIN_DIR)."""
    env = os.environ.get("PG_BIN_DIR")
    if env:
        return Path(env)
    found = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    if not found:
        raise PostgresStartError(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/pg_ctl); "
            "run scripts/install-test-deps.sh"
        )

    def major(path: str) -> float:
        try:
            return float(Path(path).parent.parent.name)
        except ValueError:
            return -1.0

    return Path(max(found, key=major)).parent


class PostgresServer:
    """Start with `with PostgresServer() as pg:` or `.start()` / `.stop()`; use `pg.url`."""

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        database: str = DEFAULT_DATABASE,
        startup_timeout: float = 60.0,
    ) -> None:
        self.bin_dir = bin_dir
        self.database = database
        self.startup_timeout = startup_timeout
        self.port = 0
        self.workdir: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._user: pwd.struct_passwd | None = None

    # -- public ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) for a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn_for(self, database: str) -> str:
        """libpq DSN, for plain psycopg."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "server not started"
        return self.workdir / "postgres.log"

    def start(self) -> PostgresServer:
        bin_dir = self.bin_dir or find_pg_bin_dir()
        began = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="klantsignaal-pg-"))
        try:
            self._user = self._os_user()
            if self._user is not None:
                os.chown(self.workdir, self._user.pw_uid, self._user.pw_gid)
            data = self.workdir / "data"
            init = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                **self._as_user(),
            )
            if init.returncode != 0:
                raise PostgresStartError(
                    f"initdb failed ({init.returncode}):\n{init.stdout}{init.stderr}"
                )
            (self.port,) = free_ports(1)
            self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - lives with the server
            # Durability settings off: the data is thrown away, and CREATE DATABASE per test
            # would otherwise fsync a whole template on a shared disk.
            self._proc = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.workdir),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "shared_buffers=32MB",
                    "-c",
                    "max_connections=200",
                ],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                **self._as_user(),
            )
            self._wait_ready(began)
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT, what `pg_ctl stop -m fast` sends), then remove the dir."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)
                try:
                    self._proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    terminate(self._proc, grace_seconds=0)
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def connect(self, database: str = "postgres") -> Any:
        """An autocommit psycopg connection (caller closes it)."""
        import psycopg

        return psycopg.connect(self.dsn_for(database), autocommit=True, connect_timeout=5)

    def create_database(self, name: str) -> str:
        _check_ident(name)
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        # FORCE: a test that forgot engine.dispose() must not make teardown fail.
        _check_ident(name)
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _os_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresStartError(
                "running as root but there is no 'postgres' OS user (initdb refuses root); "
                "install the postgresql package"
            ) from exc

    def _as_user(self) -> dict[str, Any]:
        """Popen arguments that drop to the postgres user (same effect as `runuser -u
        postgres --`, without an extra process between us and the server) and make the
        child die with the test process."""
        kwargs: dict[str, Any] = {"cwd": self.workdir, "preexec_fn": die_with_parent()}
        if self._user is not None:
            kwargs.update(
                user=self._user.pw_uid,
                group=self._user.pw_gid,
                extra_groups=[],
                env={
                    **os.environ,
                    "HOME": self._user.pw_dir,
                    "USER": "postgres",
                    "LOGNAME": "postgres",
                },
            )
        return kwargs

    def _wait_ready(self, began: float) -> None:
        import psycopg

        assert self._proc is not None
        deadline = began + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise PostgresStartError(
                    f"postgres exited with {self._proc.returncode}; last log lines:\n"
                    + tail(str(self.log_path))
                )
            try:
                self.connect().close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresStartError(
                        f"postgres not ready after {self.startup_timeout:.0f} s ({exc}); "
                        "last log lines:\n" + tail(str(self.log_path))
                    ) from exc
            time.sleep(0.05)


def _check_ident(name: str) -> None:
    # Names are interpolated into SQL; only allow plain lowercase identifiers.
    if not _IDENT.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
