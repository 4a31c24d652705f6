"""The learned model behind load_scorer(): labels, cues, explanations, loading, offline use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.sentiment import LABELS, Scorer, SentimentResult, load_scorer
from pipeline.sentiment.corpus import load_gold
from pipeline.sentiment.model import SHIPPED_MODEL, LinearScorer
from pipeline.sentiment.text import Analyser
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return load_scorer()


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Drie keer doorverwezen en niemand wist het", "neg"),
        ("Top geholpen door de medewerker!", "pos"),
        ("Nou, lekker snel weer... zes weken", "neg"),
        ("geen enkel probleem", "pos"),
    ],
)
def test_model_labels_the_issue_examples(scorer: Scorer, text: str, label: str) -> None:
    assert scorer.score(text).label == label


def test_model_reads_a_negated_negative_as_faint_praise(scorer: Scorer) -> None:
    # The guideline says "niet slecht" is pos; since the model learned from real reviews,
    # where it is usually lukewarm, it scores just above 0 and may be neu (docs/sentiment.md).
    r = scorer.score("niet slecht")
    assert r.label != "neg" and r.score > 0, r


def test_model_is_the_default_and_carries_its_version(scorer: Scorer) -> None:
    assert isinstance(scorer, LinearScorer)
    assert scorer.version.startswith("nl-linear-")
    assert scorer.score("top").model_version == scorer.version


def test_model_negation_turns_praise_into_complaint(scorer: Scorer) -> None:
    assert scorer.score("goed geholpen").label == "pos"
    assert scorer.score("niet goed geholpen").label == "neg"
    # The negated word is the reason, as a phrase from the lexicon or the word's own
    # negation feature; never "niet" alone.
    expl = scorer.score("niet goed").explanation
    assert "niet goed (negatie)" in expl or "goed (negatie)" in expl, expl
    assert "niet" not in expl


def test_model_contrast_follows_what_comes_after_maar(scorer: Scorer) -> None:
    assert scorer.score("Duurde even, maar uiteindelijk prima geholpen.").label == "pos"
    assert scorer.score("Aardige mevrouw, maar ze kon me niks vertellen.").label == "neg"


def test_model_reads_emoji(scorer: Scorer) -> None:
    assert scorer.score("👍").label == "pos"
    assert scorer.score("😡😡").label == "neg"


def test_model_flags_escalation_as_very_negative(scorer: Scorer) -> None:
    r = scorer.score("IK BEN HET ZAT!!! Niemand belt terug, ik ga naar de ombudsman")
    assert r.label == "neg" and r.very_negative
    assert not scorer.score("Ik heb mijn verhuizing online doorgegeven.").very_negative


def test_model_detects_english_and_other_languages(scorer: Scorer) -> None:
    en = scorer.score("Terrible, nobody helped me and I waited for weeks")
    assert en.language == "eng" and en.label == "neg"
    de = scorer.score("Sehr schlecht, niemand hat mir geholfen und die Wartezeit war lang")
    assert de.language == "und" and de.label == "neu" and de.score == 0.0
    assert scorer.score("Slecht geholpen door de gemeente").language == "nld"


@pytest.mark.parametrize("text", ["", "   ", "!!!", "x", "a" * 5000, "😀" * 300, "123 456"])
def test_model_score_range_and_types_on_odd_input(scorer: Scorer, text: str) -> None:
    r = scorer.score(text)
    assert isinstance(r, SentimentResult)
    assert r.label in LABELS
    assert -1.0 <= r.score <= 1.0
    assert isinstance(r.explanation, tuple)
    json.dumps(r.to_dict())


def test_model_explanation_names_the_driving_terms(scorer: Scorer) -> None:
    r = scorer.score("Drie keer doorverwezen en niemand wist het")
    assert r.explanation and "doorverwezen" in r.explanation


def test_model_batch_equals_single(scorer: Scorer) -> None:
    texts = ["top", "slecht 😡", "", "Nou, lekker snel weer... zes weken"]
    assert scorer.score_batch(texts) == [scorer.score(t) for t in texts]


def test_model_scoring_path_equals_training_features() -> None:
    """The fast scoring walk must give exactly the logits of the training feature dicts."""
    model = json.loads(SHIPPED_MODEL.read_text("utf-8"))
    s = LinearScorer(model)
    w = model["weights"]
    norm = tuple(model.get("length_norm") or (0.0, 0.0))
    closing = tuple(model.get("closing") or (0.0, 0.0))
    training_analyser = Analyser(
        stem_table=model["stems"],
        length_norm=norm,
        closing=closing,
        length_norm_lexicon=bool(model.get("length_norm_lexicon", False)),
    )
    train, test = load_gold()
    for e in (train + test)[::7]:
        feats = training_analyser.analyse(e.text, features=True).features
        raw = [sum(w.get(k, [0.0] * 4)[i] * v for k, v in feats.items()) for i in range(4)]
        want = [raw[0] - raw[1], raw[2] - raw[1], raw[3]]  # relative to "neu"
        got = s._analyser.analyse(e.text, weights=s._w).logits
        assert got == pytest.approx(want, abs=1e-9), e.text


def test_model_loads_small_and_offline(tmp_path: Path) -> None:
    """A fresh interpreter with sockets disabled loads and scores: no network, no downloads.
    (How fast it loads is a `klantsignaal bench` figure, sentiment.model.load_s.)"""
    code = (
        "import socket, tracemalloc\n"
        "def _no_net(*a, **k):\n"
        "    raise OSError('network disabled in this test')\n"
        "socket.socket.connect = _no_net\n"
        "socket.create_connection = _no_net\n"
        "tracemalloc.start()\n"
        "from pipeline.sentiment import load_scorer\n"
        "s = load_scorer()\n"
        "mb = tracemalloc.get_traced_memory()[0] / 2**20\n"
        "r = s.score('Onbekendwoord en zeer slecht geholpen, nooit meer')\n"
        "import sys\n"
        "heavy = [m for m in ('nltk', 'sklearn', 'scipy') if m in sys.modules]\n"
        "print(mb, r.label, s.version, ','.join(heavy) or '-')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    mb, label, version, heavy = float(out[0]), out[1], out[2], out[3]
    assert heavy == "-"  # scoring needs neither nltk (stems ship with the model) nor sklearn
    assert version.startswith("nl-linear-")
    assert label == "neg"
    assert mb < 50


def test_unreadable_model_dir_falls_back_to_shipped(tmp_path: Path) -> None:
    (tmp_path / "promoted.json").write_text("{not json", "utf-8")
    assert load_scorer(tmp_path).version == load_scorer().version
