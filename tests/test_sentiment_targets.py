"""Issue 8, second round: the short/long neg bias chosen for the real-text targets, the weak
short sentences cut from DBRD train reviews, a lexicon without ordinary nouns, and negated
negatives that lean positive. Fast (no training); the real-text figures themselves are in
tests/test_sentiment_generalise.py (they skip without the fetched data)."""

from __future__ import annotations

import pytest

from pipeline.sentiment import load_scorer
from pipeline.sentiment.corpus import Example
from pipeline.sentiment.function_words import is_reason
from pipeline.sentiment.lexicon_nl import LEXICON_NL
from pipeline.sentiment.model import LinearScorer
from pipeline.sentiment.realtext import WEAK_SENTENCE_SOURCE, weak_sentences

# Ordinary nouns (and time units) a caseworker would not accept as the reason for a score.
ORDINARY_NOUNS = (
    "advocaat",
    "formulier",
    "kastje",
    "muur",
    "weken",
    "maanden",
    "uur",
    "medewerker",
    "afspraak",
    "loket",
    "balie",
    "reactie",
    "antwoord",
    "wachttijd",
    "bezwaar",
)


@pytest.fixture(scope="module")
def scorer() -> LinearScorer:
    s = load_scorer()
    assert isinstance(s, LinearScorer)
    return s


def test_own_lexicon_holds_no_ordinary_nouns() -> None:
    assert not [w for w in ORDINARY_NOUNS if w in LEXICON_NL]


def test_ordinary_nouns_and_time_units_are_no_reason() -> None:
    for term in ("weken", "drie weken", "maanden", "uur"):
        assert not is_reason(term), term


def test_a_complaint_is_explained_by_its_verdict_not_its_nouns(scorer: LinearScorer) -> None:
    texts = (
        "Al vier weken van het kastje naar de muur, en de advocaat hoort ook niks.",
        "Het formulier bij het loket was onduidelijk en de medewerker was onvriendelijk.",
    )
    for text in texts:
        r = scorer.score(text)
        assert r.label == "neg", (text, r)
        assert not {t.split()[0] for t in r.explanation} & set(ORDINARY_NOUNS), r.explanation


@pytest.mark.parametrize("text", ["Niet slecht hoor", "Het was helemaal niet slecht."])
def test_a_negated_negative_leans_positive(scorer: LinearScorer, text: str) -> None:
    r = scorer.score(text)
    assert r.score > 0 and r.label != "neg", r


def _review(text: str, label: str, stars: str) -> Example:
    return Example(text=text, label=label, source="dbrd", style=stars)


def test_weak_sentences_are_closing_sentences_of_one_and_five_star_reviews() -> None:
    plot = "Het verhaal speelt zich af in een klein dorp aan zee. " * 6
    rows = [
        _review(plot + "Een echte aanrader voor iedereen!", "pos", "5-star"),
        _review(plot + "Wat een saai en langdradig boek was dit.", "neg", "1-star"),
        _review(plot + "Best aardig om een keer te lezen.", "pos", "4-star"),  # not extreme
        _review("Kort: een prachtig boek om te lezen.", "pos", "5-star"),  # already short
        _review(plot + "Top.", "pos", "5-star"),  # closing sentence under 4 words
        Example(text=plot + "Een echte aanrader voor iedereen!", label="pos", source="xed-nl"),
    ]
    got = weak_sentences(rows)
    assert [(e.text, e.label) for e in got] == [
        ("Een echte aanrader voor iedereen!", "pos"),
        ("Wat een saai en langdradig boek was dit.", "neg"),
    ]
    assert {e.source for e in got} == {WEAK_SENTENCE_SOURCE}


def _tiny_model(neg_offset_long: float) -> dict:
    return {
        "format": "klantsignaal-sentiment-linear",
        "version": "nl-linear-test",
        "intercepts": [0.0, 0.0, 0.0, -5.0],
        "thresholds": {"very_negative": 0.9, "polar_at": 0.2, "neg_offset_long": neg_offset_long},
        "weights": {"w:mooi": [0.0, 0.0, 0.2, 0.0]},
        "stems": {},
    }


def test_the_long_text_bias_moves_long_texts_only() -> None:
    short = "mooi"
    long_ = " ".join(["mooi"] + ["en"] * 45)
    plain, biased = LinearScorer(_tiny_model(0.0)), LinearScorer(_tiny_model(0.5))
    assert plain.score(short) == biased.score(short)
    assert plain.score(long_).score > biased.score(long_).score


def test_offsets_are_chosen_for_the_smallest_margin_to_the_targets() -> None:
    np = pytest.importorskip("numpy")
    from pipeline.sentiment.train import _choose_offsets

    rng = np.random.default_rng(0)
    n = 400
    y = np.array(["neg"] * (n // 2) + ["pos"] * (n // 2))
    sign = np.where(y == "neg", 1.0, -1.0)
    # neg logit minus pos logit: separable with noise; long texts are shifted towards neg,
    # so they need a negative bias and short texts none.
    lng = np.arange(n) % 2 == 1
    gap = sign * 1.5 + rng.normal(0, 0.6, n) + np.where(lng, 0.6, 0.0)
    dec = np.stack([gap / 2, np.full(n, -3.0), -gap / 2], axis=1)
    margin, off_short, off_long, _ = _choose_offsets([(dec, y, lng)])
    assert margin > 0  # every target met with room to spare
    assert off_long < off_short
