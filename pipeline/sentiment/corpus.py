"""The labelled gold corpus kept in the repo, and its deterministic held-out split."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
GOLD_GLOBS = ("a_*.jsonl", "b_*.jsonl", "c_*.jsonl")
# Out-of-domain check set written for klantsignaal (general Dutch reviews); never trained on.
DEV_GLOB = "dev_*.jsonl"
TEST_PERCENT = 20
_NON_WORD = re.compile(r"[\W_]+")
LONG_WORDS = 40  # "longer review": more than this many words


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str  # neg | neu | pos
    very_negative: bool = False
    service: str = ""
    channel: str = ""
    style: str = ""
    lang: str = "nld"
    source: str = ""

    @property
    def is_long(self) -> bool:
        return len(self.text.split()) > LONG_WORDS


def text_key(text: str) -> str:
    """Lower-cased words only: "Goed geholpen." and "goed geholpen" are the same comment."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def split_of(text: str) -> str:
    """'test' for a stable ~20% of texts (by content hash, so it survives re-ordering/appends).
    Hashing the text key keeps variants that differ only in punctuation/case in one split."""
    key = text_key(text).encode("utf-8")
    bucket = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % 100
    return "test" if bucket < TEST_PERCENT else "train"


def read_jsonl(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
                label = row["label"]
                text = row["text"]
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path.name}:{n}: bad corpus line: {exc}") from exc
            if label not in ("neg", "neu", "pos") or not isinstance(text, str):
                raise ValueError(f"{path.name}:{n}: label must be neg|neu|pos and text a string")
            yield Example(
                text=text,
                label=label,
                very_negative=bool(row.get("very_negative", False)),
                service=str(row.get("service", "")),
                channel=str(row.get("channel", "")),
                style=str(row.get("style", "")),
                lang=str(row.get("lang") or "nld"),
                source=path.name,
            )


def load(paths: Iterable[Path]) -> list[Example]:
    seen: set[str] = set()
    out: list[Example] = []
    for path in sorted(paths):
        for ex in read_jsonl(path):
            key = text_key(ex.text)
            if key in seen:  # duplicates would leak between train and test otherwise
                continue
            seen.add(key)
            out.append(ex)
    return out


def gold_paths(corpus_dir: Path = CORPUS_DIR) -> list[Path]:
    return sorted(p for g in GOLD_GLOBS for p in corpus_dir.glob(g))


def load_gold(corpus_dir: Path = CORPUS_DIR) -> tuple[list[Example], list[Example]]:
    """(train, test) of the gold corpus."""
    rows = load(gold_paths(corpus_dir))
    train = [r for r in rows if split_of(r.text) == "train"]
    test = [r for r in rows if split_of(r.text) == "test"]
    return train, test


def load_dev(corpus_dir: Path = CORPUS_DIR) -> list[Example]:
    return load(corpus_dir.glob(DEV_GLOB))
