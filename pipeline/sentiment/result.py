"""The result type and the scorer protocol every sentiment scorer implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

LABELS = ("neg", "neu", "pos")


@dataclass(frozen=True, slots=True)
class SentimentResult:
    label: str  # "neg" | "neu" | "pos"
    score: float  # in [-1, 1]
    very_negative: bool
    explanation: tuple[str, ...]  # the terms that drove the score
    model_version: str
    language: str  # ISO 639-2/B: "nld", "eng", or "und" (unknown/too short/other)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "score": self.score,
            "very_negative": self.very_negative,
            "explanation": list(self.explanation),
            "model_version": self.model_version,
            "language": self.language,
        }


@runtime_checkable
class Scorer(Protocol):
    version: str

    def score(self, text: str) -> SentimentResult: ...

    def score_batch(self, texts: Sequence[str]) -> list[SentimentResult]: ...


def explain(
    terms: list[tuple[float, str]],
    direction: int,
    k: int = 3,
    render: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The k terms that pushed hardest in the label's direction (both ways when neutral).
    `render` maps a candidate (e.g. a model feature key) to display text; others show as is."""
    if not terms:
        return ()
    if direction > 0:
        picked = sorted((t for t in terms if t[0] > 0), reverse=True)
    elif direction < 0:
        picked = sorted(t for t in terms if t[0] < 0)
    else:
        picked = sorted((t for t in terms if t[0]), key=lambda t: -abs(t[0]))
    seen: list[str] = []
    seen_words: list[set[str]] = []
    for _, term in picked:
        if render is not None:
            term = render.get(term, term)
        words = set(term.replace(" (negatie)", "").split())
        # "slecht (negatie)" adds nothing once "niet slecht (negatie)" is there, and the
        # longer term replaces the shorter one when it comes second.
        if any(words <= w for w in seen_words):
            continue
        covered = [i for i, w in enumerate(seen_words) if w < words]
        if covered:
            seen[covered[0]], seen_words[covered[0]] = term, words
            for i in reversed(covered[1:]):
                del seen[i], seen_words[i]
            continue
        if len(seen) == k:
            break
        seen.append(term)
        seen_words.append(words)
    return tuple(seen)
