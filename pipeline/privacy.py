"""Privacy by design: keyed pseudonyms instead of BSNs, and scrubbing of free text."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


_BSN_SHAPE = re.compile(r"[0-9]{8,9}")


def normalise_bsn(value: str) -> str:
    """Nine ASCII digits: an 8-digit BSN is the same number with a leading zero."""
    return value.strip().zfill(9)


def is_valid_bsn(value: str) -> bool:
    """The 'elfproef' that every BSN passes."""
    if not _BSN_SHAPE.fullmatch(value.strip()):
        return False
    digits = normalise_bsn(value)
    if digits == "000000000":
        return False
    return sum(int(d) * w for d, w in zip(digits, _BSN_WEIGHTS, strict=True)) % 11 == 0


class Pseudonymiser:
    """HMAC-SHA256 pseudonyms: stable per key, not reversible without it."""

    def __init__(self, key: str | bytes):
        self._key = key.encode() if isinstance(key, str) else key

    def klant(self, identifier: str, kind: str = "bsn") -> str:
        digest = hmac.new(self._key, f"{kind}:{identifier.strip()}".encode(), hashlib.sha256)
        return "k-" + digest.hexdigest()[:32]


def _bsn_or_keep(match: re.Match[str]) -> str:
    return "[nummer]" if is_valid_bsn(re.sub(r"[ .-]", "", match.group(0))) else match.group(0)


# Order matters: IBAN and e-mail before the bare number patterns that would eat their digits.
_SCRUBBERS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "[e-mail]"),
    (re.compile(r"\b[A-Z]{2}\d{2}\s?(?:[A-Z0-9]{4}\s?){3,7}[A-Z0-9]{1,4}\b", re.I), "[iban]"),
    (
        re.compile(
            r"(?<![\w+])(?:\+31\s?(?:\(0\))?|0031|0)\s?-?\s?"
            r"(?:6\s?-?\s?\d(?:[\s-]?\d){7}|[1-9](?:[\s-]?\d){8})(?!\d)"
        ),
        "[telefoon]",
    ),
    (re.compile(r"(?<!\d)\d{4}[.\s-]?\d{2}[.\s-]?\d{3}(?!\d)|(?<!\d)\d{9}(?!\d)"), "[nummer]"),
    (re.compile(r"(?<!\d)\d{3}[ .-]\d{3}[ .-]\d{3}(?!\d)"), _bsn_or_keep),
    (re.compile(r"\b\d{4}\s?[A-Z]{2}\b|\b\d{4}[a-z]{2}\b"), "[postcode]"),
    (
        re.compile(
            r"\b(?:[A-Za-z]+\s(?:van|de|der|den)\s)?[A-Za-z]+(?:straat|laan|weg|plein|gracht|kade"
            r"|singel|dijk|hof|pad|steeg|dreef|park|markt|baan|dam|veld|erf)\s+\d+\s?[a-zA-Z]?\b"
            r"|\b(?:Laan|Plein|Burgemeester|Van)\s(?:[A-Za-z]+\s){0,3}\d+\s?[a-zA-Z]?\b"
        ),
        "[adres]",
    ),
)


def scrub(text: str) -> str:
    """Replace e-mail addresses, IBANs, phone numbers, BSN-like numbers and addresses."""
    for pattern, placeholder in _SCRUBBERS:
        text = pattern.sub(placeholder, text)
    return text
