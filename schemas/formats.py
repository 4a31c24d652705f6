"""Strict checks for the string formats of the schemas: RFC 3339 date-time, RFC 3986 URIs.

jsonschema only checks formats it is given; these are the ones the contract relies on.
All patterns are linear (no nested repetition).
"""

from __future__ import annotations

import re

# RFC 3339 section 5.6: full-date "T" full-time with a mandatory offset. No basic format
# (20261123T100000Z), no reduced precision (2026-11-23T10Z).
_RFC3339 = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)

_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*"
_AUTHORITY = (
    r"(?:(?:[A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{2})*@)?"
    r"(?:\[[0-9A-Fa-f:.]{2,45}\]|(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)"
    r"(?::[0-9]*)?"
)
_PATH_ABEMPTY = rf"(?:/{_PCHAR}*)*"
_HIER = (
    rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|/(?:{_PCHAR}+{_PATH_ABEMPTY})?|{_PCHAR}+{_PATH_ABEMPTY}|)"
)
# A relative part may not start with a segment holding ":" (it would read as a scheme).
_NOCOLON = r"(?:[A-Za-z0-9._~!$&'()*+,;=@-]|%[0-9A-Fa-f]{2})"
_RELATIVE = (
    rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|/(?:{_PCHAR}+{_PATH_ABEMPTY})?"
    rf"|{_NOCOLON}+{_PATH_ABEMPTY}|)"
)
_QUERY_FRAGMENT = rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
_URI = re.compile(rf"{_SCHEME}:{_HIER}{_QUERY_FRAGMENT}")
_URI_REFERENCE = re.compile(rf"(?:{_SCHEME}:{_HIER}|{_RELATIVE}){_QUERY_FRAGMENT}")


def is_rfc3339(value: str) -> bool:
    return _RFC3339.fullmatch(value) is not None


def is_uri(value: str) -> bool:
    """An absolute URI (RFC 3986 section 3), e.g. https://klantsignaal.nl/schemas/x.json."""
    return _URI.fullmatch(value) is not None


def is_uri_reference(value: str) -> bool:
    """A URI or a relative reference (RFC 3986 section 4.1), e.g. /e-formulieren."""
    return value != "" and _URI_REFERENCE.fullmatch(value) is not None
