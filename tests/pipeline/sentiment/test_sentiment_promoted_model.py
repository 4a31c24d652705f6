"""One model for both runtimes: a promoted model is what scores, and the signal in the
warehouse records its version."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from consumers.warehouse import Warehouse, WarehouseSink, signals
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
from pipeline.sentiment import load_scorer
from pipeline.sentiment.model import SHIPPED_MODEL
from pipeline.settings import Settings
from pipeline.topology import TOPICS, build_topology
from schemas.types import CONTACT, RESPONSE
from tests.support.events import VERY_NEGATIVE, contact_event, klant, response_event


def _promote_copy(models: Path, version: str) -> None:
    model = json.loads(SHIPPED_MODEL.read_text("utf-8"))
    model["version"] = version
    models.mkdir(parents=True)
    (models / f"{version}.json").write_text(json.dumps(model), "utf-8")
    entry = {"version": version, "file": f"{version}.json"}
    (models / "promoted.json").write_text(json.dumps({"current": entry, "history": [entry]}))


def test_promoted_model_scores_and_its_version_reaches_the_warehouse(tmp_path: Path) -> None:
    _promote_copy(tmp_path / "models", "nl-linear-test-promoted")
    settings = Settings(data_dir=tmp_path, link_key="k")
    scorer = load_scorer(settings.data_dir / "models")  # what both runtimes call
    assert scorer.version == "nl-linear-test-promoted"
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    runtime = EmbeddedRuntime(
        EventLog(tmp_path / "log.db"),
        build_topology(settings, scorer),
        sinks=[WarehouseSink(warehouse, TOPICS)],
    )
    contact = contact_event(klant=klant(2), team="Wmo-team")
    runtime.publish(CONTACT.topic, [contact])
    runtime.run_until_idle()
    [inv] = warehouse.invitations_for_contact(contact.data["contactId"])
    data = {
        "invitationId": inv["invitation_id"],
        "contactId": inv["contact_id"],
        "klant": inv["klant"],
    }
    runtime.publish(RESPONSE.topic, [response_event(data, **VERY_NEGATIVE)])
    runtime.run_until_idle()
    with warehouse.engine.connect() as conn:
        versions = [v for (v,) in conn.execute(select(signals.c.model_version))]
    assert versions == ["nl-linear-test-promoted"]
