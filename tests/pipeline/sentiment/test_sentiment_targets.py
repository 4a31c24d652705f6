"""Issue 8, rounds 2 to 4: the short/long neg bias chosen on the DBRD dev part with gold as a
floor, the weak short sentences cut from DBRD train reviews, the length normalisation of word
features and the closing-sentence weight. Fast (no training); the real-text figures themselves
are in test_sentiment_generalise.py (they skip without the fetched data)."""

from __future__ import annotations

import pytest

from pipeline.sentiment.corpus import Example
from pipeline.sentiment.model import LinearScorer
from pipeline.sentiment.realtext import WEAK_SENTENCE_SOURCE, weak_sentences
from pipeline.sentiment.text import Analyser


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


def _tiny_model(neg_offset_long: float, length_norm: tuple[float, float] = (0.0, 0.0)) -> dict:
    return {
        "format": "klantsignaal-sentiment-linear",
        "version": "nl-linear-test",
        "intercepts": [0.0, 0.0, 0.0, -5.0],
        "length_norm": list(length_norm),
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


def test_length_norm_scales_the_words_of_long_texts_only() -> None:
    short = " ".join(["mooi"] * 10)
    long_ = " ".join(["mooi"] * 90)
    plain, normed = LinearScorer(_tiny_model(0.0)), LinearScorer(_tiny_model(0.0, (40.0, 0.5)))
    assert plain.score(short) == normed.score(short)
    z_plain = plain._analyser.analyse(long_, weights=plain._w).logits[1]
    z_normed = normed._analyser.analyse(long_, weights=normed._w).logits[1]
    assert z_plain == pytest.approx(90 * 0.2)
    assert z_normed == pytest.approx(90 * 0.2 * (40 / 90) ** 0.5)


def test_gold_is_a_floor_not_a_target() -> None:
    """The offsets serve the dev cells; a gold cell only vetoes settings that take its
    negative recall or accuracy under train.GOLD_FLOOR."""
    np = pytest.importorskip("numpy")
    from pipeline.sentiment.train import GOLD_FLOOR, _choose_offsets, _labels

    rng = np.random.default_rng(1)
    n = 400
    y = np.array(["neg"] * (n // 2) + ["pos"] * (n // 2))
    sign = np.where(y == "neg", 1.0, -1.0)
    lng = np.zeros(n, dtype=bool)

    def cell(shift: float):
        gap = sign * 1.2 + rng.normal(0, 0.8, n) + shift
        return np.stack([gap / 2, np.full(n, -3.0), -gap / 2], axis=1), y, lng

    dev = cell(0.8)  # leans neg: the dev targets ask for a negative offset
    gold = cell(-0.8)  # leans pos: a negative offset costs its negative recall
    _, alone, _, polar_at = _choose_offsets([dev])
    _, floored, _, polar_at2 = _choose_offsets([dev], [gold])
    assert floored > alone
    pred = _labels(gold[0], floored, polar_at2)
    assert (pred[y == "neg"] == "neg").mean() >= GOLD_FLOOR


def _closing_model(closing: tuple[float, float]) -> dict:
    model = _tiny_model(0.0)
    model["closing"] = list(closing)
    model["weights"] = {"w:mooi": [0.0, 0.0, 0.2, 0.0], "w:saai": [0.2, 0.0, 0.0, 0.0]}
    return model


def test_the_closing_sentence_of_a_long_text_counts_more() -> None:
    """A review's verdict is its closing sentence: its features count 1 + extra times, in a
    text of more than min_words words with more than one sentence, and nowhere else."""
    plot = " ".join(["en"] * 40)
    verdict_saai = f"Mooi {plot}. Saai en mooi!"
    plain = LinearScorer(_closing_model((0.0, 0.0)))
    closing = LinearScorer(_closing_model((40.0, 1.0)))
    z = closing._analyser.analyse(verdict_saai, weights=closing._w).logits
    z_plain = plain._analyser.analyse(verdict_saai, weights=plain._w).logits
    assert z_plain[0] == pytest.approx(0.2) and z_plain[1] == pytest.approx(0.4)
    assert z[0] == pytest.approx(0.4) and z[1] == pytest.approx(0.6)  # "Saai en mooi" twice
    for text in ("Mooi. Saai en mooi!", f"Mooi {plot} saai en mooi"):  # short; one sentence
        assert plain.score(text) == closing.score(text)
    # Training features and scoring agree (the weights of the closing sentence are not new
    # features: the same words count more).
    training = Analyser(closing=(40.0, 1.0), bigrams=False)
    feats = training.analyse(verdict_saai, features=True).features
    assert feats["w:saai"] == pytest.approx(2.0) and feats["w:mooi"] == pytest.approx(3.0)


def test_length_norm_of_the_lexicon_sums_is_recorded_in_the_model_file() -> None:
    """With length_norm_lexicon the lexicon sums of a long text get the words' length factor;
    a model file without the key scores as before."""
    model = _tiny_model(0.0, (40.0, 0.5))
    model["weights"] = {"lex:pos": [0.0, 0.0, 1.0, 0.0]}
    long_ = " ".join(["prima"] * 90)
    before = LinearScorer(model)
    after = LinearScorer({**model, "length_norm_lexicon": True})
    z_before = before._analyser.analyse(long_, weights=before._w).logits[1]
    z_after = after._analyser.analyse(long_, weights=after._w).logits[1]
    assert z_before > 0
    assert z_after == pytest.approx(z_before * (40 / 90) ** 0.5)
    assert before.score("prima") == after.score("prima")


def test_a_lexicon_sign_bound_keeps_a_word_from_leaning_against_its_lexicon() -> None:
    # Round 5: a word the lexicons call positive ("leuk") that the training rows use
    # sarcastically may not get a negative margin of its own when the bound is on.
    np = pytest.importorskip("numpy")
    sparse = pytest.importorskip("scipy.sparse")
    from pipeline.sentiment.constrained_fit import fit_constrained

    # column 0: "leuk" (mostly in neg rows), column 1: a plain neg cue, column 2: a pos cue
    rows = [[1, 1, 0]] * 8 + [[1, 0, 1]] * 2 + [[0, 0, 1]] * 6 + [[0, 0, 0]] * 4
    y = ["neg"] * 8 + ["pos"] * 2 + ["pos"] * 6 + ["neu"] * 4
    X = sparse.csr_matrix(np.array(rows, dtype=float))
    free = fit_constrained(X, y, 1.0, None, [])
    bound = fit_constrained(X, y, 1.0, None, [], signs=[1, 0, 0])
    margin = lambda m: m.coef_[2, 0] - m.coef_[0, 0]  # noqa: E731
    assert margin(free) < 0  # learned as a complaint word
    assert bound.coef_[0, 0] <= 0 <= bound.coef_[2, 0] and margin(bound) >= 0
    assert bound.coef_[0, 1] > 0  # the other columns stay free


def test_a_net_sign_bound_keeps_a_words_total_from_leaning_against_its_lexicon() -> None:
    # Round 6: the weaker bound. "leuk"'s own weight may lean neg, but its own weight plus
    # its lexicon contribution (lex:pos weight x its lexicon value) may not.
    np = pytest.importorskip("numpy")
    sparse = pytest.importorskip("scipy.sparse")
    from pipeline.sentiment.constrained_fit import NetBound, fit_constrained

    # column 0: "leuk" (value 0.5, mostly in neg rows), 1: a neg cue, 2: lex:pos, 3: lex:neg
    rows = [[1, 1, 0.5, 0]] * 8 + [[1, 0, 1.5, 0]] * 2 + [[0, 0, 1, 0]] * 6 + [[0, 0, 0, 0]] * 4
    y = ["neg"] * 8 + ["pos"] * 2 + ["pos"] * 6 + ["neu"] * 4
    X = sparse.csr_matrix(np.array(rows, dtype=float))
    net = NetBound(np.array([1, 0, 0, 0]), np.array([0.5, 0, 0, 0]), np.zeros(4), 2, 3, -1)

    def total(m) -> float:
        return m.coef_[2, 0] - m.coef_[0, 0] + 0.5 * (m.coef_[2, 2] - m.coef_[0, 2])

    free = fit_constrained(X, y, 1.0, None, [])
    bound = fit_constrained(X, y, 1.0, None, [], signs=net)
    assert total(free) < 0  # in total a complaint word
    assert total(bound) >= -1e-6
    assert bound.coef_[2, 0] - bound.coef_[0, 0] < 0  # its own weight may still lean neg


def test_training_defaults_are_the_recipe_of_the_shipped_model() -> None:
    # `sentiment train` and `sentiment retrain` must build candidates the way the shipped
    # model was built, or the promotion gate compares two recipes instead of two data sets.
    import json

    from pipeline.sentiment import train as T
    from pipeline.sentiment.model import SHIPPED_MODEL

    m = json.loads(SHIPPED_MODEL.read_text("utf-8"))
    assert tuple(m["length_norm"]) == T.LENGTH_NORM
    assert tuple(m["closing"]) == T.CLOSING
    assert m["length_norm_lexicon"] is T.LENGTH_NORM_LEXICON
    assert m.get("lexicon_sign", 0.0) == T.LEXICON_SIGN
    assert m.get("evidence_rule") == T.EVIDENCE_RULE
    note = m["training"]["note"]
    assert f"real-text weight {T.REALTEXT_WEIGHT}" in note
    assert f"weak sentences {T.WEAK_SENTENCE_WEIGHT}" in note
