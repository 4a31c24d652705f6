"""Health, readiness and metrics over HTTP for processes without a web server of their own.

`/healthz` answers 200 while the process is alive; `/readyz` 200 when every readiness part
of the process is ready (else 503, with which part is not); `/metrics` the Prometheus text.
The listener is off unless KLANTSIGNAAL_OPS_PORT is set, and binds KLANTSIGNAAL_OPS_HOST
(loopback by default): metrics carry no personal data, but they are for operators only.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)


class Readiness:
    """The parts of a process that must be ready: flags set by the runtime, or checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, bool] = {}
        self._checks: dict[str, Callable[[], bool]] = {}

    def expect(self, name: str) -> None:
        with self._lock:
            self._flags.setdefault(name, False)

    def mark(self, name: str, ready: bool = True) -> None:
        with self._lock:
            self._flags[name] = ready

    def check(self, name: str, probe: Callable[[], bool]) -> None:
        with self._lock:
            self._checks[name] = probe

    def status(self) -> tuple[bool, dict[str, bool]]:
        with self._lock:
            parts = dict(self._flags)
            checks = dict(self._checks)
        for name, probe in checks.items():
            try:
                parts[name] = bool(probe())
            except Exception as exc:
                log.warning("readiness check %s failed: %s", name, type(exc).__name__)
                parts[name] = False
        return bool(parts) and all(parts.values()), parts


READINESS = Readiness()


class _Handler(BaseHTTPRequestHandler):
    readiness: Readiness = READINESS
    component: str = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._json(200, {"status": "ok", "component": self.component})
        elif path == "/readyz":
            ready, parts = self.readiness.status()
            body = {"status": "ready" if ready else "not ready", "parts": parts}
            self._json(200 if ready else 503, body)
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        else:
            self._json(404, {"status": 404, "error": "not found"})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access log
        return


class OpsServer:
    """The listener in a daemon thread; `port` is the bound port (useful with port 0)."""

    def __init__(self, host: str, port: int, component: str, readiness: Readiness = READINESS):
        handler = type("OpsHandler", (_Handler,), {"readiness": readiness, "component": component})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host, self.port = host, int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"ops-http-{component}", daemon=True
        )

    def start(self) -> OpsServer:
        self._thread.start()
        log.info("ops endpoints on http://%s:%d (healthz, readyz, metrics)", self.host, self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_ops(settings: Any, component: str) -> OpsServer | None:
    """Start the ops listener when KLANTSIGNAAL_OPS_PORT is set (> 0); None otherwise."""
    if settings.ops_port <= 0:
        return None
    return OpsServer(settings.ops_host, settings.ops_port, component).start()
