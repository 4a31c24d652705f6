"""The accounts store: staff users (argon2 hashes), API tokens (SHA-256 hashes) and sessions.

Read on every request, so `klantsignaal users add` and `tokens add` take effect at once,
also while `klantsignaal run` is running. SQLite in the data dir by default, or PostgreSQL
(KLANTSIGNAAL_ACCOUNTS_URL) when several web processes share it.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    case,
    create_engine,
    delete,
    event,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from pipeline.times import as_utc
from pipeline.web.authz import ROLES, SCOPES, Principal

# Attempts for one username run one at a time (striped locks) within a process; across
# processes every attempt is counted in the accounts database before its password is
# checked (one atomic UPDATE that also refuses while locked), so several web processes
# together get no more guesses than one.
_ATTEMPT_LOCKS = tuple(threading.Lock() for _ in range(64))
MAX_FREE_FAILURES = 5  # wrong passwords before the account is locked for a while
FIRST_LOCK_SECONDS = 30  # doubles with every further failure
MAX_LOCK_SECONDS = 15 * 60

_metadata = MetaData()
users = Table(
    "users",
    _metadata,
    Column("username", String(100), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("teams", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
tokens = Table(
    "api_tokens",
    _metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("scope", String(20), nullable=False),
    Column("teams", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
sessions = Table(
    "sessions",
    _metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("username", String(100), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
failures = Table(
    "login_failures",
    _metadata,
    Column("username", String(100), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True)),
)

_hasher = PasswordHasher()
# Verified when the username does not exist, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("klantsignaal-dummy-password")


def _lock_after(previous: Any, now: datetime) -> Any:
    """SQL for the end of the lock after one more failure than `previous`: none for the
    first MAX_FREE_FAILURES - 1, then FIRST_LOCK_SECONDS doubling up to MAX_LOCK_SECONDS."""
    whens = []
    seconds, count = FIRST_LOCK_SECONDS, MAX_FREE_FAILURES
    while seconds < MAX_LOCK_SECONDS:
        whens.append((previous + 1 == count, now + timedelta(seconds=seconds)))
        seconds, count = seconds * 2, count + 1
    return case(
        (previous + 1 < MAX_FREE_FAILURES, None),
        *whens,
        else_=now + timedelta(seconds=MAX_LOCK_SECONDS),
    )


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def _engine(url: str) -> Engine:
    engine = create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(4215002)"))
        _metadata.create_all(conn)
    return engine


class AccountStore:
    def __init__(self, url: str, clock: Any = None):
        self.engine = _engine(url)
        self.now = clock or (lambda: datetime.now(UTC))

    # -- users --------------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str, teams: list[str]) -> None:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if not username.strip() or len(username) > 100:
            raise AccountError("username must be 1 to 100 characters")
        if len(password) < 12:
            raise AccountError("password must be at least 12 characters")
        row = {
            "username": username,
            "password_hash": _hasher.hash(password),
            "role": role,
            "teams": sorted(set(teams)),
            "created_at": self.now(),
        }
        with self.engine.begin() as conn:
            conn.execute(delete(users).where(users.c.username == username))
            conn.execute(users.insert().values(**row))
            conn.execute(delete(failures).where(failures.c.username == username))

    def user(self, username: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            return None
        return Principal(
            name=row.username, kind="user", role=row.role, teams=frozenset(row.teams or [])
        )

    def list_users(self) -> list[dict[str, Any]]:
        """Every user with role, teams and when added (never the password hash)."""
        cols = (users.c.username, users.c.role, users.c.teams, users.c.created_at)
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).order_by(users.c.username))
            return [{**r._mapping, "created_at": as_utc(r.created_at)} for r in rows]

    def remove_user(self, username: str) -> bool:
        """Remove a user and end their sessions at once; False when there was no such user."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(users).where(users.c.username == username)).rowcount
            conn.execute(delete(sessions).where(sessions.c.username == username))
            conn.execute(delete(failures).where(failures.c.username == username))
        return bool(gone)

    def usernames(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(users.c.username).order_by(users.c.username))]

    def verify_password(self, username: str, password: str) -> Principal | None:
        """The user when the password is right and the account is not locked; counts failures."""
        stripe = int.from_bytes(
            hashlib.sha256(username[:100].encode("utf-8", "surrogatepass")).digest()[:2], "big"
        )
        with _ATTEMPT_LOCKS[stripe % len(_ATTEMPT_LOCKS)]:
            return self._verify_password(username, password)

    def _verify_password(self, username: str, password: str) -> Principal | None:
        if not self._count_attempt(username):
            return None  # locked: not counted, not checked
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.password_hash).where(users.c.username == username)
            ).first()
        try:
            ok = _hasher.verify(row[0] if row else _DUMMY_HASH, password) and row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            return None  # counted already, before the check
        with self.engine.begin() as conn:
            conn.execute(delete(failures).where(failures.c.username == username))
        return self.user(username)

    def locked_for(self, username: str) -> float:
        """Seconds until this username may try again (0: it may)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(failures.c.locked_until).where(failures.c.username == username)
            ).first()
        until = as_utc(row[0]) if row else None
        return max(0.0, (until - self.now()).total_seconds()) if until else 0.0

    def _count_attempt(self, username: str) -> bool:
        """Count one attempt, unless the username is locked (then False). One atomic UPDATE
        on the row, which every process of the web tier shares: the count and the lock it
        leads to are set together, so no process can slip a guess in between."""
        key = username[:100]
        now = self.now()
        with self.engine.begin() as conn:
            exists = conn.execute(select(failures.c.count).where(failures.c.username == key))
            if exists.first() is None:
                try:
                    with conn.begin_nested():
                        conn.execute(failures.insert().values(username=key, count=0))
                except IntegrityError:
                    pass  # another process inserted it first
            counted = conn.execute(
                update(failures)
                .where(
                    failures.c.username == key,
                    (failures.c.locked_until.is_(None)) | (failures.c.locked_until <= now),
                )
                .values(count=failures.c.count + 1, locked_until=_lock_after(failures.c.count, now))
                .returning(failures.c.count)
            ).first()
        return counted is not None

    # -- API tokens ---------------------------------------------------------------------
    def add_token(self, name: str, scope: str, teams: list[str]) -> str:
        """A new token; only its hash is kept, so this is the one time it is seen."""
        if scope not in SCOPES:
            raise AccountError(f"scope must be one of {', '.join(SCOPES)}")
        token = "ks_" + secrets.token_urlsafe(32)
        row = {
            "token_hash": _sha256(token),
            "name": name,
            "scope": scope,
            "teams": sorted(set(teams)),
            "created_at": self.now(),
        }
        with self.engine.begin() as conn:
            conn.execute(tokens.insert().values(**row))
        return token

    def token(self, token: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tokens).where(tokens.c.token_hash == _sha256(token))).first()
        if row is None:
            return None
        scopes = {row.scope} | ({"alerts:read"} if row.scope == "alerts:write" else set())
        return Principal(
            name=row.name, kind="token", scopes=frozenset(scopes), teams=frozenset(row.teams or [])
        )

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token by name, scope, teams and age, with the first 8 hex of its hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(tokens).order_by(tokens.c.name, tokens.c.created_at))
            return [
                {
                    "name": r.name,
                    "scope": r.scope,
                    "teams": r.teams,
                    "created_at": as_utc(r.created_at),
                    "fingerprint": r.token_hash[:8],
                }
                for r in rows
            ]

    def revoke_tokens(self, name: str, fingerprint: str | None = None) -> int:
        """Revoke the tokens with this name (or only the one with this fingerprint)."""
        where = [tokens.c.name == name]
        if fingerprint:
            where.append(tokens.c.token_hash.startswith(fingerprint, autoescape=True))
        with self.engine.begin() as conn:
            return conn.execute(delete(tokens).where(*where)).rowcount

    # -- sessions -----------------------------------------------------------------------
    def open_session(self, username: str, hours: int) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < self.now()))
            conn.execute(
                sessions.insert().values(
                    session_hash=_sha256(session_id),
                    username=username,
                    csrf=csrf,
                    expires_at=self.now() + timedelta(hours=hours),
                )
            )
        return session_id, Session(username, csrf)

    def session(self, session_id: str) -> Session | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sessions).where(sessions.c.session_hash == _sha256(session_id))
            ).first()
        if row is None or as_utc(row.expires_at) <= self.now():  # type: ignore[operator]
            return None
        return Session(row.username, row.csrf)

    def close_session(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.session_hash == _sha256(session_id)))
