"""Small process and port helpers shared by the test servers."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def free_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free loopback ports.

    All sockets stay open until every port is chosen so the kernel cannot hand out the
    same port twice; the small race until the server binds is accepted for tests.
    """
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when the test process dies.

    Without it a crashed or SIGKILLed pytest leaves a 512 MB JVM or a postmaster running
    on a shared 2-core machine. Linux only; elsewhere returns None (no protection).
    """
    libc_name = ctypes.util.find_library("c")
    if not libc_name or not hasattr(os, "getppid"):
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)

    def _set() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return _set


def terminate(proc: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """SIGTERM, wait up to `grace_seconds`, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)


def rss_kib(pid: int) -> tuple[int, int] | None:
    """(current RSS, peak RSS) of a live process in KiB, from /proc; None if unavailable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def tail(path: str, lines: int = 50) -> str:
    """The last `lines` lines of a text file, for error messages."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"
