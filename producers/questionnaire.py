"""The questionnaire behind the invitation link: CES, NPS and rapportcijfer, each with a comment."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consumers.warehouse import Warehouse
from pipeline.ports import Publisher
from pipeline.privacy import scrub
from schemas.cloudevents import derived_id, new_event, utc_now
from schemas.models import Answer
from schemas.models import Response as SurveyResponse
from schemas.types import RESPONSE
from schemas.validation import validate_data

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 20_000


def parse_answers(form: dict[str, str], ces_scale: int) -> tuple[dict[str, Any], list[str]]:
    """The answers as response fields, and Dutch error messages for what is wrong."""
    errors: list[str] = []
    answers: dict[str, Any] = {}
    questions = (
        ("ces", 1, ces_scale, "vraag 1"),
        ("nps", 0, 10, "vraag 2"),
        ("rapportcijfer", 1, 10, "vraag 3"),
    )
    for name, low, high, label in questions:
        raw = (form.get(name) or "").strip()
        # Scrub first: placeholders are longer than what they replace, so cut afterwards.
        comment = scrub((form.get(f"{name}_opmerking") or "").strip())[:2000]
        if not raw:
            if comment:
                errors.append(f"Kies bij {label} ook een cijfer, of maak het tekstvak leeg.")
            continue
        if not (raw.isascii() and raw.isdecimal()) or not low <= int(raw) <= high:
            errors.append(f"Kies bij {label} een cijfer van {low} tot en met {high}.")
            continue
        answer = Answer(
            score=int(raw),
            opmerking=comment or None,
            schaal=ces_scale if name == "ces" else None,
        )
        answers[name] = answer
    if not answers and not errors:
        errors.append("Beantwoord minstens één vraag.")
    return answers, errors


@dataclass
class Questionnaire:
    publisher: Publisher
    warehouse: Warehouse
    ces_scale: int = 5

    def __post_init__(self) -> None:
        self._templates = Environment(
            loader=PackageLoader("producers", "templates"),
            autoescape=select_autoescape(["html"]),
        )

    def routes(self) -> list[Route]:
        return [Route("/q/{token}", self.page, methods=["GET", "POST"])]

    def _render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self._templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status)

    def _message(self, heading: str, *lines: str, status: int = 200) -> HTMLResponse:
        return self._render("message.html", status, heading=heading, lines=lines)

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        invitation = await run_in_threadpool(self.warehouse.invitation_by_token, token)
        if invitation is None:
            return self._message(
                "Deze link werkt niet",
                "Misschien is de link niet helemaal goed overgenomen. Probeer het nog eens "
                "vanuit de e-mail of het bericht dat u kreeg.",
                status=404,
            )
        expires = invitation["expires_at"]
        if expires is not None and _aware(expires) < datetime.now(UTC):
            return self._message(
                "Deze vragenlijst is verlopen",
                "U kunt deze vragenlijst niet meer invullen. Bedankt voor uw moeite.",
                status=410,
            )
        if await run_in_threadpool(self.warehouse.has_response, invitation["invitation_id"]):
            return self._message("U heeft deze vragenlijst al ingevuld", "Bedankt!")
        context = {
            "dienst": invitation["dienst_naam"] or "uw vraag",
            "ces_scale": self.ces_scale,
            "ces_range": range(1, self.ces_scale + 1),
            "values": {},
            "errors": [],
        }
        if request.method == "GET":
            return self._render("questionnaire.html", **context)
        declared = request.headers.get("content-length") or "0"
        if not declared.isdecimal() or int(declared) > MAX_FORM_BYTES:
            return self._message(
                "Uw antwoord is te lang", "Maak de toelichting korter.", status=413
            )
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        answers, errors = parse_answers(form, self.ces_scale)
        if errors:
            context.update(values=form, errors=errors)
            return self._render("questionnaire.html", status=422, **context)
        response = SurveyResponse(
            # One response per invitation: a second submit yields the same id and is deduped.
            response_id=derived_id("response", invitation["invitation_id"]),
            invitation_id=invitation["invitation_id"],
            contact_id=invitation["contact_id"],
            klant=invitation["klant"],
            answered_at=utc_now(),
            terugbel_toestemming=form.get("terugbellen") == "ja",
            **answers,
        )
        data = response.to_dict()
        problems = validate_data(RESPONSE.name, data)
        if problems:  # a bug, not the citizen's fault: keep the record out and say sorry
            # Pointers and rules only: the messages would repeat the citizen's text.
            log.error(
                "questionnaire produced an invalid response: %s",
                [(p.pointer, p.rule) for p in problems],
            )
            return self._message("Er ging iets mis", "Probeer het later nog eens.", status=500)
        event = new_event(
            RESPONSE.name,
            data,
            source="/klantsignaal/vragenlijst",
            key=response.klant,
            event_id=response.response_id,
        )
        try:
            await run_in_threadpool(self.publisher.publish, RESPONSE.topic, [event])
        except Exception:
            log.exception("could not store a questionnaire response")
            return self._message(
                "Er ging iets mis bij het opslaan",
                "Uw antwoorden zijn nog niet bewaard. Probeer het over een paar minuten opnieuw.",
                status=503,
            )
        return self._message(
            "Bedankt voor uw antwoorden!",
            "Uw mening helpt ons om onze dienstverlening te verbeteren.",
            *(["We nemen zo nodig contact met u op."] if response.terugbel_toestemming else []),
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
