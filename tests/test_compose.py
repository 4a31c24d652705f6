"""docker-compose.yml is validated without a Docker engine: every klantsignaal service runs a
real subcommand (parsed by the CLI's own parser), every health check calls an endpoint the
tests prove (tests/pipeline/ops/test_ops_kafka.py runs the worker and sink commands and these
very checks), and every KLANTSIGNAAL_* variable it sets is a setting."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from pipeline.cli import build_parser
from pipeline.ops.health import OpsServer, Readiness
from pipeline.settings import PREFIX, Settings
from tests.support.ops_helpers import COMPOSE_OPS_PORT, compose_services

LONG_RUNNING = {"web", "worker", "sink", "dispatch", "notifications"}
PROVEN_ENDPOINTS = {
    "/readyz",
    "/healthz",
}  # tests/pipeline/ops/test_ops_kafka.py, tests/pipeline/ops/test_ops_embedded.py
URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[a-z]+)")


def _ours() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose_services().items()
        if service.get("image", "").startswith("klantsignaal")
    }


def test_every_service_runs_a_real_subcommand() -> None:
    services = _ours()
    assert set(services) == LONG_RUNNING
    for name, service in services.items():
        command = service["command"]
        assert command[0] == "klantsignaal", name
        try:
            args = build_parser().parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"{name}: {command} is not a klantsignaal command")
        assert callable(args.func), name
        assert args.log_format == "json", f"{name} logs JSON lines"


def test_every_health_check_calls_a_proven_endpoint_on_the_right_port() -> None:
    for name, service in _ours().items():
        env = service["environment"]
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: the image has python, not curl"
        [(port, path)] = URL.findall(test[3])
        assert path in PROVEN_ENDPOINTS, name
        args = build_parser().parse_args(service["command"][1:])
        listening = {int(env["KLANTSIGNAAL_OPS_PORT"])}
        if getattr(args, "port", None):
            listening.add(args.port)  # the web's own port also answers /readyz
        assert int(port) in listening, f"{name} checks port {port}, listens on {listening}"
    assert int(_ours()["worker"]["environment"]["KLANTSIGNAAL_OPS_PORT"]) == COMPOSE_OPS_PORT


def test_the_health_check_fails_until_ready() -> None:
    """The check's own code against a real listener: exit 1 on 503, exit 0 on 200."""
    readiness = Readiness()
    readiness.expect("worker")
    server = OpsServer("127.0.0.1", 0, "worker", readiness).start()
    try:
        code = _ours()["worker"]["healthcheck"]["test"][3]
        code = code.replace(f":{COMPOSE_OPS_PORT}/", f":{server.port}/")
        run = [sys.executable, "-c", code]
        assert subprocess.run(run, capture_output=True, timeout=30).returncode == 1
        readiness.mark("worker")
        assert subprocess.run(run, capture_output=True, timeout=30).returncode == 0
    finally:
        server.stop()


def test_every_variable_is_a_setting() -> None:
    fields = {PREFIX + name.upper() for name in Settings.__dataclass_fields__}
    for name, service in _ours().items():
        unknown = {k for k in service["environment"] if k.startswith(PREFIX)} - fields
        assert not unknown, f"{name} sets {unknown}, which Settings does not know"
