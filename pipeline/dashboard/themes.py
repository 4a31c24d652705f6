"""Top comment themes per service: NMF topics over TF-IDF of scrubbed Dutch comments.

Plain Python (scikit-learn): comments come in through the CommentSource port, themes go
out with 2-3 example comments each. Results are cached per (filters, data version), so a
dashboard reload does not refit while no new comment arrived.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol

from pipeline.measures.compute import MIN_ANSWERS
from pipeline.privacy import scrub
from pipeline.sentiment.lexicon_nl import STOP_NL

# Words that say nothing about a theme in answers to our own questionnaire.
EXTRA_STOP = frozenset(
    [
        "aan",
        "al",
        "alles",
        "als",
        "ben",
        "bij",
        "dan",
        "dat",
        "die",
        "dit",
        "doen",
        "door",
        "een",
        "eens",
        "en",
        "er",
        "geen",
        "had",
        "heb",
        "hebben",
        "heeft",
        "het",
        "hier",
        "hij",
        "hoe",
        "ik",
        "in",
        "is",
        "ja",
        "je",
        "kan",
        "kon",
        "maar",
        "me",
        "meer",
        "met",
        "mij",
        "mijn",
        "na",
        "naar",
        "niet",
        "nog",
        "nou",
        "of",
        "om",
        "ons",
        "ook",
        "op",
        "over",
        "te",
        "toch",
        "tot",
        "u",
        "uw",
        "van",
        "veel",
        "voor",
        "wat",
        "was",
        "we",
        "wel",
        "werd",
        "wij",
        "word",
        "worden",
        "wordt",
        "zal",
        "ze",
        "zeer",
        "zich",
        "zijn",
        "zo",
        "zou",
        "gemeente",
        "keer",
        "gewoon",
        "echt",
        "heel",
        "erg",
        "graag",
        "gaat",
        "ging",
        "kunnen",
        "moet",
        "moest",
        "mocht",
        "weer",
        "even",
        "alleen",
        "nu",
        "al",
    ]
)
STOP_WORDS = sorted(set(STOP_NL) | EXTRA_STOP)
THEMES = 3
TERMS = 5
EXAMPLES = 3
EXAMPLE_CHARS = 300


@dataclass(frozen=True)
class Comment:
    dienst: str
    text: str


@dataclass(frozen=True)
class Theme:
    terms: tuple[str, ...]
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class ServiceThemes:
    dienst: str
    comments: int
    themes: tuple[Theme, ...]  # empty when there are too few comments


class CommentSource(Protocol):
    def comments(self) -> list[Comment]: ...

    def version(self) -> Hashable:
        """Changes whenever the comments the source would return change."""
        ...


def find_themes(texts: list[str], themes: int = THEMES, seed: int = 0) -> tuple[Theme, ...]:
    """Up to `themes` themes, biggest first; none for fewer than MIN_ANSWERS comments."""
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(texts) < MIN_ANSWERS:
        return ()
    vectorizer = TfidfVectorizer(
        stop_words=STOP_WORDS,
        token_pattern=r"(?u)\b[^\W\d_]{3,}\b",
        min_df=2,
        max_df=0.8,
        sublinear_tf=True,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing left after the stop words
        return ()
    k = min(themes, matrix.shape[0] - 1, matrix.shape[1])
    if k < 1:
        return ()
    model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=400)
    weights = model.fit_transform(matrix)
    vocabulary = vectorizer.get_feature_names_out()
    best = weights.argmax(axis=1)
    found = []
    for t in range(k):
        members = [i for i in range(len(texts)) if best[i] == t and weights[i, t] > 0]
        if not members:
            continue
        terms = tuple(str(vocabulary[j]) for j in model.components_[t].argsort()[::-1][:TERMS])
        found.append(Theme(terms, len(members), _examples(texts, members, weights[:, t])))
    return tuple(sorted(found, key=lambda th: -th.count))


def _examples(texts: list[str], members: list[int], weight) -> tuple[str, ...]:  # noqa: ANN001
    seen: list[str] = []
    for i in sorted(members, key=lambda i: -weight[i]):
        text = scrub(texts[i]).strip()
        if text and text not in seen:
            seen.append(text[:EXAMPLE_CHARS] + ("…" if len(text) > EXAMPLE_CHARS else ""))
        if len(seen) == EXAMPLES:
            break
    return tuple(seen)


def themes_per_service(comments: list[Comment], top: int = 8) -> list[ServiceThemes]:
    """The `top` services with the most comments, each with its themes."""
    by_service: dict[str, list[str]] = defaultdict(list)
    for c in comments:
        by_service[c.dienst].append(c.text)
    biggest = sorted(by_service.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:top]
    return [ServiceThemes(d, len(texts), find_themes(texts)) for d, texts in biggest]


class ThemeCache:
    """Themes per (filters, source version); at most `size` entries, least recent dropped."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, list[ServiceThemes]] = OrderedDict()
        self._lock = threading.Lock()

    def themes(self, key: Hashable, source: CommentSource) -> list[ServiceThemes]:
        full_key = (key, source.version())
        with self._lock:
            if full_key in self._entries:
                self._entries.move_to_end(full_key)
                return self._entries[full_key]
        result = themes_per_service(source.comments())
        with self._lock:
            self._entries[full_key] = result
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return result
