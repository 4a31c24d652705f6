"""Objects made without their dataclass __init__ (per record) equal the ones __init__
makes, and what __init__ refuses is still refused the same way; a model parsed once for
several stages is the model from_dict gives."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from schemas import models
from schemas.cloudevents import CloudEvent, built, new_event
from schemas.models import Contact, Invitation, MonitorObservation, parsed
from tests.support.events import contact_data


def _fields(event: CloudEvent) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(CloudEvent)}


def test_built_events_equal_init_events_and_bad_fields_still_fail() -> None:
    fields = _fields(new_event("t", {"a": [1]}, source="/s", key="k", event_id="i"))
    made, expected = built(dict(fields)), CloudEvent(**fields)
    assert made == expected and repr(made) == repr(expected)
    assert made.to_structured() == expected.to_structured()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        built({**fields, "unknown": 1})
    with pytest.raises(TypeError):
        built({k: v for k, v in fields.items() if k != "id"})
    raw = {**made.to_structured(), "traceparent": "00-ab"}  # an extension
    with_extension = CloudEvent(**{**fields, "extensions": {"traceparent": "00-ab"}})
    assert CloudEvent.from_structured(raw) == with_extension


def test_models_from_dict_equal_init_models_for_every_model_class() -> None:
    classes = [
        c
        for c in vars(models).values()
        if isinstance(c, type) and issubclass(c, models.Model) and c is not models.Model
    ]
    assert len(classes) > 10
    for cls in classes:
        plain = models._init_plan(cls)
        assert plain is not None, cls  # a model with more in __init__ would be called
    data = contact_data(inhoud="Vraag")
    contact = Contact.from_dict(data)
    by_init = Contact(**{f.name: getattr(contact, f.name) for f in dataclasses.fields(Contact)})
    assert contact == by_init and repr(contact) == repr(by_init)
    with pytest.raises(TypeError):  # a required field missing: __init__'s error
        Contact.from_dict({k: v for k, v in data.items() if k != "klant"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        contact.klant = "x"  # type: ignore[misc]


def test_a_model_is_parsed_once_per_data_dict() -> None:
    data = contact_data()
    first = parsed(Contact, data)
    assert first == Contact.from_dict(data)
    assert parsed(Contact, data) is first  # the same dict: the same model
    copy = dict(data)
    assert parsed(Contact, copy) is not first and parsed(Contact, copy) == first
    with pytest.raises(TypeError):  # another class for the same dict is parsed anew
        parsed(Invitation, data)
    observation = {
        "observationId": "o",
        "bron": "contact",
        "oorzaakId": "c",
        "dienst": {"code": "d", "naam": "D"},
        "kanaal": "balie",
        "waargenomenOp": "2026-11-30T10:00:00Z",
        "uitkomsten": {"contact_mislukt": False},
    }
    assert parsed(MonitorObservation, observation) == MonitorObservation.from_dict(observation)
