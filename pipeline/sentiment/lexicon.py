"""The lexicon-only scorer: the baseline, and the fallback when no model file is usable."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .result import SentimentResult, explain
from .text import Analyser

LEXICON_VERSION = "lexicon-nl-1"
# Thresholds on tanh(sum of contributions); chosen on the training split of the gold corpus.
POS_AT = 0.2
NEG_AT = -0.2
VERY_NEG_AT = -0.75
NOT_SCORED = ("andere taal: niet gescoord",)


class LexiconScorer:
    """Sum of lexicon polarities with negation, intensifiers, contrast and emoji cues."""

    def __init__(self, analyser: Analyser | None = None) -> None:
        self.version = LEXICON_VERSION
        self._analyser = analyser or Analyser()

    def score(self, text: str) -> SentimentResult:
        a = self._analyser.analyse(text)
        if a.language == "oth":
            return SentimentResult("neu", 0.0, False, NOT_SCORED, self.version, "und")
        s = round(math.tanh(a.lex_total), 4)
        if s >= POS_AT:
            label, direction = "pos", 1
        elif s <= NEG_AT:
            label, direction = "neg", -1
        else:
            label, direction = "neu", 0
        return SentimentResult(
            label, s, s <= VERY_NEG_AT, explain(a.terms, direction), self.version, a.language
        )

    def score_batch(self, texts: Sequence[str]) -> list[SentimentResult]:
        score = self.score
        return [score(t) for t in texts]
