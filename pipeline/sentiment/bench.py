"""Sentiment benchmark: the learned model against the lexicon-only baseline, same run.

Figures: batched comments/s (best of 5 passes over n comments, after one warm-up pass:
a service runs warm, with its stem memo filled), single-comment latency p50/p99 in ms,
model load seconds (cold, a fresh analyser) and the model's memory (tracemalloc), and the
model/lexicon ratios. Pinned to one core where the OS allows it.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from collections.abc import Callable, Sequence

from . import lexicon_scorer, load_scorer
from .corpus import load_dev, load_gold
from .result import Scorer

# Used when the repo's corpus is not there (an installed wheel ships no corpus).
_FALLBACK = (
    "Drie keer doorverwezen en niemand wist het",
    "Top geholpen door de medewerker!",
    "Nou, lekker snel weer... zes weken",
    "geen enkel probleem",
    "niet slecht",
    "Aardige mevrouw aan de telefoon, maar ze kon me niks vertellen over de status.",
    "Ik heb mijn verhuizing online doorgegeven.",
    "Gelukt in 1 keer 👍",
    "IK BEN AL 3 MAANDEN NIET INGESCHREVEN EN KRIJG GEEN HUURTOESLAG!!!",
    "De medewerker aan het loket heeft mij correct en vriendelijk geholpen bij de inschrijving.",
)


def sample_texts(n: int) -> list[str]:
    try:
        train, test = load_gold()
        texts = [e.text for e in train + test + load_dev()]
    except (OSError, ValueError):
        texts = []
    texts = texts or list(_FALLBACK)
    return [texts[i % len(texts)] for i in range(n)]


def _batched(scorer: Scorer, texts: Sequence[str]) -> tuple[float, float]:
    """(comments/s by the wall clock, comments/s of this process's CPU time), best of 5.
    Both are given because this machine is shared: the CPU figure is what one core does
    when it is not also running someone else's work."""
    scorer.score_batch(texts)  # warm-up
    wall = cpu = float("inf")
    for _ in range(5):
        w0, c0 = time.perf_counter(), time.process_time()
        scorer.score_batch(texts)
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return len(texts) / wall, len(texts) / max(cpu, 1e-9)


def _single(scorer: Scorer, texts: Sequence[str]) -> dict[str, float]:
    score = scorer.score
    clock = time.perf_counter_ns
    lat: list[int] = []
    gc.collect()
    for t in texts:
        t0 = clock()
        score(t)
        lat.append(clock() - t0)
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6, 4)

    return {"p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(lat[-1] / 1e6, 3)}


def _load(factory: Callable[[], Scorer]) -> tuple[Scorer, float, float]:
    t0 = time.perf_counter()
    scorer = factory()
    seconds = time.perf_counter() - t0
    gc.collect()
    tracemalloc.start()
    again = factory()
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del again
    return scorer, round(seconds, 4), round(current / 2**20, 2)


def run(n: int = 20000) -> dict:
    pinned = None
    if hasattr(os, "sched_getaffinity"):
        pinned = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(pinned)})
    try:
        texts = sample_texts(n)
        single = texts[: min(len(texts), 5000)]
        model, model_load_s, model_mb = _load(load_scorer)
        lexicon, lex_load_s, lex_mb = _load(lexicon_scorer)
        out: dict = {"n": n, "mean_words": round(sum(len(t.split()) for t in texts) / n, 1)}
        for name, scorer, load_s, mb in (
            ("lexicon", lexicon, lex_load_s, lex_mb),
            ("model", model, model_load_s, model_mb),
        ):
            per_s, cpu_per_s = _batched(scorer, texts)
            out[name] = {
                "version": scorer.version,
                "batched_per_s": round(per_s),
                "batched_per_cpu_s": round(cpu_per_s),
                **_single(scorer, single),
                "load_s": load_s,
                "memory_mb": mb,
            }
        out["ratio_model_vs_lexicon"] = {
            "batched_per_s": round(out["model"]["batched_per_s"]
                                   / out["lexicon"]["batched_per_s"], 3),
            "p99_ms": round(out["model"]["p99_ms"] / max(out["lexicon"]["p99_ms"], 1e-9), 3),
        }
        return out
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, pinned)


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20000), indent=2))
