"""scrub_repeated: the same result as scrub, and only texts scrub left alone are kept."""

from __future__ import annotations

import pytest

from pipeline import privacy
from pipeline.privacy import scrub, scrub_repeated


@pytest.fixture(autouse=True)
def _empty_memory() -> None:
    privacy._ALREADY_CLEAN.clear()


TEXTS = [
    "Paspoort aanvragen",
    "Vraag over BSN 123456782",
    "Mijn naam is Jan de Vries, bel 06-12345678",
    "Verhuizing doorgeven per 1 mei",
    "geboren 12-03-1980",
]


def test_same_result_as_scrub_also_the_second_time() -> None:
    for _ in range(2):
        assert [scrub_repeated(t) for t in TEXTS] == [scrub(t) for t in TEXTS]


def test_only_texts_without_anything_to_replace_are_remembered() -> None:
    for text in TEXTS:
        scrub_repeated(text)
    kept = set(privacy._ALREADY_CLEAN)
    assert kept == {t for t in TEXTS if scrub(t) == t}
    assert not any("123456782" in t or "Vries" in t or "1980" in t for t in kept)


def test_a_remembered_text_is_checked_again_in_another_year(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scrub_repeated("Paspoort aanvragen")
    calls: list[str] = []
    monkeypatch.setattr(privacy, "scrub", lambda t: calls.append(t) or t)
    scrub_repeated("Paspoort aanvragen")
    assert calls == []  # remembered this year
    privacy._ALREADY_CLEAN["Paspoort aanvragen"] -= 1  # as if checked last year
    scrub_repeated("Paspoort aanvragen")
    assert calls == ["Paspoort aanvragen"]


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privacy, "_ALREADY_CLEAN_MAX", 10)
    for i in range(25):
        scrub_repeated(f"onderwerp {i}")
    assert len(privacy._ALREADY_CLEAN) <= 10
