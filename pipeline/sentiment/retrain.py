"""Learning from the organisation's own feedback: retrain, evaluate, promote only if not worse.

Weak labels come from the warehouse: comments whose scores are extreme (NPS 0-3 and/or
rapportcijfer 1-3 -> neg; NPS 9-10 and/or rapportcijfer 9-10 -> pos; every score given
must agree). They are added to the gold training split with half weight. Caseworkers'
corrections ("sentiment klopt niet", table sentiment_corrections) are added with full
weight, and override a weak label for the same text. The real-text train part is added as
for the shipped model (see train.realtext_extra), and its dev part chooses the thresholds.
The candidate and the current model are judged on the held-out gold split AND on the
real-text evaluation part, per opinion source and length cell, with the shipped model as
a second reference there (promotion.py; when the data is absent that is logged and
reported, and gold alone decides), never on the labels they were trained on.
Model files are versioned in <data-dir>/models/<version>.json; promoted.json points at the
current one and keeps the history.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .corpus import CORPUS_DIR, load_gold, text_key
from .evaluate import evaluate
from .model import PROMOTED_FILE, SHIPPED_MODEL, LinearScorer, promoted_model_path
from .promotion import judge
from .realtext import load_parts
from .realtext import report as report_realtext
from .text import Analyser

log = logging.getLogger(__name__)

# (comment, nps 0-10 or None, rapportcijfer 1-10 or None)
WeakLabelSource = Callable[[], Iterable[tuple[str, int | None, int | None]]]
# (scrubbed comment, label_to neg|neu|pos), oldest first
CorrectionSource = Callable[[], Iterable[tuple[str, str]]]
MIN_WORDS = 3
WEAK_WEIGHT = 0.5
CORRECTION_WEIGHT = 1.0
GATE_RULE = (
    "gold not worse (macro-F1, pos-vs-neg, neg recall, very_negative recall and precision); "
    "per opinion source and length cell of the real-text eval part, pos-vs-neg, neg recall and "
    "pos->neg worse by at most max(1, 0.5 %) texts than the best of the current and the "
    "shipped model, and met targets stay met; a missing opinion cell refuses; real-text "
    "very_negative precision stays >= 0.90 (pipeline/sentiment/promotion.py)"
)


def weak_label(nps: int | None, cijfer: int | None) -> str | None:
    """neg/pos when every score given is extreme in the same direction, else None."""
    votes = set()
    if nps is not None:
        votes.add("neg" if nps <= 3 else "pos" if nps >= 9 else "mid")
    if cijfer is not None:
        votes.add("neg" if cijfer <= 3 else "pos" if cijfer >= 9 else "mid")
    return votes.pop() if len(votes) == 1 and "mid" not in votes else None


def collect_weak_labels(
    source: WeakLabelSource, exclude: Iterable[str] = (), limit: int = 20000
) -> list[tuple[str, str]]:
    """Dutch comments with extreme scores, deduplicated, minus any gold text."""
    seen = {text_key(t) for t in exclude}
    analyser = Analyser()
    out: list[tuple[str, str]] = []
    for comment, nps, cijfer in source():
        if not isinstance(comment, str):
            continue
        label = weak_label(nps, cijfer)
        key = text_key(comment)
        if label is None or key in seen or len(key.split()) < MIN_WORDS:
            continue
        seen.add(key)
        if analyser.language(analyser.tokens(comment)) != "nld":
            continue
        out.append((comment, label))
        if len(out) >= limit:
            break
    return out


def collect_corrections(
    source: CorrectionSource, exclude: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The latest correction per text (by text key), minus gold and real-text eval texts."""
    banned = {text_key(t) for t in exclude}
    latest: dict[str, tuple[str, str]] = {}
    for text, label in source():
        if not isinstance(text, str) or label not in ("neg", "neu", "pos"):
            continue
        key = text_key(text)
        if key and key not in banned:
            latest[key] = (text, label)
    return list(latest.values())


def _realtext_summary(m: dict) -> dict:
    return {
        "n": m["pos_vs_neg"]["n"],
        "pos_vs_neg_accuracy_by_score_sign": m["pos_vs_neg"]["accuracy_by_score_sign"],
        "neg_recall": m["pos_vs_neg"]["neg_recall"],
        "pos_recall": m["pos_vs_neg"]["pos_recall"],
    }


def _summary(m: dict) -> dict:
    return {
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "pos_vs_neg_accuracy": m["pos_vs_neg"]["accuracy"],
        "neg_recall": m["pos_vs_neg"]["neg_recall"],
        "very_negative_recall": m["very_negative"]["recall"],
        "very_negative_precision": m["very_negative"]["precision"],
    }


def retrain(
    data_dir: Path,
    source: WeakLabelSource | None,
    *,
    corrections: CorrectionSource | None = None,
    corpus_dir: Path = CORPUS_DIR,
    realtext_dir: Path | None = None,
) -> dict:
    """Build a candidate, compare it with the current model, promote when not worse."""
    from .train import fit, realtext_extra, save  # sklearn is needed here only

    models_dir = Path(data_dir) / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    train, test = load_gold(corpus_dir)
    if not train or not test:
        raise ValueError(f"no gold corpus found in {corpus_dir}")
    parts = load_parts(realtext_dir)
    rt_train, rt_dev, rt_eval = parts["train"], parts["dev"], parts["eval"]
    held_out = [e.text for e in train + test + rt_dev + rt_eval]
    fixed = collect_corrections(corrections, held_out) if corrections is not None else []
    weak = collect_weak_labels(source, held_out + [t for t, _ in fixed]) if source else []
    extra = [(t, lab, WEAK_WEIGHT) for t, lab in weak]
    extra += [(t, lab, CORRECTION_WEIGHT) for t, lab in fixed]
    extra += realtext_extra(rt_train)
    candidate = fit(
        train,
        extra=extra,
        dev=rt_dev,
        note=(
            f"retrain: gold train split + {len(weak)} weak labels + {len(fixed)} corrections"
            f" + {len(rt_train)} real-text train"
        ),
    )
    current_path = promoted_model_path(models_dir) or SHIPPED_MODEL
    current = LinearScorer.from_file(current_path)
    cand_scorer = LinearScorer(candidate)
    m_cur = _summary(evaluate(current, test))
    m_cand = _summary(evaluate(cand_scorer, test))
    if rt_eval:
        # The gate judges every opinion cell (promotion.py); the pooled figure is reported.
        full_cur, full_cand = (
            report_realtext(current, rt_eval),
            report_realtext(cand_scorer, rt_eval),
        )
        r_cur = _realtext_summary(evaluate(current, rt_eval))
        r_cand = _realtext_summary(evaluate(cand_scorer, rt_eval))
        full_shipped = _shipped_report(current_path, rt_eval)
        verdict = judge(m_cur, m_cand, full_cur, full_cand, full_shipped)
    else:
        log.warning("real-text evaluation data absent: judging the candidate on gold only")
        r_cur = r_cand = None
        verdict = judge(m_cur, m_cand)
    promote = verdict.promote
    candidate["evaluation"] = {
        "held_out_gold": m_cand,
        "n_test": len(test),
        "real_text_eval": r_cand,
    }
    path = save(candidate, models_dir / f"{candidate['version']}.json")
    report = {
        "candidate": {
            "version": candidate["version"],
            "file": str(path),
            **m_cand,
            "real_text_eval": r_cand,
        },
        "current": {
            "version": current.version,
            "file": str(current_path),
            **m_cur,
            "real_text_eval": r_cur,
        },
        "weak_labels": {
            "used": len(weak),
            "neg": sum(1 for _, lab in weak if lab == "neg"),
            "pos": sum(1 for _, lab in weak if lab == "pos"),
        },
        "corrections": {"used": len(fixed)},
        "gold": {"train": len(train), "test": len(test)},
        "real_text": {
            "available": bool(rt_eval),
            "train": len(rt_train),
            "dev": len(rt_dev),
            "eval": len(rt_eval),
        },
        "promoted": promote,
        "gate": {"rule": GATE_RULE, "reasons": verdict.reasons, "cells": verdict.cells},
    }
    if not rt_eval:
        report["real_text"]["note"] = (
            "real-text data absent (scripts/fetch-sentiment-data.sh): judged on gold only"
        )
    if promote:
        _promote(models_dir, candidate, path, current.version, m_cand, r_cand)
        report["reason"] = "candidate is not worse than the current model on held-out gold" + (
            " and on every real-text opinion cell" if rt_eval else " (real-text data absent)"
        )
    else:
        report["reason"] = "candidate is worse than the current model: " + "; ".join(
            verdict.reasons
        )
    return report


def _shipped_report(current_path: Path, rt_eval: list) -> dict | None:
    """The shipped model's real-text report on this eval part, when it is not the current
    model: the gate's tolerance is measured against it too, so repeated promotions cannot
    drift away from it one tolerance at a time."""
    if Path(current_path).resolve() == Path(SHIPPED_MODEL).resolve():
        return None
    return report_realtext(LinearScorer.from_file(SHIPPED_MODEL), rt_eval)


def _promote(
    models_dir: Path, candidate: dict, path: Path, replaced: str, m_gold: dict, m_real: dict | None
) -> None:
    pointer = models_dir / PROMOTED_FILE
    try:
        history = json.loads(pointer.read_text("utf-8")).get("history", [])
    except (OSError, ValueError, AttributeError):
        history = []
    entry = {
        "version": candidate["version"],
        "file": path.name,
        "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "replaced": replaced,
        "held_out_gold": m_gold,
        "real_text_eval": m_real,
    }
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps({"current": entry, "history": [*history, entry]}, indent=1), "utf-8")
    tmp.replace(pointer)
