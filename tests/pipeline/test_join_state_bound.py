"""The join's `pending` state of one klant stays below what a Kafka changelog record may
be (pipeline/stages/join.py, MAX_PENDING_BYTES and MAX_TAKEN_BYTES; docs/kafka.md, "A
table change too large to send"). Bounded in count only, it passed 5 MB sealed: 20
waiting answers plus the answers of 5 contacts kept for replays, each answer with four
comments of 2,000 four-byte characters, as the schema allows. Such a value is refused by
the broker (max.message.bytes, ~1 MiB by default) or by the worker's producer (2 MiB),
and the worker stops on it again after every restart, which stands the partition still.

The adversarial klant through the real stage (process_record) and the real sealer: every
sealed value the state takes is measured as the changelog would carry it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.processing import process_record
from pipeline.runtimes.kafka.keystore import SqlKeyStore
from pipeline.sealing import Sealer
from pipeline.sentiment import lexicon_scorer
from pipeline.stages import join
from pipeline.stages.scoring import SignalStage
from schemas.types import CONTACT, RESPONSE
from tests.support.events import contact_event, response_event

BROKER_MAX_MESSAGE_BYTES = 1_048_588  # Kafka's default for a topic
LONG = "\U0001f600" * 2000  # a comment at the schema's limit, 4 bytes per character
ANSWER = {
    "ces": {"score": 1, "schaal": 5, "opmerking": LONG},
    "nps": {"score": 0, "opmerking": LONG},
    "rapportcijfer": {"score": 1, "opmerking": LONG},
    "vervolg": {"soort": "mis", "toelichting": LONG},
}
KLANT = "k-" + "ab" * 16  # a pseudonym: its state is sealed


class SealedState:
    """A stage State as the worker keeps it (pipeline.runtimes.kafka.worker.TableState,
    without faust): values sealed per klant; records the size of every value written."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer
        self.data: dict[str, Any] = {}
        self.sizes: list[int] = []

    def get(self, key: str) -> dict[str, Any] | None:
        stored = self.data.get(key)
        return self.sealer.open_state(key, stored) if stored is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        sealed = self.sealer.seal_state(key, value)
        self.sizes.append(len(json.dumps(sealed).encode()))  # faust's json value
        self.data[key] = sealed


def _adversarial_klant(tmp_path: Path, rounds: int) -> tuple[SealedState, list[str]]:
    """`rounds - 1` contacts each taking as many long answers as the join parks, then as
    many waiting again. The pending state and the reasons of the dead-lettered answers."""
    sealer = Sealer(SqlKeyStore(f"sqlite:///{tmp_path / 'keys.db'}"))
    pending = SealedState(sealer)
    states: dict[str, Any] = {"contacts": SealedState(sealer), "pending": pending}
    stage = SignalStage(scorer=lexicon_scorer())
    refused: list[str] = []
    for round_ in range(rounds):
        contact = contact_event(klant=KLANT, contactId=f"c-{round_}")
        for n in range(join.MAX_PENDING_PER_KLANT):
            invitation = {"invitationId": f"i-{round_}-{n}", "contactId": f"c-{round_}"}
            answer = response_event({**invitation, "klant": KLANT}, **ANSWER)
            outcome = process_record(stage, RESPONSE.topic, answer, states, f"{round_}/{n}")
            if outcome.dead_letter is not None:
                refused.append(outcome.dead_letter.reason)
        if round_ < rounds - 1:  # the last round's answers stay waiting
            assert process_record(stage, CONTACT.topic, contact, states, "c").emits
    return pending, refused


def test_one_klants_pending_state_stays_under_the_changelog_record_limit(
    tmp_path: Path,
) -> None:
    pending, refused = _adversarial_klant(tmp_path, rounds=4)  # 3 takes pass MAX_TAKEN_BYTES
    assert refused  # the bound was met: the rest went to the dead letter
    # The reason names the field and the rule, never the value (docs/operations.md).
    assert all(r.startswith("/data/contactId: ") and "c-" not in r for r in refused), refused
    assert max(pending.sizes) < BROKER_MAX_MESSAGE_BYTES // 2, max(pending.sizes)
    waiting = {k: v for k, v in pending.get(KLANT).items() if k != join.TAKEN}  # type: ignore[union-attr]
    assert waiting and sum(len(v) for v in waiting.values()) >= 1


def test_without_the_byte_bound_it_passes_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(join, "MAX_PENDING_BYTES", 10**12)
    monkeypatch.setattr(join, "MAX_TAKEN_BYTES", 10**12)
    pending, refused = _adversarial_klant(tmp_path, rounds=2)  # one contact's take, 20 waiting
    assert not refused
    assert max(pending.sizes) > BROKER_MAX_MESSAGE_BYTES  # six rounds: over 5 MB
