"""Dutch sentiment for citizen comments: the interface the pipeline uses.

`lexicon_scorer()` is the lexicon-only baseline; `load_scorer()` the default: the newest
promoted model in `model_dir` (retrained versions, e.g. <data-dir>/models), else the model
shipped in this package, else the lexicon scorer. No network, no nltk data downloads.
"""

from __future__ import annotations

from pathlib import Path

from .result import LABELS, Scorer, SentimentResult

__all__ = ["LABELS", "Scorer", "SentimentResult", "lexicon_scorer", "load_scorer"]


def lexicon_scorer() -> Scorer:
    from .lexicon import LexiconScorer

    return LexiconScorer()


def load_scorer(model_dir: Path | None = None) -> Scorer:
    from .model import load_model_scorer

    scorer = load_model_scorer(model_dir)
    return scorer if scorer is not None else lexicon_scorer()
