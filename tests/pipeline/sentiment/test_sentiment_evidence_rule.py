"""Round 7 of issue 8: the decision rule "a polar label needs evidence in the text"
(model.EvidenceRule, model file "evidence_rule"). Refuted on the dev part, so the shipped model
has it off; these tests pin what the rule does when a model file carries it."""

from __future__ import annotations

import copy
import json

import pytest

from pipeline.sentiment.corpus import load_dev, load_gold
from pipeline.sentiment.model import SHIPPED_MODEL, EvidenceRule, LinearScorer

# Short mild praise the shipped model labels neg by its intercepts alone (the lead's probe
# sentences: a sanity check, not evidence), a complaint whose features point neg, and
# texts with no polarity evidence at all.
PROBES = (
    "Lekker gegeten",
    "Leuk restaurant",
    "Leuk boek",
    "Het eten was lekker",
    "We komen graag terug",
    "Niemand belt terug",
    "Ik word al drie weken van het kastje naar de muur gestuurd, niemand belt terug",
    "Te veel stappen. Ik raakte in de war.",
)


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(SHIPPED_MODEL.read_text("utf-8"))


def _with(model: dict, **evidence) -> LinearScorer:
    m = copy.deepcopy(model)
    m["evidence_rule"] = evidence
    return LinearScorer(m)


def _features_only(model: dict) -> LinearScorer:
    """The same weights with the intercepts' pos-vs-neg part removed (neg and pos
    intercepts set to their mean, no long-text bias): the sign of its score is the sign of
    the text's own features' pos-vs-neg margin. Built independently of EvidenceRule."""
    m = copy.deepcopy(model)
    b = m["intercepts"]
    b[0] = b[2] = (b[0] + b[2]) / 2
    m["thresholds"]["neg_offset_long"] = 0.0
    return LinearScorer(m)


def _texts() -> list[str]:
    train, test = load_gold()
    return [e.text for e in (*train, *test, *load_dev())] + list(PROBES)


def test_features_pointing_pos_are_never_labelled_neg_by_the_intercepts(shipped) -> None:
    rule, feats, base = _with(shipped, cap=0.0), _features_only(shipped), LinearScorer(shipped)
    changed = 0
    for text in _texts():
        r, f, b = rule.score(text), feats.score(text).score, base.score(text)
        if f > 0:
            assert r.label != "neg", text
        if f < 0:
            assert r.label != "pos", text
        if r.label != b.label:
            changed += 1
            # Only a polar label the features did not support is changed, never to the
            # other polar label against them.
            assert b.label != "neu" and (f >= 0 if b.label == "neg" else f <= 0), text
            assert not r.very_negative
        else:
            assert r == b  # untouched texts score exactly as without the rule
    assert changed > 50  # the rule is exercised (the shipped model leans neg)


def test_the_rule_relabels_mild_praise_and_keeps_complaints(shipped) -> None:
    rule, base = _with(shipped, cap=0.0), LinearScorer(shipped)
    assert [base.score(t).label for t in PROBES[:5]] == ["neg"] * 5
    got = {t: rule.score(t) for t in PROBES}
    for t in ("Lekker gegeten", "Leuk restaurant", "Leuk boek", "Het eten was lekker"):
        assert got[t].label == "pos" and got[t].score > 0
        assert got[t].explanation  # a label must be explainable: "lekker", "leuk"
    # No polarity evidence at all: not polar.
    assert got["We komen graag terug"].label == "neu"
    assert got["Te veel stappen. Ik raakte in de war."].label == "neu"
    # Features pointing neg keep their label and urgency.
    for t in PROBES[5:7]:
        assert got[t] == base.score(t)
    assert got[PROBES[6]].very_negative


def test_max_words_and_min_against_limit_the_rule(shipped) -> None:
    base = LinearScorer(shipped)
    short_only = _with(shipped, cap=0.0, max_words=40)
    strict = _with(shipped, cap=0.0, min_against=10.0)
    capped = _with(shipped, cap=5.0)  # the intercepts' part is already within +-5
    long_text = " ".join(["Lekker gegeten."] * 30)
    assert short_only.score(long_text) == base.score(long_text)
    assert short_only.score("Lekker gegeten").label == "pos"
    for t in PROBES:
        assert strict.score(t) == base.score(t)
        assert capped.score(t) == base.score(t)


def test_model_files_without_the_rule_score_as_before(shipped) -> None:
    assert "evidence_rule" not in shipped
    assert EvidenceRule.from_model(shipped) is None
    rule = EvidenceRule(cap=0.1, max_words=40, min_against=0.2)
    assert EvidenceRule.from_model({"evidence_rule": rule.to_model()}) == rule


def test_r3_caps_the_intercepts_share_of_short_and_long_texts(shipped) -> None:
    from pipeline.sentiment.dev_rules import with_r3

    def margins(m: dict) -> tuple[float, float]:
        b = m["intercepts"]
        short = b[2] - b[0]
        return short, short - m["thresholds"]["neg_offset_long"]

    short, long_ = margins(shipped)
    assert short < -0.3  # the shipped intercepts lean neg on short texts
    for cap in (0.0, 0.1, 0.3):
        m = with_r3(shipped, cap)
        s2, l2 = margins(m)
        assert s2 == pytest.approx(max(-cap, min(cap, short)))
        assert l2 == pytest.approx(max(-cap, min(cap, long_)))
        # The neu-vs-polar balance (sum of the neg and pos intercepts) is kept.
        b, b0 = m["intercepts"], shipped["intercepts"]
        assert b[0] + b[2] == pytest.approx(b0[0] + b0[2])


def test_a_trained_model_carries_the_rule_only_when_asked(monkeypatch, tmp_path) -> None:
    # `sentiment train` / `retrain` write the rule into the model file (and its version)
    # when train.EVIDENCE_RULE is set, and nothing else under that key (the source evidence
    # of the feature selection once leaked into it).
    from pipeline.sentiment import train as T

    monkeypatch.setenv("KLANTSIGNAAL_SENTIMENT_DATA", str(tmp_path))
    gold, _ = load_gold()
    small = gold[::12]  # ~220 comments: seconds
    plain = T.fit(small)
    assert "evidence_rule" not in plain
    rule = {"cap": 0.0, "max_words": 40, "min_against": 0.0}
    ruled = T.fit(small, evidence_rule=rule)
    assert ruled["evidence_rule"] == rule
    assert ruled["version"] != plain["version"]
    assert ruled["weights"] == plain["weights"]
    assert LinearScorer(ruled)._evidence == EvidenceRule(0.0, 40, 0.0)


def test_a_margin_of_rounding_noise_counts_as_no_evidence() -> None:
    # f is a sum of rounded weights: float noise around 0 (here -1e-13, "pointing neg") is
    # no evidence, so the rule applies to a neg label as it does for f == 0 exactly.
    rule = EvidenceRule(cap=0.0)
    m = -0.4
    for f in (0.0, -1e-13, 1e-13):
        z = (0.2, 0.0, 0.2 + m + f, -1.0)
        capped = rule.adjust(z, m, -1, "Te veel stappen")
        assert capped is not None, f
        assert capped[2] - capped[0] == pytest.approx(0.0, abs=1e-12)
    # Real evidence the label's way (f = -0.01) is respected.
    assert rule.adjust((0.2, 0.0, 0.2 + m - 0.01, -1.0), m, -1, "x") is None
