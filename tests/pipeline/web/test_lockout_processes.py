"""The lock-out after wrong passwords holds across processes sharing the accounts database
(several web processes behind a load balancer): together they check no more passwords
than one process would before the account locks."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from pipeline.web import accounts
from pipeline.web.accounts import MAX_FREE_FAILURES, AccountStore

PASSWORD = "correct horse battery"


def _guess(url: str, start: object, tries: int, out: object) -> None:
    """One web process guessing: counts how many guesses reached the password check."""
    real = accounts._hasher
    checked = 0

    class CountingHasher:
        def verify(self, hashed: str, password: str) -> bool:
            nonlocal checked
            checked += 1
            return real.verify(hashed, password)

    accounts._hasher = CountingHasher()  # type: ignore[assignment]
    store = AccountStore(url)
    start.wait()  # type: ignore[attr-defined]
    for n in range(tries):
        assert store.verify_password("anna", f"wrong guess {n}") is None
    out.put(checked)  # type: ignore[attr-defined]


def test_two_processes_together_get_no_more_guesses_than_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    AccountStore(url).add_user("anna", PASSWORD, "caseworker", ["Belastingen"])
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_guess, args=(url, start, 8, out)) for _ in range(2)]
    for p in procs:
        p.start()
    checked = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sum(checked) == MAX_FREE_FAILURES, checked
    store = AccountStore(url)
    assert store.locked_for("anna") > 0
    assert store.verify_password("anna", PASSWORD) is None  # locked, even the right one
