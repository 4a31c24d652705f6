"""The embedded process's young-generation threshold (pipeline/gc_tuning.py)."""

from __future__ import annotations

import gc

from pipeline.gc_tuning import YOUNG_THRESHOLD, raise_young_threshold


def test_raises_the_young_threshold_only_and_never_lowers_or_enables() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert raise_young_threshold() == (700, 10, 10)
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        gc.set_threshold(YOUNG_THRESHOLD * 2, 5, 5)
        raise_young_threshold()
        assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, 5, 5)
        gc.set_threshold(0, 10, 10)  # the collector switched off stays off
        raise_young_threshold()
        assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*saved)
