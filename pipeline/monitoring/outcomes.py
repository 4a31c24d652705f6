"""Which outcomes the monitor watches, and how a contact or a signal turns into them.

Every metric is the share of a bad outcome in a Bernoulli stream per (dienst, kanaal):

- aandeel-detractors: answers with an NPS score, bad = NPS 0..6;
- aandeel-negatief: answers with a comment, bad = sentiment label "neg";
- aandeel-contact-niet-gelukt: contacts, bad = indicatieContactGelukt false;
- aandeel-slecht: page feedback, bad = "slecht" (kanaal "website");
- aandeel-niet-beantwoord: invitations, bad = not answered within the response window.
  Whether an invitation is answered is known only later, so an invitation observation
  opens a pending invitation in its cell and an answer closes it (pipeline/monitoring/
  response.py); the outcome reaches the chart when it is decided.

"Contact success" is aandeel-contact-niet-gelukt (the channel's indicatieContactGelukt).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.fastinit import fast_init
from schemas.models import Contact, Dienst, Invitation, Signal

DETRACTORS = "aandeel-detractors"
NEGATIVE_COMMENTS = "aandeel-negatief"
CONTACT_FAILED = "aandeel-contact-niet-gelukt"
PAGE_BAD = "aandeel-slecht"
NOT_ANSWERED = "aandeel-niet-beantwoord"
METRICS: tuple[str, ...] = (DETRACTORS, NEGATIVE_COMMENTS, CONTACT_FAILED, PAGE_BAD, NOT_ANSWERED)

METRIC_NAMES_NL = {
    DETRACTORS: "aandeel criticasters (NPS 0-6)",
    NEGATIVE_COMMENTS: "aandeel negatieve opmerkingen",
    CONTACT_FAILED: "aandeel contacten niet gelukt",
    PAGE_BAD: "aandeel 'slecht' op de website",
    NOT_ANSWERED: "aandeel uitnodigingen zonder antwoord",
}

WEBSITE = "website"  # the kanaal of page feedback
NO_SERVICE = Dienst(code="zonder-dienst", naam="Website zonder dienst")
MAX_COMMENT = 300


@fast_init  # one __dict__ update, not a setattr per field
@dataclass(frozen=True)
class Outcomes:
    dienst: Dienst
    kanaal: str
    at: str
    bad: dict[str, bool]
    comment: str | None = None
    invited: str | None = None  # contactId of a new invitation (response rate)
    answered: str | None = None  # contactId this answer belongs to (response rate)

    @property
    def cell(self) -> str:
        return cell_key(self.dienst.code, self.kanaal)


def cell_key(dienst_code: str, kanaal: str) -> str:
    return f"{dienst_code}|{kanaal}"


def from_contact(contact: Contact) -> Outcomes:
    return Outcomes(
        contact.dienst,
        contact.kanaal,
        contact.plaatsgevonden_op,
        {CONTACT_FAILED: not contact.indicatie_contact_gelukt},
    )


def from_invitation(invitation: Invitation) -> Outcomes:
    return Outcomes(
        invitation.dienst,
        invitation.kanaal,
        invitation.created_at,
        {},
        invited=invitation.contact_id,
    )


def from_signal(signal: Signal) -> Outcomes | None:
    """None when the signal says nothing the monitor watches (no score, no comment)."""
    bad: dict[str, bool] = {}
    if signal.bron == "page-feedback":
        if signal.beoordeling is None:
            return None
        bad[PAGE_BAD] = signal.beoordeling == "slecht"
        dienst, kanaal = signal.dienst or NO_SERVICE, WEBSITE
    else:
        if signal.dienst is None or not signal.kanaal:
            return None
        if signal.nps is not None:
            bad[DETRACTORS] = signal.nps <= 6
        if signal.opmerking:
            bad[NEGATIVE_COMMENTS] = signal.sentiment.label == "neg"
        dienst, kanaal = signal.dienst, signal.kanaal
    answered = signal.contact_id if signal.bron == "response" else None
    if not bad and not answered:
        return None
    comment = signal.opmerking[:MAX_COMMENT] if signal.opmerking and any(bad.values()) else None
    return Outcomes(dienst, kanaal, signal.ontvangen_op, bad, comment, answered=answered)
