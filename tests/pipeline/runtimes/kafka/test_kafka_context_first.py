"""A replayed answer is joined only after the contacts that were on the log before it
(pipeline/runtimes/kafka/context_first.py; docs/kafka.md, "Guarantees").

The join's contact context reaches its changelog at the offset commit, so a crash loses the
context of every contact since the last commit, and the restarted worker replays those
contacts and the answers side by side. A signal carries the klant's other contacts, and the
alert policy's repeat-contact rule ("van het kastje naar de muur") reads them: an answer
joined before its klant's later contacts are replayed gets a signal without them, with the
same id, so the warehouse keeps that one and the repeat-contact reason is missing.

Staged on the real broker: contact c0 of klant K processed and committed; then a backlog of
other klanten's contacts ahead of K's contacts c1 and c2 (same dienst, other channels) and
K's answer r to c0, answered after them; the worker (fault injection: it commits nothing and
dies right before it sends its first signal, r's) takes them and dies with c1, c2 and r
processed in memory only; the restarted worker replays them all. r's signal must carry c1
and c2 and its alert the repeat-contact reasons, in the warehouse.

    KLANTSIGNAAL_TEST_WITHOUT_FIX=context-first .venv/bin/python -m pytest -p no:rerunfailures \\
        tests/pipeline/runtimes/kafka/test_kafka_context_first.py

fails: faust hands the topics over round-robin, so r (first on its partition) is joined
before the backlog and c1, c2 behind it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.pipeline.runtimes.kafka.test_kafka_faults import warehouse_sink
from tests.pipeline.runtimes.kafka.test_kafka_runtime import new_klant
from tests.support.events import VERY_NEGATIVE, contact_event, response_event
from tests.support.kafka_harness import KafkaHarness, start_until_crash, unique_prefix

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

BACKLOG = 1000  # other klanten's contacts, ~500 ahead of c1 and c2 on their partition
KASTJE = "van het kastje naar de muur"


def _contact(klant: str, day: int, kanaal: str) -> Any:
    return contact_event(
        klant=klant, kanaal=kanaal, plaatsgevondenOp=f"2026-11-{day:02d}T10:00:00Z"
    )


def _wait_for_crash(harness: KafkaHarness, marker: Path) -> None:
    deadline = time.monotonic() + 60
    while harness._proc is not None and harness._proc.poll() is None:
        assert time.monotonic() < deadline, "the injected crash did not happen"
        time.sleep(0.05)
    assert marker.exists()
    harness.kill_worker()  # reap it


def test_a_replayed_answer_sees_the_contacts_that_were_on_the_log_before_it(
    kafka_broker: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    marker.write_text("not armed yet\n", encoding="utf-8")  # the first worker runs normally
    harness = KafkaHarness(
        kafka_broker.bootstrap,
        unique_prefix("ctxfirst"),
        tmp_path,
        env={
            "KLANTSIGNAAL_TEST_CRASH_MARKER": str(marker),
            "KLANTSIGNAAL_TEST_CRASH_UNCOMMITTED": "1",  # armed: no commit before the crash
        },
    )
    try:
        k = new_klant()
        c0 = _contact(k, 1, "telefoon")
        harness.start_worker()
        harness.publish("contact-events", [c0])
        invitation = harness.records("survey-invitations", min_count=1, timeout=60)[0]["data"]
        harness.wait_idle()  # c0 committed, its context on the changelog
        harness.kill_worker()

        others = [_contact(new_klant(), 2, "telefoon") for _ in range(BACKLOG)]
        for start in range(0, BACKLOG, 500):
            harness.publish("contact-events", others[start : start + 500])
        c1, c2 = _contact(k, 3, "e-mail"), _contact(k, 5, "balie")
        harness.publish("contact-events", [c1, c2])
        r = response_event(invitation, answeredAt="2026-11-06T09:00:00Z", **VERY_NEGATIVE)
        harness.publish("survey-responses", [r])

        marker.unlink()  # armed: the next worker dies right before r's signal
        start_until_crash(harness, marker)
        _wait_for_crash(harness, marker)
        lag = harness.committed_lag()
        print(f"\ncommitted lag at the crash: {lag}")
        # Nothing of the crashed run committed: c1, c2 (processed, in memory) and r replay.
        assert sum(n for tp, n in lag.items() if "contact-events" in tp) >= BACKLOG + 2, lag
        assert any("survey-responses" in tp for tp in lag), lag

        with warehouse_sink(harness, tmp_path) as sink:
            harness.start_worker()  # replays from the committed offsets
            harness.wait_idle(timeout=60)
            wanted = {c1.data["contactId"], c2.data["contactId"]}
            signals = [
                s
                for s in harness.records("scored-signals", min_count=1, timeout=30)
                if s["data"]["responseId"] == r.data["responseId"]
            ]
            assert signals, "no signal for r"
            for s in signals:  # every copy on the topic, as any could reach the warehouse
                history = {m.get("contactId") for m in s["data"].get("contacthistorie") or []}
                assert wanted <= history, (history, harness.worker_log_tail(40))
            _assert_repeat_contact_alert(sink, signals[0]["data"]["signalId"], wanted)
            assert harness.records("dead-letter", min_count=0, timeout=1) == []
    finally:
        harness.close()


def _assert_repeat_contact_alert(sink: Any, signal_id: str, wanted: set[str]) -> None:
    """The warehouse holds r's alert with the repeat-contact reasons and c1, c2 in it."""
    deadline = time.monotonic() + 30
    rows: list[Any] = []
    while time.monotonic() < deadline and not rows:
        sink.assert_alive()
        with sink.warehouse.engine.connect() as conn:
            rows = list(
                conn.execute(
                    text(
                        "SELECT a.redenen, d.contacthistorie FROM alerts a "
                        "JOIN alert_details d ON d.alert_id = a.alert_id "
                        "WHERE a.signal_id = :s"
                    ),
                    {"s": signal_id},
                )
            )
        time.sleep(0.2)
    assert len(rows) == 1, rows
    redenen, history = (_json(v) for v in rows[0])
    assert any(KASTJE in reason for reason in redenen), redenen
    assert wanted <= {m.get("contactId") for m in history}, history


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
