"""Generalisation guards: function words and numbers never decide polarity or explain a
score; the very_negative threshold is calibrated for precision; the real-text evaluation
(run where its data is present; see docs/sentiment-realtext.md)."""

from __future__ import annotations

import json

import pytest

from pipeline.sentiment import load_scorer
from pipeline.sentiment.corpus import CORPUS_DIR, load, load_gold, text_key
from pipeline.sentiment.function_words import FUNCTION_WORDS, NUMBER_WORDS, is_reason
from pipeline.sentiment.lexicon_nl import NEGATORS
from pipeline.sentiment.model import SHIPPED_MODEL, LinearScorer
from pipeline.sentiment.realtext import load_parts, load_realtext, report
from pipeline.sentiment.text import Analyser
from pipeline.sentiment.train import excluded_stems


@pytest.fixture(scope="module")
def scorer() -> LinearScorer:
    s = load_scorer()
    assert isinstance(s, LinearScorer)
    return s


@pytest.fixture(scope="module")
def model() -> dict:
    return json.loads(SHIPPED_MODEL.read_text("utf-8"))


def _texts() -> list[str]:
    """Many texts the model sees: the whole gold corpus, the dev sets, and real text when
    present (plus odd numeric input)."""
    texts = [e.text for e in load(CORPUS_DIR.glob("*.jsonl"))]
    train, evaluation = load_realtext()
    texts += [e.text for e in train + evaluation]
    texts += ["3 keer gebeld, 2 weken gewacht, 1 antwoord", "drie keer niks", "0 10 100 1000"]
    return texts


def test_is_reason_rejects_function_words_numbers_and_negators() -> None:
    for term in (
        "niet",
        "drie",
        "keer",
        "terug",
        "alleen",
        "niemand",
        "3",
        "27,50",
        "drie keer",
        "niet (negatie)",
        "2e",
    ):
        assert not is_reason(term), term
    for term in ("vriendelijk", "niet goed (negatie)", "doorverwezen", "kastje", "😡"):
        assert is_reason(term), term


def test_explanations_hold_no_function_words_or_numbers(scorer: LinearScorer) -> None:
    texts = _texts()
    assert len(texts) > 3000
    bad = []
    for text, result in zip(texts, scorer.score_batch(texts), strict=True):
        for term in result.explanation:
            if term.startswith("andere taal"):
                continue
            if not is_reason(term):
                bad.append((text, term))
    assert not bad, bad[:20]


def test_function_words_and_numbers_have_no_polarity_of_their_own(model: dict) -> None:
    analyser = Analyser(stem_table=model["stems"])
    stems = excluded_stems(analyser)
    universe = FUNCTION_WORDS | NUMBER_WORDS | NEGATORS
    words = {w for w in universe if analyser.snowball(w) in stems}
    assert {"niet", "drie", "terug", "alleen", "keer", "niemand"} <= words
    checked = 0
    for stem in sorted(stems):
        for key in ("w:" + stem, "n:" + stem):
            row = model["weights"].get(key)
            if row is not None:
                checked += 1
                assert row[0] == row[2], (key, row)  # neg == pos: margin 0
    assert (
        model["weights"].get("w:<num>", [0, 0, 0, 0])[0]
        == model["weights"].get("w:<num>", [0, 0, 0, 0])[2]
    )
    assert checked > 50  # the check really ran over the vocabulary


@pytest.mark.parametrize("word", ["niet", "terug", "alleen", "drie", "komen", "menu", "27,50"])
def test_a_single_function_word_or_number_is_not_polar(scorer: LinearScorer, word: str) -> None:
    r = scorer.score(word)
    assert r.label != "neg" or abs(r.score) < 0.5, r
    assert r.explanation == () or all(is_reason(t) for t in r.explanation)


def test_negation_is_a_feature_of_the_phrase(scorer: LinearScorer) -> None:
    # The negated word carries the polarity, not "niet": both directions work.
    assert scorer.score("niet vriendelijk geholpen").label == "neg"
    assert scorer.score("helemaal niet moeilijk").label == "pos"
    assert "niet" not in scorer.score("niet vriendelijk geholpen").explanation


def test_very_negative_is_calibrated_for_precision(scorer: LinearScorer, model: dict) -> None:
    cal = model["calibration"]["very_negative"]
    assert cal["target_precision"] >= 0.9
    assert cal["out_of_fold_precision"] >= 0.9
    assert model["thresholds"]["very_negative"] == cal["threshold"]
    _, test = load_gold()
    flagged = [
        e
        for e, r in zip(test, scorer.score_batch([e.text for e in test]), strict=True)
        if r.very_negative
    ]
    precision = sum(e.very_negative for e in flagged) / len(flagged)
    recall = sum(e.very_negative for e in flagged) / sum(e.very_negative for e in test)
    assert precision >= 0.85, precision  # held-out gold: stated in docs/sentiment.md
    assert recall >= 0.8, recall


def test_precision_threshold_picks_the_lowest_threshold_meeting_the_target() -> None:
    np = pytest.importorskip("numpy")
    from pipeline.sentiment.train import _precision_threshold

    p = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    truth = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], dtype=bool)
    t, cal = _precision_threshold(p, truth, 8)
    assert t == 0.3  # flagging a 9th would drop precision to 8/9 = 0.89
    truth = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0], dtype=bool)
    t, cal = _precision_threshold(p, truth, 9)
    assert t == pytest.approx(0.1) and cal["out_of_fold_precision"] == 0.9
    truth = np.array([1, 0, 0, 0, 1, 1, 0, 0, 0, 0], dtype=bool)
    t, cal = _precision_threshold(p, truth, 3)
    assert t == 0.95 and cal["out_of_fold_recall"] == pytest.approx(1 / 3, abs=1e-3)


def test_realtext_evaluation_when_the_data_is_present(scorer: LinearScorer) -> None:
    parts = load_parts()
    evaluation = parts["eval"]
    if not evaluation:
        pytest.skip("real-text data absent: run scripts/fetch-sentiment-data.sh")
    assert len(evaluation) >= 1000
    keys = {text_key(e.text) for e in evaluation}
    assert not keys & {text_key(e.text) for e in parts["train"] + parts["dev"]}
    figures = report(scorer, evaluation)
    cells = figures["by_source"]
    if "dbrd/long" in cells:
        # Reviews with their authors' own ratings: the issue's targets for accuracy and
        # negative recall are met, short and long; the pos->neg error (0.12-0.13) is not
        # yet at 0.10 (docs/sentiment.md), so it is guarded at its level.
        for cell in ("dbrd/short", "dbrd/long"):
            f = cells[cell]
            assert f["pos_vs_neg_accuracy"] >= 0.85, (cell, f)
            assert f["neg_recall"] >= 0.85, (cell, f)
            assert f["pos_to_neg_error"] <= 0.15, (cell, f)
    for cell in ("xed-nl/short", "ecosent/short"):
        if cell in cells:  # not opinions: far from the targets, guarded by score sign
            assert cells[cell]["pos_vs_neg_accuracy_by_score_sign"] >= 0.6, cells[cell]
    vn = figures["very_negative"]
    assert vn["flagged"] == 0 or vn["precision_gold_neg"] >= 0.9, vn
