"""The event contract: schemas load, models match them, errors name field and rule."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest

from schemas import EVENT_TYPES, CloudEvent, ValidationFailed, validate_event
from schemas.models import MODELS, Model, wire_name
from schemas.types import CONTACT
from tests.support.events import contact_data, envelope


def _schema(name: str) -> dict:
    return json.loads(resources.files("schemas").joinpath("json", name).read_text())


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_type_has_a_2020_12_schema_and_a_model(event_type: str) -> None:
    et = EVENT_TYPES[event_type]
    schema = _schema(et.schema_file)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert event_type in schema["title"]
    model = MODELS[et.schema_file]
    fields = {wire_name(f.name) for f in dataclasses.fields(model)}  # type: ignore[arg-type]
    assert fields == set(schema["properties"]), "model and schema name the same fields"
    assert set(schema["required"]) <= fields


def test_model_round_trip_keeps_the_wire_form() -> None:
    data = contact_data(inhoud="Vraag over de aanvraag")
    from schemas.models import Contact

    assert Contact.from_dict(data).to_dict() == data
    assert isinstance(Contact.from_dict(data), Model)


def test_contact_follows_klantinteracties_field_names() -> None:
    props = _schema(CONTACT.schema_file)["properties"]
    for name in (
        "kanaal",
        "onderwerp",
        "inhoud",
        "indicatieContactGelukt",
        "taal",
        "vertrouwelijk",
        "plaatsgevondenOp",
        "hoofdOnderwerpType",
        "referentienummer",
    ):
        assert name in props


@pytest.mark.parametrize(
    ("change", "pointer", "rule"),
    [
        (lambda d: d.pop("kanaal"), "/data/kanaal", "required"),
        (lambda d: d.update(kanaal="postduif"), "/data/kanaal", "enum"),
        (lambda d: d.update(taal="Nederlands"), "/data/taal", "pattern"),
        (lambda d: d.update(plaatsgevondenOp="gisteren"), "/data/plaatsgevondenOp", "format"),
        (lambda d: d.update(bsn="123456782"), "/data/bsn", "additionalProperties"),
        (lambda d: d["dienst"].pop("naam"), "/data/dienst/naam", "required"),
        (lambda d: d.update(vertrouwelijk="nee"), "/data/vertrouwelijk", "type"),
    ],
)
def test_validation_names_field_and_rule(change, pointer: str, rule: str) -> None:
    data = contact_data()
    change(data)
    with pytest.raises(ValidationFailed) as failure:
        validate_event(envelope(CONTACT.name, data))
    assert [(p.pointer, p.rule) for p in failure.value.problems] == [(pointer, rule)]


def test_binary_mode_round_trip() -> None:
    event = validate_event(envelope(CONTACT.name, contact_data(), partitionkey="k-" + "a" * 32))
    key, headers, value = event.to_binary()
    names = {h for h, _ in headers}
    assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"} <= names
    assert key == event.partitionkey.encode()
    assert CloudEvent.from_binary(key, headers, value) == event


def test_binary_mode_without_headers_is_refused_with_reason() -> None:
    with pytest.raises(ValueError, match="ce_id"):
        CloudEvent.from_binary(b"k", [("ce_specversion", b"1.0")], b"{}")
