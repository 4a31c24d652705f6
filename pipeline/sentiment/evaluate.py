"""Metrics for a scorer on labelled examples (pure Python: usable without sklearn)."""

from __future__ import annotations

from collections.abc import Sequence

from .corpus import Example
from .result import LABELS, Scorer


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def metrics(gold: Sequence[str], pred: Sequence[str]) -> dict:
    """accuracy, macro-F1, per-class precision/recall/F1, confusion (rows gold, cols pred),
    and the pos-vs-neg figures: on gold pos/neg items, the share labelled correctly
    (a "neu" prediction counts as wrong) and the recall on negatives."""
    n = len(gold)
    conf = {g: {p: 0 for p in LABELS} for g in LABELS}
    for g, p in zip(gold, pred, strict=True):
        conf[g][p] += 1
    per_class = {}
    f1s = []
    for c in LABELS:
        tp = conf[c][c]
        predicted = sum(conf[g][c] for g in LABELS)
        actual = sum(conf[c].values())
        prec = tp / predicted if predicted else 0.0
        rec = tp / actual if actual else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[c] = {"precision": round(prec, 4), "recall": round(rec, 4),
                        "f1": round(f1, 4), "support": actual}
        if actual:
            f1s.append(f1)
    correct = sum(conf[c][c] for c in LABELS)
    polar = sum(sum(conf[c].values()) for c in ("neg", "pos"))
    polar_ok = conf["neg"]["neg"] + conf["pos"]["pos"]
    return {
        "n": n,
        "accuracy": _ratio(correct, n),
        "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else None,
        "per_class": per_class,
        "confusion": {"rows_gold_cols_pred": list(LABELS),
                      "matrix": [[conf[g][p] for p in LABELS] for g in LABELS]},
        "pos_vs_neg": {
            "n": polar,
            "accuracy": _ratio(polar_ok, polar),
            "neg_recall": _ratio(conf["neg"]["neg"], sum(conf["neg"].values())),
            "pos_recall": _ratio(conf["pos"]["pos"], sum(conf["pos"].values())),
        },
    }


def evaluate(scorer: Scorer, examples: Sequence[Example]) -> dict:
    """Overall figures plus short/long breakdown and very-negative recall/precision."""
    results = scorer.score_batch([e.text for e in examples])
    gold = [e.label for e in examples]
    pred = [r.label for r in results]
    out = metrics(gold, pred)
    out["scorer"] = scorer.version
    # The lenient reading of pos-vs-neg: the sign of the score (0 counts as wrong).
    polar = [(g, r.score) for g, r in zip(gold, results, strict=True) if g in ("neg", "pos")]
    ok = sum((g == "pos" and s > 0) or (g == "neg" and s < 0) for g, s in polar)
    out["pos_vs_neg"]["accuracy_by_score_sign"] = _ratio(ok, len(polar))
    vn_gold = [e.very_negative for e in examples]
    vn_pred = [r.very_negative for r in results]
    tp = sum(g and p for g, p in zip(vn_gold, vn_pred, strict=True))
    out["very_negative"] = {
        "support": sum(vn_gold),
        "flagged": sum(vn_pred),
        "recall": _ratio(tp, sum(vn_gold)),
        "precision": _ratio(tp, sum(vn_pred)),
    }
    for name, keep in (("short", lambda e: not e.is_long), ("long", lambda e: e.is_long)):
        idx = [i for i, e in enumerate(examples) if keep(e)]
        m = metrics([gold[i] for i in idx], [pred[i] for i in idx])
        out[name] = {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                     "pos_vs_neg": m["pos_vs_neg"]}
    return out
