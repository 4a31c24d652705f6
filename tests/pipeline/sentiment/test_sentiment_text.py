"""Preprocessing: tokeniser parity with nltk, stems, negation scope, language detection."""

from __future__ import annotations

import json

from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize import RegexpTokenizer

from pipeline.sentiment.corpus import load_dev, load_gold
from pipeline.sentiment.model import SHIPPED_MODEL
from pipeline.sentiment.text import _TOKEN_PATTERN, Analyser


def test_tokeniser_matches_nltk_regexp_tokenizer_on_the_corpus() -> None:
    nltk_tok = RegexpTokenizer(_TOKEN_PATTERN)
    a = Analyser()
    train, test = load_gold()
    for e in train + test + load_dev():
        # nltk's `regex` engine counts emoji variation selectors and zero-width joiners
        # (inside emoji sequences) as word characters; `re` drops them.
        text = e.text.replace("\ufe0f", "").replace("\u200d", "")
        assert a.tokens(text) == nltk_tok.tokenize(text.lower()), e.text


def test_tokens_keep_emoji_emoticons_and_punctuation_cues() -> None:
    toks = Analyser().tokens("Top!!! 👍 :) maar... zes weken?")
    assert toks == ["top", "!!!", "👍", ":)", "maar", "...", "zes", "weken", "?"]


def test_shipped_stem_table_is_nltk_snowball() -> None:
    stems = json.loads(SHIPPED_MODEL.read_text("utf-8"))["stems"]
    snowball = SnowballStemmer("dutch")
    for word, stem in list(stems.items())[::25]:
        assert snowball.stem(word) == stem, word


def test_offline_stems_match_inflections_to_known_stems() -> None:
    stems = json.loads(SHIPPED_MODEL.read_text("utf-8"))["stems"]
    offline = Analyser(stem_table=stems)
    assert offline.snowball("vriendelijk") == stems["vriendelijk"]
    # A word outside the table that inflects a known stem finds it without nltk.
    unseen = "vriendelijkste"
    assert unseen not in stems
    assert offline.snowball(unseen) == stems["vriendelijk"]


def test_elongation_is_squashed() -> None:
    a = Analyser()
    assert a.analyse("heeeeel sleeecht").lex_total < 0


def test_negation_scope_stops_at_punctuation_and_maar() -> None:
    a = Analyser()
    feats = a.analyse("niet goed, wel snel", features=True).features
    assert "n:goed" in feats and "w:snel" in feats
    feats = a.analyse("niet alleen snel maar vriendelijk", features=True).features
    assert "w:vriendelijk" in feats


def test_language_detection() -> None:
    a = Analyser()
    assert a.analyse("De medewerker was heel vriendelijk").language == "nld"
    assert a.analyse("The staff were friendly and quick").language == "eng"
    assert a.analyse("Die Mitarbeiterin war sehr nett und hat mir geholfen").language == "oth"
    assert a.analyse("👍").language == "und"
