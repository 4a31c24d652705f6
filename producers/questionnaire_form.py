"""The questionnaire form: parse, check (lengths first, then content), decide the follow-up.

Plain Python, no web framework: the form is a dict of lists of strings. Every error names
the field it is about (the id the error summary links to) and a text key with parameters,
so the page can say it in Dutch or English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pipeline.privacy import scrub
from schemas.models import Answer, Vervolg

MAX_COMMENT = 2000  # the schema's limit; checked on the raw text, before scrubbing
MAX_FIELDS = 100
QUESTIONS = ("ces", "nps", "rapportcijfer")
CAUSES = {
    "mis": ("wachttijd", "onduidelijk", "niet-opgelost", "doorverwezen", "bejegening"),
    "goed": ("snel", "duidelijk", "opgelost", "vriendelijk", "deskundig"),
}
CONTACT_CHOICES = ("nee", "telefoon", "email")
_PHONE = re.compile(r"\+?[0-9 ()-]{8,20}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}")

Form = dict[str, list[str]]


class FormUnreadable(ValueError):
    """Not UTF-8, or too many fields: nothing a person typed in our form."""


def parse_form(body: bytes) -> Form:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormUnreadable(type(exc).__name__) from None
    form: Form = {}
    for key, value in pairs:
        if "\x00" in value or "\x00" in key:
            raise FormUnreadable("NUL")
        form.setdefault(key, []).append(value)
    return form


def first(form: Form, name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


@dataclass(frozen=True)
class FieldError:
    field: str  # the id of the field (or of a group's first option) the summary links to
    key: str  # text key in producers/questionnaire_text.py
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, t: dict[str, str]) -> str:
        params = dict(self.params)
        if "what" in params:
            params["what"] = t[params["what"][0]].format(n=params["what"][1])
        return t[self.key].format(**params)


@dataclass
class Answers:
    scores: dict[str, Answer] = field(default_factory=dict)
    vervolg: Vervolg | None = None
    contact_via: str | None = None  # "telefoon" or "email"
    address: str | None = None  # the number or address; only for the callback book
    errors: list[FieldError] = field(default_factory=list)


def _score_range(name: str, ces_scale: int) -> tuple[int, int]:
    return {"ces": (1, ces_scale), "nps": (0, 10), "rapportcijfer": (1, 10)}[name]


def _too_long(form: Form, name: str, what: tuple[str, int | str]) -> FieldError | None:
    if len(first(form, name)) > MAX_COMMENT:
        return FieldError(name, "e_too_long", {"what": what, "max": MAX_COMMENT})
    return None


def parse_scores(form: Form, ces_scale: int, out: Answers) -> None:
    for n, name in enumerate(QUESTIONS, start=1):
        low, high = _score_range(name, ces_scale)
        raw = first(form, name).strip()
        too_long = _too_long(form, f"{name}_opmerking", ("what_q", n))
        if too_long:  # before scrubbing: the scrubber only ever sees bounded text
            out.errors.append(too_long)
            continue
        comment = scrub(first(form, f"{name}_opmerking").strip())[:MAX_COMMENT]
        if not raw:
            if comment:
                out.errors.append(FieldError(f"{name}-{low}", "e_comment_no_score", {"n": n}))
            continue
        # At most two ASCII digits before int(): 4,301 digits would exceed Python's limit.
        if not (len(raw) <= 2 and raw.isascii() and raw.isdecimal() and low <= int(raw) <= high):
            error = FieldError(f"{name}-{low}", "e_range", {"n": n, "low": low, "high": high})
            out.errors.append(error)
            continue
        schaal = ces_scale if name == "ces" else None
        out.scores[name] = Answer(score=int(raw), opmerking=comment or None, schaal=schaal)
    if not out.scores and not out.errors:
        out.errors.append(FieldError("ces-1", "e_none"))


def parse_contact(form: Form, out: Answers) -> None:
    choice = first(form, "contact")
    if choice not in ("", *CONTACT_CHOICES):
        out.errors.append(FieldError("contact-nee", "e_contact"))
        return
    if choice == "telefoon":
        number = first(form, "telefoon").strip()
        digits = sum(c.isdigit() for c in number)
        if len(number) > 20 or not _PHONE.fullmatch(number) or not 10 <= digits <= 15:
            out.errors.append(FieldError("telefoon", "e_telefoon"))
            return
        out.contact_via, out.address = "telefoon", number
    elif choice == "email":
        address = first(form, "email").strip()
        if len(address) > 254 or not _EMAIL.fullmatch(address):
            out.errors.append(FieldError("email", "e_email"))
            return
        out.contact_via, out.address = "email", address


def parse_followup(form: Form, kind: str, out: Answers) -> None:
    causes = form.get("oorzaak", [])
    if len(causes) > len(CAUSES[kind]) or any(c not in CAUSES[kind] for c in causes):
        out.errors.append(FieldError(f"oorzaak-{CAUSES[kind][0]}", "e_cause"))
        return
    too_long = _too_long(form, "toelichting", ("what_toelichting", ""))
    if too_long:
        out.errors.append(too_long)
        return
    toelichting = scrub(first(form, "toelichting").strip())[:MAX_COMMENT]
    unique = tuple(c for c in CAUSES[kind] if c in causes)
    out.vervolg = Vervolg(soort=kind, oorzaken=unique, toelichting=toelichting or None)


def followup_kind(scores: dict[str, Answer], ces_scale: int) -> str | None:
    """ "mis" for very negative answers, "goed" for very positive ones, else None."""
    ces, nps, cijfer = (scores.get(n) for n in QUESTIONS)
    if (
        (cijfer is not None and cijfer.score <= 4)
        or (nps is not None and nps.score <= 3)
        or (ces is not None and ces.score * 5 <= ces_scale)
    ):
        return "mis"
    high = [
        cijfer is None or cijfer.score >= 9,
        nps is None or nps.score >= 9,
        ces is None or ces.score * 10 >= ces_scale * 9,
    ]
    return "goed" if scores and all(high) else None
