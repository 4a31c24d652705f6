"""Validation against the JSON Schemas, with errors that name the field (JSON pointer) and rule.

Two validators per schema, compiled once: jsonschema-rs (Rust) answers "valid?" for every
record, fast; only a record it rejects goes through python-jsonschema, whose error objects
give the pointers and rules the API reports. Both use the same format rules (date-time as
below, URIs per schemas/formats.py), so they agree on what is valid.

Validate once: the edge stamps an event it validated with the schema's `$id` in the
CloudEvents `dataschema` attribute (`schema_id`), as do stages on the events they derive;
readers trust that mark on topics only the edge and the workers may write (see
docs/kafka.md) and skip the data validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from schemas.cloudevents import CloudEvent
from schemas.formats import is_rfc3339, is_uri, is_uri_reference
from schemas.types import EVENT_TYPES


@dataclass(frozen=True)
class Problem:
    pointer: str  # JSON pointer into the submitted event, e.g. /data/kanaal
    rule: str  # the JSON Schema keyword that failed, e.g. required
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "rule": self.rule, "message": self.message}


class ValidationFailed(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems))


def _load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("schemas").joinpath("json", name).read_text("utf-8"))


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True  # wrong types are reported by the "type" keyword
    return _is_datetime_text(value)


@lru_cache(maxsize=4096)  # derived events repeat their times (a contact's, this second)
def _is_datetime_text(value: str) -> bool:
    if not is_rfc3339(value):
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    # RFC 3339 requires an offset; the year range keeps dates storable in every warehouse.
    return parsed.tzinfo is not None and 1900 <= parsed.year <= 2100


@cache
def _validators() -> dict[str, Draft202012Validator]:
    """One compiled validator per schema file; cached because compiling is the slow part."""
    names = ["cloudevent.json"] + sorted({t.schema_file for t in EVENT_TYPES.values()})
    schemas = {n: _load(n) for n in names}
    registry: Registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_datetime)
    checker.checks("uri")(_is_uri)
    checker.checks("uri-reference")(_is_uri_reference)
    return {
        n: Draft202012Validator(s, registry=registry, format_checker=checker)
        for n, s in schemas.items()
    }


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or is_uri(value)


def _is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or is_uri_reference(value)


@cache
def _fast_validators() -> dict[str, Any]:
    """jsonschema-rs validators with the same format rules as `_validators`."""
    names = ["cloudevent.json"] + sorted({t.schema_file for t in EVENT_TYPES.values()})
    schemas = {n: _load(n) for n in names}
    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.values()])
    formats = {"date-time": _is_datetime, "uri": _is_uri, "uri-reference": _is_uri_reference}
    return {
        n: jsonschema_rs.validator_for(s, registry=registry, formats=formats, validate_formats=True)
        for n, s in schemas.items()
    }


def compile_fast_validators() -> None:
    """Compile the fast validators now rather than at the first record (a worker calls it
    before it is ready, so its first run after a restart does not wait for it), and the
    schema ids the stages stamp (each read from its schema file once, at its first use)."""
    _fast_validators()
    for type_name in EVENT_TYPES:
        schema_id(type_name)


@cache
def schema_id(type_name: str) -> str | None:
    """The `$id` of the schema of an event type: the `dataschema` of a validated event."""
    et = EVENT_TYPES.get(type_name)
    return _load(et.schema_file)["$id"] if et is not None else None


def data_is_valid(type_name: str, data: Any) -> bool:
    """The fast check alone (for events a stage derives)."""
    et = EVENT_TYPES.get(type_name)
    return et is not None and _fast_validators()[et.schema_file].is_valid(data)


def _problems(error_iter: Any, prefix: str) -> list[Problem]:
    # jsonschema reports one error per missing field but each sees all of them: dedupe.
    out: dict[tuple[str, str], Problem] = {}
    for err in sorted(error_iter, key=lambda e: [str(p) for p in e.absolute_path]):
        for problem in _explain(err, prefix):
            out.setdefault((problem.pointer, problem.rule), problem)
    return list(out.values())


def _explain(err: ValidationError, prefix: str) -> list[Problem]:
    base = prefix + "".join(f"/{p}" for p in err.absolute_path)
    if err.validator == "required" and isinstance(err.instance, dict):
        missing = [p for p in err.validator_value if p not in err.instance]
        return [Problem(f"{base}/{p}", "required", f"'{p}' is required") for p in missing]
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = [p for p in err.instance if p not in allowed]
        return [
            Problem(f"{base}/{p}", "additionalProperties", f"'{p}' is not a field of this event")
            for p in extra
        ]
    if (
        err.validator == "anyOf"
        and err.schema.get("anyOf")
        and all("required" in s for s in err.schema["anyOf"])
    ):
        options = [s["required"][0] for s in err.schema["anyOf"]]
        return [Problem(base, "anyOf", f"at least one of {options} is required")]
    return [Problem(base, str(err.validator), err.message)]


def validate_data(type_name: str, data: Any, *, prefix: str = "/data") -> list[Problem]:
    """Problems with an event's `data` against the schema of its type (empty when valid)."""
    et = EVENT_TYPES.get(type_name)
    if et is None:
        return [Problem("/type", "enum", f"unknown event type '{type_name}'")]
    if _fast_validators()[et.schema_file].is_valid(data):
        return []
    return _problems(_validators()[et.schema_file].iter_errors(data), prefix)


def validate_event(raw: Any, *, allowed_types: frozenset[str] | None = None) -> CloudEvent:
    """Validate a structured-mode CloudEvent (envelope, then data); raise ValidationFailed."""
    if not isinstance(raw, dict):
        raise ValidationFailed([Problem("", "type", "a CloudEvent must be a JSON object")])
    if not _fast_validators()["cloudevent.json"].is_valid(raw):
        problems = _problems(_validators()["cloudevent.json"].iter_errors(raw), "")
        if problems:
            raise ValidationFailed(problems)
    type_name = raw["type"]
    accepted = allowed_types if allowed_types is not None else frozenset(EVENT_TYPES)
    if type_name not in accepted:
        raise ValidationFailed(
            [Problem("/type", "enum", f"unknown event type '{type_name}', use {sorted(accepted)}")]
        )
    if "data" not in raw:
        raise ValidationFailed([Problem("/data", "required", "'data' is required")])
    problems = validate_data(type_name, raw["data"])
    if problems:
        raise ValidationFailed(problems)
    return CloudEvent.from_structured(raw)
