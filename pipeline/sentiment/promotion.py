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
   The tolerance is measured against the BEST reference, the current model or the shipped
   one (`pipeline/sentiment/data/model.json`, evaluated on the same eval part), per figure:
   promotion after promotion each one tolerance worse would otherwise drift without bound.
3. **A Must-show target a reference model meets in a cell stays met** (pos-vs-neg >= 0.85,
   negative recall >= 0.85, pos->neg <= 0.10), whatever the tolerance allows.
4. **Real-text `very_negative` precision** (share of flags that are gold negatives, all
   sources) stays >= 0.90 when a reference model has it.
5. **Every opinion cell is present** in each report: real-text data without DBRD (or
   without its short or long texts) refuses, naming the missing cell, instead of judging
   the remaining figures only.

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


def _best(known: list[tuple[str, float]], higher: bool) -> tuple[str, float]:
    """The best reference figure (the first, i.e. the current model, on a tie)."""
    return (max if higher else min)(known, key=lambda r: r[1])


def _judge_cell(name: str, refs: dict[str, dict], cand: dict) -> tuple[dict, list[str]]:
    """One cell: each figure against the best of the reference models' figures."""
    out: dict = {}
    reasons: list[str] = []
    for fig, (denom_key, higher, target) in CELL_FIGURES.items():
        denom = int(cand.get(denom_key) or 0)
        k = cand.get(fig)
        known = [(who, ref[fig]) for who, ref in refs.items() if ref.get(fig) is not None]
        if not denom or k is None or not known:
            continue
        who, c = _best(known, higher)
        # Figures are rounded to 4 decimals: back to whole texts (exact below 10,000 texts).
        worse = round(((c - k) if higher else (k - c)) * denom)
        allowed = tolerance_texts(denom)
        out[fig] = {
            **dict(known),
            "candidate": k,
            "reference": who,
            "worse_by_texts": worse,
            "allowed": allowed,
        }
        if worse > allowed:
            reasons.append(
                f"{name} {fig}: {k} vs {c} of the {who} model"
                f" ({worse} texts worse, {allowed} allowed)"
            )
        met = [(w, v) for w, v in known if target(v)]
        if met and not target(k):
            reasons.append(
                f"{name} {fig}: {k} misses the target the {met[0][0]} model meets ({met[0][1]})"
            )
    return out, reasons


def judge_real_text(
    current: dict, candidate: dict, shipped: dict | None = None
) -> tuple[dict, list[str]]:
    """Per opinion cell, from `realtext.report` outputs on the same eval part: the current
    model's, the candidate's and (when the current model is not the shipped one) the
    shipped model's. A missing opinion cell refuses, by name."""
    refs_all = {"current": current, **({"shipped": shipped} if shipped is not None else {})}
    cells: dict = {}
    reasons: list[str] = []
    for src in OPINION_SOURCES:
        for cell in CELLS:
            name = f"{src}/{cell}"
            cand = candidate["by_source"].get(name)
            refs = {who: r["by_source"].get(name) for who, r in refs_all.items()}
            missing = [who for who, c in (("candidate", cand), *refs.items()) if c is None]
            if missing:
                reasons.append(
                    f"{name}: opinion cell missing from the real-text eval part"
                    f" ({', '.join(missing)}); real-text data is present but incomplete"
                    " (fetch DBRD: scripts/fetch-sentiment-data.sh)"
                )
                continue
            cells[name], why = _judge_cell(name, refs, cand)
            reasons += why
    vn = {who: r["very_negative"]["precision_gold_neg"] for who, r in refs_all.items()}
    vn_cand = candidate["very_negative"]["precision_gold_neg"]
    met = any(_num(v) >= REAL_VN_PRECISION for v in vn.values())
    if met and _num(vn_cand) < REAL_VN_PRECISION:
        reasons.append(f"real-text very_negative precision {vn_cand} < {REAL_VN_PRECISION}")
    cells["very_negative"] = {**vn, "candidate": vn_cand}
    return cells, reasons


def judge(
    gold_current: dict,
    gold_candidate: dict,
    real_current: dict | None = None,
    real_candidate: dict | None = None,
    real_shipped: dict | None = None,
) -> Verdict:
    """Promote only when not worse on gold and on every opinion cell (see the module doc)."""
    reasons = judge_gold(gold_current, gold_candidate)
    cells: dict = {}
    if real_current is not None and real_candidate is not None:
        cells, real_reasons = judge_real_text(real_current, real_candidate, real_shipped)
        reasons += real_reasons
    return Verdict(promote=not reasons, reasons=reasons, cells=cells)
