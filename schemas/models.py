"""Typed models of the event payloads (the `data` of each CloudEvent).

Field names are snake_case here and camelCase on the wire (as in the JSON Schemas and
the VNG Klantinteracties standard); `to_dict`/`from_dict` translate. A test checks that
every model field exists in its schema, so the two cannot drift apart silently.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Self, TypeVar

from schemas.fastinit import fast_init

_CAMEL = re.compile(r"_([a-z])")
_SNAKE = re.compile(r"([A-Z])")


@cache
def wire_name(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


@lru_cache(maxsize=4096)  # bounded: the names come from records
def field_name(name: str) -> str:
    return _SNAKE.sub(lambda m: "_" + m.group(1).lower(), name)


@cache
def _wire_fields(cls: type) -> tuple[tuple[str, str], ...]:
    """(field name, wire name) of a model class, in field order (computed once per class)."""
    return tuple((f.name, wire_name(f.name)) for f in dataclasses.fields(cls))


@cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


class Model:
    """Mixin: dict <-> dataclass with camelCase keys; None-valued optionals are left out."""

    NESTED: dict[str, type[Model]] = {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, wire in _wire_fields(type(self)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, Model):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[wire] = value
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Self:
        kwargs: dict[str, Any] = {}
        known = _wire_map(cls)
        for key, value in raw.items():
            found = known.get(key)
            if found is None:  # not a wire name: as before, whatever field_name makes of it
                name = field_name(key)
                if name not in _field_names(cls):
                    continue  # unknown wire fields are the schema's business, not the model's
                found = (name, cls.NESTED.get(name))
            name, nested = found
            if nested is not None and isinstance(value, dict):
                value = nested.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return _built(cls, kwargs)


M = TypeVar("M", bound=Model)
_PARSED: dict[int, tuple[dict[str, Any], Any]] = {}  # id(data) -> (data, model)
_PARSED_MAX = 4096


def parsed(cls: type[M], data: dict[str, Any]) -> M:
    """cls.from_dict(data), once per data dict for the stages that read the same event
    (the embedded runtime hands trigger, join and monitor-feed one decoded contact). Events
    are read-only to the stages, and models are frozen; the entry keeps `data` alive, so
    its id is not reused while it is remembered."""
    found = _PARSED.get(id(data))
    if found is not None and found[0] is data and type(found[1]) is cls:
        return found[1]
    model = cls.from_dict(data)
    remember_parsed(data, model)
    return model


def remember_parsed(data: dict[str, Any], model: Model) -> None:
    """`parsed(type(model), data)` gives `model` from now on: for a stage that made `data`
    as `model.to_dict()`, of a model that `from_dict` makes again equal (field by field,
    containers of the same types), so the stages reading the event it emits do not parse
    it back (the signals stage's Signal, read by alerting and monitor-feed)."""
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[id(data)] = (data, model)


@cache
def _init_plan(cls: type) -> tuple[frozenset[str], dict[str, Any]] | None:
    """(required field names, defaults of the others) of a model whose __init__ only sets
    its fields; None for any other (then its __init__ is called)."""
    fields = dataclasses.fields(cls)
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        return None
    if any(f.default_factory is not dataclasses.MISSING or not f.init for f in fields):
        return None
    required = frozenset(f.name for f in fields if f.default is dataclasses.MISSING)
    return required, {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}


def _built(cls: type[Any], kwargs: dict[str, Any]) -> Any:
    """cls(**kwargs) for field names of a model, without the frozen dataclass's __init__
    (one object.__setattr__ per field): an equal object, several times faster (stages
    build one or two models per record). Missing required fields go through __init__,
    which raises as before."""
    plan = _init_plan(cls)
    if plan is None or not plan[0] <= kwargs.keys():
        return cls(**kwargs)
    obj = object.__new__(cls)
    fields = obj.__dict__
    fields.update(plan[1])
    fields.update(kwargs)
    return obj


@cache
def _wire_map(cls: type[Model]) -> dict[str, tuple[str, type[Model] | None]]:
    """Wire name -> (field name, nested model) of a class, computed once (from_dict runs
    for every record a stage reads)."""
    return {
        wire: (name, cls.NESTED.get(name))
        for name, wire in _wire_fields(cls)
        if field_name(wire) == name
    }


@dataclass(frozen=True)
class Dienst(Model):
    """The service (product) a contact was about."""

    code: str
    naam: str


@dataclass(frozen=True)
class Bereikbaarheid(Model):
    enquete_toestemming: bool
    kanalen: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contact(Model):
    NESTED = {"dienst": Dienst, "bereikbaarheid": Bereikbaarheid}

    contact_id: str
    klant: str
    kanaal: str
    onderwerp: str
    indicatie_contact_gelukt: bool
    taal: str
    vertrouwelijk: bool
    plaatsgevonden_op: str
    dienst: Dienst
    team: str
    inhoud: str | None = None
    hoofd_onderwerp_type: str | None = None
    referentienummer: str | None = None
    actor: str | None = None
    bereikbaarheid: Bereikbaarheid | None = None


@dataclass(frozen=True)
class Invitation(Model):
    NESTED = {"dienst": Dienst}

    invitation_id: str
    contact_id: str
    klant: str
    token: str
    kanaal: str
    dienst: Dienst
    team: str
    dispatch: tuple[str, ...]
    created_at: str
    expires_at: str
    taal: str | None = None
    send_at: str | None = None
    reminder_at: str | None = None


@dataclass(frozen=True)
class Answer(Model):
    score: int
    opmerking: str | None = None
    schaal: int | None = None  # only CES has a configurable scale


@dataclass(frozen=True)
class Vervolg(Model):
    """The adaptive follow-up: what went wrong ("mis") or well ("goed"), and why."""

    soort: str
    oorzaken: tuple[str, ...] = ()
    toelichting: str | None = None


@dataclass(frozen=True)
class Response(Model):
    NESTED = {"ces": Answer, "nps": Answer, "rapportcijfer": Answer, "vervolg": Vervolg}

    response_id: str
    invitation_id: str
    contact_id: str
    klant: str
    answered_at: str
    terugbel_toestemming: bool
    ces: Answer | None = None
    nps: Answer | None = None
    rapportcijfer: Answer | None = None
    revisie: int | None = None
    vervolg: Vervolg | None = None
    contact_via: str | None = None

    def comments(self) -> list[str]:
        texts = [a.opmerking for a in (self.ces, self.nps, self.rapportcijfer) if a is not None]
        if self.vervolg is not None:
            texts.append(self.vervolg.toelichting)
        return [t.strip() for t in texts if t and t.strip()]


@dataclass(frozen=True)
class PageFeedback(Model):
    NESTED = {"dienst": Dienst}

    feedback_id: str
    pagina: str
    beoordeling: str
    gegeven_op: str
    klant: str | None = None
    dienst: Dienst | None = None
    opmerking: str | None = None


@dataclass(frozen=True)
class Sentiment(Model):
    label: str
    score: float
    very_negative: bool
    model_version: str
    language: str
    explanation: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # The sentiment block keeps the scorer's own snake_case keys (see signal.v1.json).
        return {
            "label": self.label,
            "score": self.score,
            "very_negative": self.very_negative,
            "explanation": list(self.explanation),
            "model_version": self.model_version,
            "language": self.language,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Self:
        return cls(
            label=raw["label"],
            score=raw["score"],
            very_negative=raw["very_negative"],
            model_version=raw["model_version"],
            language=raw["language"],
            explanation=tuple(raw.get("explanation", ())),
        )


@dataclass(frozen=True)
class Signal(Model):
    NESTED = {"dienst": Dienst, "sentiment": Sentiment}

    signal_id: str
    bron: str
    klant: str
    ontvangen_op: str
    sentiment: Sentiment
    response_id: str | None = None
    feedback_id: str | None = None
    contact_id: str | None = None
    kanaal: str | None = None
    dienst: Dienst | None = None
    team: str | None = None
    contact_op: str | None = None
    ces: int | None = None
    ces_schaal: int | None = None
    nps: int | None = None
    rapportcijfer: int | None = None
    beoordeling: str | None = None
    opmerking: str | None = None
    terugbel_toestemming: bool | None = None
    # The klant's contacts of the last 30 days (ContactMoment dicts, wire keys), oldest first.
    contacthistorie: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class Alert(Model):
    NESTED = {"dienst": Dienst}

    alert_id: str
    signal_id: str
    klant: str
    team: str
    ernst: str
    redenen: tuple[str, ...]
    terugbel_toestemming: bool
    aangemaakt_op: str
    response_id: str | None = None
    contact_id: str | None = None
    kanaal: str | None = None
    dienst: Dienst | None = None
    opmerking: str | None = None
    soort: str | None = None  # "terugbellen" (consent given) or "procesverbetering"
    uiterlijk_op: str | None = None  # due date from the service level in working days
    contacthistorie: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class Bewijs(Model):
    """The evidence of a service alert: what the control chart saw (docs/monitoring.md)."""

    basislijn: float
    huidige_waarde: float
    limiet: float
    statistiek: float
    venster_start: str
    venster_einde: str
    aantal: int
    aantal_slecht: int
    ontwerpverschuiving: float | None = None
    arl0: float | None = None
    voorbeeld_opmerkingen: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceAlert(Model):
    NESTED = {"dienst": Dienst, "bewijs": Bewijs}

    service_alert_id: str
    dienst: Dienst
    metriek: str
    waarde: float
    drempel: float
    venster: str
    aangemaakt_op: str
    team: str | None = None
    aantal: int | None = None
    kanaal: str | None = None
    status: str | None = None
    herstel_van: str | None = None
    bewijs: Bewijs | None = None


@dataclass(frozen=True)
class MonitorObservation(Model):
    """Outcomes of one contact, answer or page feedback for the monitor (no klant)."""

    NESTED = {"dienst": Dienst}

    observation_id: str
    bron: str
    oorzaak_id: str
    dienst: Dienst
    kanaal: str
    waargenomen_op: str
    uitkomsten: dict[str, bool]
    opmerking: str | None = None
    contact_id: str | None = None  # bron invitation: invited for it; response: answers it
    bronpositie: dict[str, Any] | None = None  # input log, offset, item (monitoring/dedup.py)


@dataclass(frozen=True)
class MonitorObservations(Model):
    """The observations of one service and channel from one run of records, in order; each
    item is a MonitorObservation's wire form without dienst and kanaal."""

    NESTED = {"dienst": Dienst}

    dienst: Dienst
    kanaal: str
    observaties: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class OptOut(Model):
    opt_out_id: str
    klant: str
    gegeven_op: str
    bron: str
    invitation_id: str | None = None


@dataclass(frozen=True)
class AlertStatus(Model):
    """A change of an alert in the caseworker inbox (claim, callback attempt, resolve, ...)."""

    alert_id: str
    team: str
    status: str
    handeling: str
    door: str
    op: str
    uitkomst: str | None = None
    categorie: str | None = None
    toegewezen_aan: str | None = None


@dataclass(frozen=True)
class DispatchOutcome(Model):
    """What dispatch did with an e-mail or SMS invitation (never the address itself)."""

    NESTED = {"dienst": Dienst}

    outcome_id: str
    invitation_id: str
    klant: str
    route: str
    uitkomst: str  # delivered | failed | reminded | expired
    op: str
    reden: str | None = None
    pogingen: int | None = None
    kanaal: str | None = None
    dienst: Dienst | None = None


MODELS: dict[str, type[Model]] = {
    "contact.v1.json": Contact,
    "invitation.v1.json": Invitation,
    "response.v1.json": Response,
    "page-feedback.v1.json": PageFeedback,
    "signal.v1.json": Signal,
    "alert.v1.json": Alert,
    "service-alert.v1.json": ServiceAlert,
    "opt-out.v1.json": OptOut,
    "alert-status.v1.json": AlertStatus,
    "dispatch.v1.json": DispatchOutcome,
    "monitor-observation.v1.json": MonitorObservation,
    "monitor-observations.v1.json": MonitorObservations,
}

# Stages make several models per record (observations, invitations, signals): each gets
# the __init__ that fills its fields in one step (schemas/fastinit.py), not one
# object.__setattr__ per field.
for _model in Model.__subclasses__():
    fast_init(_model)

__all__ = [
    "Alert",
    "AlertStatus",
    "Answer",
    "Bereikbaarheid",
    "Bewijs",
    "Contact",
    "Dienst",
    "DispatchOutcome",
    "Invitation",
    "MODELS",
    "Model",
    "MonitorObservation",
    "MonitorObservations",
    "OptOut",
    "PageFeedback",
    "Response",
    "Sentiment",
    "ServiceAlert",
    "Signal",
    "Vervolg",
]
