"""The promotion gate of `sentiment retrain` (round 5 of issue 8): judged per opinion cell.

Set on 2026-11-30 before any new candidate of round 5 was evaluated (docs/sentiment.md,
"Round 5"). Until round 4 the real-text part of the gate was one pooled figure (pos-vs-neg
by score sign over all real text). That figure is 62 % XED subtitles and ecosent headlines,
whose labels are not opinions, and it rewarded a `neg` lean. Now a candidate is promoted
only when ALL of these hold:

1. **Gold (held-out test split), not worse at all:** macro-F1, pos-vs-neg accuracy,
   negative recall, `very_negative` recall and precision are each >= the current model's.
2. **Per opinion source and length cell** (`OPINION_SOURCES` x short/long; the cells the
   issue's targets name), on the real-text eval part: pos-vs-neg accuracy, negative recall
   and the positive->negative error are each worse by at most `tolerance_texts(n)` texts
   of the figure's own denominator: 0.5 % of it, at least 1 text (DBRD short: 1 of 240,
   1 of 131 negatives, 1 of 109 positives; DBRD long: 9 of 1,984, 4 of 981, 5 of 1,003).
3. **A Must-show target the current model meets in a cell stays met** (pos-vs-neg >= 0.85,
   negative recall >= 0.85, pos->neg <= 0.10), whatever the tolerance allows.
4. **Real-text `very_negative` precision** (share of flags that are gold negatives, all
   sources) stays >= 0.90 when the current model has it.

XED and ecosent figures are reported beside these but do not decide: their labels (the
emotion of a film scene, the economic tone of a headline) are not opinions. Without
real-text data, gold alone decides (and the report says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

OPINION_SOURCES = ("dbrd",)
CELLS = ("short", "long")
TOLERANCE_SHARE = 0.005
TOLERANCE_MIN_TEXTS = 1
TARGET_MIN = 0.85
TARGET_POS_TO_NEG = 0.10
REAL_VN_PRECISION = 0.90
GOLD_KEYS = (
    "macro_f1",
    "pos_vs_neg_accuracy",
    "neg_recall",
    "very_negative_recall",
    "very_negative_precision",
)
# figure -> (denominator key in realtext.polar_figures, higher is better, target test)
CELL_FIGURES = {
    "pos_vs_neg_accuracy": ("n", True, lambda v: v >= TARGET_MIN),
    "neg_recall": ("n_neg", True, lambda v: v >= TARGET_MIN),
    "pos_to_neg_error": ("n_pos", False, lambda v: v <= TARGET_POS_TO_NEG),
}


@dataclass
class Verdict:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    cells: dict = field(default_factory=dict)


def tolerance_texts(denominator: int) -> int:
    """How many texts a cell figure may get worse by: 0.5 % of its denominator, >= 1."""
    return max(TOLERANCE_MIN_TEXTS, math.floor(TOLERANCE_SHARE * denominator))


def _num(v: float | None) -> float:
    return 0.0 if v is None else float(v)


def judge_gold(current: dict, candidate: dict) -> list[str]:
    """Reasons the candidate is worse on held-out gold (empty: not worse)."""
    return [
        f"gold {k}: {candidate.get(k)} < {current.get(k)}"
        for k in GOLD_KEYS
        if _num(candidate.get(k)) < _num(current.get(k))
    ]


def _judge_cell(name: str, cur: dict, cand: dict) -> tuple[dict, list[str]]:
    out: dict = {}
    reasons: list[str] = []
    for fig, (denom_key, higher, target) in CELL_FIGURES.items():
        denom = int(cand.get(denom_key) or 0)
        c, k = cur.get(fig), cand.get(fig)
        if not denom or c is None or k is None:
            continue
        # Figures are rounded to 4 decimals: back to whole texts (exact below 10,000 texts).
        worse = round(((c - k) if higher else (k - c)) * denom)
        allowed = tolerance_texts(denom)
        out[fig] = {"current": c, "candidate": k, "worse_by_texts": worse, "allowed": allowed}
        if worse > allowed:
            reasons.append(f"{name} {fig}: {k} vs {c} ({worse} texts worse, {allowed} allowed)")
        if target(c) and not target(k):
            reasons.append(f"{name} {fig}: {k} misses the target the current model meets ({c})")
    return out, reasons


def judge_real_text(current: dict, candidate: dict) -> tuple[dict, list[str]]:
    """Per opinion cell, from two `realtext.report` outputs on the same eval part."""
    cells: dict = {}
    reasons: list[str] = []
    for src in OPINION_SOURCES:
        for cell in CELLS:
            name = f"{src}/{cell}"
            cur, cand = current["by_source"].get(name), candidate["by_source"].get(name)
            if cur is None or cand is None:
                continue
            cells[name], why = _judge_cell(name, cur, cand)
            reasons += why
    vn_cur = current["very_negative"]["precision_gold_neg"]
    vn_cand = candidate["very_negative"]["precision_gold_neg"]
    if _num(vn_cur) >= REAL_VN_PRECISION and _num(vn_cand) < REAL_VN_PRECISION:
        reasons.append(f"real-text very_negative precision {vn_cand} < {REAL_VN_PRECISION}")
    cells["very_negative"] = {"current": vn_cur, "candidate": vn_cand}
    return cells, reasons


def judge(
    gold_current: dict,
    gold_candidate: dict,
    real_current: dict | None = None,
    real_candidate: dict | None = None,
) -> Verdict:
    """Promote only when not worse on gold and on every opinion cell (see the module doc)."""
    reasons = judge_gold(gold_current, gold_candidate)
    cells: dict = {}
    if real_current is not None and real_candidate is not None:
        cells, real_reasons = judge_real_text(real_current, real_candidate)
        reasons += real_reasons
    return Verdict(promote=not reasons, reasons=reasons, cells=cells)
