"""The must-show on Kafka: personal data in every text field and comment goes through the
ingestion edge and the faust worker; then every topic of the run (inputs, outputs,
dead-letter, the worker's changelog/state topics) is read as raw bytes, with the worker's
log, and none of it is there."""

from __future__ import annotations

import pytest

from pipeline.privacy import Pseudonymiser
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

SECRETS = {
    "bsn9": "123456782",
    "bsn8": "12345672",
    "email": "jan.jansen@example.nl",
    "phone": "(020) 7654321",
    "iban": "NL91ABNA0417164300",
    "postcode": "9876 zx",
    "dob": "12-03-1985",
    "plate": "GJ-345-K",
}
COMMENT = (
    f"BSN {SECRETS['bsn9']} en {SECRETS['bsn8']}, mail {SECRETS['email']}, bel {SECRETS['phone']},"
    f" IBAN {SECRETS['iban']}, postcode {SECRETS['postcode']}, geboren op {SECRETS['dob']},"
    f" kenteken {SECRETS['plate']}. Schandalig, niemand helpt!"
)


@pytest.mark.slow
def test_personal_data_reaches_no_topic_state_or_log_on_kafka(
    kafka_harness: KafkaHarness,  # noqa: F811
    kafka_topic_prefix: str,
) -> None:
    edge = IngestionEdge(Pseudonymiser(kafka_harness.settings.pseudonym_key))
    data = contact_data(
        onderwerp=f"Verhuizing {SECRETS['postcode']}, tel {SECRETS['phone']}",
        inhoud=COMMENT,
        referentienummer=SECRETS["bsn9"],
        bereikbaarheid={"enqueteToestemming": True, "email": "burger@example.org"},
    )
    del data["klant"]
    data["bsn"] = "111222333"
    publish_accepted(
        kafka_harness.publisher, None, edge.prepare([envelope(CONTACT.name, data)], batch=True)
    )
    klant = Pseudonymiser(kafka_harness.settings.pseudonym_key).klant("111222333")
    invitation = wait_for_klant(kafka_harness, INVITATION.topic, klant)["data"]
    response = {
        "responseId": "r-kafka-pii",
        "invitationId": invitation["invitationId"],
        "contactId": invitation["contactId"],
        "klant": klant,
        "answeredAt": "2026-11-23T11:00:00Z",
        "terugbelToestemming": True,
        "nps": {"score": 0, "opmerking": COMMENT},
        "rapportcijfer": {"score": 1, "opmerking": COMMENT},
    }
    publish_accepted(
        kafka_harness.publisher, None, edge.prepare([envelope(RESPONSE.name, response)], batch=True)
    )
    wait_for_klant(kafka_harness, ALERT.topic, klant)
    kafka_harness.wait_idle()
    topics, records = raw_topic_records(kafka_harness, kafka_topic_prefix)
    assert topics
    stored = raw_bytes(records)
    assert any("changelog" in t for t in topics), topics  # the worker's state is searched too
    worker_log = kafka_harness.worker_log_path.read_bytes()
    # The search does see the run's records: sealed per klant, under the klant's route id.
    route = kafka_harness.sealer.keys.for_klant(klant, create=False).route  # type: ignore[union-attr]
    assert route.encode() in stored
    assert klant.encode() not in stored  # crypto-shredding: the pseudonym is sealed too
    for name, secret in {
        **SECRETS,
        "contact bsn": "111222333",
        "address": "burger@example.org",
    }.items():
        assert secret.encode() not in stored, name
        assert secret.encode() not in worker_log, name
