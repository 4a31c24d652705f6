"""The production-like stack on a real Kafka and a real PostgreSQL, as docker-compose runs it:
`klantsignaal web` + `klantsignaal worker` + `klantsignaal sink`, driven over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas.types import CONTACT
from tests.infra._proc import terminate
from tests.support.events import contact_data, envelope
from tests.support.kafka_harness import kafka_harness  # noqa: F401 - the worker fixture
from tests.support.live_server import free_port, poll

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path
) -> Iterator[tuple[str, dict]]:
    s = request.getfixturevalue("kafka_harness").settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTSIGNAAL_")}
    env.update(
        {
            "KLANTSIGNAAL_RUNTIME": "kafka",
            "KLANTSIGNAAL_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "KLANTSIGNAAL_KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix,
            "KLANTSIGNAAL_KAFKA_PARTITIONS": str(s.kafka_partitions),
            "KLANTSIGNAAL_WAREHOUSE_URL": postgres_url,
            "KLANTSIGNAAL_DISPATCH_URL": f"sqlite:///{tmp_path / 'dispatch.db'}",
            "KLANTSIGNAAL_API_TOKEN": s.api_token,
            "KLANTSIGNAAL_PSEUDONYM_KEY": s.pseudonym_key,
            "KLANTSIGNAAL_LINK_KEY": s.link_key,
            "KLANTSIGNAAL_DATA_DIR": str(tmp_path / "web-data"),
            "KLANTSIGNAAL_KEYSTORE_URL": s.keystore,  # every process shares the key store
        }
    )
    port = free_port()
    web = _spawn(["web", "--port", str(port)], env, tmp_path / "web.log")
    sink = _spawn(["sink"], env, tmp_path / "sink.log")
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll(healthy, 30)
        yield base, {"Authorization": f"Bearer {s.api_token}"}
    except BaseException:
        for name in ("web", "sink"):
            print(f"--- {name} log ---\n{(tmp_path / f'{name}.log').read_text()}", file=sys.stderr)
        raise
    finally:
        terminate(web, 10)
        terminate(sink, 10)


def test_web_worker_and_sink_carry_the_chain_to_postgres(stack: tuple[str, dict]) -> None:
    base, auth = stack
    event = envelope(CONTACT.name, contact_data(team="Belastingen"))
    posted = httpx.post(
        base + "/v1/events",
        content=json.dumps(event),
        headers={**auth, "Content-Type": "application/cloudevents+json"},
    )
    assert posted.status_code == 202
    contact_id = event["data"]["contactId"]
    invitations = poll(
        lambda: httpx.get(
            base + "/v1/invitations",
            params={"contact_id": contact_id, "source": event["source"]},
            headers=auth,
        ).json()["invitations"],
        30,
    )
    link = invitations[0]["url"]
    path = link.split("/", 3)[3]
    form = httpx.get(f"{base}/{path}")
    assert form.status_code == 200
    answers = {
        "ces": "1",
        "nps": "0",
        "rapportcijfer": "1",
        "nps_opmerking": "Schandalig. Drie keer gebeld, niemand belt terug!",
    }
    followup = httpx.post(f"{base}/{path}", data=answers)  # "Wat ging er mis?"
    assert followup.status_code == 200
    answered = httpx.post(f"{base}/{path}", data={**answers, "stap": "2"})
    assert answered.status_code == 200
    started = time.monotonic()
    alerts = poll(lambda: httpx.get(base + "/v1/alerts", headers=auth).json()["alerts"], 30)
    elapsed = time.monotonic() - started
    assert alerts[0]["contactId"] == contact_id
    assert alerts[0]["team"] == "Belastingen"
    print(f"response -> alert in the PostgreSQL warehouse: {elapsed:.2f} s")
