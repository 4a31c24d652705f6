"""Compact JSON on the hot paths (records, state), with orjson and the stdlib as fallback.

`dumps` writes what ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`` writes
(UTF-8 encoded; floats may be spelled differently, e.g. 1e-5 for 1e-05, same value), and
`loads` returns what ``json.loads`` returns: orjson does the common case; whatever it
refuses (integers beyond 64 bits, NaN, lone surrogates, other encodings, objects the stdlib
cannot write either) goes through the stdlib, so results and errors stay the stdlib's.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

# Types orjson writes but the stdlib refuses: let them fail the stdlib way.
STDLIB_TYPES_ONLY = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _stdlib_dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


_SCALARS = frozenset((str, int, bool, type(None)))


def _has_non_finite(obj: Any) -> bool:
    """Whether a NaN or an infinity is anywhere in obj (a loop, not a recursion: state
    values with a null in them are checked on every write)."""
    if isinstance(obj, float):
        return not math.isfinite(obj)
    pending = [obj]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            current = current.values()
        elif not isinstance(current, list | tuple):
            continue
        if _SCALARS.issuperset(map(type, current)):
            continue  # only strings, integers, booleans and None (a list of ids): nothing
        for value in current:
            kind = type(value)
            if kind is str or kind is int or kind is bool or value is None:
                continue
            if isinstance(value, float):
                if not math.isfinite(value):
                    return True
            elif isinstance(value, dict | list | tuple):
                pending.append(value)
    return False


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as the stdlib writes it (ensure_ascii=False)."""
    return dumps_read_back(obj)[0]


NOT_READ: Any = object()  # dumps_read_back: the text was not read back


def dumps_read_back(obj: Any) -> tuple[bytes, Any]:
    """`dumps`, and what its NaN check read back from the text (a fresh object equal to
    `loads` of it, shared with nobody), or NOT_READ: a caller that would decode the text
    again (the embedded state, a get after a put) can take that instead."""
    try:
        out = orjson.dumps(obj, option=STDLIB_TYPES_ONLY)
    except TypeError:  # what orjson refuses: the stdlib decides (same text or same error)
        return _stdlib_dumps(obj), NOT_READ
    # orjson writes NaN/Infinity as null; the stdlib keeps them (rare: check only then).
    if b"null" not in out:
        return out, NOT_READ
    back = _read_back_if_same(out, obj)
    if back is NOT_READ and _has_non_finite(obj):
        return _stdlib_dumps(obj), NOT_READ
    return out, back


def _read_back_if_same(out: bytes, obj: Any) -> Any:
    """What orjson wrote for `obj`, read back, when it equals `obj`: then every null was a
    None (a NaN or an infinity reads back as None, and None equals no float). Read and
    compared in C: several times faster than `_has_non_finite`'s walk over state with
    many small lists (the monitor cell's positions). NOT_READ (then the walk decides) also
    for what does not read back equal for other reasons (tuples, enums)."""
    try:
        back = orjson.loads(out)
        return back if back == obj else NOT_READ
    except Exception:  # an object whose __eq__ fails: the walk decides
        return NOT_READ


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode()


def loads(raw: str | bytes | bytearray) -> Any:
    """json.loads, faster: what orjson cannot read is read (or refused) by the stdlib."""
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return json.loads(raw)


def loads_text(raw: str | bytes | bytearray) -> Any:
    """`loads` for JSON from outside (a record's value): also refuses a lone surrogate
    escape (``"\\ud800"``), which the stdlib reads into a str that no UTF-8 encoder, JSON
    Schema validator or Kafka record can take (I-JSON, RFC 7493, forbids it). ValueError
    without the value, like any JSON that does not parse."""
    try:
        return orjson.loads(raw)  # refuses lone surrogates itself
    except (orjson.JSONDecodeError, TypeError):
        obj = json.loads(raw)
    try:
        _stdlib_dumps(obj)  # rare path (big integers, NaN, surrogates): check it writes
    except UnicodeEncodeError:
        raise ValueError("JSON text has a lone surrogate escape (\\ud800-\\udfff)") from None
    return obj
