"""Real Dutch text the team did not write: an evaluation (and training) set kept OUT of the repo.

Source: the Dutch part of XED (Helsinki-NLP, CC BY 4.0): 5,333 Dutch movie-subtitle lines
whose emotion labels (Plutchik's 8) were annotated by people on the aligned English/Finnish
lines and projected to the Dutch line. Polarity is derived, never guessed:
- `neg` when every emotion is one of anger, disgust, fear, sadness;
- `pos` when every emotion is joy and/or trust (anticipation/surprise are ignored);
- lines with both a negative and a positive emotion, or only anticipation/surprise, are left out.
`scripts/fetch-sentiment-data.sh` puts the file in `.cache/sentiment-data/` (git-ignored);
set KLANTSIGNAAL_SENTIMENT_DATA to use another folder. Without the file every function here
returns empty sets, and callers say so (tests skip, retrain falls back to gold only).

The split is deterministic (a salted hash of the text key, so it differs from the gold split):
buckets 0-49 are `eval`, never trained on; 50-99 are `train`.

Optional second source, for LONG texts: the 110k Dutch Book Reviews Dataset (DBRD, van der
Burgh & Verberne, CC BY-NC-SA 4.0; labels from the reviewers' own star ratings: 1-2 neg,
4-5 pos). Unpacked as `<data dir>/DBRD/{train,test}/{neg,pos}/<id>_<rating>.txt`, its own
test split is evaluation and a fixed sample of its train split is training. It is read
only when present (it could not be fetched where this model was built: see
docs/sentiment-realtext.md).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from .corpus import Example, text_key

REPO_ROOT = Path(__file__).resolve().parents[2]
XED_FILE = "xed-nl-projections.tsv"
NEG_EMOTIONS = frozenset({1, 3, 4, 6})  # anger, disgust, fear, sadness
POS_EMOTIONS = frozenset({5, 8})  # joy, trust
EVAL_PERCENT = 50
_SALT = b"klantsignaal-realtext-v1:"


def data_dir() -> Path:
    env = os.environ.get("KLANTSIGNAAL_SENTIMENT_DATA")
    return Path(env) if env else REPO_ROOT / ".cache" / "sentiment-data"


def polarity(emotions: set[int]) -> str | None:
    """neg / pos from XED emotion ids, None when mixed or not polar."""
    neg, pos = emotions & NEG_EMOTIONS, emotions & POS_EMOTIONS
    if neg and not pos:
        return "neg"
    if pos and not neg:
        return "pos"
    return None


def parse_xed(path: Path) -> list[Example]:
    out: list[Example] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            text, _, labels = line.rstrip("\n").rpartition("\t")
            try:
                emotions = {int(x) for x in labels.replace(" ", "").split(",") if x}
            except ValueError:
                continue
            label = polarity(emotions)
            key = text_key(text)
            if label is None or not key or key in seen:
                continue
            seen.add(key)
            out.append(Example(text=text.strip(), label=label, source="xed-nl"))
    return out


def bucket_of(text: str) -> int:
    """0-99 from a salted hash of the text key (differs from the gold split's hash)."""
    digest = hashlib.blake2b(_SALT + text_key(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


def split_of(text: str) -> str:
    """`eval` (buckets 0-49: never trained on, never tuned on) or `train` (50-99)."""
    return "eval" if bucket_of(text) < EVAL_PERCENT else "train"


def part_of(text: str) -> str:
    """Three-way: `eval` (0-49), `dev` (50-64: tuning only) or `train` (65-99)."""
    b = bucket_of(text)
    return "eval" if b < EVAL_PERCENT else "dev" if b < EVAL_PERCENT + DEV_PERCENT else "train"


def load_parts(directory: Path | None = None) -> dict[str, list[Example]]:
    """{"train", "dev", "eval"} of every real-text source present (all empty when none is).

    - XED and ecosent: split by `part_of` (salted text hash).
    - DBRD: its own `test` split is `eval`; its `train` split is cut into `dev` (salted hash
      of the file name, 15 %) and `train`. Train texts whose key also occurs in the test
      split are dropped (DBRD v3 has such duplicates).
    """
    base = directory or data_dir()
    parts: dict[str, list[Example]] = {"train": [], "dev": [], "eval": []}
    for path, parser in ((base / XED_FILE, parse_xed), (base / ECOSENT_FILE, parse_ecosent)):
        if path.is_file():
            for row in parser(path):
                parts[part_of(row.text)].append(row)
    if (base / DBRD_DIR).is_dir():
        test = parse_dbrd(base / DBRD_DIR, "test")
        seen = {text_key(e.text) for e in test}
        parts["eval"] += test
        for e in parse_dbrd(base / DBRD_DIR, "train"):
            key = text_key(e.text)
            if key in seen:
                continue
            seen.add(key)
            dev = bucket_of(key) < DBRD_DEV_PERCENT
            parts["dev" if dev else "train"].append(e)
    # A text in one source's eval part may recur in another source ("Geweldig" is an XED
    # eval line and a DBRD train review): it is then kept out of train and dev.
    held = {text_key(e.text) for e in parts["eval"]}
    for name in ("train", "dev"):
        parts[name] = [e for e in parts[name] if text_key(e.text) not in held]
    return parts


def load_realtext(directory: Path | None = None) -> tuple[list[Example], list[Example]]:
    """(train, eval) of the real-text sets present; both empty when none is. The `dev` part
    (load_parts) is in neither: it is for choosing settings only."""
    parts = load_parts(directory)
    return parts["train"], parts["eval"]


DBRD_DIR = "DBRD"
DBRD_DEV_PERCENT = 15
ECOSENT_FILE = "ecosent-sentences.csv"
DEV_PERCENT = 15


def parse_dbrd(root: Path, split: str, per_class: int | None = None) -> list[Example]:
    """Reviews under root/split/{neg,pos}/<id>_<stars>.txt; labels from the reviewer's own
    rating (DBRD: 1-2 stars neg, 4-5 pos). per_class: a fixed hash-ordered sample."""
    out: list[Example] = []
    for label in ("neg", "pos"):
        folder = root / split / label
        files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if per_class is not None:
            files = sorted(
                files,
                key=lambda f: hashlib.blake2b(_SALT + f.name.encode(), digest_size=8).digest(),
            )
            files = files[:per_class]
        for f in files:
            text = f.read_text("utf-8", errors="replace").strip()
            stars = f.stem.rpartition("_")[2]
            if text:
                out.append(Example(text=text, label=label, source="dbrd", style=f"{stars}-star"))
    return out


# Training only (never evaluated on, never used for choices): the closing sentence of a DBRD
# train-part review whose author gave 1 or 5 stars, as a weak short opinion sentence with
# the review's label. Long reviews open with plot and close with the verdict ("Een aanrader
# voor wie van spanning houdt."), so this adds short review-like sentences, which the data
# otherwise lacks. Labels are noisy (the last sentence may still be plot).
WEAK_SENTENCE_STARS = ("1-star", "5-star")
WEAK_SENTENCE_SOURCE = "dbrd-sent"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def weak_sentences(train: Sequence[Example]) -> list[Example]:
    """Closing sentences (4-40 words) of 1- and 5-star long DBRD reviews in `train`."""
    out: list[Example] = []
    seen: set[str] = set()
    for e in train:
        if e.source != "dbrd" or e.style not in WEAK_SENTENCE_STARS or not e.is_long:
            continue
        sentences = [s for s in _SENTENCE_END.split(e.text.strip()) if s.strip()]
        if not sentences:
            continue
        last = sentences[-1].strip()
        key = text_key(last)
        if 4 <= len(last.split()) <= 40 and key not in seen:
            seen.add(key)
            out.append(Example(text=last, label=e.label, source=WEAK_SENTENCE_SOURCE))
    return out


def parse_ecosent(path: Path) -> list[Example]:
    """Dutch economic news headlines (vanatteveldt/ecosent, `sentences_ml.csv`) with the tone
    of the headline coded by trained human coders (value -1/0/1; `gold` rows by experts).
    Only -1 (neg) and 1 (pos) are kept; duplicates (same text key) once."""
    import csv

    out: list[Example] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            label = {"-1": "neg", "1": "pos"}.get((row.get("value") or "").strip())
            text = (row.get("headline") or "").strip()
            key = text_key(text)
            if label is None or not key or key in seen:
                continue
            seen.add(key)
            out.append(Example(text=text, label=label, source="ecosent"))
    return out


def available(directory: Path | None = None) -> bool:
    base = directory or data_dir()
    return any((base / f).is_file() for f in (XED_FILE, ECOSENT_FILE)) or (base / DBRD_DIR).is_dir()


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def polar_figures(results, examples: list[Example]) -> dict:
    """The issue's targets on gold pos/neg items: pos-vs-neg accuracy (a `neu` label counts
    as wrong), the same by the sign of the score, negative recall, and the positive->negative
    error rate (share of gold positives labelled neg)."""
    pairs = [
        (e.label, r) for e, r in zip(examples, results, strict=True) if e.label in ("neg", "pos")
    ]
    neg = [r for g, r in pairs if g == "neg"]
    pos = [r for g, r in pairs if g == "pos"]
    ok = sum(r.label == g for g, r in pairs)
    sign_ok = sum((g == "pos" and r.score > 0) or (g == "neg" and r.score < 0) for g, r in pairs)
    return {
        "n": len(pairs),
        "n_neg": len(neg),
        "n_pos": len(pos),
        "pos_vs_neg_accuracy": _ratio(ok, len(pairs)),
        "pos_vs_neg_accuracy_by_score_sign": _ratio(sign_ok, len(pairs)),
        "neg_recall": _ratio(sum(r.label == "neg" for r in neg), len(neg)),
        "pos_to_neg_error": _ratio(sum(r.label == "neg" for r in pos), len(pos)),
        "labelled_neu": _ratio(sum(r.label == "neu" for _, r in pairs), len(pairs)),
    }


def report(scorer, examples: list[Example]) -> dict:
    """Targets per length (short <= 40 words, long > 40) and the very_negative flag's
    precision on real text: the share of flagged comments whose gold label is neg (real sets
    have no urgency label), at its recall (the share of gold negatives flagged)."""
    results = scorer.score_batch([e.text for e in examples])
    out: dict = {"scorer": scorer.version, "n": len(examples)}
    for name, keep in (("short", lambda e: not e.is_long), ("long", lambda e: e.is_long)):
        idx = [i for i, e in enumerate(examples) if keep(e)]
        out[name] = polar_figures([results[i] for i in idx], [examples[i] for i in idx])
    flagged = [e.label for e, r in zip(examples, results, strict=True) if r.very_negative]
    n_neg = sum(e.label == "neg" for e in examples)
    out["very_negative"] = {
        "flagged": len(flagged),
        "precision_gold_neg": _ratio(sum(g == "neg" for g in flagged), len(flagged)),
        "recall_of_gold_neg": _ratio(sum(g == "neg" for g in flagged), n_neg),
    }
    out["by_source"] = {}
    for src in sorted({e.source for e in examples}):
        for cell, keep in (("", None), ("/short", False), ("/long", True)):
            idx = [
                i
                for i, e in enumerate(examples)
                if e.source == src and (keep is None or e.is_long == keep)
            ]
            if idx:
                out["by_source"][src + cell] = polar_figures(
                    [results[i] for i in idx], [examples[i] for i in idx]
                )
    return out
