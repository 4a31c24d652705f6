"""The questionnaire behind the invitation link, and the opt-out page next to it.

Step 1: CES, NPS and rapportcijfer, each with a comment, and "Mogen we contact met u
opnemen?". Very negative or very positive answers get step 2, the follow-up ("Wat ging er
mis?" / "Wat ging er goed?"), with the step-1 answers carried in hidden fields, so it all
works without JavaScript and one response is published at the end. Within the revision
window the link shows the stored answers again and a new submit is the next revision.
A callback number or address goes to dispatch's database (CallbackBook), never onto a topic.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipeline.citizen_ports import CallbackBook, InvitationView, PreviousAnswers, QuestionnaireReads
from pipeline.ports import Publisher, VisitRecorder
from producers.citizen_pages import CitizenPages
from producers.http_common import BodyTooLarge, read_body
from producers.questionnaire_form import (
    CAUSES,
    Answers,
    FormUnreadable,
    first,
    followup_kind,
    parse_contact,
    parse_followup,
    parse_form,
    parse_scores,
)
from producers.questionnaire_text import texts
from producers.rate_limit import TokenBuckets
from schemas.cloudevents import CloudEvent, derived_id, new_event, utc_now
from schemas.models import OptOut
from schemas.models import Response as SurveyResponse
from schemas.types import OPT_OUT, RESPONSE
from schemas.validation import validate_data

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 100_000  # four comments of 2,000 characters, percent-encoded, fit easily
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
SOURCE = "/klantsignaal/vragenlijst"
LOCAL = ZoneInfo("Europe/Amsterdam")
STEP1_FIELDS = (
    "ces",
    "nps",
    "rapportcijfer",
    "ces_opmerking",
    "nps_opmerking",
    "rapportcijfer_opmerking",
    "contact",
    "telefoon",
    "email",
)


@dataclass
class Guarded:
    invitation: InvitationView
    t: dict[str, str]


@dataclass
class Questionnaire:
    publisher: Publisher
    reads: QuestionnaireReads
    callbacks: CallbackBook | None = None
    ces_scale: int = 5
    revision_minutes: int = 60
    rate_per_link: int = 30
    rate_per_address: int = 60
    visits: VisitRecorder | None = None  # for the response funnel: opened, started
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.pages = CitizenPages()
        self._per_link = TokenBuckets(self.rate_per_link, 600.0)
        self._per_address = TokenBuckets(self.rate_per_address, 60.0)

    def routes(self) -> list[Any]:
        return [
            Route("/q/{token}", self.page, methods=["GET", "POST"]),
            Route("/q/{token}/afmelden", self.opt_out, methods=["GET", "POST"]),
            self.pages.static_mount(),
        ]

    # -- guards: everything that ends in a friendly page and no event ------------------------
    async def _guard(self, request: Request) -> Guarded | Response:
        token = request.path_params["token"]
        t = texts(None, request)
        client = request.client.host if request.client else "-"
        wait = max(self._per_address.take(client), self._per_link.take(token[:64]))
        if wait > 0:
            response = self.pages.message(t, "busy", status=429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        if not TOKEN_SHAPE.fullmatch(token):
            return self.pages.message(t, "bad", status=404)
        invitation = await run_in_threadpool(self.reads.invitation, token)
        if invitation is None:
            return self.pages.message(t, "bad", status=404)
        return Guarded(invitation, texts(invitation.taal, request))

    def _until(self, previous: PreviousAnswers | None) -> datetime:
        start = previous.first_answered_at if previous else self.clock()
        return start + timedelta(minutes=self.revision_minutes)

    def _context(self, request: Request, g: Guarded, **extra: Any) -> dict[str, Any]:
        dienst = g.invitation.dienst_naam or g.t["dienst_onbekend"]
        return {
            "t": g.t,
            "intro": g.t["intro"].format(dienst=dienst),
            "ces_scale": self.ces_scale,
            "optout_url": f"/q/{request.path_params['token']}/afmelden",
            "questionnaire_url": f"/q/{request.path_params['token']}",
            "values": {},
            "errors": [],
            **extra,
        }

    # -- the questionnaire -------------------------------------------------------------------
    async def page(self, request: Request) -> Response:
        g = await self._guard(request)
        if isinstance(g, Response):
            return g
        expires = g.invitation.expires_at
        if expires is not None and expires < self.clock():
            return self.pages.message(g.t, "expired", status=410)
        previous = await run_in_threadpool(self.reads.previous_answers, g.invitation.invitation_id)
        if previous is not None and self.clock() >= self._until(previous):
            return self.pages.message(g.t, "done", status=200 if request.method == "GET" else 409)
        until = _clock_time(self._until(previous)) if previous else None
        context = self._context(request, g, change_until=until)
        if request.method == "GET":
            await self._visit(g.invitation, "opened")
            values = previous.values if previous else {}
            return self.pages.render("questionnaire.html", context | {"values": values})
        try:
            body = await read_body(request, MAX_FORM_BYTES)
        except BodyTooLarge:
            return self.pages.message(g.t, "large", status=413)
        try:
            form = parse_form(body)
        except FormUnreadable:
            return self.pages.message(g.t, "broken", status=400)
        return await self._answer(g, form, previous, context)

    async def _answer(
        self,
        g: Guarded,
        form: dict[str, list[str]],
        previous: PreviousAnswers | None,
        context: dict[str, Any],
    ) -> Response:
        answers = Answers()
        parse_scores(form, self.ces_scale, answers)
        parse_contact(form, answers)
        values = {name: first(form, name) for name in STEP1_FIELDS}
        if answers.scores:
            await self._visit(g.invitation, "started")
        if answers.errors:
            return self._with_errors("questionnaire.html", g, context, values, answers)
        kind = followup_kind(answers.scores, self.ces_scale)
        if kind is not None and first(form, "stap") != "2":
            step2 = context | {"values": values, "kind": kind, "causes": CAUSES[kind]}
            return self.pages.render("followup.html", step2)
        if kind is not None:
            parse_followup(form, kind, answers)
            if answers.errors:
                step2 = context | {"kind": kind, "causes": CAUSES[kind]}
                step2["chosen"] = form.get("oorzaak", [])
                step2["toelichting"] = first(form, "toelichting")
                return self._with_errors("followup.html", g, step2, values, answers)
        stored = await self._publish(g, answers, previous)
        if stored is not None:
            return stored
        until = _clock_time(self._until(previous))
        return self.pages.render(
            "thanks.html", context | {"via": answers.contact_via, "change_until": until}
        )

    async def _visit(self, invitation: InvitationView, stage: str) -> None:
        """Funnel bookkeeping; never worth failing the citizen's page for."""
        if self.visits is None:
            return
        try:
            await run_in_threadpool(self.visits.record_visit, invitation.invitation_id, stage)
        except Exception:
            log.exception("could not record a questionnaire visit (%s)", stage)

    def _with_errors(
        self,
        template: str,
        g: Guarded,
        context: dict[str, Any],
        values: dict[str, str],
        answers: Answers,
    ) -> Response:
        errors = [(e.field, e.message(g.t)) for e in answers.errors]
        page = context | {"values": values, "errors": errors, "invalid": dict(errors)}
        return self.pages.render(template, page, status=422)

    async def _publish(
        self, g: Guarded, answers: Answers, previous: PreviousAnswers | None
    ) -> Response | None:
        """Store the callback address and publish the response; a Response only on failure."""
        invitation = g.invitation
        response_id = derived_id("response", invitation.invitation_id)
        revisie = previous.revisie + 1 if previous else 1
        answered_at = utc_now()
        response = SurveyResponse(
            response_id=response_id,
            invitation_id=invitation.invitation_id,
            contact_id=invitation.contact_id,
            klant=invitation.klant,
            answered_at=answered_at,
            terugbel_toestemming=answers.contact_via is not None,
            revisie=revisie,
            vervolg=answers.vervolg,
            contact_via=answers.contact_via,
            **answers.scores,
        )
        data = response.to_dict()
        problems = validate_data(RESPONSE.name, data)
        if problems:  # a bug, not the citizen's fault; pointers and rules only, no values
            log.error("questionnaire made an invalid response: %s", [p.pointer for p in problems])
            return self.pages.message(g.t, "store", status=500)
        # The first answers keep the id they always had; a revision is a new event.
        event_id = response_id if revisie == 1 else derived_id("response", response_id, answered_at)
        event = new_event(RESPONSE.name, data, source=SOURCE, key=response.klant, event_id=event_id)
        try:
            await run_in_threadpool(self._store, invitation, answers, response_id, event)
        except Exception:
            log.exception("could not store a questionnaire response")
            return self.pages.message(g.t, "store", status=503)
        return None

    def _store(
        self, invitation: InvitationView, answers: Answers, response_id: str, event: CloudEvent
    ) -> None:
        if self.callbacks is not None:
            if answers.contact_via and answers.address:
                self.callbacks.remember_callback(
                    response_id,
                    invitation.klant,
                    invitation.contact_id,
                    answers.contact_via,
                    answers.address,
                )
            else:  # a revision that withdraws the consent keeps no number
                self.callbacks.forget_callback(response_id)
        self.publisher.publish(RESPONSE.topic, [event])

    # -- opt-out -----------------------------------------------------------------------------
    async def opt_out(self, request: Request) -> Response:
        g = await self._guard(request)
        if isinstance(g, Response):
            return g
        context = self._context(request, g, bron="vragenlijst")
        if request.method == "GET":
            bron = request.query_params.get("bron", "vragenlijst")
            context["bron"] = bron if bron in ("e-mail", "sms") else "vragenlijst"
            return self.pages.render("optout.html", context)
        try:
            form = parse_form(await read_body(request, 1_000))
        except (BodyTooLarge, FormUnreadable):
            return self.pages.message(g.t, "broken", status=400)
        bron = first(form, "bron")
        opt_out = OptOut(
            opt_out_id=derived_id("opt-out", g.invitation.invitation_id),
            klant=g.invitation.klant,
            gegeven_op=utc_now(),
            bron=bron if bron in ("e-mail", "sms") else "vragenlijst",
            invitation_id=g.invitation.invitation_id,
        )
        event = new_event(
            OPT_OUT.name,
            opt_out.to_dict(),
            source=SOURCE,
            key=opt_out.klant,
            event_id=opt_out.opt_out_id,
        )
        try:
            await run_in_threadpool(self.publisher.publish, OPT_OUT.topic, [event])
        except Exception:
            log.exception("could not store an opt-out")
            return self.pages.message(g.t, "store", status=503)
        return self.pages.render("optout_done.html", context)


def _clock_time(moment: datetime) -> str:
    return moment.astimezone(LOCAL).strftime("%H:%M")
