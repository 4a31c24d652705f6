"""Helpers of the operations tests: scrape /metrics, wait for /readyz, read JSON logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline.settings import Settings
from tests.support.paths import REPO_ROOT

COMPOSE_OPS_PORT = 9100  # KLANTSIGNAAL_OPS_PORT in docker-compose.yml


def compose_services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"])


def compose_args(service: str) -> list[str]:
    """The service's command after `klantsignaal`: what the tests run as `python -m
    pipeline.cli ARGS`, so the compose file and the tests start the same thing."""
    command = compose_services()[service]["command"]
    assert command[0] == "klantsignaal", command
    return list(command[1:])


def run_compose_healthcheck(service: str, port: int) -> int:
    """The service's compose health check, run here against `port` instead of the
    container's: its exit code (0 healthy)."""
    test = compose_services()[service]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    code = test[3].replace(f":{COMPOSE_OPS_PORT}/", f":{port}/").replace(":8000/", f":{port}/")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode


# Values a citizen typed or a channel system sent; none may ever appear in a log line.
PII = {
    "bsn": "111222333",
    "email": "piet.pii@example.nl",
    "phone": "0612345678",
    "street": "Kerkstraat 12",
}
PII_COMMENT = (
    f"Bel mij op {PII['phone']} of mail {PII['email']}, mijn BSN is {PII['bsn']} "
    f"en ik woon op de {PII['street']}. Schandalig geholpen!"
)


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def series(samples: dict, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def status(port: int, path: str) -> int | None:
    """HTTP status of GET path, or None while nothing listens."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
    except httpx.TransportError:
        return None


def watch_readiness(
    procs: dict[str, tuple[subprocess.Popen[bytes], int, Path]], timeout: float = 90.0
) -> dict[str, list[int | None]]:
    """Per process, its /readyz answers (deduplicated, in order) from its start until 200,
    all watched together; fails when one exits or is not ready in time."""
    seen: dict[str, list[int | None]] = {name: [] for name in procs}
    deadline = time.monotonic() + timeout
    while True:
        for name, (proc, port, log) in procs.items():
            if seen[name] and seen[name][-1] == 200:
                continue
            code = status(port, "/readyz")
            if not seen[name] or seen[name][-1] != code:
                seen[name].append(code)
            if code != 200 and (proc.poll() is not None or time.monotonic() > deadline):
                tail = log.read_text()[-4000:]
                raise AssertionError(f"{name} /readyz answers {seen[name]}; log:\n{tail}")
        if all(answers[-1] == 200 for answers in seen.values()):
            return seen
        time.sleep(0.05)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m pipeline.cli ARGS` (the `klantsignaal` command), logging to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def kafka_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTSIGNAAL_")}
    env.update(
        {
            "KLANTSIGNAAL_RUNTIME": "kafka",
            "KLANTSIGNAAL_DATA_DIR": str(settings.data_dir),
            "KLANTSIGNAAL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "KLANTSIGNAAL_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
            "KLANTSIGNAAL_KAFKA_PARTITIONS": str(settings.kafka_partitions),
            "KLANTSIGNAAL_API_TOKEN": settings.api_token,
            "KLANTSIGNAAL_PSEUDONYM_KEY": settings.pseudonym_key,
            "KLANTSIGNAAL_LINK_KEY": settings.link_key,
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def json_lines(log: Path, plain: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every line of a JSON-format log as an object; fails on a line that is not one
    (except lines starting with one of `plain`: what a command prints for a person)."""
    entries = []
    for n, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or (plain and line.startswith(plain)):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"{log.name} line {n} is not JSON: {line!r}") from None
        assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry)
        entries.append(entry)
    return entries


def assert_no_pii(log: Path, extra: tuple[str, ...] = ()) -> None:
    text = log.read_text(encoding="utf-8")
    for kind, secret in [*PII.items(), *(("value", v) for v in extra)]:
        assert secret not in text, f"{kind} {secret!r} in {log.name}"
