"""Hypothesis strategies generated from JSON Schema, for the keywords our schemas use
(type, enum, const, string lengths, pattern, formats date-time/uri/uri-reference, number
bounds, objects with required/optional properties and additionalProperties, arrays, anyOf,
oneOf, allOf of one schema). hypothesis-jsonschema was tried first: its object strategy
uses a Hypothesis internal that Hypothesis 6.1xx no longer has.

Generated values are valid by the schema most of the time, and sometimes not on purpose
(`stray`: a property the schema does not allow, a string over its maxLength), so the
fuzz also hits the edge's refusals with otherwise well-formed events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    lo, hi = schema.get("minLength", 0), schema.get("maxLength", 60)
    fmt = schema.get("format")
    if fmt == "date-time":
        moments = st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
        )
        return moments.map(lambda m: m.isoformat().replace("+00:00", "Z"))
    if fmt in ("uri", "uri-reference"):
        path = st.from_regex(r"[a-z0-9-]{1,12}(/[a-z0-9-]{1,12}){0,3}", fullmatch=True)
        prefix = "https://example.org/" if fmt == "uri" else "/"
        return path.map(lambda p: prefix + p)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"]).filter(lambda s: lo <= len(s) <= hi)
    alphabet = st.characters(exclude_categories=("Cs",))
    return st.text(alphabet, min_size=lo, max_size=min(hi, lo + 80))


def _number(schema: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if integer:
        return st.integers(min_value=lo, max_value=hi)
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


@st.composite
def _object(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for name in sorted(props):
        if name in required or draw(st.booleans()):
            out[name] = draw(from_schema(props[name]))
    for name in sorted(required - set(props)):
        out[name] = draw(TEXT)
    if schema.get("additionalProperties") is False and draw(st.sampled_from([False] * 9 + [True])):
        # now and then a property the schema forbids
        out[draw(st.text("abcxyz", min_size=1, max_size=8))] = draw(TEXT)
    return out


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k != key}
            if "properties" in schema:  # alternatives that only add required properties
                required = schema.get("required", [])
                return st.one_of(
                    [
                        from_schema({**rest, "required": [*required, *alt.get("required", [])]})
                        for alt in schema[key]
                    ]
                )
            return st.one_of([from_schema({**rest, **alt}) for alt in schema[key]])
    kind = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}) for k in kind])
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema.get("items", {"type": "string"}))
        lo, hi = schema.get("minItems", 0), schema.get("maxItems", 5)
        return st.lists(items, min_size=lo, max_size=hi, unique=schema.get("uniqueItems", False))
    if kind == "object":
        return _object(schema)
    return TEXT  # no type: any short text
