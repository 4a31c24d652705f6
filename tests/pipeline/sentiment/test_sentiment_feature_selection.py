"""Which word features may decide polarity: only lexicon words and words that lean the same
way in at least two independent labelled sources (pipeline/sentiment/feature_selection.py)."""

from __future__ import annotations

from pipeline.sentiment.feature_selection import (
    explainable,
    log_odds_z,
    polar_free,
    source_evidence,
)


def _rows(source: str, word: str, pos_with: int, neg_with: int, n: int = 40):
    """n pos and n neg documents of one source; `word` in pos_with pos and neg_with neg."""
    rows, labels, sources = [], [], []
    for label, k in (("pos", pos_with), ("neg", neg_with)):
        for i in range(n):
            rows.append({f"w:{word}": 1.0, "w:de": 1.0} if i < k else {"w:de": 1.0})
            labels.append(label)
            sources.append(source)
    return rows, labels, sources


def _merge(*parts):
    out: tuple[list, list, list] = ([], [], [])
    for p in parts:
        for acc, xs in zip(out, p, strict=True):
            acc.extend(xs)
    return out


def test_log_odds_z_has_the_sign_of_the_lean() -> None:
    assert log_odds_z(30, 2, 40, 40) > 2
    assert log_odds_z(2, 30, 40, 40) < -2
    assert abs(log_odds_z(10, 10, 40, 40)) < 0.5


def test_a_word_polar_in_the_team_corpus_only_may_not_decide_polarity() -> None:
    # "advocaat" leans negative in the team's corpus (its habit), is neutral elsewhere.
    rows, labels, sources = _merge(_rows("gold", "advocaat", 1, 30), _rows("b", "advocaat", 5, 5))
    ev = source_evidence(rows, labels, sources)
    assert ev["w:advocaat"]["gold"] < -4
    assert "w:advocaat" not in polar_free(ev, lexicon_stems=())
    assert "w:de" not in polar_free(ev, lexicon_stems=())  # in every document: no lean


def test_a_weakly_polar_single_source_word_may_not_decide_polarity() -> None:
    rows, labels, sources = _merge(_rows("dbrd", "menu", 3, 13), _rows("b", "anders", 5, 5))
    ev = source_evidence(rows, labels, sources)
    assert -4 < ev["w:menu"]["dbrd"] < -2
    assert "w:menu" not in polar_free(ev, lexicon_stems=())


def test_a_strongly_polar_real_word_may_move_the_score_but_never_explains() -> None:
    rows, labels, sources = _merge(_rows("dbrd", "afgehaakt", 2, 30), _rows("b", "x", 5, 5))
    ev = source_evidence(rows, labels, sources)
    assert "w:afgehaakt" in polar_free(ev, lexicon_stems=())
    assert "w:afgehaakt" not in explainable(ev, lexicon_stems=())


def test_a_word_polar_the_same_way_in_two_sources_may() -> None:
    rows, labels, sources = _merge(_rows("a", "aanrader", 25, 1), _rows("b", "aanrader", 20, 2))
    ev = source_evidence(rows, labels, sources)
    assert "w:aanrader" in polar_free(ev, lexicon_stems=())
    assert "w:aanrader" in explainable(ev, lexicon_stems=())


def test_contradicting_sources_block_and_lexicon_words_are_always_free() -> None:
    rows, labels, sources = _merge(
        _rows("a", "advocaat", 1, 25), _rows("b", "advocaat", 25, 1), _rows("c", "advocaat", 1, 25)
    )
    ev = source_evidence(rows, labels, sources)
    assert "w:advocaat" not in polar_free(ev, lexicon_stems=())
    assert "w:advocaat" in polar_free(ev, lexicon_stems={"advocaat"})


def test_neutral_rows_are_not_evidence() -> None:
    rows = [{"w:formulier": 1.0}] * 30 + [{"w:formulier": 1.0}] * 3
    labels = ["neu"] * 30 + ["neg"] * 3
    ev = source_evidence(rows, labels, ["a"] * 33)
    assert ev.get("w:formulier", {}) == {}


def _tiny_model(**extra) -> dict:
    """A hand-made model file: intercepts and rows [neg, neu, pos, very_negative]."""
    model = {
        "format": "klantsignaal-sentiment-linear",
        "version": "nl-linear-test",
        "intercepts": [0.0, 0.0, 0.0, 0.0],
        "weights": {
            "w:afgehaakt": [2.0, 0.0, -2.0, 0.0],
            "w:waardeloos": [2.0, 0.0, -2.0, 3.0],
            "w:schandalig": [6.0, 0.0, -6.0, 3.0],
        },
        "thresholds": {"very_negative": 0.5},
        "stems": {"afgehaakt": "afgehaakt", "waardeloos": "waardeloos", "schandalig": "schandalig"},
    }
    model.update(extra)
    return model


def test_no_explain_features_move_the_score_but_are_not_named() -> None:
    from pipeline.sentiment.model import LinearScorer

    plain = LinearScorer(_tiny_model()).score("Ik ben afgehaakt")
    silent = LinearScorer(_tiny_model(no_explain=["w:afgehaakt"])).score("Ik ben afgehaakt")
    assert plain.label == silent.label == "neg" and plain.score == silent.score
    assert "afgehaakt" in plain.explanation and "afgehaakt" not in silent.explanation


def test_very_negative_needs_the_calibrated_p_neg() -> None:
    from pipeline.sentiment.model import LinearScorer

    gate = {"very_negative": 0.5, "very_negative_min_p_neg": 0.95}
    ungated = LinearScorer(_tiny_model())
    gated = LinearScorer(_tiny_model(thresholds=gate))
    # P(neg) of "waardeloos" is e^2 / (e^2 + 1 + e^-2) ~ 0.87: below the gate.
    assert ungated.score("waardeloos").very_negative
    assert not gated.score("waardeloos").very_negative
    assert gated.score("waardeloos").label == "neg"
    assert gated.score("schandalig").very_negative  # P(neg) ~ 0.998
