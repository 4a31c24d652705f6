"""The learned linear model, scored in pure Python (placeholder until the first model ships)."""

from __future__ import annotations

from pathlib import Path

from .result import Scorer


def load_model_scorer(model_dir: Path | None = None) -> Scorer | None:
    return None
