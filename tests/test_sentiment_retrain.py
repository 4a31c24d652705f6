"""Retraining from weak labels: versioned files, promotion only when not worse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.sentiment import load_scorer
from pipeline.sentiment.corpus import CORPUS_DIR, gold_paths, load_gold
from pipeline.sentiment.retrain import collect_weak_labels, retrain, weak_label
from pipeline.sentiment.train import save

PER_FILE = 30  # a small gold corpus keeps these tests to seconds


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    for p in gold_paths(CORPUS_DIR):
        lines = p.read_text("utf-8").splitlines()[:PER_FILE]
        (d / p.name).write_text("\n".join(lines) + "\n", "utf-8")
    return d


def _bad_model(models: Path) -> None:
    """A promoted model that says "neu" to everything: any real candidate beats it."""
    model = {
        "format": "klantsignaal-sentiment-linear",
        "format_version": 1,
        "version": "nl-linear-bad",
        "intercepts": [0.0, 5.0, 0.0, -5.0],
        "thresholds": {"very_negative": 0.5},
        "weights": {},
    }
    save(model, models / "nl-linear-bad.json")
    entry = {"version": "nl-linear-bad", "file": "nl-linear-bad.json"}
    (models / "promoted.json").write_text(json.dumps({"current": entry, "history": [entry]}))


def _source(rows):
    return lambda: iter(rows)


def test_weak_label_rules() -> None:
    assert weak_label(0, None) == "neg" and weak_label(None, 2) == "neg"
    assert weak_label(10, 9) == "pos"
    assert weak_label(0, 9) is None  # the scores disagree
    assert weak_label(7, None) is None and weak_label(None, None) is None


def test_weak_labels_skip_gold_duplicates_short_and_foreign_text() -> None:
    rows = [
        ("Drie keer doorverwezen en niemand wist het", 0, 1),
        ("Drie keer doorverwezen en niemand wist het", 0, 1),
        ("top", 10, 10),
        ("Terrible service and nobody helped me at all", 0, 1),
        ("Heel vriendelijk en snel geholpen door de balie", 10, 9),
        ("Gold zin die al in het corpus staat", 0, 1),
    ]
    weak = collect_weak_labels(_source(rows), exclude=["Gold zin die al in het corpus staat"])
    assert weak == [
        ("Drie keer doorverwezen en niemand wist het", "neg"),
        ("Heel vriendelijk en snel geholpen door de balie", "pos"),
    ]


def test_retrain_promotes_a_better_candidate(tmp_path: Path, small_corpus: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    _bad_model(models)
    rows = [
        ("Echt heel fijn en snel geholpen door de medewerker", 10, 9),
        ("Al weken geen reactie, niemand belt terug, slecht", 0, 1),
    ]
    report = retrain(tmp_path, _source(rows), corpus_dir=small_corpus)
    assert report["promoted"] is True
    assert report["weak_labels"]["used"] == 2
    version = report["candidate"]["version"]
    assert (models / f"{version}.json").is_file()
    pointer = json.loads((models / "promoted.json").read_text())
    assert pointer["current"]["version"] == version
    assert [h["version"] for h in pointer["history"]] == ["nl-linear-bad", version]
    assert load_scorer(models).version == version


@pytest.mark.slow
def test_retrain_refuses_a_worse_candidate(tmp_path: Path, small_corpus: Path) -> None:
    models = tmp_path / "models"
    current = load_scorer(models).version  # nothing promoted yet: the shipped model
    # Poison: the training split's own comments, rated the opposite way, many times over.
    train, _ = load_gold(small_corpus)
    rows = []
    for e in train:
        if e.label in ("neg", "pos"):
            flipped = (10, 10) if e.label == "neg" else (0, 1)
            rows += [(f"{e.text} {tag}", *flipped) for tag in ("echt",)]
    report = retrain(tmp_path, _source(rows), corpus_dir=small_corpus)
    assert report["promoted"] is False
    assert report["weak_labels"]["used"] > 50
    assert (models / f"{report['candidate']['version']}.json").is_file()  # kept, not used
    assert load_scorer(models).version == current
