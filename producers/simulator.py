"""A realistic contact simulator for demos and benchmarks.

`ContactSimulator` produces what the channel systems of a mid-sized Dutch municipality
would publish (contact events, chronologically, office hours and weekdays included), what
citizens answer when invited (response events), and website smiley feedback. Every value
comes from one seeded `random.Random`, so the same seed gives the same events.

Citizens get a generated valid BSN that is pseudonymised on the spot, exactly as the
ingestion edge does; the BSN itself never leaves the simulator.

The simulator knows a little more about each contact than it publishes (how satisfied the
citizen really was, the wait, whether it was a repeat contact); responses use that hidden
state, so scores and comments correlate with service, channel and outcome the way real
ones do. Without it (an invitation from another process) they fall back to the service.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import random
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Any

from pipeline.ports import VisitRecorder
from pipeline.privacy import Pseudonymiser
from pipeline.times import iso, parse_time
from producers import simulator_data as vocab
from schemas.cloudevents import CloudEvent, derived_id
from schemas.models import (
    Answer,
    Bereikbaarheid,
    Contact,
    Dienst,
    DispatchOutcome,
    OptOut,
    PageFeedback,
    Response,
)
from schemas.types import CONTACT, DISPATCH, INVITATION, OPT_OUT, PAGE_FEEDBACK, RESPONSE

try:
    from zoneinfo import ZoneInfo

    _LOCAL: tzinfo = ZoneInfo("Europe/Amsterdam")
except Exception:  # no tz database: winter time is close enough for a simulation
    from datetime import timezone

    _LOCAL = timezone(timedelta(hours=1))

# A Monday morning, so a short run starts with a realistic working day.
DEFAULT_START = datetime(2025, 3, 3, 8, 0, tzinfo=_LOCAL)

_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def _band(level: float) -> str:
    """Band of the phrase banks for a satisfaction level in 0..1."""
    if level < 0.17:
        return "very_negative"
    if level < 0.45:
        return "negative"
    if level < 0.66:
        return "mixed"
    if level < 0.86:
        return "positive"
    return "very_positive"


@dataclass(frozen=True)
class _Citizen:
    bsn: str  # never leaves the simulator: only `klant` goes into events
    klant: str
    taal: str
    has_email: bool
    has_mobile: bool
    mood: float  # personal offset to satisfaction: some people are harder to please


@dataclass(frozen=True)
class _Hidden:
    """What the simulator knows about a contact but does not publish."""

    satisfaction: float  # latent 0..1
    outcome: str
    wait_minutes: int | None
    repeat_n: int  # 0 for a first contact about this thing, 1 for the second, ...
    taal: str
    employee: str | None
    plaatsgevonden_op: str


@dataclass
class _Recent:
    citizen: _Citizen
    service: vocab.Service
    hidden: _Hidden


@dataclass(frozen=True)
class FunnelSteps:
    route: str
    delivered: bool
    opened: bool
    started: bool
    opted_out: bool


class ContactSimulator:
    """Deterministic generator of contact, response and page-feedback events."""

    def __init__(
        self,
        seed: int = 0,
        pseudonym_key: str = "klantsignaal-simulator",
        start: datetime | None = None,
        *,
        contacts_per_day: float = 600.0,
        repeat_rate: float = 0.15,
        ces_scale: int = 5,
        source: str = "/klantsignaal/simulator",
        website: str = "https://www.voorbeeldstad.nl",
        memory: int = 100_000,
    ):
        if ces_scale not in (5, 7, 10):
            raise ValueError("ces_scale must be 5, 7 or 10 (see response.v1.json)")
        self.seed = seed
        self.source = source.rstrip("/")
        self.website = website.rstrip("/")
        self.contacts_per_day = contacts_per_day
        self.repeat_rate = repeat_rate
        self.ces_scale = ces_scale
        start = start or DEFAULT_START
        self.start = start if start.tzinfo else start.replace(tzinfo=_LOCAL)
        self._rng = random.Random(seed)
        self._pseudonyms = Pseudonymiser(pseudonym_key)
        self._day = self.start.astimezone(_LOCAL).date()
        self._pending: list[tuple[datetime, int, str]] = []  # today's (time, seq, kanaal)
        self._seq = 0
        # Recent citizens, for repeat contacts (bounded: a long demo must not grow memory).
        self._recent: deque[_Recent] = deque(maxlen=5000)
        # contactId -> (data, hidden), so responses can follow from what really happened.
        self._contacts: OrderedDict[str, tuple[dict[str, Any], _Hidden]] = OrderedDict()
        self._memory = memory
        self._services = vocab.SERVICES

    # -- contacts ------------------------------------------------------------------------
    def stream(self, n: int | None = None) -> Iterator[CloudEvent]:
        """Contact events in chronological order; endless when n is None."""
        produced = 0
        while n is None or produced < n:
            yield self.next_contact()
            produced += 1

    def contacts(self, n: int) -> list[CloudEvent]:
        return list(self.stream(n))

    def next_contact(self) -> CloudEvent:
        when, kanaal = self._next_slot()
        return self._contact(when, kanaal)

    def _next_slot(self) -> tuple[datetime, str]:
        while not self._pending:
            self._plan_day(self._day)
            self._day += timedelta(days=1)
        when, _, kanaal = heapq.heappop(self._pending)
        return when, kanaal

    def _poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        if lam > 30:  # normal approximation; exact sampling is slow for large lambda
            return max(0, round(self._rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self._rng.random()
            if p <= limit:
                return k
            k += 1

    def _plan_day(self, day: date) -> None:
        weekday = day.weekday()
        for kanaal, share in vocab.CHANNEL_MIX.items():
            staffed = kanaal in vocab.STAFFED_CHANNELS
            if weekday < 5:
                factor = vocab.WEEKDAY_FACTOR[weekday]
            else:
                factor = 0.0 if staffed else vocab.DIGITAL_WEEKEND_FACTOR[weekday - 5]
            if factor == 0:
                continue  # staffed channels are closed at the weekend
            segments = self._segments(kanaal, weekday) if staffed else self._digital_segments()
            weights = [w * (b - a) for a, b, w in segments]
            for _ in range(self._poisson(self.contacts_per_day * share * factor)):
                a, b, _w = self._rng.choices(segments, weights)[0]
                hours = a + (b - a) * self._rng.random()
                local = datetime(day.year, day.month, day.day, tzinfo=_LOCAL) + timedelta(
                    hours=hours
                )
                if local < self.start:
                    continue
                self._seq += 1
                heapq.heappush(self._pending, (local, self._seq, kanaal))

    @staticmethod
    def _segments(kanaal: str, weekday: int) -> list[tuple[float, float, float]]:
        """Opening hours of a staffed channel split per hour, weighted by the hour profile."""
        start, end = vocab.OPENING_HOURS[kanaal][weekday]
        out = []
        hour = math.floor(start)
        while hour < end:
            a, b = max(start, hour), min(end, hour + 1)
            out.append((a, b, vocab.STAFFED_HOUR_PROFILE.get(hour, 0.3)))
            hour += 1
        return out

    @staticmethod
    def _digital_segments() -> list[tuple[float, float, float]]:
        return [(h, h + 1, w) for h, w in enumerate(vocab.DIGITAL_HOUR_PROFILE)]

    def _new_citizen(self) -> _Citizen:
        rng = self._rng
        while True:
            digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
            check = sum(d * w for d, w in zip(digits, _BSN_WEIGHTS, strict=True)) % 11
            if check < 10:  # the elfproef needs a single check digit
                break
        bsn = "".join(map(str, digits)) + str(check)
        langs, weights = zip(*vocab.LANGUAGES, strict=True)
        return _Citizen(
            bsn=bsn,
            klant=self._pseudonyms.klant(bsn),
            taal=rng.choices(langs, weights)[0],
            has_email=rng.random() < 0.8,
            has_mobile=rng.random() < 0.75,
            mood=rng.gauss(0.0, 0.08),
        )

    def _pick_service(self, kanaal: str) -> vocab.Service:
        weights = [s.volume * s.affinity.get(kanaal, 1.0) for s in self._services]
        return self._rng.choices(self._services, weights)[0]

    def _who_and_what(self, kanaal: str) -> tuple[_Citizen, vocab.Service, int]:
        """A new citizen, or one of the recent ones coming back (often about the same thing)."""
        rng = self._rng
        if self._recent and rng.random() < self.repeat_rate:
            earlier = self._recent[rng.randrange(len(self._recent))]
            unresolved = earlier.hidden.satisfaction < 0.5 or earlier.hidden.outcome in (
                "terugbellen",
                "doorverbonden",
                "mislukt",
            )
            if rng.random() < (0.85 if unresolved else 0.3):
                return earlier.citizen, earlier.service, earlier.hidden.repeat_n + 1
            return earlier.citizen, self._pick_service(kanaal), 0
        return self._new_citizen(), self._pick_service(kanaal), 0

    def _contact(self, when: datetime, kanaal: str) -> CloudEvent:
        rng = self._rng
        citizen, service, repeat_n = self._who_and_what(kanaal)
        gelukt = rng.random() >= vocab.FAILURE_RATE[kanaal]
        if gelukt:
            codes, notes, effects, weights = zip(*vocab.OUTCOMES, strict=True)
            i = rng.choices(range(len(codes)), weights)[0]
            outcome, note, effect = codes[i], notes[i], effects[i]
        else:
            outcome, note, effect = "mislukt", _FAILED_NOTE[kanaal], -0.15

        wait = self._wait_minutes(kanaal, when)
        if kanaal in ("telefoon", "balie"):
            effect -= min(0.3, 0.012 * max(0, wait - 5))
        elif kanaal in ("e-formulier", "chat"):
            effect += 0.02
        satisfaction = _clip(
            service.quality + citizen.mood + effect - 0.12 * repeat_n + rng.gauss(0.0, 0.17),
            0.0,
            1.0,
        )

        front = vocab.FRONT_OFFICE.get(kanaal)
        team = front[0] if front and rng.random() < front[1] else service.team
        employee: str | None = None
        if kanaal == "e-formulier":
            actor = "systeem-e-formulieren"
        else:
            index = rng.randrange(40)
            employee = vocab.EMPLOYEE_NAMES[index % len(vocab.EMPLOYEE_NAMES)]
            actor = "mdw-" + hashlib.sha256(f"{team}:{index}".encode()).hexdigest()[:10]

        onderwerp = rng.choice(service.onderwerpen)
        lowered = onderwerp[0].lower() + onderwerp[1:] if onderwerp[1:2].islower() else onderwerp
        referentie = None
        if kanaal in ("e-formulier", "balie") or outcome == "zaak":
            referentie = f"ZK{when.year}-{rng.randrange(1_000_000):06d}"
        consent = rng.random() < 0.85
        kanalen = []
        if citizen.has_email:
            kanalen.append("email")
        if citizen.has_mobile and kanaal in ("telefoon", "whatsapp", "balie"):
            kanalen.append("sms")
        if kanaal in ("e-formulier", "chat"):
            kanalen.append("inline")  # the thank-you page right after the form or chat

        contact = Contact(
            contact_id=self._uuid(),
            klant=citizen.klant,
            kanaal=kanaal,
            onderwerp=onderwerp,
            indicatie_contact_gelukt=gelukt,
            taal=citizen.taal,
            vertrouwelijk=rng.random() < service.confidential,
            plaatsgevonden_op=iso(when),
            dienst=Dienst(service.code, service.naam),
            team=team,
            inhoud=f"{vocab.INHOUD_OPENING[kanaal]} {lowered}; {note}.",
            hoofd_onderwerp_type=service.hoofd_onderwerp_type,
            referentienummer=referentie,
            actor=actor,
            bereikbaarheid=Bereikbaarheid(consent, tuple(kanalen)),
        )
        hidden = _Hidden(
            satisfaction=satisfaction,
            outcome=outcome,
            wait_minutes=wait if kanaal in ("telefoon", "balie") else None,
            repeat_n=repeat_n,
            taal=citizen.taal,
            employee=employee,
            plaatsgevonden_op=contact.plaatsgevonden_op,
        )
        data = contact.to_dict()
        self._remember(data, hidden)
        self._recent.append(_Recent(citizen, service, hidden))
        return CloudEvent(
            id=self._uuid(),
            source=f"{self.source}/{kanaal}",
            type=CONTACT.name,
            data=data,
            time=contact.plaatsgevonden_op,
            partitionkey=citizen.klant,
        )

    def _wait_minutes(self, kanaal: str, when: datetime) -> int:
        if kanaal not in ("telefoon", "balie"):
            return 0
        local = when.astimezone(_LOCAL)
        rush = 1.8 if local.weekday() == 0 and local.hour < 12 else 1.0  # Monday morning
        median = 3.0 if kanaal == "telefoon" else 6.0
        return int(min(90, _lognormal(self._rng, median * rush, 0.9)))

    def _uuid(self, rng: random.Random | None = None) -> str:
        return str(uuid.UUID(int=(rng or self._rng).getrandbits(128), version=4))

    def _remember(self, data: dict[str, Any], hidden: _Hidden) -> None:
        self._contacts[data["contactId"]] = (data, hidden)
        while len(self._contacts) > self._memory:
            self._contacts.popitem(last=False)

    def _known_bsns(self) -> set[str]:
        """The BSNs behind recent contacts (for tests that prove none of them leaks)."""
        return {r.citizen.bsn for r in self._recent}

    def contact_data(self, contact_id: str) -> dict[str, Any] | None:
        known = self._contacts.get(contact_id)
        return known[0] if known else None

    # -- responses -----------------------------------------------------------------------
    def responses_for(self, invitation: CloudEvent | Mapping[str, Any]) -> list[CloudEvent]:
        """The response to an invitation (event or its data): [] when the citizen ignores it."""
        data = invitation.data if isinstance(invitation, CloudEvent) else invitation
        if "data" in data and "invitationId" not in data:  # a structured CloudEvent dict
            data = data["data"]
        known = self._contacts.get(data["contactId"])
        contact = known[0] if known else _contact_from_invitation(data)
        response = self.response_for(contact, data)
        return [response] if response is not None else []

    def response_for(
        self,
        contact_data: Mapping[str, Any],
        invitation_data: Mapping[str, Any],
        *,
        force: bool = False,
    ) -> CloudEvent | None:
        """A response event, or None when the citizen does not answer (unless `force`)."""
        invitation_id = invitation_data["invitationId"]
        # Seeded per invitation: the same invitation gets the same answer in any order.
        rng = random.Random(f"{self.seed}:response:{invitation_id}")
        known = self._contacts.get(contact_data["contactId"])
        hidden = known[1] if known else self._guess_hidden(contact_data, rng)

        dispatch = list(invitation_data.get("dispatch") or ["inline"])
        rate = max(vocab.RESPONSE_RATE.get(d, 0.15) for d in dispatch)
        # Very unhappy (and very happy) citizens answer a little more often.
        rate *= 1.0 + 0.6 * abs(hidden.satisfaction - 0.62)
        if not force and rng.random() >= rate:
            return None

        s = _clip(hidden.satisfaction + rng.gauss(0.0, 0.04), 0.0, 1.0)
        k = self.ces_scale
        cijfer = int(_clip(round(1 + 9 * s + rng.gauss(0.0, 0.6)), 1, 10))
        ces = int(_clip(round(1 + (k - 1) * s + rng.gauss(0.0, 0.11 * (k - 1))), 1, k))
        nps = int(_clip(round(10 * s + 0.2 + rng.gauss(0.0, 1.0)), 0, 10))
        which = rng.random()
        asked = (
            ("ces", "nps", "rapportcijfer")
            if which < 0.9
            else ("rapportcijfer",)
            if which < 0.95
            else ("ces", "rapportcijfer")
        )
        # The comment follows the scores actually given, so the two tell one story.
        given = {"ces": (ces - 1) / (k - 1), "nps": nps / 10, "rapportcijfer": (cijfer - 1) / 9}
        level = sum(given[q] for q in asked) / len(asked)
        band = _band(level + rng.gauss(0.0, 0.03))
        comment_parts = self._comment(rng, band, contact_data, hidden)
        placed = {
            q: _style(rng, text, band)
            for q, text in _place_comments(rng, comment_parts, asked).items()
        }

        answers: dict[str, Answer] = {}
        if "ces" in asked:
            answers["ces"] = Answer(ces, placed.get("ces"), schaal=k)
        if "nps" in asked:
            answers["nps"] = Answer(nps, placed.get("nps"))
        answers["rapportcijfer"] = Answer(cijfer, placed.get("rapportcijfer"))

        answered = self._answered_at(rng, contact_data, invitation_data, dispatch)
        response = Response(
            response_id=self._uuid(rng),
            invitation_id=invitation_id,
            contact_id=contact_data["contactId"],
            klant=invitation_data.get("klant") or contact_data["klant"],
            answered_at=iso(answered),
            terugbel_toestemming=rng.random() < 0.25 + 0.45 * (1 - level),
            **answers,
        )
        return CloudEvent(
            id=self._uuid(rng),
            source=f"{self.source}/vragenlijst",
            type=RESPONSE.name,
            data=response.to_dict(),
            time=response.answered_at,
            partitionkey=response.klant,
        )

    def funnel_steps(self, invitation: Mapping[str, Any], answered: bool) -> FunnelSteps:
        """How far a citizen got with an invitation, beyond answering: was it delivered,
        opened, started, did they opt out. Seeded per invitation, like the response."""
        rng = random.Random(f"{self.seed}:funnel:{invitation['invitationId']}")
        route = (invitation.get("dispatch") or ["inline"])[0]
        delivered = answered or rng.random() < vocab.DELIVERY_RATE.get(route, 1.0)
        opened = answered or (delivered and rng.random() < vocab.OPEN_WITHOUT_ANSWER)
        started = answered or (opened and rng.random() < vocab.START_WITHOUT_ANSWER)
        opted_out = delivered and not answered and rng.random() < vocab.OPT_OUT_RATE
        return FunnelSteps(route, delivered, opened, started, opted_out)

    def _guess_hidden(self, contact: Mapping[str, Any], rng: random.Random) -> _Hidden:
        service = vocab.SERVICE_BY_CODE.get(contact.get("dienst", {}).get("code", ""))
        quality = service.quality if service else 0.62
        return _Hidden(
            satisfaction=_clip(quality + rng.gauss(0.0, 0.2), 0.0, 1.0),
            outcome="onbekend",
            wait_minutes=None,
            repeat_n=0,
            taal=contact.get("taal", "nld"),
            employee=None,
            plaatsgevonden_op=contact.get("plaatsgevondenOp") or iso(self.start),
        )

    @staticmethod
    def _answered_at(
        rng: random.Random,
        contact: Mapping[str, Any],
        invitation: Mapping[str, Any],
        dispatch: Sequence[str],
    ) -> datetime:
        base = parse_time(contact.get("plaatsgevondenOp") or invitation["createdAt"])
        created = invitation.get("createdAt")
        if created:
            # The trigger stamps invitations with its own clock; use it when it is close to
            # the contact (live demo), not when the contacts are simulated in the past.
            sent = parse_time(created)
            if timedelta(0) <= sent - base <= timedelta(days=1):
                base = sent
        if "inline" in dispatch:
            minutes = 0.5 + rng.random() * 4
        elif "sms" in dispatch and rng.random() < 0.5:
            minutes = _lognormal(rng, 30.0, 1.0)
        else:
            minutes = _lognormal(rng, 180.0, 1.2)
        return base + timedelta(minutes=min(minutes, 60 * 24 * 12))

    def _comment(
        self, rng: random.Random, band: str, contact: Mapping[str, Any], hidden: _Hidden
    ) -> list[str]:
        """Zero or more sentences that fit the band, the service and what happened."""
        chance = {"very_negative": 0.85, "negative": 0.65, "mixed": 0.35, "positive": 0.4,
                  "very_positive": 0.5}[band]  # fmt: skip
        if rng.random() >= chance:
            return []
        if hidden.taal != "nld" and (hidden.taal == "eng" or rng.random() < 0.3):
            return [rng.choice(vocab.ENGLISH[band])]

        service = vocab.SERVICE_BY_CODE.get(contact.get("dienst", {}).get("code", ""))
        kanaal = contact.get("kanaal", "")
        negative = band in ("very_negative", "negative")
        positive = band in ("positive", "very_positive")
        bank = {"very_negative": vocab.VERY_NEGATIVE, "negative": vocab.NEGATIVE,
                "mixed": vocab.MIXED, "positive": vocab.POSITIVE,
                "very_positive": vocab.VERY_POSITIVE}[band]  # fmt: skip
        specific = (service.complaints if negative else service.praise if positive else ()) or ()
        parts = [rng.choice(specific) if specific and rng.random() < 0.45 else rng.choice(bank)]
        if band == "very_negative" and rng.random() < 0.5:
            parts.append(rng.choice(vocab.NEGATIVE))
        remarks = vocab.CHANNEL_REMARKS.get(kanaal)
        if remarks and (negative or positive) and rng.random() < 0.4:
            parts.append(rng.choice(remarks[0] if negative else remarks[1]))
        if negative and hidden.outcome in vocab.OUTCOME_REMARKS and rng.random() < 0.6:
            parts.append(rng.choice(vocab.OUTCOME_REMARKS[hidden.outcome]))
        if negative and hidden.repeat_n > 0 and rng.random() < 0.6:
            parts.append(rng.choice(vocab.REPEAT_REMARKS))
        if band == "very_positive" and hidden.employee and rng.random() < 0.3:
            parts.append(rng.choice(vocab.EMPLOYEE_PRAISE))
        if band == "very_negative" and rng.random() < 0.25:
            parts.append(rng.choice(vocab.CALLBACK_REQUESTS))

        slots = {
            "wacht": str(max(hidden.wait_minutes or 0, 20 + rng.randrange(40))),
            "dagen": str(3 + rng.randrange(12)),
            "n": str(hidden.repeat_n + 1 if hidden.repeat_n else 3),
            "naam": hidden.employee or "de medewerker",
            # Invented contact details: realistic enough for the scrubber to have work.
            "telefoon": f"06-{rng.randrange(10_000_000, 100_000_000)}",
            "email": f"inwoner{rng.randrange(1000)}@example.nl",
        }
        parts = [p.format(**slots) for p in parts]
        if len(parts) > 1 and rng.random() < 0.2:
            parts[0], parts[1] = parts[1], parts[0]
        return parts

    # -- page feedback -------------------------------------------------------------------
    def page_feedback(self, when: datetime | None = None) -> CloudEvent:
        """One smiley (goed/matig/slecht) on a service page, with an optional comment."""
        rng = self._rng
        when = when or self.start
        weights = [s.volume * s.affinity.get("e-formulier", 1.0) for s in self._services]
        service = rng.choices(self._services, weights)[0]
        q = service.quality
        p_goed, p_slecht = 0.25 + 0.6 * q, 0.4 * (1 - q)
        roll = rng.random()
        rating = "goed" if roll < p_goed else "slecht" if roll > 1 - p_slecht else "matig"
        opmerking = None
        if rng.random() < {"goed": 0.2, "matig": 0.4, "slecht": 0.6}[rating]:
            opmerking = _style(rng, rng.choice(vocab.PAGE_FEEDBACK_COMMENTS[rating]), rating)
        who = rng.random()
        if who < 0.2:
            klant = self._new_citizen().klant  # signed in with DigiD
        elif who < 0.6:
            klant = self._pseudonyms.klant(self._uuid(), kind="sessie")
        else:
            klant = None
        feedback = PageFeedback(
            feedback_id=self._uuid(),
            pagina=self.website + service.pagina,
            beoordeling=rating,
            gegeven_op=iso(when),
            klant=klant,
            dienst=Dienst(service.code, service.naam),
            opmerking=opmerking,
        )
        return CloudEvent(
            id=self._uuid(),
            source=f"{self.source}/website",
            type=PAGE_FEEDBACK.name,
            data=feedback.to_dict(),
            time=feedback.gegeven_op,
            partitionkey=klant,
        )


_FAILED_NOTE: Mapping[str, str] = MappingProxyType(
    {
        "telefoon": "verbinding verbroken in de wachtrij",
        "e-formulier": "formulier niet afgerond",
        "balie": "inwoner had niet de juiste documenten bij zich",
        "e-mail": "vraag niet te beantwoorden, gegevens ontbreken",
        "chat": "chat afgebroken door inwoner",
        "whatsapp": "geen reactie meer van inwoner",
    }
)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _contact_from_invitation(invitation: Mapping[str, Any]) -> dict[str, Any]:
    """Enough of a contact to answer an invitation we did not generate ourselves."""
    return {
        "contactId": invitation["contactId"],
        "klant": invitation["klant"],
        "kanaal": invitation.get("kanaal", ""),
        "dienst": invitation.get("dienst", {}),
        "team": invitation.get("team", ""),
        "taal": "nld",
    }


def _place_comments(rng: random.Random, parts: list[str], asked: Sequence[str]) -> dict[str, str]:
    """Put the sentences under the questions: mostly under one, sometimes split over two."""
    if not parts:
        return {}
    weights = {"rapportcijfer": 0.5, "ces": 0.3, "nps": 0.2}
    options = list(asked)
    first = rng.choices(options, [weights[q] for q in options])[0]
    if len(parts) > 1 and len(options) > 1 and rng.random() < 0.25:
        second = rng.choice([q for q in options if q != first])
        return {first: parts[0], second: " ".join(parts[1:])}
    return {first: " ".join(parts)}


def _style(rng: random.Random, text: str, band: str) -> str:
    """How people really type: emoji, shouting, typos, no capitals or full stops."""
    negative = band in ("very_negative", "negative", "slecht")
    positive = band in ("positive", "very_positive", "goed")
    if band == "very_negative" and rng.random() < 0.25:
        text = text.upper().rstrip(".!") + "!!!"
    elif rng.random() < 0.12:
        text = text[0].lower() + text[1:].rstrip(".")
    if rng.random() < 0.15:
        text = _typo(rng, text)
    if (negative or positive) and rng.random() < 0.15:
        emoji = vocab.EMOJI_NEGATIVE if negative else vocab.EMOJI_POSITIVE
        text = f"{text} {rng.choice(emoji)}"
    return text


def _typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    kind = rng.random()
    if kind < 0.4:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]  # swapped letters
    elif kind < 0.7:
        w = w[:j] + w[j + 1 :]  # dropped letter
    else:
        w = w[:j] + w[j] + w[j:]  # doubled letter
    words[i] = w
    return " ".join(words)


# -- demo driver -----------------------------------------------------------------------------


def _embedded_invitations(runtime: Any) -> Callable[[], list[dict[str, Any]]]:
    """Reads new invitations from an EmbeddedRuntime's log, remembering how far it got."""
    position = {"after": 0}  # closure state, one per demo run

    def read() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            with runtime.log.transaction() as conn:
                rows = runtime.log.read(conn, [INVITATION.topic], position["after"], 5000)
            if not rows:
                return out
            position["after"] = rows[-1].offset
            out.extend(json.loads(r.value)["data"] for r in rows)

    return read


def _simulate_funnel(
    sim: ContactSimulator,
    invitation: Mapping[str, Any],
    answered: bool,
    visits: VisitRecorder,
    out: dict[str, list[CloudEvent]],
    counts: dict[str, int],
) -> None:
    steps = sim.funnel_steps(invitation, answered)
    invitation_id, klant = invitation["invitationId"], invitation["klant"]
    when = invitation.get("sendAt") or invitation["createdAt"]
    if steps.route != "inline":
        outcome = DispatchOutcome(
            outcome_id=derived_id("dispatch", invitation_id, "simulated"),
            invitation_id=invitation_id,
            klant=klant,
            route=steps.route,
            uitkomst="delivered" if steps.delivered else "failed",
            op=when,
            reden=None if steps.delivered else "SMTP 550 op RCPT TO (gesimuleerd)",
            pogingen=1,
            kanaal=invitation.get("kanaal"),
            dienst=Dienst.from_dict(invitation["dienst"]) if invitation.get("dienst") else None,
        )
        out[DISPATCH.topic].append(
            CloudEvent(
                id=outcome.outcome_id,
                source=f"{sim.source}/dispatch",
                type=DISPATCH.name,
                data=outcome.to_dict(),
                time=when,
                partitionkey=klant,
            )
        )
    for stage, done in (("opened", steps.opened), ("started", steps.started)):
        if done:
            visits.record_visit(invitation_id, stage)
            counts[stage] = counts.get(stage, 0) + 1
    if steps.opted_out:
        opt_out = OptOut(
            opt_out_id=derived_id("opt-out", invitation_id),
            klant=klant,
            gegeven_op=when,
            bron="vragenlijst"
            if steps.route == "inline"
            else steps.route.replace("email", "e-mail"),
            invitation_id=invitation_id,
        )
        out[OPT_OUT.topic].append(
            CloudEvent(
                id=opt_out.opt_out_id,
                source=f"{sim.source}/vragenlijst",
                type=OPT_OUT.name,
                data=opt_out.to_dict(),
                time=when,
                partitionkey=klant,
            )
        )
        counts["opt_outs"] = counts.get("opt_outs", 0) + 1


def run_demo(
    publisher: Any,
    n: int,
    *,
    simulator: ContactSimulator | None = None,
    batch_size: int = 500,
    feedback_ratio: float = 0.05,
    invitations: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
    progress: Callable[[int], None] | None = None,
    visits: VisitRecorder | None = None,
) -> dict[str, int]:
    """Publish n simulated contacts (plus page feedback) and the responses to their invitations.

    `publisher` is anything with `publish(topic, events)`. With an EmbeddedRuntime the
    pipeline runs after every batch and the invitations are read from its log; other
    publishers need `invitations`, a callable returning invitations (data) not yet seen,
    or get no responses. On an embedded log that already holds invitations the old ones
    are answered too; response ids follow from the invitation, so a repeat is idempotent.
    With `visits` (the questionnaire's VisitRecorder port) the rest of the response funnel
    is simulated too: delivery outcomes of e-mail/SMS, opened and started questionnaires,
    opt-outs. Returns counts per kind of event published.
    """
    sim = simulator or ContactSimulator()
    embedded = hasattr(publisher, "run_until_idle") and hasattr(publisher, "log")
    if invitations is None and embedded:
        invitations = _embedded_invitations(publisher)
    counts = {"contacts": 0, "page_feedback": 0, "invitations": 0, "responses": 0}
    owed = 0.0  # fractional page feedback carried over between batches

    def settle() -> None:
        if embedded:
            publisher.run_until_idle()
        if invitations is None:
            return
        responses: list[CloudEvent] = []
        extra: dict[str, list[CloudEvent]] = {OPT_OUT.topic: [], DISPATCH.topic: []}
        for invitation in invitations():
            counts["invitations"] += 1
            answer = sim.responses_for(invitation)
            responses.extend(answer)
            if visits is not None:
                _simulate_funnel(sim, invitation, bool(answer), visits, extra, counts)
        for topic, events in extra.items():
            if events:
                publisher.publish(topic, events)
        if responses:
            publisher.publish(RESPONSE.topic, responses)
            counts["responses"] += len(responses)
            if embedded:
                publisher.run_until_idle()

    remaining = n
    while remaining > 0:
        batch = sim.contacts(min(batch_size, remaining))
        publisher.publish(CONTACT.topic, batch)
        counts["contacts"] += len(batch)
        remaining -= len(batch)
        owed += len(batch) * feedback_ratio
        feedback = []
        while owed >= 1:
            owed -= 1
            # Web visitors leave smileys in the same hours as the contacts happen.
            feedback.append(
                sim.page_feedback(parse_time(batch[len(feedback) % len(batch)].time or ""))
            )
        if feedback:
            publisher.publish(PAGE_FEEDBACK.topic, feedback)
            counts["page_feedback"] += len(feedback)
        settle()
        if progress is not None:
            progress(len(batch))
    return counts
