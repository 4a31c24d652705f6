"""The per-record fast paths give what the slow, obvious code gives: derived ids are the
stdlib's uuid5, from_dict reads what the field-by-field translation reads, and the NaN check
after an orjson dump finds what a plain recursive walk finds."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import jsonfast
from schemas.cloudevents import derived_id
from schemas.models import Contact, MonitorObservation, field_name
from tests.support.events import contact_data


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.lists(st.text(max_size=40), max_size=4))
def test_derived_id_is_uuid5_of_the_url_namespace(namespace: str, parts: list[str]) -> None:
    name = f"klantsignaal:{namespace}:" + ":".join(parts)
    try:
        expected = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    except UnicodeEncodeError:  # lone surrogates: both refuse them
        return
    assert derived_id(namespace, *parts) == expected


def _reference_from_dict(cls: Any, raw: dict[str, Any]) -> Any:
    """The translation as it was: every key through field_name, nested models by name."""
    names = {f for f in cls.__dataclass_fields__}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        name = field_name(key)
        if name not in names:
            continue
        if name in cls.NESTED and isinstance(value, dict):
            value = _reference_from_dict(cls.NESTED[name], value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def test_from_dict_reads_wire_names_snake_names_and_skips_unknown_keys() -> None:
    data = contact_data(inhoud="Vraag")
    variants = [
        data,
        {**data, "onbekendVeld": 1, "Klant": "x"},  # unknown keys are skipped
        {**data, "contact_id": "via-snake-name"},  # field_name maps snake names too
        {**data, "dienst": "geen object"},  # not a dict: kept as it is
        {**data, "bereikbaarheid": {"enqueteToestemming": True, "kanalen": ["email"]}},
    ]
    for raw in variants:
        assert Contact.from_dict(raw) == _reference_from_dict(Contact, raw)
    observation = {
        "observationId": "o",
        "bron": "contact",
        "oorzaakId": "c",
        "dienst": {"code": "d", "naam": "D"},
        "kanaal": "balie",
        "waargenomenOp": "2026-01-01T00:00:00Z",
        "uitkomsten": {"ces": True},
    }
    assert MonitorObservation.from_dict(observation) == _reference_from_dict(
        MonitorObservation, observation
    )


def _reference_non_finite(obj: Any) -> bool:
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_reference_non_finite(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return any(_reference_non_finite(v) for v in obj)
    return False


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_the_nan_check_finds_what_a_recursive_walk_finds(obj: Any) -> None:
    assert jsonfast._has_non_finite(obj) == _reference_non_finite(obj)
    written = jsonfast.dumps(obj)
    if not _reference_non_finite(obj):
        assert json.loads(written) == json.loads(_stdlib(obj))  # the same values
        return
    # And dumps then writes what the stdlib writes (NaN, Infinity), not orjson's null.
    assert b"NaN" in written or b"Infinity" in written
    assert written == _stdlib(obj)


def _stdlib(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_nan_among_nulls_and_small_lists_is_written_as_the_stdlib_writes_it(bad: float) -> None:
    """The shape of a monitor cell (nulls, a window of [log, offset, item] positions): the
    fast check (orjson's text read back and compared) must not let a NaN through as null."""
    cell: dict[str, Any] = {
        "seen": [f"id{i}" for i in range(100)],
        "seen_at": [[0, i, 0] for i in range(99)] + [None],
        "marks": [None],
        "response": {"pending": {"n": 0, "next": None}},
    }
    assert jsonfast.dumps(cell) == orjson.dumps(cell)  # nulls only: orjson's text
    for where in (cell["seen_at"][50], cell["marks"], cell["response"]["pending"]):
        if isinstance(where, list):
            where.append(bad)
        else:
            where["x"] = bad
        assert jsonfast.dumps(cell) == _stdlib(cell)
        assert jsonfast.loads(jsonfast.dumps(cell)) != jsonfast.loads(orjson.dumps(cell))
        where.pop() if isinstance(where, list) else where.pop("x")
    assert jsonfast.dumps(cell) == orjson.dumps(cell)


def test_utc_now_is_the_datetime_text_of_this_millisecond() -> None:
    from datetime import UTC, datetime

    from schemas.cloudevents import utc_now

    def slow() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    for _ in range(200):
        before, now, after = slow(), utc_now(), slow()
        assert before <= now <= after
        assert len(now) == len("2026-11-30T06:12:15.123Z") and now.endswith("Z")


def test_ms_text_is_the_datetime_text_of_every_millisecond() -> None:
    """utc_now's text of a millisecond (the second's part made once per second) is the
    datetime's isoformat, across seconds, days, a leap day, years and before the epoch."""
    import random
    from datetime import UTC, datetime

    from schemas.cloudevents import ms_text

    def reference(ms: int) -> str:
        at = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
        return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    starts = [0, -1_000, 951_782_399_000, 1_764_547_199_000, 1_798_761_599_000]
    values = [s + d for s in starts for d in range(-1_500, 1_500)]
    rng = random.Random(10)
    values += [rng.randrange(-2_000_000_000_000, 4_000_000_000_000) for _ in range(20_000)]
    rng.shuffle(values)
    for ms in values + sorted(values):
        assert ms_text(ms) == reference(ms), ms


def test_the_worker_reads_every_schema_id_before_it_is_ready() -> None:
    """compile_fast_validators (called before a worker is ready) also reads the schema id
    of every event type, so the first records after a restart do not read schema files."""
    from schemas.types import EVENT_TYPES
    from schemas.validation import compile_fast_validators, schema_id

    schema_id.cache_clear()
    compile_fast_validators()
    assert schema_id.cache_info().currsize == len(EVENT_TYPES)
    misses = schema_id.cache_info().misses
    for type_name in EVENT_TYPES:
        schema_id(type_name)
    assert schema_id.cache_info().misses == misses
