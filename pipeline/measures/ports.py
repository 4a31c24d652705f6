"""The read-model port of the measures: what they need from the warehouse, transport-free.

The adapter (consumers/measures_read.py) answers with SQL; tests or other stores may too.
`group` is the value of the dimension asked for (kanaal, dienst code or team).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Dimension = Literal["kanaal", "dienst", "team"]


@dataclass(frozen=True)
class AnswerRow:
    """One answered questionnaire (a response joined with its contact)."""

    group: str
    at: datetime
    nps: int | None
    ces: int | None
    ces_schaal: int | None
    rapportcijfer: int | None


@dataclass(frozen=True)
class InvitationRow:
    group: str
    at: datetime
    answered: bool


@dataclass(frozen=True)
class ContactRow:
    group: str
    at: datetime
    klant: str  # pseudonym, only to find repeat contacts; never leaves the domain
    dienst: str


@dataclass(frozen=True)
class PageFeedbackRow:
    group: str
    at: datetime
    beoordeling: str


@dataclass(frozen=True)
class AlertRow:
    """One follow-up alert with the moments its handling is measured by (all aware, UTC)."""

    group: str
    created: datetime  # aangemaaktOp of the alert
    due: datetime | None  # uiterlijkOp from the alert policy (None: an alert without one)
    callback_wanted: bool  # the citizen consented to be called back (terugbelToestemming)
    first_attempt: datetime | None  # first callback attempt (handeling terugbelpoging)
    handled: datetime | None  # first change to status afgehandeld


class MeasuresReadModel(Protocol):
    def answers(self, by: Dimension) -> Iterable[AnswerRow]: ...

    def invitations(self, by: Dimension) -> Iterable[InvitationRow]: ...

    def contacts(self, by: Dimension) -> Iterable[ContactRow]: ...

    def page_feedback(self, by: Dimension) -> Iterable[PageFeedbackRow]: ...

    def alerts(self, by: Dimension) -> Iterable[AlertRow]: ...
