"""A klant's recent contacts across channels, and whether they show being sent around.

The join stage keeps each klant's contacts as state; from it, every response's signal carries
the contacts of the last days (`contacthistorie`), so the alerting stage needs no state of
its own. Plain domain code: no transport, no database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.times import parse_time
from schemas.fastinit import fast_init

HISTORY_DAYS = 30


@fast_init  # one __dict__ update, not a setattr per field (several per signal)
@dataclass(frozen=True)
class ContactMoment:
    plaatsgevonden_op: str
    kanaal: str
    dienst: Mapping[str, str] | None
    team: str | None
    gelukt: bool | None
    contact_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"plaatsgevondenOp": self.plaatsgevonden_op, "kanaal": self.kanaal}
        if self.contact_id is not None:
            out["contactId"] = self.contact_id
        if self.dienst is not None:
            out["dienst"] = dict(self.dienst)
        if self.team is not None:
            out["team"] = self.team
        out["gelukt"] = self.gelukt
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ContactMoment:
        return cls(
            plaatsgevonden_op=raw["plaatsgevondenOp"],
            kanaal=raw["kanaal"],
            dienst=raw.get("dienst"),
            team=raw.get("team"),
            gelukt=raw.get("gelukt"),
            contact_id=raw.get("contactId"),
        )

    @property
    def at(self) -> datetime:
        return parse_time(self.plaatsgevonden_op)

    @property
    def dienst_code(self) -> str | None:
        return self.dienst.get("code") if self.dienst else None


def recent_contacts(
    known: Mapping[str, Mapping[str, Any]], until: datetime, days: int = HISTORY_DAYS
) -> list[ContactMoment]:
    """The contacts in state (contactId -> stored context) of the `days` before `until`."""
    since = until - timedelta(days=days)
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
    # Each contact's time parsed once (`at` parses on every read: the filter and the sort
    # read it twice each); the same moments in the same (stable) order as sorted(..., key=at).
    dated = [(at, m) for m in moments if since <= (at := m.at) <= until]
    dated.sort(key=_first)
    return [m for _, m in dated]


def _first(pair: tuple[datetime, ContactMoment]) -> datetime:
    return pair[0]


@dataclass(frozen=True)
class RepeatContactRule:
    """When the contacts say the citizen was sent around ("van het kastje naar de muur")."""

    window_days: int = 30
    same_service_min: int = 3
    channels_min: int = 2
    channels_window_days: int = 14
    standalone: bool = False  # True: this alone makes an alert
    reason_service: str = (
        "van het kastje naar de muur: {aantal} contacten over {dienst} in {dagen} dagen"
    )
    reason_channels: str = (
        "van het kastje naar de muur: contact via {aantal} kanalen ({kanalen}) in {dagen} dagen"
    )

    def reasons(self, history: Sequence[ContactMoment], until: datetime) -> list[str]:
        out: list[str] = []
        recent = _within(history, until, self.window_days)
        per_service = Counter(m.dienst_code for m in recent if m.dienst_code)
        if per_service and self.same_service_min > 0:
            code, count = per_service.most_common(1)[0]
            if count >= self.same_service_min:
                first = next(m for m in recent if m.dienst_code == code)
                naam = (first.dienst or {}).get("naam", code)
                out.append(
                    self.reason_service.format(aantal=count, dienst=naam, dagen=self.window_days)
                )
        channels = _distinct(m.kanaal for m in _within(history, until, self.channels_window_days))
        if self.channels_min > 0 and len(channels) >= self.channels_min:
            out.append(
                self.reason_channels.format(
                    aantal=len(channels),
                    kanalen=", ".join(channels),
                    dagen=self.channels_window_days,
                )
            )
        return out


def _within(history: Iterable[ContactMoment], until: datetime, days: int) -> list[ContactMoment]:
    since = until - timedelta(days=days)
    return [m for m in history if since <= m.at <= until]


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


__all__ = ["HISTORY_DAYS", "ContactMoment", "RepeatContactRule", "recent_contacts"]
