"""recent_contacts parses each contact's time once: the same moments, in the same order
(ties in their stored order), as the filter and sort on `ContactMoment.at` that parsed
each time up to four times."""

from __future__ import annotations

import random
from datetime import timedelta

from pipeline.contacthistory import HISTORY_DAYS, ContactMoment, recent_contacts
from pipeline.times import parse_time


def _reference(known: dict, until):  # the definition before: sorted on `at`, parsed each read
    since = until - timedelta(days=HISTORY_DAYS)
    moments = [
        ContactMoment(
            plaatsgevonden_op=raw["plaatsgevondenOp"],
            kanaal=raw["kanaal"],
            dienst=raw.get("dienst"),
            team=raw.get("team"),
            gelukt=raw.get("gelukt"),
            contact_id=contact_id,
        )
        for contact_id, raw in known.items()
    ]
    return sorted((m for m in moments if since <= m.at <= until), key=lambda m: m.at)


def test_recent_contacts_as_the_sort_on_at() -> None:
    rng = random.Random(7)
    times = [
        "2026-11-30T09:00:00Z",
        "2026-11-30T10:00:00+01:00",  # the same moment as the one above: a tie
        "2026-11-30T09:00:00",  # naive: UTC, a tie again
        "2026-11-01T00:00:00Z",  # 29 days 9 hours before until
        "2026-10-31T09:00:00Z",  # exactly 30 days before: in
        "2026-10-31T08:59:59Z",  # just out
        "2026-11-30T12:00:00.500Z",  # exactly until: in
        "2026-11-30T12:00:01Z",  # after until: out
        "2026-11-15T08:30:00-05:00",
    ]
    until = parse_time("2026-11-30T12:00:00.500Z")
    for _ in range(200):
        chosen = rng.choices(times, k=rng.randint(0, 12))
        known = {
            f"c-{i}": {
                "plaatsgevondenOp": at,
                "kanaal": rng.choice(["telefoon", "balie", "e-mail"]),
                "dienst": {"code": "d", "naam": "D"},
                "team": "KCC",
                "gelukt": rng.choice([True, False, None]),
            }
            for i, at in enumerate(chosen)
        }
        got = recent_contacts(known, until)
        want = _reference(known, until)
        assert got == want
        assert [m.contact_id for m in got] == [m.contact_id for m in want]
