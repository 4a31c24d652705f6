"""A tiny real-text data folder in the formats `pipeline.sentiment.realtext` reads, filled with
gold corpus texts (written by the corpus engineers, not for the tests that use this)."""

from __future__ import annotations

from pathlib import Path

from pipeline.sentiment.corpus import CORPUS_DIR, load_gold


def gold_polar(per_cell: int) -> dict[tuple[str, bool], list[str]]:
    """Up to `per_cell` Dutch gold test-split texts per (label, is_long), labels neg/pos."""
    _, test = load_gold(CORPUS_DIR)
    cells: dict[tuple[str, bool], list[str]] = {}
    for e in test:
        if e.label in ("neg", "pos") and e.lang == "nld":
            texts = cells.setdefault((e.label, e.is_long), [])
            if len(texts) < per_cell:
                texts.append(e.text)
    return cells


def write_dbrd_test_split(root: Path, per_cell: int = 8) -> int:
    """DBRD/test/{neg,pos}/<id>_<stars>.txt with short and long texts; returns the count."""
    n = 0
    for (label, _), texts in gold_polar(per_cell).items():
        folder = root / "DBRD" / "test" / label
        folder.mkdir(parents=True, exist_ok=True)
        for text in texts:
            n += 1
            (folder / f"{n}_{1 if label == 'neg' else 5}.txt").write_text(text, "utf-8")
    return n


def write_xed(root: Path, per_cell: int = 8) -> int:
    """xed-nl-projections.tsv lines (joy = 5 for pos, anger = 1 for neg) of short texts."""
    lines = [
        f"{' '.join(text.split())}\t{5 if label == 'pos' else 1}"
        for (label, is_long), texts in gold_polar(per_cell).items()
        if not is_long
        for text in texts
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "xed-nl-projections.tsv").write_text("\n".join(lines) + "\n", "utf-8")
    return len(lines)
