"""Finding terms and phrases in free text: case- and diacritics-insensitive, on whole words.

A term is written as words separated by spaces, e.g. ``van het kastje naar de muur``.
Two extras keep the policy file readable:

- ``klacht*`` matches every word that starts with ``klacht`` (klachten, klachtenformulier);
- ``...`` between words allows up to three other words there, so
  ``zie ... niet meer zitten`` matches "ik zie het echt niet meer zitten".

Negation: when a term list is negation-aware, a match directly after a negating word
("geen klacht", "niet naar de rechter", "geen enkele klacht") in the same clause does not
count. Matches are whole words: "bomvol" is not "bom". At each position the longest term
wins, so "naar de rechter" is one match, not also "rechter".

Plain domain code: no transport, no database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from schemas.fastinit import fast_init

GAP = "..."
MAX_GAP = 3
NEGATORS = frozenset({"geen", "niet", "nooit", "niets", "niks", "zonder", "nergens"})
# Words that may stand between a negator and the term it negates ("geen enkele klacht").
NEGATION_FILLERS = frozenset(
    {"een", "enkele", "enkel", "echte", "echt", "formele", "officiele", "verdere", "nieuwe"}
)
_CLAUSE = re.compile(r"[.!?;:\n]+|\bmaar\b")
_WORD = re.compile(r"[a-z0-9]+")


@fast_init  # one __dict__ update, not a setattr per field (one per word)
@dataclass(frozen=True)
class Token:
    word: str
    clause: int


def normalise(text: str) -> str:
    """Lower case without diacritics ("Suïcide" -> "suicide", "officiële" -> "officiele")."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


def tokenise(text: str) -> list[Token]:
    tokens: list[Token] = []
    for clause, part in enumerate(_CLAUSE.split(normalise(text))):
        tokens.extend(Token(word, clause) for word in _WORD.findall(part))
    return tokens


@dataclass(frozen=True)
class Term:
    """One term of a policy list, as written there, and its compiled word pattern."""

    text: str
    pattern: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Term:
        parts: list[str] = []
        for raw in text.split():
            if raw == GAP:
                parts.append(GAP)
                continue
            star = raw.endswith("*")
            words = _WORD.findall(normalise(raw.rstrip("*")))
            if not words or (star and len(words) != 1):
                raise ValueError(f"term {text!r}: {raw!r} is not a word")
            parts.extend(words[:-1])
            parts.append(words[-1] + ("*" if star else ""))
        if not parts or parts[0] == GAP or parts[-1] == GAP:
            raise ValueError(f"term {text!r} must start and end with a word")
        return cls(text=text, pattern=tuple(parts))

    def match_at(self, tokens: list[Token], start: int) -> int | None:
        """The end (exclusive) of a match starting at `start`, or None."""
        return _match(self.pattern, tokens, start)


def _word_matches(part: str, word: str) -> bool:
    return word.startswith(part[:-1]) if part.endswith("*") else word == part


def _match(pattern: tuple[str, ...], tokens: list[Token], i: int) -> int | None:
    if not pattern:
        return i
    part, rest = pattern[0], pattern[1:]
    if part == GAP:
        for skip in range(MAX_GAP + 1):
            end = _match(rest, tokens, i + skip) if i + skip <= len(tokens) else None
            if end is not None:
                return end
        return None
    if i < len(tokens) and _word_matches(part, tokens[i].word):
        return _match(rest, tokens, i + 1)
    return None


def negated(tokens: list[Token], start: int) -> bool:
    """True when a negator governs the word at `start` (same clause, only fillers between)."""
    i = start - 1
    while i >= 0 and tokens[i].clause == tokens[start].clause:
        word = tokens[i].word
        if word in NEGATORS:
            return True
        if word not in NEGATION_FILLERS:
            return False
        i -= 1
    return False


@dataclass(frozen=True)
class TermList:
    terms: tuple[Term, ...]
    negation_aware: bool = True
    # First word -> the terms starting with it; terms starting with a prefix (klacht*) apart.
    _by_first: dict[str, tuple[Term, ...]] = field(default_factory=dict, compare=False)
    _prefixed: tuple[Term, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, texts: list[str] | tuple[str, ...], negation_aware: bool = True) -> TermList:
        terms = sorted((Term.parse(t) for t in texts), key=lambda t: -len(t.pattern))
        by_first: dict[str, list[Term]] = {}
        for term in terms:
            if not term.pattern[0].endswith("*"):
                by_first.setdefault(term.pattern[0], []).append(term)
        prefixed = tuple(t for t in terms if t.pattern[0].endswith("*"))
        index = {word: tuple(ts) for word, ts in by_first.items()}
        return cls(tuple(terms), negation_aware, index, prefixed)

    def find(self, text: str) -> list[str]:
        """The terms (as written in the list) found in `text`, in order, each once."""
        return self.find_in(tokenise(text))

    def find_in(self, tokens: list[Token]) -> list[str]:
        found: list[str] = []
        i = 0
        while i < len(tokens):
            hit = self._longest_at(tokens, i)
            if hit is None:
                i += 1
                continue
            term, end = hit
            if not (self.negation_aware and negated(tokens, i)) and term.text not in found:
                found.append(term.text)
            i = end
        return found

    def _longest_at(self, tokens: list[Token], i: int) -> tuple[Term, int] | None:
        best: tuple[Term, int] | None = None
        word = tokens[i].word
        candidates = self._by_first.get(word, ())
        prefixed = [t for t in self._prefixed if word.startswith(t.pattern[0][:-1])]
        if prefixed:
            candidates = (*candidates, *prefixed)
        for term in candidates:
            end = term.match_at(tokens, i)
            if end is not None and (best is None or end > best[1]):
                best = (term, end)
        return best


__all__ = ["Term", "TermList", "Token", "negated", "normalise", "tokenise"]
