"""Learning from the organisation's own feedback: retrain, evaluate, promote only if not worse.

Weak labels come from the warehouse: comments whose scores are extreme (NPS 0-3 and/or
rapportcijfer 1-3 -> neg; NPS 9-10 and/or rapportcijfer 9-10 -> pos; every score given
must agree). They are added to the gold training split with half weight; the candidate and
the current model are both judged on the held-out gold split, never on weak labels.
Model files are versioned in <data-dir>/models/<version>.json; promoted.json points at the
current one and keeps the history.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .corpus import CORPUS_DIR, load_gold, text_key
from .evaluate import evaluate
from .model import PROMOTED_FILE, SHIPPED_MODEL, LinearScorer, promoted_model_path
from .text import Analyser

# (comment, nps 0-10 or None, rapportcijfer 1-10 or None)
WeakLabelSource = Callable[[], Iterable[tuple[str, int | None, int | None]]]
MIN_WORDS = 3
WEAK_WEIGHT = 0.5


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


def _summary(m: dict) -> dict:
    return {
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "pos_vs_neg_accuracy": m["pos_vs_neg"]["accuracy"],
        "neg_recall": m["pos_vs_neg"]["neg_recall"],
        "very_negative_recall": m["very_negative"]["recall"],
    }


def retrain(
    data_dir: Path,
    source: WeakLabelSource | None,
    *,
    corpus_dir: Path = CORPUS_DIR,
) -> dict:
    """Build a candidate, compare it with the current model, promote when not worse."""
    from .train import fit, save  # sklearn is needed here only

    models_dir = Path(data_dir) / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    train, test = load_gold(corpus_dir)
    if not train or not test:
        raise ValueError(f"no gold corpus found in {corpus_dir}")
    gold_texts = [e.text for e in train + test]
    weak = collect_weak_labels(source, gold_texts) if source is not None else []
    candidate = fit(train, extra=weak, extra_weight=WEAK_WEIGHT,
                    note=f"retrain: gold train split + {len(weak)} weak labels")
    current_path = promoted_model_path(models_dir) or SHIPPED_MODEL
    current = LinearScorer.from_file(current_path)
    m_cur = _summary(evaluate(current, test))
    m_cand = _summary(evaluate(LinearScorer(candidate), test))
    # "Not worse" on the held-out gold split: macro-F1 and the recall on negatives (a
    # missed negative is a citizen nobody calls) must both be at least the current ones.
    promote = (m_cand["macro_f1"] or 0) >= (m_cur["macro_f1"] or 0) and (
        m_cand["neg_recall"] or 0
    ) >= (m_cur["neg_recall"] or 0)
    candidate["evaluation"] = {"held_out_gold": m_cand, "n_test": len(test)}
    path = save(candidate, models_dir / f"{candidate['version']}.json")
    report = {
        "candidate": {"version": candidate["version"], "file": str(path), **m_cand},
        "current": {"version": current.version, "file": str(current_path), **m_cur},
        "weak_labels": {
            "used": len(weak),
            "neg": sum(1 for _, lab in weak if lab == "neg"),
            "pos": sum(1 for _, lab in weak if lab == "pos"),
        },
        "gold": {"train": len(train), "test": len(test)},
        "promoted": promote,
    }
    if promote:
        pointer = models_dir / PROMOTED_FILE
        try:
            history = json.loads(pointer.read_text("utf-8")).get("history", [])
        except (OSError, ValueError, AttributeError):
            history = []
        entry = {
            "version": candidate["version"],
            "file": path.name,
            "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "replaced": current.version,
            "held_out_gold": m_cand,
        }
        tmp = pointer.with_suffix(".tmp")
        tmp.write_text(json.dumps({"current": entry, "history": [*history, entry]}, indent=1),
                       "utf-8")
        tmp.replace(pointer)
        report["reason"] = "candidate is not worse than the current model on held-out gold"
    else:
        report["reason"] = ("candidate is worse than the current model on held-out gold "
                            "(macro-F1 or neg recall); current model kept")
    return report
