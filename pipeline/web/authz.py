"""Who may do what: the roles and scopes of klantsignaal as plain rules, free of HTTP.

A Principal is a signed-in staff member or an API token. Teams limit what it sees: a
caseworker sees only its own teams; a coordinator or admin sees all; a token without teams
sees all, with teams only those. An analyst reads aggregates only: no single alert, so no
klant key, no contact details and no comment text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("caseworker", "coordinator", "analyst", "admin")
SCOPES = ("ingest", "alerts:read", "alerts:write")
ALL_SCOPES = frozenset(SCOPES)
ROLE_NAMES_NL = {
    "caseworker": "medewerker",
    "coordinator": "coördinator",
    "analyst": "analist",
    "admin": "beheerder",
}


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # "user" or "token"
    role: str | None = None  # users only
    scopes: frozenset[str] = field(default_factory=frozenset)  # tokens only
    teams: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_user(self) -> bool:
        return self.kind == "user"


def admin_token(name: str = "KLANTSIGNAAL_API_TOKEN") -> Principal:
    """The legacy shared token: everything, on every team."""
    return Principal(name=name, kind="token", scopes=ALL_SCOPES)


def may_ingest(p: Principal) -> bool:
    """POST /v1/events and GET /v1/invitations."""
    return "ingest" in p.scopes if not p.is_user else p.role == "admin"


def may_read_alerts(p: Principal) -> bool:
    """Read single alerts (list, detail, InterneTaak): never analysts."""
    if p.is_user:
        return p.role in ("caseworker", "coordinator", "admin")
    return bool({"alerts:read", "alerts:write"} & p.scopes)


def sees_team(p: Principal, team: str) -> bool:
    if not may_read_alerts(p):
        return False
    if p.is_user and p.role == "caseworker":
        return team in p.teams
    return not p.teams or team in p.teams


def visible_teams(p: Principal) -> frozenset[str] | None:
    """The teams whose alerts p may list; None means all teams."""
    if not may_read_alerts(p):
        return frozenset()
    if p.is_user and p.role == "caseworker":
        return p.teams
    return p.teams or None


def may_act(p: Principal, team: str) -> bool:
    """Claim, record a callback, resolve, reopen, correct sentiment on this team's alert."""
    if not sees_team(p, team):
        return False
    return (
        p.role in ("caseworker", "coordinator", "admin")
        if p.is_user
        else ("alerts:write" in p.scopes)
    )


def may_assign(p: Principal, team: str) -> bool:
    """Assign an alert to someone: coordinators (and admins)."""
    return sees_team(p, team) and (
        p.role in ("coordinator", "admin") if p.is_user else "alerts:write" in p.scopes
    )


def may_see_contact_details(p: Principal, team: str) -> bool:
    """Phone number and e-mail of the citizen: staff of the alert's team, or coordinators."""
    if not p.is_user:
        return False
    if p.role == "coordinator":
        return not p.teams or team in p.teams
    return p.role == "caseworker" and team in p.teams


def may_read_aggregates(p: Principal) -> bool:
    """Counts across teams without personal data (GET /v1/funnel): analysts, coordinators,
    admins, and tokens that may read alerts."""
    if p.is_user:
        return p.role in ("coordinator", "analyst", "admin")
    return bool({"alerts:read", "alerts:write"} & p.scopes)


def aggregate_teams(p: Principal) -> frozenset[str] | None:
    """The teams whose data p's aggregates (funnel, measures) may count; None means all.

    Admins count every team; anyone else limited to teams (a token created with --team, a
    coordinator or analyst added with --team) counts only those teams' data.
    """
    if p.is_user and p.role == "admin":
        return None
    return p.teams or None
