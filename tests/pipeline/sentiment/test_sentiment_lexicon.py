"""The lexicon-only baseline scorer and the public interface."""

from __future__ import annotations

import pytest

from pipeline.sentiment import Scorer, SentimentResult, lexicon_scorer


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return lexicon_scorer()


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Drie keer doorverwezen en niemand wist het", "neg"),
        ("Top geholpen door de medewerker!", "pos"),
        ("geen enkel probleem", "pos"),
        ("niet slecht", "pos"),
        ("ik ben niet goed geholpen", "neg"),
    ],
)
def test_lexicon_labels_issue_examples(scorer: Scorer, text: str, label: str) -> None:
    assert scorer.score(text).label == label


def test_lexicon_result_fields(scorer: Scorer) -> None:
    r = scorer.score("Drie keer doorverwezen en niemand wist het")
    assert isinstance(r, SentimentResult)
    assert -1.0 <= r.score <= 1.0
    assert r.very_negative
    assert "doorverwezen" in r.explanation
    assert r.language == "nld"
    d = r.to_dict()
    assert set(d) == {"label", "score", "very_negative", "explanation", "model_version", "language"}
    assert isinstance(d["explanation"], list)


def test_lexicon_negation_flips_and_intensifier_strengthens(scorer: Scorer) -> None:
    assert scorer.score("goed").score > 0 > scorer.score("niet goed").score
    assert scorer.score("heel slecht").score < scorer.score("slecht").score


def test_lexicon_contrast_weighs_what_follows_maar(scorer: Scorer) -> None:
    r = scorer.score("Vriendelijk, maar ik ben na zes weken nog steeds niet geholpen")
    assert r.label == "neg"


def test_lexicon_marks_other_languages(scorer: Scorer) -> None:
    assert scorer.score("Great service, very friendly staff").language == "eng"
    r = scorer.score("Sehr schlecht, niemand hat mir geholfen und die Wartezeit war lang")
    assert r.language == "und"
    assert r.label == "neu"


def test_lexicon_batch_equals_single(scorer: Scorer) -> None:
    texts = ["top", "slecht 😡", ""]
    assert scorer.score_batch(texts) == [scorer.score(t) for t in texts]
