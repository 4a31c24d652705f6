"""The warehouse on SQLite and on a real PostgreSQL: idempotent writes, reads, scrubbing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from consumers.warehouse import Warehouse, WarehouseSink
from pipeline.ports import SinkRecord
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
from pipeline.sentiment import load_scorer
from pipeline.settings import Settings
from pipeline.topology import TOPICS, build_topology
from schemas.cloudevents import new_event
from schemas.types import ALERT_STATUS, CONTACT, RESPONSE
from tests.support.events import VERY_NEGATIVE, contact_event, klant, response_event


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("postgres_url")


def _chain(tmp_path: Path, url: str) -> tuple[EmbeddedRuntime, Warehouse]:
    warehouse = Warehouse(url)
    settings = Settings(data_dir=tmp_path, link_key="k")
    runtime = EmbeddedRuntime(
        EventLog(tmp_path / "log.db"),
        build_topology(settings, load_scorer()),
        sinks=[WarehouseSink(warehouse, TOPICS)],
    )
    return runtime, warehouse


def test_whole_chain_lands_in_the_warehouse(tmp_path: Path, warehouse_url: str) -> None:
    runtime, warehouse = _chain(tmp_path, warehouse_url)
    contact = contact_event(klant=klant(1), team="Wmo-team")
    runtime.publish(CONTACT.topic, [contact])
    runtime.run_until_idle()
    [invitation] = warehouse.invitations_for_contact(contact.data["contactId"])
    assert (
        warehouse.invitation_by_token(invitation["token"])["contact_id"]
        == contact.data["contactId"]
    )
    invitation_data = {
        "invitationId": invitation["invitation_id"],
        "contactId": invitation["contact_id"],
        "klant": invitation["klant"],
    }
    answers = dict(VERY_NEGATIVE)
    answers["nps"] = {"score": 0, "opmerking": "Bel me: 06-12345678. Niemand helpt, schandalig!"}
    runtime.publish(RESPONSE.topic, [response_event(invitation_data, **answers)])
    runtime.run_until_idle()
    for table in ("contacts", "invitations", "responses", "signals", "alerts"):
        assert warehouse.count(table) == 1, table
    [alert] = warehouse.alerts(status="open", team="Wmo-team")
    assert "06-12345678" not in (alert["opmerking"] or "")
    assert "[telefoon]" in alert["opmerking"]
    assert warehouse.has_response(invitation["invitation_id"])
    assert warehouse.alerts(since=datetime(2999, 1, 1, tzinfo=UTC)) == []
    comments = warehouse.comments_with_scores()
    assert comments and comments[0][1] == 0
    # Every reader uses the current status (the latest change), as v_alerts.actuele_status.
    done = {
        "alertId": alert["alert_id"],
        "team": "Wmo-team",
        "status": "afgehandeld",
        "handeling": "afhandelen",
        "door": "cw1",
        "op": "2026-11-30T10:00:00Z",
    }
    event = new_event(ALERT_STATUS.name, done, source="/test", key=alert["klant"])
    runtime.publish(ALERT_STATUS.topic, [event])
    runtime.run_until_idle()
    assert warehouse.alerts(status="open") == []
    [handled] = warehouse.alerts(status="afgehandeld")
    assert handled["status"] == "afgehandeld" and handled["alert_id"] == alert["alert_id"]
    with warehouse.engine.connect() as conn:
        view = conn.execute(text("SELECT actuele_status FROM v_alerts")).scalar_one()
    assert view == "afgehandeld"


def test_replayed_batch_is_stored_once(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url)
    batch = [SinkRecord(CONTACT.topic, str(i), contact_event(klant=klant(i))) for i in range(5)]
    warehouse.store(batch)
    warehouse.store(batch)  # what a crash between store and offset commit causes
    assert warehouse.count("contacts") == 5


def test_dead_letters_keep_reason_not_content(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url)
    dead = {
        "reason": "/data/kanaal: 'postduif' is not one of [...]",
        "stage": "trigger",
        "topic": "contact-events",
        "position": "17",
        "record": {"id": "e-1", "type": CONTACT.name, "data": {"inhoud": "geheim"}},
    }
    warehouse.store([SinkRecord("dead-letter", "17", None, dead)])
    warehouse.store([SinkRecord("dead-letter", "17", None, dead)])
    assert warehouse.count("dead_letters") == 1


def test_a_record_the_warehouse_refuses_is_set_aside_not_blocking(warehouse_url: str) -> None:
    from consumers.warehouse import WarehouseSink

    warehouse = Warehouse(warehouse_url)
    sink = WarehouseSink(warehouse, TOPICS)
    poison = contact_event(klant=klant(3), plaatsgevondenOp="0001-01-01T00:30:00+01:00")
    batch = [
        SinkRecord(CONTACT.topic, "1", contact_event(klant=klant(1))),
        SinkRecord(CONTACT.topic, "2", poison),
        SinkRecord(CONTACT.topic, "3", contact_event(klant=klant(2))),
    ]
    sink.handle(batch)
    assert warehouse.count("contacts") == 2
    assert warehouse.count("dead_letters") == 1


@pytest.mark.postgres
def test_processes_starting_together_create_the_tables_once(postgres_url: str) -> None:
    """web and sink start at the same time in docker-compose; neither may crash."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        warehouses = list(pool.map(lambda _: Warehouse(postgres_url), range(6)))
    assert all(w.count("contacts") == 0 for w in warehouses)
