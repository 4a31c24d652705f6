"""Service alerts to coordinators by e-mail: when the monitor opens one, and when it recovers.

Who: the coordinators of the teams that handled the service's contacts on that channel in
the 30 days before the alert (looked up in the warehouse table `contacts`), as configured in
the notifications file: `coordinatoren = ["..."]` under `[team.NAME]`, and under
`[standaard]` for services no team is found for (page feedback on the website has no
team). Accounts hold no e-mail addresses, so the file is where addresses live, beside the
team notifications (docs/monitoring.md#notifications).

What: Dutch (B1) text with the evidence — service, channel, what is measured, normal vs now,
the window, up to three example comments scrubbed again here — and links to the dashboard
and GET /v1/service-alerts. No klant key, no contact details, no names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from consumers.notify_outbox import Notification
from consumers.warehouse import contacts
from pipeline.monitoring.outcomes import METRIC_NAMES_NL, WEBSITE
from pipeline.privacy import scrub_bounded
from pipeline.times import parse_time

LOCAL = ZoneInfo("Europe/Amsterdam")
TEAM_LOOKBACK = timedelta(days=30)
MAX_EXAMPLES = 3
EXAMPLE_CHARS = 200
NO_TEAM = "coordinatoren"  # the outbox's team column for the standaard recipients


def _pct(share: Any) -> str:
    return f"{100 * float(share):.0f}%" if share is not None else "onbekend"


def _local(moment: str | None) -> str:
    if not moment:
        return "onbekend"
    return parse_time(moment).astimezone(LOCAL).strftime("%d-%m-%Y %H:%M")


def teams_for(engine: Engine, dienst: str, kanaal: str, at: datetime) -> list[str]:
    """Teams that handled contacts about `dienst` via `kanaal` in the 30 days before `at`;
    for the website (page feedback) the teams of the service on any channel."""
    query = (
        select(contacts.c.team)
        .distinct()
        .where(
            contacts.c.dienst_code == dienst,
            contacts.c.team.is_not(None),
            contacts.c.plaatsgevonden_op >= at - TEAM_LOOKBACK,
            contacts.c.plaatsgevonden_op <= at + timedelta(hours=1),
        )
    )
    if kanaal != WEBSITE:
        query = query.where(contacts.c.kanaal == kanaal)
    with engine.connect() as conn:
        return sorted(t for (t,) in conn.execute(query))


def compose_service_alert(
    data: Mapping[str, Any], base_url: str, team: str | None
) -> tuple[str, str]:
    """Subject and text (Dutch, B1) of a service-alert message."""
    dienst = (data.get("dienst") or {}).get("naam") or "een dienst"
    code = (data.get("dienst") or {}).get("code", "")
    kanaal = data.get("kanaal") or "onbekend kanaal"
    wat = METRIC_NAMES_NL.get(data.get("metriek", ""), data.get("metriek", "een meting"))
    bewijs = data.get("bewijs") or {}
    normaal, nu = _pct(bewijs.get("basislijn")), _pct(data.get("waarde"))
    telling = f"{bewijs.get('aantalSlecht', '?')} van {bewijs.get('aantal', '?')}"
    periode = f"van {_local(bewijs.get('vensterStart'))} tot {_local(bewijs.get('vensterEinde'))}"
    base = base_url.rstrip("/")
    links = (
        f"Bekijk het dashboard: {base}/dashboard\n"
        f"Alle meldingen over deze dienst: {base}/v1/service-alerts?dienst={code}&kanaal={kanaal}"
    )
    waarom = (
        f"U krijgt dit bericht als coördinator van team {team}."
        if team
        else "U krijgt dit bericht als coördinator."
    )
    if data.get("status") == "hersteld":
        subject = f"[klantsignaal] Weer normaal: {dienst} via {kanaal}"
        body = (
            f"Goed nieuws. Bij {dienst} via {kanaal} is het {wat} weer normaal.\n"
            f"Normaal is dit {normaal}. In de laatste periode was het {nu} ({telling}), "
            f"{periode}.\nU hoeft niets te doen."
        )
        return subject, f"{body}\n\n{links}\n\n{waarom}"
    subject = f"[klantsignaal] Let op: {dienst} via {kanaal} gaat minder goed"
    body = (
        f"Bij {dienst} via {kanaal} gaat iets mis. Het {wat} is hoger dan normaal.\n"
        f"Normaal is dit {normaal}. Nu is het {nu} ({telling}), {periode}.\n"
        f"Dit is waarschijnlijk geen toeval (de meting is statistisch getoetst)."
    )
    examples = _examples(bewijs.get("voorbeeldOpmerkingen") or ())
    if examples:
        body += "\n\nWat inwoners schrijven (zonder persoonsgegevens):\n" + "\n".join(examples)
    advice = "Wat kunt u doen? Kijk wat er veranderd is bij deze dienst."
    return subject, f"{body}\n\n{advice}\n{links}\n\n{waarom}"


def _examples(comments: Sequence[str]) -> list[str]:
    return [f'- "{scrub_bounded(c, EXAMPLE_CHARS)}"' for c in list(comments)[:MAX_EXAMPLES]]


def service_alert_notifications(
    data: Mapping[str, Any],
    recipients: Mapping[str, Sequence[str]],
    fallback: Sequence[str],
    teams: Sequence[str],
    base_url: str,
) -> list[Notification]:
    """One e-mail per coordinator of each team (the standaard list when no team has any)."""
    aanleiding = "dienst-hersteld" if data.get("status") == "hersteld" else "dienst-open"
    targets = [(team, addr) for team in teams for addr in recipients.get(team, ())]
    if not targets:
        targets = [(None, addr) for addr in fallback]
    out, seen = [], set()
    for team, address in targets:
        if address in seen:
            continue  # a coordinator of two teams gets one message
        seen.add(address)
        subject, body = compose_service_alert(data, base_url, team)
        out.append(
            Notification(
                str(data["serviceAlertId"]),
                aanleiding,
                "email",
                address,
                team or NO_TEAM,
                "hoog",
                subject,
                body,
            )
        )
    return out
