"""Validate once (no broker needed): the fast validator agrees with the detailed one, the
edge stamps what it validated, stages trust the stamp and re-check only what they derive."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from pipeline.processing import input_problem, process_record
from pipeline.stages.base import Emit
from producers.ingestion import IngestionEdge
from producers.simulator import ContactSimulator
from schemas.types import CONTACT, EVENT_TYPES
from schemas.validation import (
    _fast_validators,
    _validators,
    data_is_valid,
    schema_id,
    validate_data,
)
from tests.pipeline.runtimes.kafka.test_kafka_runtime import contact, new_klant, response

WRONG = ([], {}, "x", -1, 1.5, None, True, "2025-13-45T99:00:00Z", "x" * 5000)


def mutations(data: dict[str, Any]) -> list[Any]:
    """The event itself, each field left out, each field (also nested) given wrong values."""
    out: list[Any] = [data, [], "geen object"]

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                gone = copy.deepcopy(data)
                parent = gone
                for p in path:
                    parent = parent[p]
                del parent[k]
                out.append(gone)
                for bad in WRONG:
                    changed = copy.deepcopy(data)
                    target = changed
                    for p in path:
                        target = target[p]
                    target[k] = bad
                    out.append(changed)
                walk(v, (*path, k))
        extra = copy.deepcopy(data)
        extra["onbekend"] = 1
        out.append(extra)

    walk(data, ())
    return out


def samples() -> list[tuple[str, dict[str, Any]]]:
    sim = ContactSimulator(seed=7)
    events = sim.contacts(5) + [sim.page_feedback() for _ in range(3)]
    answer = response(new_klant(), "c-1", "i-1", "Lang gewacht, niemand belde terug.")
    return [(e.type, e.data) for e in [*events, answer]]


@pytest.mark.parametrize("type_name,data", samples())
def test_fast_and_detailed_validators_agree(type_name: str, data: dict[str, Any]) -> None:
    schema = EVENT_TYPES[type_name].schema_file
    fast, slow = _fast_validators()[schema], _validators()[schema]
    for candidate in mutations(data):
        assert fast.is_valid(candidate) == slow.is_valid(candidate), candidate
        # And the reported problems come from the detailed one, pointers as before.
        assert (validate_data(type_name, candidate) == []) == slow.is_valid(candidate)


def test_the_edge_stamps_what_it_validated() -> None:
    from pipeline.privacy import Pseudonymiser

    raw = contact(new_klant()).to_structured()
    raw["dataschema"] = "https://elders.example/vals.json"  # a client's own claim is replaced
    [accepted] = IngestionEdge(Pseudonymiser(b"k" * 32)).prepare([raw], batch=False)
    assert accepted.event.dataschema == schema_id(CONTACT.name)


def test_stages_trust_the_stamp_and_check_what_they_derive() -> None:
    event = contact(new_klant())
    broken = replace(event, data={**event.data, "kanaal": "postduif"})
    assert "/data/kanaal" in (input_problem(CONTACT.topic, broken) or "")
    stamped = replace(broken, dataschema=schema_id(CONTACT.name))
    assert input_problem(CONTACT.topic, stamped) is None  # trusted: not validated again
    other = replace(broken, dataschema=schema_id("nl.klantsignaal.response.v1"))
    assert input_problem(CONTACT.topic, other) is not None  # a stamp of another type is not

    class Deriving:
        name, inputs, outputs, state_names = "deriving", (CONTACT.topic,), ("alerts",), ()

        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

        def process(self, topic: str, ev: Any, state: Any) -> list[Emit]:
            return [Emit("survey-invitations", replace(ev, type=CONTACT.name, data=self.data))]

    good = process_record(Deriving(event.data), CONTACT.topic, event, {}, "0/1")
    assert good.dead_letter is None
    assert good.emits[0].event.dataschema == schema_id(CONTACT.name)
    bad = process_record(Deriving({"kanaal": 3}), CONTACT.topic, event, {}, "0/2")
    assert bad.dead_letter is not None and not bad.emits
    assert bad.dead_letter.reason == "interne fout in deriving: DerivedEventInvalid"
    assert not data_is_valid(CONTACT.name, {"kanaal": 3})
