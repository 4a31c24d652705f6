"""The alert policy: which signals need follow-up, how severe, why (in Dutch) and by when.

Read from one TOML file (the shipped default is pipeline/policies/alerts.toml; an operator
points KLANTSIGNAAL_ALERT_POLICY at their own copy). Documented in docs/alert-policy.md.
Plain domain code: no transport, no database.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any

from pipeline.contacthistory import HISTORY_DAYS, ContactMoment, RepeatContactRule
from pipeline.terms import TermList, Token, tokenise
from pipeline.workdays import WorkingCalendar
from schemas.models import Signal

DEFAULT_POLICY = Path(__file__).parent / "policies" / "alerts.toml"
SEVERITIES = ("middel", "hoog", "urgent")  # low to high
SENTIMENTS = ("negatief", "zeer-negatief")


class PolicyError(ValueError):
    """The policy file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class ScoreRule:
    name: str
    reason: str
    severity: str = "middel"
    rapportcijfer_max: int | None = None
    nps_max: int | None = None
    ces_fraction_max: float | None = None
    sentiment: str | None = None

    def reason_for(self, signal: Signal) -> str | None:
        """The reason when this rule fires for `signal`, else None."""
        s = signal.sentiment
        if self.sentiment == "negatief" and s.label != "neg":
            return None
        if self.sentiment == "zeer-negatief" and not s.very_negative:
            return None
        if self.rapportcijfer_max is not None and (
            signal.rapportcijfer is None or signal.rapportcijfer > self.rapportcijfer_max
        ):
            return None
        if self.nps_max is not None and (signal.nps is None or signal.nps > self.nps_max):
            return None
        if self.ces_fraction_max is not None:
            if not signal.ces or not signal.ces_schaal:
                return None
            if signal.ces / signal.ces_schaal > self.ces_fraction_max:
                return None
        terms = ", ".join(s.explanation[:4])
        return self.reason.format(
            rapportcijfer=signal.rapportcijfer,
            nps=signal.nps,
            ces=signal.ces,
            ces_schaal=signal.ces_schaal,
            uitleg=f" ({terms})" if terms else "",
        )


@dataclass(frozen=True)
class TermRule:
    name: str
    terms: TermList
    reason: str
    severity: str

    def reasons_for(self, tokens: list[Token]) -> list[str]:
        return [self.reason.format(term=term) for term in self.terms.find_in(tokens)]


@dataclass(frozen=True)
class Decision:
    reasons: tuple[str, ...]
    severity: str
    kinds: frozenset[str]  # names of the rules and term lists that fired


@dataclass(frozen=True)
class AlertPolicy:
    score_rules: tuple[ScoreRule, ...] = ()
    term_rules: tuple[TermRule, ...] = ()
    repeat_contact: RepeatContactRule = field(default_factory=RepeatContactRule)
    several_reasons_severity: str = "hoog"
    service_levels: Mapping[str, int] = field(
        default_factory=lambda: {"urgent": 0, "hoog": 1, "middel": 3}
    )
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)

    def decide(
        self, signal: Signal, history: Sequence[ContactMoment], at: datetime
    ) -> Decision | None:
        """Why (and how severe) this signal needs follow-up, or None when it does not."""
        reasons: list[str] = []
        severities: list[str] = []
        kinds: set[str] = set()
        for rule in self.score_rules:
            reason = rule.reason_for(signal)
            if reason is not None:
                reasons.append(reason)
                severities.append(rule.severity)
                kinds.add(rule.name)
        tokens = tokenise(signal.opmerking or "")
        for term_rule in self.term_rules:
            found = term_rule.reasons_for(tokens)
            if found:
                reasons.extend(found)
                severities.append(term_rule.severity)
                kinds.add(term_rule.name)
        wanted = bool(reasons) or self.repeat_contact.standalone
        repeat = self.repeat_contact.reasons(history, at) if wanted else []
        if repeat:
            reasons.extend(repeat)
            severities.append("middel")
            kinds.add("herhaald-contact")
        if not reasons:
            return None
        if len(reasons) > 1:
            severities.append(self.several_reasons_severity)
        return Decision(tuple(reasons), max(severities, key=SEVERITIES.index), frozenset(kinds))

    def due(self, severity: str, created: datetime) -> datetime:
        """`uiterlijkOp`: the service level of this severity in working days."""
        return self.calendar.add_working_days(created, self.service_levels[severity])


# -- loading ------------------------------------------------------------------------------


def load_policy(path: str | Path | None = None) -> AlertPolicy:
    """The policy from `path`, or the shipped default when `path` is empty."""
    source = Path(path) if path else DEFAULT_POLICY
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"alert policy {source}: {exc}") from exc
    try:
        return policy_from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"alert policy {source}: {exc}") from exc


def default_policy() -> AlertPolicy:
    return load_policy(None)


_TOP_KEYS = {"versie", "ernst", "servicelevel", "werkdagen", "regel", "termen", "herhaald_contact"}


def policy_from_dict(raw: Mapping[str, Any]) -> AlertPolicy:
    _only(raw, _TOP_KEYS, "")
    ernst = raw.get("ernst", {})
    _only(ernst, {"meerdere_redenen"}, "ernst")
    levels = dict(raw.get("servicelevel", {"urgent": 0, "hoog": 1, "middel": 3}))
    _only(levels, set(SEVERITIES), "servicelevel")
    for name in SEVERITIES:
        value = levels.get(name)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"servicelevel.{name} must be a whole number of working days >= 0")
    return AlertPolicy(
        score_rules=tuple(_score_rule(r, i) for i, r in enumerate(raw.get("regel", []))),
        term_rules=tuple(_term_rule(n, r) for n, r in raw.get("termen", {}).items()),
        repeat_contact=_repeat_rule(raw.get("herhaald_contact", {})),
        several_reasons_severity=_severity(
            ernst.get("meerdere_redenen", "hoog"), "ernst.meerdere_redenen"
        ),
        service_levels=levels,
        calendar=_calendar(raw.get("werkdagen", {})),
    )


def _only(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        allowed_keys = ", ".join(sorted(allowed))
        raise ValueError(f"unknown key {prefix}{unknown[0]} (allowed: {allowed_keys})")


def _severity(value: Any, where: str) -> str:
    if value not in SEVERITIES:
        raise ValueError(f"{where} must be one of {', '.join(SEVERITIES)}, not {value!r}")
    return str(value)


_RULE_KEYS = {
    "naam",
    "reden",
    "ernst",
    "rapportcijfer_max",
    "nps_max",
    "ces_fractie_max",
    "sentiment",
}


def _score_rule(raw: Mapping[str, Any], index: int) -> ScoreRule:
    where = f"regel[{index}]"
    _only(raw, _RULE_KEYS, where)
    sentiment = raw.get("sentiment")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ValueError(f"{where}.sentiment must be one of {', '.join(SENTIMENTS)}")
    conditions = _RULE_KEYS - {"naam", "reden", "ernst"}
    if not conditions & set(raw):
        raise ValueError(f"{where} has no condition ({', '.join(sorted(conditions))})")
    return ScoreRule(
        name=str(raw.get("naam", f"regel-{index}")),
        reason=str(raw["reden"]),
        severity=_severity(raw.get("ernst", "middel"), f"{where}.ernst"),
        rapportcijfer_max=raw.get("rapportcijfer_max"),
        nps_max=raw.get("nps_max"),
        ces_fraction_max=raw.get("ces_fractie_max"),
        sentiment=sentiment,
    )


def _term_rule(name: str, raw: Mapping[str, Any]) -> TermRule:
    where = f"termen.{name}"
    _only(raw, {"ernst", "negatie", "reden", "woorden"}, where)
    words = raw["woorden"]
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ValueError(f"{where}.woorden must be a list of texts")
    return TermRule(
        name=name,
        terms=TermList.of(words, negation_aware=bool(raw.get("negatie", True))),
        reason=str(raw.get("reden", "{term}")),
        severity=_severity(raw.get("ernst", "middel"), f"{where}.ernst"),
    )


_REPEAT_KEYS = {
    "venster_dagen": "window_days",
    "zelfde_dienst_min": "same_service_min",
    "kanalen_min": "channels_min",
    "kanalen_venster_dagen": "channels_window_days",
    "zelfstandig": "standalone",
    "reden_dienst": "reason_service",
    "reden_kanalen": "reason_channels",
}


def _repeat_rule(raw: Mapping[str, Any]) -> RepeatContactRule:
    _only(raw, set(_REPEAT_KEYS), "herhaald_contact")
    for key in ("venster_dagen", "kanalen_venster_dagen"):
        if not 1 <= int(raw.get(key, 1)) <= HISTORY_DAYS:
            # Signals carry the contacts of the last HISTORY_DAYS days, no more.
            raise ValueError(f"herhaald_contact.{key} must be between 1 and {HISTORY_DAYS}")
    return RepeatContactRule(**{_REPEAT_KEYS[k]: v for k, v in raw.items()})


def _calendar(raw: Mapping[str, Any]) -> WorkingCalendar:
    _only(raw, {"einde_werkdag", "tijdzone", "bevrijdingsdag", "geen_vrije_dag"}, "werkdagen")
    return WorkingCalendar(
        not_holidays=frozenset(raw.get("geen_vrije_dag", ["Goede vrijdag"])),
        liberation_day=raw.get("bevrijdingsdag", "lustrum"),
        end_of_day=time.fromisoformat(raw.get("einde_werkdag", "17:00")),
        zone=raw.get("tijdzone", "Europe/Amsterdam"),
    )


__all__ = ["AlertPolicy", "Decision", "PolicyError", "default_policy", "load_policy"]
