"""The edge's memo of scrubbed vocabulary fields (producers/scrub_memo.py): the same result
as the scrubber itself, first time and from the memo, and no raw text kept in memory."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.privacy import scrub_bounded
from producers.scrub_memo import MAX_TEXT, ScrubMemo

CASES = [
    "KCC",
    "Burgerzaken",
    "Paspoort aanvragen",
    "Terugbelverzoek van mevrouw Jansen",
    "Mijn naam is Piet de Vries",
    "mail p.devries@example.nl of bel 06-12345678",
    "bsn 123456782 graag",
    "geboren op 12-03-1961",
    "Kerkstraat 12, 1234 AB Utrecht",
    "NL91ABNA0417164300",
    "x" * MAX_TEXT,
    "y" * (MAX_TEXT + 1),
    "Team [naam]",
]


def test_same_as_the_scrubber_and_no_raw_text_kept() -> None:
    memo = ScrubMemo()
    for _round in range(2):  # the first time scrubbed, the second from the memo
        for text in CASES:
            for limit in (100, 200, 12):
                assert memo.scrub(text, limit) == scrub_bounded(text, limit)
    held = " ".join(memo.values())
    for secret in ("Jansen", "Piet de Vries", "p.devries", "123456782", "12-03-1961", "0417164300"):
        assert secret not in held
    assert len(memo) == 3 * (len(CASES) - 1)  # the text over MAX_TEXT is never remembered


def test_bounded() -> None:
    memo = ScrubMemo(max_entries=50)
    for i in range(500):
        assert memo.scrub(f"team {i}", 100) == f"team {i}"
        assert len(memo) <= 50


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=4))
def test_any_text_any_order(texts: list[str]) -> None:
    memo = ScrubMemo(max_entries=3)
    for text in texts + texts[::-1]:
        assert memo.scrub(text, 40) == scrub_bounded(text, 40)
