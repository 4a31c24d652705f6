"""Privacy by design: keyed pseudonyms instead of BSNs, and scrubbing of free text."""

from __future__ import annotations

import hashlib
import hmac
import re

_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def is_valid_bsn(value: str) -> bool:
    """The 'elfproef' that every BSN passes."""
    digits = value.strip()
    if len(digits) == 8:
        digits = "0" + digits
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    return sum(int(d) * w for d, w in zip(digits, _BSN_WEIGHTS, strict=True)) % 11 == 0


class Pseudonymiser:
    """HMAC-SHA256 pseudonyms: stable per key, not reversible without it."""

    def __init__(self, key: str | bytes):
        self._key = key.encode() if isinstance(key, str) else key

    def klant(self, identifier: str, kind: str = "bsn") -> str:
        digest = hmac.new(self._key, f"{kind}:{identifier.strip()}".encode(), hashlib.sha256)
        return "k-" + digest.hexdigest()[:32]


# Order matters: IBAN and e-mail before the bare number patterns that would eat their digits.
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "[e-mail]"),
    (re.compile(r"\b[A-Z]{2}\d{2}\s?(?:[A-Z0-9]{4}\s?){3,7}[A-Z0-9]{1,4}\b", re.I), "[iban]"),
    (
        re.compile(
            r"(?<![\w+])(?:\+31|0031|0)[\s-]?(?:6[\s-]?\d(?:[\s-]?\d){7}|[1-9](?:[\s-]?\d){8})(?!\d)"
        ),
        "[telefoon]",
    ),
    (re.compile(r"(?<!\d)\d{4}[.\s-]?\d{2}[.\s-]?\d{3}(?!\d)|(?<!\d)\d{9}(?!\d)"), "[nummer]"),
    (re.compile(r"\b\d{4}\s?[A-Z]{2}\b"), "[postcode]"),
    (
        re.compile(
            r"\b[A-Z][a-z]+(?:straat|laan|weg|plein|gracht|kade|singel|dijk|hof|pad|steeg|dreef"
            r"|park|markt|baan|dam|veld|erf)\s+\d+\s?[a-zA-Z]?\b"
        ),
        "[adres]",
    ),
)


def scrub(text: str) -> str:
    """Replace e-mail addresses, IBANs, phone numbers, BSN-like numbers and addresses."""
    for pattern, placeholder in _SCRUBBERS:
        text = pattern.sub(placeholder, text)
    return text
