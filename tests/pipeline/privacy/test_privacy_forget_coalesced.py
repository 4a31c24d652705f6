"""Forget on the embedded log with coalesced monitor observations: a record holding several
citizens' observations loses only the forgotten citizen's, and forget does not follow the
others' ids in it to their records."""

from __future__ import annotations

from pathlib import Path

from consumers.privacy_ops import Removed, _forget_in_log
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
from pipeline.sentiment import lexicon_scorer
from pipeline.settings import Settings
from pipeline.topology import build_topology
from schemas.types import CONTACT, MONITOR_OBSERVATION, MONITOR_OBSERVATIONS
from tests.support.events import contact_event, klant
from tests.support.observations import observations


def test_forget_takes_only_the_citizens_items_out_of_a_coalesced_record(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, link_key="k")
    runtime = EmbeddedRuntime(
        EventLog(tmp_path / "log.db"), build_topology(settings, lexicon_scorer())
    )
    contacts = [contact_event(klant=klant(i), inhoud=f"Vraag {i}") for i in range(3)]
    runtime.publish(CONTACT.topic, contacts)
    runtime.run_until_idle()
    records = runtime.log.records(MONITOR_OBSERVATION.topic)
    assert any(r["type"] == MONITOR_OBSERVATIONS.name for r in records)
    before = observations(records)
    assert len(before) == 6  # three contacts, three invitations, one cell

    removed = Removed()
    _forget_in_log(tmp_path / "log.db", klant(0), removed)

    gone = contacts[0].data["contactId"]
    stored = (tmp_path / "log.db").read_bytes()
    assert gone.encode() not in stored and contacts[0].id.encode() not in stored
    assert removed.counts.get("log.db:log (observations)") == 2  # its contact, its invitation
    left = observations(runtime.log.records(MONITOR_OBSERVATION.topic))
    assert len(left) == 4
    assert all(gone not in str(o) for o in left)
    kept = [c.id for c in contacts[1:]]
    assert {o["oorzaakId"] for o in left if o["bron"] == "contact"} == set(kept)
    assert [r["id"] for r in runtime.log.records(CONTACT.topic)] == kept
