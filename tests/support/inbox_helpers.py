"""Helpers for the inbox tests: staff accounts and tokens through the real CLI, sign-in over
HTTP, and a very negative answer through the real questionnaire."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support.events import PSEUDONYMS
from tests.support.live_server import LiveServer, poll

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def add_user(
    data_dir: Path, name: str, role: str, *teams: str, env: dict[str, str] | None = None
) -> None:
    team_args = [a for t in teams for a in ("--team", t)]
    cli(
        "users",
        "add",
        name,
        "--role",
        role,
        *team_args,
        "--data-dir",
        str(data_dir),
        stdin=PASSWORD + "\n",
        env=env,
    )


def add_token(data_dir: Path, name: str, scope: str, *teams: str) -> str:
    team_args = [a for t in teams for a in ("--team", t)]
    out = cli("tokens", "add", name, "--scope", scope, *team_args, "--data-dir", str(data_dir))
    return out.split()[-1]


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(base: str, name: str, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client with a staff session (cookies), as a browser would have."""
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "gebruikersnaam": name, "wachtwoord": password},
    )
    assert response.status_code == 303, response.text
    return client


def answer(
    server: LiveServer,
    *,
    comment: str = "Waardeloos, niemand helpt me, van het kastje naar de muur!",
    consent: bool = True,
    team: str = "KCC",
    telefoon: str = "06-12345678",
    **contact: Any,
) -> tuple[str, float]:
    """A contact of `team`, then a very negative answer through the questionnaire form.
    Returns the contactId and the monotonic time the answer was accepted."""
    reach = {"enqueteToestemming": True, "kanalen": ["inline"], "telefoonnummer": telefoon}
    contact.setdefault("klant", PSEUDONYMS.klant(uuid.uuid4().hex))  # no quarantine between tests
    contact_id = server.post_contact(team=team, bereikbaarheid=reach, **contact)
    link = server.invitation_link(contact_id)
    form = {"ces": "1", "nps": "0", "rapportcijfer": "1", "rapportcijfer_opmerking": comment}
    if consent:
        form.update(contact="telefoon", telefoon=telefoon)
    followup = httpx.post(link, data=form, timeout=10)  # very negative: "Wat ging er mis?"
    assert followup.status_code == 200, followup.text
    posted = httpx.post(link, data={**form, "stap": "2"}, timeout=10)
    assert posted.status_code == 200, posted.text
    return contact_id, time.monotonic()


def alert_for(server: LiveServer, contact_id: str, timeout: float = 10) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((a for a in server.alerts() if a["contactId"] == contact_id), None)

    return poll(find, timeout)


def inbox_latencies(
    base: str, auth: dict[str, str], staff: httpx.Client, samples: int, team: str
) -> list[float]:
    """Seconds from an answer accepted (the questionnaire's 200) until its alert is listed in
    the signed-in `staff` member's /inbox page, for `samples` fresh citizens one after another."""
    from schemas.types import CONTACT
    from tests.support.events import contact_data, envelope

    seconds = []
    for _ in range(samples):
        started = time.monotonic()
        data = contact_data(team=team, klant=PSEUDONYMS.klant(uuid.uuid4().hex))
        event = envelope(CONTACT.name, data)
        headers = {**auth, "Content-Type": "application/cloudevents+json"}
        assert httpx.post(base + "/v1/events", json=event, headers=headers).status_code == 202
        invitations = poll(
            lambda d=data: httpx.get(
                base + "/v1/invitations",
                params={"contact_id": d["contactId"], "source": "/test/kanaal"},
                headers=auth,
            ).json()["invitations"],
            30,
        )
        before = set(CSRF_FREE_LINKS.findall(staff.get("/inbox").text))
        form = {"ces": "1", "nps": "0", "rapportcijfer": "1", "nps_opmerking": "Waardeloos!"}
        assert httpx.post(invitations[0]["url"], data=form, timeout=10).status_code == 200
        # Very negative answers get the follow-up step; the second post publishes.
        form["stap"] = "2"
        assert httpx.post(invitations[0]["url"], data=form, timeout=10).status_code == 200
        accepted = time.monotonic()
        poll(lambda b=before: set(CSRF_FREE_LINKS.findall(staff.get("/inbox").text)) - b, 30)
        seconds.append(time.monotonic() - accepted)
        # Paced under the citizen pages' rate limit (60 requests per address per minute).
        time.sleep(max(0.0, 2.1 - (time.monotonic() - started)))
    return seconds


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


CSRF_FREE_LINKS = re.compile(r'href="/inbox/([^"?]+)"')
