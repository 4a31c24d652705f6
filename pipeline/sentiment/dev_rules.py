"""Round 7 of issue 8: decision rules on a model's weights, judged on the dev part only.

    python -m pipeline.sentiment.dev_rules [MODEL.json] [--grid]

prints one JSON line per variant of model.EvidenceRule (R1: all texts, R2: <= 40 words, with
cap and min_against) and of R3 (the intercepts' pos-vs-neg share capped for every text, i.e.
a bias change): the DBRD dev cells (pos-vs-neg accuracy, negative recall, pos->neg), the
gold train split's gold figures (in-sample: a proxy, the rule changes no weight), and the
dev analogue of the promotion gate against the shipped model without a rule
(`promotion.judge_real_text` on dev + `promotion.judge_gold` on gold train). The eval parts
and the gold test split are never read.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

from . import promotion
from .corpus import load_gold
from .evaluate import evaluate
from .model import SHIPPED_MODEL, LinearScorer
from .realtext import load_parts, report

CELLS = ("dbrd/short", "dbrd/long")
GOLD = promotion.GOLD_KEYS


def gold_summary(m: dict) -> dict:
    pvn, vn = m["pos_vs_neg"], m["very_negative"]
    return {
        "macro_f1": m["macro_f1"],
        "pos_vs_neg_accuracy": pvn["accuracy"],
        "neg_recall": pvn["neg_recall"],
        "very_negative_recall": vn["recall"],
        "very_negative_precision": vn["precision"],
    }


def with_r3(model: dict, cap: float) -> dict:
    """R3: the intercepts' pos-vs-neg share of short and of long texts capped at +-cap."""
    m = copy.deepcopy(model)
    b, th = m["intercepts"], m["thresholds"]
    short = b[2] - b[0]
    long_ = short - th.get("neg_offset_long", 0.0)
    s2, l2 = (max(-cap, min(cap, x)) for x in (short, long_))
    b[0] += (short - s2) / 2
    b[2] -= (short - s2) / 2
    th["neg_offset_long"] = s2 - l2
    return m


# Round 7's (cap, min_against) pairs; --grid (round 8) adds every pair of these two lists.
PAIRS = ((0.0, 0.0), (0.0, 0.1), (0.0, 0.2), (0.1, 0.0), (0.2, 0.0), (0.3, 0.0))
GRID_CAPS = (0.0, 0.1, 0.2, 0.3, 0.4)
GRID_MIN_AGAINST = (0.0, 0.1, 0.2, 0.3, 0.5)


def variants(model: dict, grid: bool = False) -> list[tuple[str, dict]]:
    out = [("no rule", model)]
    pairs = [(c, e) for c in GRID_CAPS for e in GRID_MIN_AGAINST] if grid else PAIRS
    for max_words, tag in ((0, "R1"), (40, "R2")):
        for cap, eps in pairs:
            m = copy.deepcopy(model)
            m["evidence_rule"] = {"cap": cap, "max_words": max_words, "min_against": eps}
            out.append((f"{tag} cap={cap} min_against={eps}", m))
    for cap in (0.0, 0.1, 0.2, 0.3):
        out.append((f"R3 cap={cap}", with_r3(model, cap)))
    return out


def margin(cells: dict) -> float:
    """Smallest margin to the issue's targets over the dev cells (train._margin's rule)."""
    return min(
        min(c["pos_vs_neg_accuracy"] - 0.85, c["neg_recall"] - 0.85, 0.10 - c["pos_to_neg_error"])
        for c in cells.values()
    )


def compare(model: dict, reference: dict | None = None, grid: bool = False) -> list[dict]:
    """Rows for the variants of `model`, each judged against `reference` (default: the
    shipped model without a rule)."""
    dev = [e for e in load_parts()["dev"] if e.source in promotion.OPINION_SOURCES]
    gold_train, _ = load_gold()
    if not dev:
        raise SystemExit("no DBRD dev part: run scripts/fetch-sentiment-data.sh")
    base = LinearScorer(reference or json.loads(SHIPPED_MODEL.read_text("utf-8")))
    ref = report(base, dev), gold_summary(evaluate(base, gold_train))
    rows = []
    for name, m in variants(model, grid):
        s = LinearScorer(m)
        rep, gold = report(s, dev), gold_summary(evaluate(s, gold_train))
        _, why = promotion.judge_real_text(ref[0], rep)
        why += promotion.judge_gold(ref[1], gold)
        keys = ("pos_vs_neg_accuracy", "neg_recall", "pos_to_neg_error")
        cells = {c: {k: rep["by_source"][c][k] for k in keys} for c in CELLS}
        rows.append(
            {
                "variant": name,
                "dev": cells,
                "dev_margin": round(margin(cells), 4),
                "gold_train": gold,
                "dev_gate": why or "pass",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    grid = "--grid" in argv
    argv = [a for a in argv if a != "--grid"]
    path = Path(argv[0]) if argv else SHIPPED_MODEL
    for row in compare(json.loads(path.read_text("utf-8")), grid=grid):
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
