"""`klantsignaal privacy forget` on the Kafka runtime (crypto-shredding, pipeline.sealing):
two citizens go through the edge, the faust worker and the warehouse sink on the live
broker; after forgetting one, no record on any topic (inputs, derived, dead-letter,
changelogs) opens to anything of theirs, no raw byte of any topic, the key store, the
warehouse, the address book or the worker log holds their pseudonym, contactId, comment
or address, and the other citizen is untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from consumers.dispatch import SqlAddressBook
from consumers.warehouse import Warehouse, WarehouseSink
from pipeline.privacy import Pseudonymiser
from pipeline.runtimes.kafka.codec import headers_list
from pipeline.runtimes.kafka.keystore import KeyStore
from pipeline.runtimes.kafka.sinks import run_sink
from pipeline.sealing import ERASED, Sealer
from pipeline.topology import TOPICS
from producers.ingestion import IngestionEdge, publish_accepted
from schemas.types import ALERT, CONTACT, INVITATION, RESPONSE
from tests.support.events import contact_data, envelope
from tests.support.kafka_harness import (  # noqa: F401 - fixture
    KafkaHarness,
    kafka_harness,
    raw_bytes,
    raw_topic_records,
    wait_for_klant,
)

CITIZENS = {
    "a": ("111222333", "anna@example.nl", "Schandalig, drie keer doorverwezen"),
    "b": ("123456782", "bert@example.nl", "Waardeloos, niemand belt terug"),
}


def _opened(records: list[Any], sealer: Sealer) -> tuple[bytes, int]:
    """Every record opened with the key store as it is now, as bytes; and how many did not
    open (erased)."""
    chunks: list[bytes] = []
    erased = 0
    for r in records:
        opened = sealer.open(r.key, headers_list(r.headers), r.value)
        if opened is ERASED:
            erased += 1
            continue
        key, headers, value = opened
        chunks += [key or b"", value or b""] + [v for _, v in headers]
    return b"".join(chunks), erased


def _send_citizen(harness: KafkaHarness, edge: IngestionEdge, book: Any, who: str) -> str:
    bsn, email, comment = CITIZENS[who]
    data = contact_data(
        inhoud=f"Klacht: {comment}",
        bereikbaarheid={"enqueteToestemming": True, "email": email},
    )
    del data["klant"]
    data["bsn"] = bsn
    publish_accepted(
        harness.publisher, book, edge.prepare([envelope(CONTACT.name, data)], batch=True)
    )
    return data["contactId"]


@pytest.mark.slow
def test_forget_on_kafka_shreds_one_citizen_everywhere(
    kafka_harness: KafkaHarness,  # noqa: F811
    kafka_topic_prefix: str,
) -> None:
    settings = kafka_harness.settings
    edge = IngestionEdge(Pseudonymiser(settings.pseudonym_key))
    book = SqlAddressBook(settings.dispatch)
    klant = {w: Pseudonymiser(settings.pseudonym_key).klant(CITIZENS[w][0]) for w in CITIZENS}
    contact_ids = {w: _send_citizen(kafka_harness, edge, book, w) for w in CITIZENS}
    for who in CITIZENS:
        invitation = wait_for_klant(kafka_harness, INVITATION.topic, klant[who])["data"]
        response = {
            "responseId": f"r-forget-{who}",
            "invitationId": invitation["invitationId"],
            "contactId": invitation["contactId"],
            "klant": klant[who],
            "answeredAt": "2026-11-23T11:00:00Z",
            "terugbelToestemming": True,
            "nps": {"score": 0, "opmerking": CITIZENS[who][2]},
        }
        accepted = edge.prepare([envelope(RESPONSE.name, response)], batch=True)
        publish_accepted(kafka_harness.publisher, None, accepted)
    for who in CITIZENS:
        wait_for_klant(kafka_harness, ALERT.topic, klant[who])
    kafka_harness.wait_idle()

    warehouse = Warehouse(settings.warehouse)
    stop = threading.Event()
    sink = threading.Thread(
        target=run_sink, args=(settings, WarehouseSink(warehouse, TOPICS), stop), daemon=True
    )
    sink.start()
    deadline = time.monotonic() + 90
    while warehouse.count("alerts") < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    stop.set()
    sink.join(timeout=30)
    assert warehouse.count("alerts") == 2
    warehouse.engine.dispose()

    sealer = Sealer(KeyStore(settings.keystore))
    secret_a = sealer.keys.for_klant(klant["a"], create=False).secret  # type: ignore[union-attr]
    before = raw_topic_records(kafka_harness, kafka_topic_prefix)[1]
    opened, erased = _opened(before, sealer)
    assert erased == 0
    for who in CITIZENS:  # the search sees both citizens before
        for trace in (klant[who], contact_ids[who], CITIZENS[who][2]):
            assert trace.encode() in opened, trace
    raw = raw_bytes(before)
    assert any("changelog" in t.topic for t in before)  # state is searched too
    for who in CITIZENS:  # on the wire, sealed: nothing readable even before forget
        for trace in (klant[who], contact_ids[who], CITIZENS[who][2], CITIZENS[who][1]):
            assert trace.encode() not in raw, trace

    env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTSIGNAAL_")}
    env |= {
        "KLANTSIGNAAL_RUNTIME": "kafka",
        "KLANTSIGNAAL_API_TOKEN": settings.api_token,
        "KLANTSIGNAAL_PSEUDONYM_KEY": settings.pseudonym_key,
        "KLANTSIGNAAL_LINK_KEY": settings.link_key,
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "privacy", "forget", CITIZENS["a"][0]]
        + ["--data-dir", str(settings.data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    removed = report["removed"]
    assert report["klant"] == klant["a"]
    assert sum(n for where, n in removed.items() if where.startswith("keys:")) == 1, removed
    for where in ("warehouse:contacts", "warehouse:alerts", "warehouse:responses"):
        assert removed.get(where, 0) >= 1, (where, removed)
    assert removed.get("dispatch:dispatch_addresses", 0) >= 1, removed

    after = raw_topic_records(kafka_harness, kafka_topic_prefix)[1]
    opened, erased = _opened(after, Sealer(KeyStore(settings.keystore)))
    assert erased >= 4  # contact, invitation, response, signal, alert, state of citizen a
    for trace in (klant["a"], contact_ids["a"], CITIZENS["a"][2], CITIZENS["a"][1]):
        assert trace.encode() not in opened, trace
        assert trace.encode() not in raw_bytes(after), trace
    for trace in (klant["b"], contact_ids["b"], CITIZENS["b"][2]):
        assert trace.encode() in opened, trace
    stores = (
        b"".join(p.read_bytes() for p in Path(settings.data_dir).iterdir() if p.is_file())
        + kafka_harness.worker_log_path.read_bytes()
    )
    for trace in (klant["a"], contact_ids["a"], CITIZENS["a"][2], CITIZENS["a"][1], secret_a):
        needle = trace if isinstance(trace, bytes) else trace.encode()
        assert needle not in stores, trace
    assert klant["b"].encode() in stores  # the other citizen's rows are still there
