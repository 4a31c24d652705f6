"""The real-text loader: label derivation, the deterministic split, absent data."""

from __future__ import annotations

from pathlib import Path

from pipeline.sentiment.realtext import (
    load_realtext,
    parse_dbrd,
    parse_xed,
    polarity,
    split_of,
)


def test_polarity_from_emotions() -> None:
    assert polarity({1}) == "neg" and polarity({3, 6}) == "neg" and polarity({4}) == "neg"
    assert polarity({5}) == "pos" and polarity({5, 8}) == "pos" and polarity({8, 2}) == "pos"
    assert polarity({1, 5}) is None  # mixed
    assert polarity({2, 7}) is None and polarity(set()) is None  # not polar


def test_parse_xed_derives_labels_and_drops_duplicates(tmp_path: Path) -> None:
    f = tmp_path / "x.tsv"
    f.write_text(
        "Wat fijn dat je er bent.\t5, 8\n"
        "Ik ben zo bang.\t4\n"
        "Ik ben zo bang!\t4\n"  # same text key: dropped
        "Blij en boos.\t1, 5\n"
        "Wacht eens.\t7\n"
        "kapotte regel zonder label\n",
        "utf-8",
    )
    rows = parse_xed(f)
    assert [(r.text, r.label) for r in rows] == [
        ("Wat fijn dat je er bent.", "pos"),
        ("Ik ben zo bang.", "neg"),
    ]


def test_split_is_deterministic_and_about_half() -> None:
    texts = [f"zin nummer {i} over iets" for i in range(2000)]
    first = [split_of(t) for t in texts]
    assert first == [split_of(t) for t in texts]
    assert split_of("Goed geholpen.") == split_of("goed geholpen")
    share = first.count("eval") / len(first)
    assert 0.45 < share < 0.55


def test_absent_data_gives_empty_sets(tmp_path: Path) -> None:
    assert load_realtext(tmp_path) == ([], [])


def test_dbrd_layout_is_read_with_its_own_split(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for label, rating in (("neg", 1), ("pos", 5)):
            d = tmp_path / "DBRD" / split / label
            d.mkdir(parents=True)
            for i in range(3):
                (d / f"{i}_{rating}.txt").write_text(f"{split} {label} recensie {i}", "utf-8")
    test = parse_dbrd(tmp_path / "DBRD", "test")
    assert sorted({r.label for r in test}) == ["neg", "pos"] and len(test) == 6
    assert len(parse_dbrd(tmp_path / "DBRD", "train", per_class=2)) == 4
    train, evaluation = load_realtext(tmp_path)
    assert len(train) == 6 and len(evaluation) == 6
    assert all("test" in e.text for e in evaluation)
