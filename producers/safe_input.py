"""Input that can never succeed is refused up front, and refusals never repeat values.

- JSON is parsed strictly: valid UTF-8 only, no duplicate keys, no NaN/Infinity.
- Text must be storable everywhere: no NUL (PostgreSQL text cannot hold it) and no lone
  surrogates (no UTF-8 encoding exists for them; SQLite and Kafka would refuse them later,
  after the request was half-processed).
- Validation messages from jsonschema quote the offending value (an e-mail address in a
  wrong field, say); the edge replaces them by the rule in words.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.validation import Problem

MAX_POINTER_SEGMENT = 64


class MalformedJson(ValueError):
    """The body is no acceptable JSON; the message names the reason, never the content."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedJson("an object has the same key twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not a JSON number")


def loads_strict(body: bytes) -> Any:
    """Parse a request body; raises MalformedJson."""
    try:
        text = body.decode("utf-8")  # strict: encoded surrogates (ED A0 80) fail here too
    except UnicodeDecodeError:
        raise MalformedJson("the body is not valid UTF-8") from None
    if text.startswith("\ufeff"):
        raise MalformedJson("the body starts with a byte order mark")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except MalformedJson:
        raise
    except RecursionError:
        raise MalformedJson("nested too deeply") from None
    except ValueError as exc:
        # JSONDecodeError's own text names only the position, never the content.
        position = getattr(exc, "pos", None)
        raise MalformedJson(f"not valid JSON (at character {position})") from None


def pointer_segment(key: object) -> str:
    """A JSON pointer segment that is safe to show and to log (escaped, cut short)."""
    text = str(key).encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    text = text.replace("~", "~0").replace("/", "~1")
    return text if len(text) <= MAX_POINTER_SEGMENT else text[:MAX_POINTER_SEGMENT] + "…"


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "text must not contain NUL characters"
    if text.isascii():  # no surrogate is ASCII: most texts need no encoding to check
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode (no lone surrogates)"
    return None


def find_unsafe_text(node: Any, pointer: str = "", depth: int = 0) -> Problem | None:
    """The first key or string that can never be stored, as a Problem."""
    found = _unsafe(node, depth)
    if found is None:
        return None
    segments, rule, message = found
    return Problem(pointer + "".join(reversed(segments)), rule, message)


def _unsafe(node: Any, depth: int) -> tuple[list[str], str, str] | None:
    """find_unsafe_text's walk: the pointer's segments are made only for what it finds
    (innermost first), not for every field of every valid event."""
    if depth > 64:
        return [], "maxDepth", "nested too deeply"
    if isinstance(node, str):
        reason = _bad_text(node)
        return ([], "pattern", reason) if reason else None
    if isinstance(node, dict):
        for key, value in node.items():
            reason = _bad_text(key) if isinstance(key, str) else None
            if reason:
                return [f"/{pointer_segment(key)}"], "propertyNames", "field name: " + reason
            found = _unsafe(value, depth + 1)
            if found is not None:
                found[0].append(f"/{pointer_segment(key)}")
                return found
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found = _unsafe(value, depth + 1)
            if found is not None:
                found[0].append(f"/{index}")
                return found
    return None


# Rules whose messages we wrote ourselves and which name fields, never values.
_OWN_MESSAGES = frozenset({"required", "additionalProperties", "anyOf", "oneOf", "unique"})
_RULE_WORDS = {
    "type": "has the wrong JSON type",
    "enum": "is not one of the allowed values",
    "const": "does not have the required value",
    "pattern": "does not have the required form",
    "format": "is not in the required format (see the schema)",
    "maxLength": "is too long",
    "minLength": "is too short (or empty)",
    "maximum": "is too large",
    "minimum": "is too small",
    "exclusiveMaximum": "is too large",
    "exclusiveMinimum": "is too small",
    "maxItems": "has too many items",
    "minItems": "has too few items",
    "uniqueItems": "has the same item twice",
    "propertyNames": "has a field name that is not allowed",
    "maxProperties": "has too many fields",
    "minProperties": "has too few fields",
}


def without_values(problem: Problem) -> Problem:
    """The problem with a message that names the rule but repeats no submitted value."""
    pointer = "/".join(pointer_segment(s) for s in problem.pointer.split("/"))
    if problem.rule in _OWN_MESSAGES:
        return Problem(pointer, problem.rule, problem.message)
    if pointer == "/type" and problem.rule == "enum":
        allowed = problem.message.rpartition("use ")[2] if "use [" in problem.message else ""
        return Problem(
            pointer, "enum", "unknown event type" + (f"; use {allowed}" if allowed else "")
        )
    words = _RULE_WORDS.get(problem.rule, f"does not satisfy '{problem.rule}'")
    return Problem(pointer, problem.rule, f"the value {words}")
