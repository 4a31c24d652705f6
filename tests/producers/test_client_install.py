"""The publishing client works for a channel system that installed klantsignaal from source:
a fresh venv without the system's packages, the package installed by pip, the client
imported there and one event published to a live `klantsignaal run` on loopback.

The client needs only four of the package's dependencies (httpx, jsonschema, jsonschema-rs,
orjson; see docs/operations.md). The fresh venv gets the package itself plus exactly those,
read from the built package's own metadata: that proves they are declared (a plain
`pip install .` brings them) and that the client imports nothing else (no faust,
scikit-learn, SQLAlchemy, starlette, prometheus-client). A full `pip install .` downloads
~440 MB of runtime dependencies (over a minute); docs/operations.md gives that measurement.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import free_port, live_server
from tests.support.ops_helpers import PII, assert_no_pii, json_lines, metrics, status, value
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.slow

REPO = REPO_ROOT
CLIENT_DEPENDENCIES = ("httpx", "jsonschema", "jsonschema-rs", "orjson")
WHEELS = Path.home() / ".cache" / "klantsignaal" / "test-wheels"
RUNTIME_ONLY = ("faust", "sklearn", "sqlalchemy", "starlette", "uvicorn", "prometheus_client")

CLIENT_SCRIPT = """
import importlib.util, json, sys
from producers.client import HttpTransport, PublishingClient
missing = [m for m in {runtime_only!r} if importlib.util.find_spec(m) is None]
client = PublishingClient(HttpTransport(sys.argv[1], sys.argv[2]), source="/e-formulieren")
data = json.loads(sys.argv[3])
ids = client.publish("nl.klantsignaal.contact.v1", [data])
print(json.dumps({{"ids": ids, "absent": missing, "prefix": sys.prefix}}))
"""


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _install(python: Path, what: list[str], fetch: list[str], cwd: Path, *options: str) -> None:
    """pip install into `python`'s venv from the wheel cache, offline; what the cache lacks
    (`fetch`) is downloaded into it first (pip's own HTTP cache is not kept behind every
    proxy, and this way a second run needs no network)."""
    offline = ["--python", str(python), "install", "-q", "--no-index", "--find-links", str(WHEELS)]
    if _pip(*offline, *options, *what, cwd=cwd).returncode == 0:
        return
    WHEELS.mkdir(parents=True, exist_ok=True)
    fetched = _pip("download", "-q", "-d", str(WHEELS), *fetch, cwd=cwd)
    assert fetched.returncode == 0, f"pip download {fetch}:\n{fetched.stderr}"
    done = _pip(*offline, *options, *what, cwd=cwd)
    assert done.returncode == 0, f"pip install {what}:\n{done.stdout}\n{done.stderr}"


def _build_requirements() -> list[str]:
    with (REPO / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["build-system"]["requires"])


def _source_copy(dest: Path) -> Path:
    """What the Dockerfile copies: a source tree without the worktree's build leftovers."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, dest / name)
    for package in ("schemas", "pipeline", "producers", "consumers"):
        shutil.copytree(
            REPO / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return dest


def _declared(fresh_python: Path) -> list[str]:
    """The client's requirements as the installed package declares them (no extras)."""
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps(m.distribution('klantsignaal').requires or []))"
    )
    out = subprocess.run([str(fresh_python), "-c", code], capture_output=True, text=True)
    requires = json.loads(out.stdout)
    plain = [r for r in requires if "extra ==" not in r]
    chosen = []
    for dep in CLIENT_DEPENDENCIES:
        found = [r for r in plain if r.split(">")[0].split("=")[0].split("<")[0].strip() == dep]
        assert found, f"{dep} is not a plain dependency of klantsignaal: {plain}"
        chosen.append(found[0])
    return chosen


def test_client_in_a_fresh_venv_publishes_to_a_live_server(tmp_path: Path) -> None:
    began = time.monotonic()
    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(fresh)
    python = fresh / "bin" / "python"
    source = str(_source_copy(tmp_path / "src"))
    _install(python, [source], _build_requirements(), tmp_path, "--no-deps")
    declared = _declared(python)
    _install(python, declared, declared, tmp_path)
    installed = time.monotonic() - began
    print(f"fresh venv with klantsignaal and the client's dependencies: {installed:.1f} s")

    data = {
        "contactId": "client-0001",
        "bsn": PII["bsn"],
        "kanaal": "e-formulier",
        "onderwerp": "Paspoort aanvragen",
        "indicatieContactGelukt": True,
        "taal": "nld",
        "vertrouwelijk": False,
        "plaatsgevondenOp": "2026-11-23T10:00:00Z",
        "dienst": {"code": "paspoort", "naam": "Paspoort aanvragen"},
        "team": "Burgerzaken",
        "bereikbaarheid": {"enqueteToestemming": True, "email": PII["email"]},
    }
    ops_port = free_port()
    env = {"KLANTSIGNAAL_LOG_FORMAT": "json", "KLANTSIGNAAL_OPS_PORT": str(ops_port)}
    with live_server(tmp_path, extra_env=env) as server:
        script = CLIENT_SCRIPT.format(runtime_only=RUNTIME_ONLY)
        run = subprocess.run(
            [str(python), "-I", "-c", script, server.base, server.token, json.dumps(data)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        answer = json.loads(run.stdout)
        assert Path(answer["prefix"]).resolve() == fresh.resolve()
        assert sorted(answer["absent"]) == sorted(RUNTIME_ONLY)  # the client needs none
        [event_id] = answer["ids"]
        invitations = _invitations(server, data["contactId"])
        assert len(invitations) == 1 and "/q/" in invitations[0]["url"]
        samples = metrics(ops_port)
        assert (
            value(samples, "klantsignaal_edge_events_accepted_total", topic="contact-events") == 1
        )
        trigger = value(
            samples, "klantsignaal_stage_records_in_total", stage="trigger", topic="contact-events"
        )
        assert trigger == 1
        assert status(ops_port, "/readyz") == 200
        assert httpx.get(server.base + "/readyz").status_code == 200
        assert httpx.get(server.base + "/metrics").status_code == 404  # not on the public port
        assert event_id
    printed = ("klantsignaal draait op", "API-token staat in", "Stoppen: Ctrl+C")
    json_lines(server.log_path, plain=printed)
    assert_no_pii(server.log_path)


def _invitations(server, contact_id: str) -> list[dict]:
    params = {"contact_id": contact_id, "source": "/e-formulieren"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = httpx.get(server.base + "/v1/invitations", params=params, headers=server.auth)
        if found.json().get("invitations"):
            return list(found.json()["invitations"])
        time.sleep(0.1)
    return []
