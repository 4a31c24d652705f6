"""Ports of the citizen pages (producers/questionnaire.py, producers/page_feedback.py).

The questionnaire reads invitations and earlier answers from a read model and keeps a
callback number or address in dispatch's address book; both live in consumers/, so the
producers see them only through these protocols (wired in pipeline/app.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class InvitationView:
    invitation_id: str
    contact_id: str
    klant: str
    dienst_naam: str | None
    expires_at: datetime | None  # aware, UTC
    taal: str | None = None  # the contact's language (ISO 639-2/B), when known


@dataclass(frozen=True)
class PreviousAnswers:
    """The latest stored revision of a response, to show and change within the window."""

    response_id: str
    revisie: int
    first_answered_at: datetime  # aware, UTC: the change window counts from here
    values: dict[str, str] = field(default_factory=dict)  # form field -> value


class QuestionnaireReads(Protocol):
    def invitation(self, token: str) -> InvitationView | None: ...

    def previous_answers(self, invitation_id: str) -> PreviousAnswers | None: ...


class CallbackBook(Protocol):
    """Where a citizen's callback phone number or e-mail address is kept (dispatch's database)."""

    def remember_callback(
        self, response_id: str, klant: str, contact_id: str, via: str, address: str
    ) -> None: ...

    def forget_callback(self, response_id: str) -> None: ...
