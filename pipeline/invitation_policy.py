"""The invitation policy: who gets a questionnaire, by which route, when, and for how long.

Plain domain code. The policy is one readable TOML file (the shipped defaults are in
`pipeline/invitation_policy.toml`, documented in docs/invitation-policy.md); the trigger
stage asks it for a decision per contact.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from schemas.fastinit import fast_init

ROUTES = ("inline", "email", "sms")


class PolicyError(ValueError):
    """The policy file is not valid; the message names the key."""


@dataclass(frozen=True)
class RouteTiming:
    delay_minutes: int = 0
    office_hours_only: bool = False


@dataclass(frozen=True)
class Rule:
    """The policy for one (kanaal, dienst), after merging defaults, kanaal and dienst."""

    eligible: bool = True
    sample_rate: float = 1.0
    routes: tuple[str, ...] = ROUTES
    expiry_days: int = 7
    reminder_after_hours: int = 72


@dataclass(frozen=True)
class OfficeHours:
    timezone: str = "Europe/Amsterdam"
    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    skip_public_holidays: bool = True

    def next_open(self, moment: datetime) -> datetime:
        """`moment` if the office is open then, else the next opening time (aware, UTC)."""
        zone = ZoneInfo(self.timezone)
        local = moment.astimezone(zone)
        for _ in range(400):  # a year of closed days would be a broken policy
            day = local.date()
            if self._working_day(day):
                opens = datetime.combine(day, self.start, zone)
                closes = datetime.combine(day, self.end, zone)
                if local < opens:
                    return opens
                if local < closes:
                    return local
            local = datetime.combine(day + timedelta(days=1), time(0, 0), zone)
        raise PolicyError("office_hours: no working day within a year")

    def _working_day(self, day: date) -> bool:
        if day.isoweekday() not in self.weekdays:
            return False
        return not (self.skip_public_holidays and day in _dutch_holidays(day.year))


@cache
def _dutch_holidays(year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays("NL", years=year))


@fast_init  # one __dict__ update, not a setattr per field
@dataclass(frozen=True)
class Decision:
    """What the policy says about one contact: invite by `route`, or not, with the reason."""

    invite: bool
    reason: str | None = None
    route: str | None = None
    send_at: datetime | None = None
    expires_at: datetime | None = None
    reminder_at: datetime | None = None


@dataclass(frozen=True)
class InvitationPolicy:
    quarantine_days: int = 30
    sample_salt: str = "klantsignaal"
    defaults: Rule = field(default_factory=Rule)
    by_kanaal: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_dienst: dict[str, dict[str, Any]] = field(default_factory=dict)
    timing: dict[str, RouteTiming] = field(
        default_factory=lambda: {r: RouteTiming() for r in ROUTES}
    )
    office_hours: OfficeHours = field(default_factory=OfficeHours)
    delay_seconds: dict[str, int] = field(default_factory=dict)  # overrides per route

    def rule(self, kanaal: str, dienst: str) -> Rule:
        merged = self.defaults
        for override in (self.by_kanaal.get(kanaal), self.by_dienst.get(dienst)):
            if override:
                merged = replace(merged, **override)
        return merged

    def sampled(self, klant: str, rate: float) -> bool:
        """Deterministic per klant: the same citizen (and salt) always draws the same number."""
        if rate >= 1.0:
            return True
        digest = hashlib.sha256(f"{self.sample_salt}:{klant}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < rate

    def max_expiry_days(self) -> int:
        rules = [self.defaults, *(self.rule(k, "") for k in self.by_kanaal)]
        rules += [self.rule("", d) for d in self.by_dienst]
        return max(r.expiry_days for r in rules)

    def with_delay(self, route: str, seconds: int | None) -> InvitationPolicy:
        """The policy with another delay for one route (KLANTSIGNAAL_EMAIL_DELAY_SECONDS);
        0 sends at once, also outside office hours."""
        if seconds is None:
            return self
        return replace(self, delay_seconds={**self.delay_seconds, route: seconds})

    def delay(self, route: str) -> timedelta:
        if route in self.delay_seconds:
            return timedelta(seconds=self.delay_seconds[route])
        return timedelta(minutes=self.timing.get(route, RouteTiming()).delay_minutes)

    def decide(
        self, *, klant: str, kanaal: str, dienst: str, offered: tuple[str, ...], now: datetime
    ) -> Decision:
        """Eligibility, sample and route for a contact that passed the trigger's own checks
        (consent, success, confidentiality, quarantine, opt-out)."""
        rule = self.rule(kanaal, dienst)
        if not rule.eligible:
            return Decision(False, f"kanaal {kanaal} / dienst {dienst} niet uitgenodigd (beleid)")
        if not self.sampled(klant, rule.sample_rate):
            return Decision(False, "niet in de steekproef")
        route = next((r for r in rule.routes if r in offered), None)
        if route is None:
            return Decision(False, "geen toegestane verzendroute")
        send_at = now + self.delay(route)
        timing = self.timing.get(route, RouteTiming())
        if timing.office_hours_only and self.delay(route) > timedelta(0):
            send_at = self.office_hours.next_open(send_at)
        reminder = None
        if route != "inline" and rule.reminder_after_hours > 0:
            reminder = self.office_hours.next_open(
                send_at + timedelta(hours=rule.reminder_after_hours)
            )
        expires = send_at + timedelta(days=rule.expiry_days)
        if reminder is not None and reminder >= expires:
            reminder = None
        return Decision(True, None, route, send_at, expires, reminder)


# -- loading ---------------------------------------------------------------------------------

_RULE_KEYS = {f for f in Rule.__dataclass_fields__}


def _rule_override(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: must be a table")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        allowed = sorted(_RULE_KEYS)
        raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)}; allowed {allowed}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        out[key] = _check_rule_value(key, value, f"{where}.{key}")
    return out


def _check_rule_value(key: str, value: Any, where: str) -> Any:
    if key == "eligible":
        if not isinstance(value, bool):
            raise PolicyError(f"{where}: must be true or false")
        return value
    if key == "sample_rate":
        if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise PolicyError(f"{where}: must be a number from 0.0 to 1.0")
        return float(value)
    if key == "routes":
        if not isinstance(value, list) or any(r not in ROUTES for r in value):
            raise PolicyError(f"{where}: must be a list of {list(ROUTES)}")
        return tuple(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PolicyError(f"{where}: must be a whole number >= 0")
    if key == "expiry_days" and value < 1:
        raise PolicyError(f"{where}: must be at least 1")
    return value


def _time(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise PolicyError(f'{where}: must be a time like "09:00"') from exc


def parse_policy(raw: dict[str, Any]) -> InvitationPolicy:
    quarantine = raw.get("quarantine_days", 30)
    if not isinstance(quarantine, int) or quarantine < 0:
        raise PolicyError("quarantine_days: must be a whole number >= 0")
    defaults = replace(Rule(), **_rule_override(raw.get("defaults", {}), "defaults"))
    by_kanaal = {
        k: _rule_override(v, f"kanaal.{k}") for k, v in dict(raw.get("kanaal", {})).items()
    }
    by_dienst = {
        k: _rule_override(v, f"dienst.{k}") for k, v in dict(raw.get("dienst", {})).items()
    }
    timing = {r: RouteTiming() for r in ROUTES}
    for route, spec in dict(raw.get("routes", {})).items():
        if route not in ROUTES or not isinstance(spec, dict):
            raise PolicyError(f"routes.{route}: unknown route; use {list(ROUTES)}")
        delay = spec.get("delay_minutes", 0)
        if not isinstance(delay, int) or delay < 0:
            raise PolicyError(f"routes.{route}.delay_minutes: must be a whole number >= 0")
        timing[route] = RouteTiming(delay, bool(spec.get("office_hours_only", False)))
    oh = dict(raw.get("office_hours", {}))
    office = OfficeHours(
        timezone=str(oh.get("timezone", "Europe/Amsterdam")),
        start=_time(oh.get("start", "09:00"), "office_hours.start"),
        end=_time(oh.get("end", "17:00"), "office_hours.end"),
        weekdays=frozenset(int(d) for d in oh.get("weekdays", [1, 2, 3, 4, 5])),
        skip_public_holidays=bool(oh.get("skip_public_holidays", True)),
    )
    try:
        ZoneInfo(office.timezone)
    except Exception as exc:
        raise PolicyError(f"office_hours.timezone: unknown time zone {office.timezone!r}") from exc
    if office.start >= office.end or not office.weekdays <= set(range(1, 8)):
        raise PolicyError("office_hours: start must be before end; weekdays 1..7")
    return InvitationPolicy(
        quarantine_days=quarantine,
        sample_salt=str(raw.get("sample_salt", "klantsignaal")),
        defaults=defaults,
        by_kanaal=by_kanaal,
        by_dienst=by_dienst,
        timing=timing,
        office_hours=office,
    )


def load_policy(path: str | Path | None = None) -> InvitationPolicy:
    """The policy from `path`, or the shipped defaults when empty."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("pipeline").joinpath("invitation_policy.toml").read_text("utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"invitation policy {path or '(shipped)'}: {exc}") from exc
    return parse_policy(raw)
