"""Retraining from weak labels: versioned files, promotion only when not worse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.sentiment import load_scorer
from pipeline.sentiment.corpus import CORPUS_DIR, gold_paths, load_gold
from pipeline.sentiment.retrain import (
    collect_corrections,
    collect_weak_labels,
    retrain,
    weak_label,
)
from pipeline.sentiment.train import save
from tests.support.realtext_fixture import write_dbrd_test_split

PER_FILE = 30  # a small gold corpus keeps these tests to seconds


@pytest.fixture(autouse=True)
def no_realtext(tmp_path_factory, monkeypatch) -> Path:
    """Retrain as on a fresh install: no real-text data (tests that want it write their own)."""
    d = tmp_path_factory.mktemp("realtext")
    monkeypatch.setenv("KLANTSIGNAAL_SENTIMENT_DATA", str(d))
    return d


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
            rows += [(f"{e.text} {tag}", *flipped) for tag in ("echt", "hoor", "nou", "zeker")]
    report = retrain(tmp_path, _source(rows), corpus_dir=small_corpus)
    assert report["promoted"] is False
    assert report["weak_labels"]["used"] > 50
    assert (models / f"{report['candidate']['version']}.json").is_file()  # kept, not used
    assert load_scorer(models).version == current


def test_corrections_latest_wins_and_held_out_texts_are_never_trained_on() -> None:
    rows = [
        ("De medewerker was heel behulpzaam", "neg"),
        ("De medewerker was heel behulpzaam", "pos"),  # a later correction overrules
        ("Een gold zin uit de testset", "neg"),
        ("Onzin label", "boos"),
    ]
    fixed = collect_corrections(lambda: iter(rows), exclude=["Een gold zin uit de testset"])
    assert fixed == [("De medewerker was heel behulpzaam", "pos")]


def test_read_corrections_from_the_warehouse_table(tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from consumers.sentiment_corrections import read_corrections

    url = f"sqlite:///{tmp_path / 'wh.db'}"
    assert read_corrections(url) == []  # no table yet: no corrections, no error
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:  # the inbox's table (consumers/warehouse.py)
        conn.exec_driver_sql(
            "CREATE TABLE sentiment_corrections (id TEXT PRIMARY KEY, signal_id TEXT NOT NULL,"
            " text TEXT NOT NULL, label_from TEXT, label_to TEXT NOT NULL, door TEXT,"
            " op TIMESTAMP NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO sentiment_corrections VALUES"
            " ('c2', 's1', 'Komen zeker nog eens langs', 'pos', 'neg', 'kw', '2026-11-29 10:05'),"
            " ('c1', 's1', 'Komen zeker nog eens langs', 'neg', 'pos', 'kw', '2026-11-29 10:00'),"
            " ('c3', 's2', 'x', 'neg', 'weird', 'kw', '2026-11-29 10:01')"
        )
    engine.dispose()
    rows = read_corrections(url)
    assert rows == [("Komen zeker nog eens langs", "pos"), ("Komen zeker nog eens langs", "neg")]
    assert collect_corrections(lambda: iter(rows)) == [("Komen zeker nog eens langs", "neg")]


def test_retrain_uses_corrections_and_says_when_real_text_is_absent(
    tmp_path: Path, small_corpus: Path, caplog
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    _bad_model(models)
    fixes = [("Kom zeker nog eens terug, fijne mensen aan de balie", "pos")] * 2
    with caplog.at_level("WARNING"):
        report = retrain(tmp_path, None, corrections=lambda: iter(fixes), corpus_dir=small_corpus)
    assert report["corrections"]["used"] == 1
    assert report["real_text"]["available"] is False
    assert "gold only" in report["real_text"]["note"]
    assert "real-text evaluation data absent" in caplog.text
    assert report["promoted"] is True and "real-text data absent" in report["reason"]


def test_retrain_judges_on_real_text_when_present(
    tmp_path: Path, small_corpus: Path, no_realtext: Path
) -> None:
    # A tiny stand-in for the real-text file (same format): the gate must use it.
    lines = [f"Wat een heerlijke dag {i}, ik ben zo blij\t5" for i in range(30)]
    lines += [f"Ik haat dit, het is verschrikkelijk {i}\t1, 3" for i in range(30)]
    (no_realtext / "xed-nl-projections.tsv").write_text("\n".join(lines) + "\n", "utf-8")
    models = tmp_path / "models"
    models.mkdir()
    _bad_model(models)
    report = retrain(tmp_path, None, corpus_dir=small_corpus)
    assert report["real_text"]["available"] is True
    rt = report["real_text"]
    assert rt["eval"] + rt["dev"] + rt["train"] == 60
    cand, cur = report["candidate"]["real_text_eval"], report["current"]["real_text_eval"]
    assert cand["n"] == report["real_text"]["eval"] and cur is not None
    # Real text without DBRD: the opinion cells are missing, and that refuses by name.
    assert report["promoted"] is False
    named = [r.split(":")[0] for r in report["gate"]["reasons"] if "missing" in r]
    assert named == ["dbrd/short", "dbrd/long"]
    # With DBRD's test split (gold texts as stand-in): every opinion cell is judged against
    # both the current (all-"neu") model and the shipped one.
    n = write_dbrd_test_split(no_realtext)
    report = retrain(tmp_path, None, corpus_dir=small_corpus)
    assert report["real_text"]["eval"] >= n
    assert not any("missing" in r for r in report["gate"]["reasons"])
    for cell in ("dbrd/short", "dbrd/long"):
        fig = report["gate"]["cells"][cell]["neg_recall"]
        assert fig["current"] == 0.0 and fig["shipped"] > 0.5 and fig["reference"] == "shipped"
    assert report["promoted"] is (report["gate"]["reasons"] == [])
