"""The real-text loader: label derivation, the deterministic split, absent data."""

from __future__ import annotations

from pathlib import Path

from pipeline.sentiment.realtext import (
    load_parts,
    load_realtext,
    parse_dbrd,
    parse_ecosent,
    parse_xed,
    part_of,
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
    parts = load_parts(tmp_path)
    assert len(parts["train"]) + len(parts["dev"]) == 6 and len(parts["eval"]) == 6
    assert all("test" in e.text for e in parts["eval"])
    train, evaluation = load_realtext(tmp_path)
    assert train == parts["train"] and evaluation == parts["eval"]  # dev is in neither


def test_dbrd_train_texts_that_repeat_a_test_text_are_dropped(tmp_path: Path) -> None:
    for split, name in (("train", "1_1.txt"), ("train", "2_1.txt"), ("test", "3_2.txt")):
        d = tmp_path / "DBRD" / split / "neg"
        d.mkdir(parents=True, exist_ok=True)
        text = "Saai boek." if name != "2_1.txt" else "Slecht geschreven."
        (d / name).write_text(text + ("\n\n" if split == "train" else ""), "utf-8")
    parts = load_parts(tmp_path)
    assert [e.text for e in parts["train"] + parts["dev"]] == ["Slecht geschreven."]


def test_ecosent_headlines_keep_coded_polar_tone_only(tmp_path: Path) -> None:
    f = tmp_path / "ecosent-sentences.csv"
    f.write_text(
        "id,date,medtype,medium,headline,value,gold,lemmapos,lemmata\n"
        "1,d,Internet,NOS,UWV: dit jaar meer banen,1,FALSE,x,x\n"
        "2,d,Internet,NOS,Chinese economie verder verzwakt,-1,TRUE,x,x\n"
        "3,d,Internet,NOS,Top bespreekt kasstromen,0,FALSE,x,x\n"
        '4,d,Internet,NOS,"UWV: dit jaar meer banen!",1,FALSE,x,x\n',
        "utf-8",
    )
    rows = parse_ecosent(f)
    assert [(r.label, r.source) for r in rows] == [("pos", "ecosent"), ("neg", "ecosent")]
    parts = load_parts(tmp_path)
    assert sorted(e.text for p in parts.values() for e in p) == sorted(r.text for r in rows)
    for e in rows:
        assert e in parts[part_of(e.text)]


def test_three_way_parts_are_stable_and_disjoint() -> None:
    texts = [f"zin nummer {i} over de gemeente" for i in range(400)]
    parts = [part_of(t) for t in texts]
    assert parts == [part_of(t) for t in texts]
    assert set(parts) == {"eval", "dev", "train"}
    for t, p in zip(texts, parts, strict=True):
        assert (p == "eval") == (split_of(t) == "eval")  # eval half unchanged by the dev cut
