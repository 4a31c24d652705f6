"""Forget on the embedded log: a single monitor observation of the citizen goes, also when
its comment quotes the coalesced type's name (consumers/privacy_ops.py keeps coalesced
records out of the plain delete and takes only the citizen's items out of them; a single
observation must not pass for one)."""

from __future__ import annotations

from pathlib import Path

from consumers.privacy_ops import Removed, _forget_in_log
from pipeline.runtimes.embedded import EventLog
from schemas import jsonfast
from schemas.cloudevents import derived_id, new_event
from schemas.models import Dienst, MonitorObservation
from schemas.types import CONTACT, MONITOR_OBSERVATION, MONITOR_OBSERVATIONS
from tests.support.events import contact_event, klant


def test_a_single_observation_quoting_the_coalesced_type_is_forgotten(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.db")
    contact = contact_event(klant=klant(0))
    observation = MonitorObservation(
        observation_id=derived_id("monitor-observation", contact.id),
        bron="contact",
        oorzaak_id=contact.id,
        dienst=Dienst.from_dict(contact.data["dienst"]),
        kanaal=contact.data["kanaal"],
        waargenomen_op=contact.data["plaatsgevondenOp"],
        uitkomsten={"aandeel-contact-niet-gelukt": True},
        opmerking=f"Mijn gegevens staan in {MONITOR_OBSERVATIONS.name}, haal ze weg",
    )
    event = new_event(
        MONITOR_OBSERVATION.name, observation.to_dict(), source="/t", key="cel|telefoon"
    )
    with log.transaction() as conn:
        EventLog.append(conn, CONTACT.topic, klant(0), jsonfast.dumps_str(contact.to_structured()))
        EventLog.append(
            conn,
            MONITOR_OBSERVATION.topic,
            "cel|telefoon",
            jsonfast.dumps_str(event.to_structured()),
        )
    _forget_in_log(tmp_path / "log.db", klant(0), Removed())
    assert log.records(CONTACT.topic) == []
    assert log.records(MONITOR_OBSERVATION.topic) == []
