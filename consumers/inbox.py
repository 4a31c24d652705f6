"""The caseworker inbox at /inbox: the alerts of your teams, their detail and the actions.

Dutch, server-rendered, no JavaScript; every state change is a POST with a CSRF token.
Who may see and do what is decided by pipeline.web.authz; an alert of another team is
simply not found (404), so its existence is not given away.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from consumers.alert_actions import AlertActions
from consumers.alert_workflow import (
    ACTIONS_NL,
    CATEGORIES,
    OUTCOMES,
    Action,
    ActionRefused,
    AlertState,
)
from consumers.inbox_reads import InboxReads
from consumers.inbox_store import ChangedMeanwhile, InboxStore
from pipeline.times import as_utc
from pipeline.web import authz
from pipeline.web.auth import MAX_FORM_BYTES, Staff, WebAuth, staff_templates

log = logging.getLogger(__name__)
LOCAL = ZoneInfo("Europe/Amsterdam")
SEVERITIES = ("urgent", "hoog", "middel")
DUE = {"te-laat": "te laat", "vandaag": "vandaag of eerder", "week": "binnen 7 dagen"}
LABELS_NL = {"neg": "negatief", "neu": "neutraal", "pos": "positief"}


def local_time(value: Any, with_time: bool = True) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        local = as_utc(value).astimezone(LOCAL)
        return local.strftime("%d-%m-%Y %H:%M" if with_time else "%d-%m-%Y")
    if isinstance(value, date):
        return value.strftime("%d-%m-%Y")
    return str(value)


def due_date(alert: dict[str, Any]) -> date | None:
    """The alert's due date (`uiterlijk_op`) as a local date, if the policy set one."""
    value = alert.get("uiterlijk_op")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return as_utc(value).astimezone(LOCAL).date()
    return value if isinstance(value, date) else None


def journey_items(alert: dict[str, Any], contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The 30-day journey: the alert's own contact history if it carries one, else the
    klant's contacts from the warehouse."""
    history = alert.get("contacthistorie")
    if isinstance(history, list) and history:
        items = []
        for h in history:
            if not isinstance(h, dict):
                continue
            dienst = h.get("dienst")
            items.append(
                {
                    "op": h.get("plaatsgevondenOp"),
                    "kanaal": h.get("kanaal"),
                    "dienst": dienst.get("naam") if isinstance(dienst, dict) else dienst,
                    "team": h.get("team"),
                    "gelukt": h.get("gelukt"),
                }
            )
        return sorted(items, key=lambda i: str(i["op"] or ""))
    return [
        {
            "op": c["plaatsgevonden_op"],
            "kanaal": c["kanaal"],
            "dienst": c["dienst_naam"] or c["dienst_code"],
            "team": c["team"],
            "gelukt": c["contact_gelukt"],
        }
        for c in contacts
    ]


@dataclass
class Inbox:
    auth: WebAuth
    reads: InboxReads
    store: InboxStore
    actions: AlertActions
    address_book: Any  # consumers.callback_book.CallbackFirst: lookup_for(klant, contact_id)
    templates: Any = field(init=False)

    def __post_init__(self) -> None:
        self.templates = staff_templates(PackageLoader("consumers", "templates"))
        self.templates.filters["tijd"] = local_time
        self.templates.filters["datum"] = lambda v: local_time(v, with_time=False)

    def routes(self) -> list[Route]:
        return [
            Route("/inbox", self.list_page, methods=["GET"]),
            Route("/inbox/{alert_id}", self.detail_page, methods=["GET"]),
            Route("/inbox/{alert_id}/actie", self.action, methods=["POST"]),
            Route("/inbox/{alert_id}/sentiment", self.sentiment, methods=["POST"]),
        ]

    # -- helpers ------------------------------------------------------------------------
    def _render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.templates.get_template(name).render(**context), status_code=status)

    def _message(self, staff: Staff | None, status: int, heading: str, *lines: str) -> Response:
        return self._render("message.html", status, staff=staff, heading=heading, lines=lines)

    async def _staff(self, request: Request) -> Staff | Response:
        staff = await run_in_threadpool(self.auth.staff, request)
        if staff is None:
            return self.auth.sign_in_redirect(request)
        if not authz.may_read_alerts(staff.principal):
            return self._message(
                staff,
                403,
                "Geen toegang",
                "Met uw rol ziet u geen losse klantsignalen. Overzichten staan op het dashboard.",
            )
        return staff

    async def _visible_alert(self, request: Request, staff: Staff) -> dict[str, Any] | None:
        alert = await run_in_threadpool(self.reads.alert, request.path_params["alert_id"])
        if alert is None or not authz.sees_team(staff.principal, alert["team"]):
            return None
        return alert

    def _not_found(self, staff: Staff) -> Response:
        return self._message(
            staff,
            404,
            "Signaal niet gevonden",
            "Dit signaal bestaat niet, of het hoort niet bij uw team.",
        )

    # -- list ---------------------------------------------------------------------------
    async def list_page(self, request: Request) -> Response:
        staff = await self._staff(request)
        if isinstance(staff, Response):
            return staff
        p = request.query_params
        chosen = {k: p.get(k, "") for k in ("team", "dienst", "ernst", "status", "due")}
        visible = authz.visible_teams(staff.principal)
        rows = await run_in_threadpool(
            self.reads.alerts,
            teams=visible,
            team=chosen["team"] or None,
            dienst=chosen["dienst"] or None,
            ernst=chosen["ernst"] or None,
        )
        states = await run_in_threadpool(self.store.states, [r["alert_id"] for r in rows])
        today = datetime.now(LOCAL).date()
        items = []
        for row in rows:
            state = states.get(row["alert_id"], AlertState())
            due = due_date(row)
            item = {
                **row,
                "status": state.status,
                "toegewezen_aan": state.toegewezen_aan,
                "due": due,
            }
            item["te_laat"] = due is not None and due < today and state.status != "afgehandeld"
            if chosen["status"] and state.status != chosen["status"]:
                continue
            if chosen["due"] and not _due_matches(chosen["due"], due, today):
                continue
            items.append(item)
        far = date.max
        items.sort(key=lambda i: (i["due"] or far, -(i["aangemaakt_op"].timestamp())))
        teams, services = await run_in_threadpool(self.reads.teams_and_services)
        if visible is not None:
            teams = [t for t in teams if t in visible]
        return self._render(
            "inbox_list.html",
            staff=staff,
            items=items,
            chosen=chosen,
            teams=teams,
            services=services,
            severities=SEVERITIES,
            statuses=("open", "in-behandeling", "afgehandeld"),
            due_options=DUE,
        )

    # -- detail -------------------------------------------------------------------------
    async def detail_page(self, request: Request) -> Response:
        staff = await self._staff(request)
        if isinstance(staff, Response):
            return staff
        alert = await self._visible_alert(request, staff)
        if alert is None:
            return self._not_found(staff)
        return await run_in_threadpool(self._detail, request, staff, alert)

    def _detail(
        self,
        request: Request,
        staff: Staff,
        alert: dict[str, Any],
        error: str = "",
        status: int = 200,
    ) -> Response:
        alert_id = alert["alert_id"]
        show_contact = request.query_params.get("contactgegevens") == "toon"
        may_contact = authz.may_see_contact_details(staff.principal, alert["team"])
        contact_details = None
        if show_contact and may_contact and alert["terugbel_toestemming"]:
            found = (
                self.address_book.lookup_for(alert["klant"], alert["contact_id"])
                if alert["contact_id"]
                else None
            )
            contact_details = {"email": found[0], "telefoon": found[1]} if found else {}
            self.store.log(alert_id, staff.principal.name, "bekeek de contactgegevens")
        else:
            self.store.log(alert_id, staff.principal.name, "bekeek het signaal")
        signal = self.reads.signal(alert["signal_id"])
        journey = self.reads.journey(alert["klant"], alert["aangemaakt_op"])
        state = self.store.state(alert_id).state
        done = request.query_params.get("gedaan", "")
        return self._render(
            "inbox_detail.html",
            status,
            staff=staff,
            alert=alert,
            state=state,
            due=due_date(alert),
            signal=signal,
            response=self.reads.response(alert["response_id"]),
            contact=self.reads.contact(alert["contact_id"], alert["klant"]),
            journey=journey_items(alert, journey),
            may_contact=may_contact and bool(alert["terugbel_toestemming"]),
            contact_details=contact_details,
            may_act=authz.may_act(staff.principal, alert["team"]),
            may_assign=authz.may_assign(staff.principal, alert["team"]),
            assignees=self.auth.store.usernames()
            if authz.may_assign(staff.principal, alert["team"])
            else [],
            audit=self.store.audit_trail(alert_id),
            notes=self.store.notes(alert_id),
            outcomes=OUTCOMES,
            categories=CATEGORIES,
            labels=LABELS_NL,
            done=ACTIONS_NL.get(done, ""),
            error=error,
        )

    # -- actions ------------------------------------------------------------------------
    async def _form_checked(
        self, request: Request
    ) -> tuple[Staff, dict[str, Any], dict[str, str]] | Response:
        staff = await self._staff(request)
        if isinstance(staff, Response):
            return staff
        declared = request.headers.get("content-length") or ""  # chunked: no bound, refused
        if not declared.isdecimal() or int(declared) > MAX_FORM_BYTES:
            return self._message(staff, 413, "Te veel tekst", "Maak de notitie korter.")
        form = {
            k: v.replace("\x00", "")  # PostgreSQL refuses NUL in text
            for k, v in (await request.form()).items()
            if isinstance(v, str)
        }
        if not self.auth.csrf_ok(staff, form):
            return self._message(
                staff,
                403,
                "Niet gelukt",
                "De pagina was verlopen. Ga terug, laad de pagina opnieuw en probeer het nog eens.",
            )
        alert = await self._visible_alert(request, staff)
        if alert is None:
            return self._not_found(staff)
        return staff, alert, form

    async def action(self, request: Request) -> Response:
        checked = await self._form_checked(request)
        if isinstance(checked, Response):
            return checked
        staff, alert, form = checked
        handeling = form.get("handeling", "")
        allowed = (
            authz.may_assign(staff.principal, alert["team"])
            if handeling == "toewijzen"
            else authz.may_act(staff.principal, alert["team"])
        )
        if not allowed:
            return self._message(staff, 403, "Geen toegang", "U mag dit niet doen bij dit signaal.")
        assignee = form.get("toegewezen_aan") or None
        if handeling == "toewijzen" and assignee not in self.auth.store.usernames():
            assignee = None
        act = Action(
            handeling=handeling,
            door=staff.principal.name,
            toegewezen_aan=assignee,
            uitkomst=form.get("uitkomst") or None,
            categorie=form.get("categorie") or None,
        )
        try:
            await run_in_threadpool(
                self.actions.perform, alert, act, form.get("notitie"), "/klantsignaal/inbox"
            )
        except ActionRefused as exc:
            return await run_in_threadpool(self._detail, request, staff, alert, str(exc), 409)
        except ChangedMeanwhile:
            msg = "Iemand anders heeft dit signaal net gewijzigd. Bekijk de nieuwe stand."
            return await run_in_threadpool(self._detail, request, staff, alert, msg, 409)
        return RedirectResponse(f"/inbox/{alert['alert_id']}?gedaan={handeling}", status_code=303)

    async def sentiment(self, request: Request) -> Response:
        checked = await self._form_checked(request)
        if isinstance(checked, Response):
            return checked
        staff, alert, form = checked
        if not authz.may_act(staff.principal, alert["team"]):
            return self._message(staff, 403, "Geen toegang", "U mag dit niet doen bij dit signaal.")
        label_to = form.get("label", "")
        signal = await run_in_threadpool(self.reads.signal, alert["signal_id"])
        if label_to not in LABELS_NL or signal is None or not signal.get("opmerking"):
            msg = "Kies het juiste sentiment: negatief, neutraal of positief."
            return await run_in_threadpool(self._detail, request, staff, alert, msg, 422)

        def store() -> None:
            self.reads.add_sentiment_correction(
                signal["signal_id"],
                signal["opmerking"],
                signal["sentiment_label"],
                label_to,
                staff.principal.name,
            )
            what = f"corrigeerde het sentiment naar {LABELS_NL[label_to]}"
            self.store.log(alert["alert_id"], staff.principal.name, what)

        await run_in_threadpool(store)
        return RedirectResponse(
            f"/inbox/{alert['alert_id']}?gedaan=sentiment-correctie", status_code=303
        )


def _due_matches(choice: str, due: date | None, today: date) -> bool:
    if due is None:
        return False
    if choice == "te-laat":
        return due < today
    if choice == "vandaag":
        return due <= today
    if choice == "week":
        return due <= today + timedelta(days=7)
    return True


__all__ = ["Inbox"]
