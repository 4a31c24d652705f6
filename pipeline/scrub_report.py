"""How well the scrubber does, per kind of personal data, on a labelled set of texts.

A case is a JSON line: {"text": ..., "pii": [{"kind": "telefoon", "text": "(020) 7654321"}]}
with `kind` one of pipeline.privacy.PLACEHOLDERS; cases without `pii` are hard negatives
(amounts, appointment dates, times, ordinary numbers) where nothing may be replaced.

Per kind: a labelled span is found when none of its tokens survives scrubbing and a
placeholder of its kind appeared; placeholders of a kind beyond the spans of that kind are
false positives. `leaked` counts spans of which some token survived, whatever the kind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.privacy import PLACEHOLDERS, scrub

_TOKEN = re.compile(r"[\w@.+-]*\w")


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in _TOKEN.findall(text) if len(t) >= 2}


@dataclass
class KindScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    leaked: int = 0
    spans: int = 0

    def to_dict(self) -> dict[str, Any]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return {
            "spans": self.spans,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "leaked": self.leaked,
        }


@dataclass
class Report:
    kinds: dict[str, KindScore] = field(default_factory=dict)
    cases: int = 0
    negatives: int = 0
    negatives_changed: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "hard_negatives": self.negatives,
            "hard_negatives_changed": self.negatives_changed,
            "kinds": {k: s.to_dict() for k, s in sorted(self.kinds.items())},
            "misses": self.misses,
        }


def _leaked(span: str, text: str, out: str, others: list[str]) -> bool:
    rest = text.replace(span, " ")
    for other in others:
        rest = rest.replace(other, " ")
    own = _tokens(span) - _tokens(rest) - _tokens(" ".join(PLACEHOLDERS.values()))
    return bool(own & _tokens(out))


def evaluate(cases: Iterable[dict[str, Any]]) -> Report:
    report = Report(kinds={k: KindScore() for k in PLACEHOLDERS})
    for case in cases:
        text = case["text"]
        out = scrub(text)
        pii = case.get("pii") or []
        report.cases += 1
        if not pii:
            report.negatives += 1
            report.negatives_changed += out != text
        spans = [p["text"] for p in pii]
        for kind, placeholder in PLACEHOLDERS.items():
            score = report.kinds[kind]
            produced = out.count(placeholder) - text.count(placeholder)
            mine = [p["text"] for p in pii if p["kind"] == kind]
            removed = 0
            for span in mine:
                score.spans += 1
                others = [s for s in spans if s != span]
                if _leaked(span, text, out, others):
                    score.leaked += 1
                else:
                    removed += 1
            tp = min(produced, removed)
            score.tp += tp
            score.fn += len(mine) - tp
            score.fp += max(produced - tp, 0)
            if len(mine) - tp or produced - tp > 0:
                report.misses.append({"kind": kind, "text": text, "scrubbed": out})
    return report


def load_cases(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
