"""The alert policy: each rule, danger phrases, no false alarms, consent, due dates, repeats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.alertpolicy import PolicyError, default_policy, load_policy
from pipeline.processing import process_record
from pipeline.sentiment import lexicon_scorer
from pipeline.stages.alerting import AlertingStage, alert_for, alert_reasons
from pipeline.stages.scoring import SignalStage
from pipeline.terms import TermList, normalise
from schemas.cloudevents import new_event
from schemas.models import Dienst, Sentiment, Signal
from schemas.types import CONTACT, RESPONSE, SIGNAL
from schemas.validation import validate_data
from tests.pipeline.test_stages import DictState
from tests.support.events import contact_event, klant, response_event

POLICY = default_policy()
NEUTRAL = Sentiment("neu", 0.0, False, "v", "nld")
NEGATIVE = Sentiment("neg", -0.4, False, "v", "nld")
VERY_NEGATIVE = Sentiment("neg", -0.9, True, "v", "nld", ("schandalig",))
PASPOORT = {"code": "paspoort", "naam": "Paspoort aanvragen"}


def signal(**overrides: Any) -> Signal:
    base: dict[str, Any] = dict(
        signal_id="s-1",
        bron="response",
        klant=klant(0),
        ontvangen_op="2026-11-25T10:00:00Z",  # a Wednesday
        sentiment=NEUTRAL,
        team="KCC",
        dienst=Dienst("paspoort", "Paspoort aanvragen"),
        kanaal="telefoon",
        response_id="r-1",
        contact_id="c-1",
        terugbel_toestemming=True,
    )
    base.update(overrides)
    return Signal(**base)


def reasons(**overrides: Any) -> list[str]:
    return alert_reasons(signal(**overrides), POLICY)


# -- score rules ------------------------------------------------------------------------------


def test_each_score_rule_alone() -> None:
    assert reasons(sentiment=VERY_NEGATIVE) == ["zeer negatieve opmerking (schandalig)"]
    assert reasons(rapportcijfer=3) == ["rapportcijfer 3"]
    assert reasons(rapportcijfer=4) == []
    assert reasons(nps=3, sentiment=NEGATIVE) == ["NPS 3 met negatieve opmerking"]
    assert reasons(nps=3, sentiment=NEUTRAL) == [], "a low NPS alone is no alert"
    assert reasons(nps=4, sentiment=NEGATIVE) == []
    assert reasons(ces=1, ces_schaal=5, sentiment=NEGATIVE) == [
        "CES 1 van 5 met negatieve opmerking"
    ]
    assert reasons(ces=2, ces_schaal=5, sentiment=NEGATIVE) == []
    assert reasons(ces=2, ces_schaal=10, sentiment=NEGATIVE) == [
        "CES 2 van 10 met negatieve opmerking"
    ]
    assert reasons(rapportcijfer=9, nps=10, ces=5, ces_schaal=5) == []


def test_severity_middel_alone_hoog_combined_or_very_negative() -> None:
    assert alert_for(signal(rapportcijfer=2), POLICY).ernst == "middel"
    assert alert_for(signal(sentiment=VERY_NEGATIVE), POLICY).ernst == "hoog"
    both = alert_for(signal(rapportcijfer=2, nps=1, sentiment=NEGATIVE), POLICY)
    assert both.ernst == "hoog" and len(both.redenen) == 2


# -- terms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "reason_part"),
    [
        ("Ik ga een klacht indienen.", '"klacht*"'),
        ("Waar is het KLACHTENFORMULIER?", '"klacht*"'),
        ("Nog steeds geen reactie op mijn klacht.", '"klacht*"'),  # geen governs "reactie"
        ("Geen idee wat jullie doen. Klacht volgt.", '"klacht*"'),  # other clause
        ("Ik maak bezwaar tegen dit besluit", '"bezwaar"'),
        ("Ik word van het kastje naar de muur gestuurd", '"van het kastje naar de muur"'),
        ("Van kastje naar muur, elke keer weer", '"van kastje naar muur"'),
        ("Mijn advocaat neemt contact op", '"advocaat"'),
        ("Ik stap naar de Nationale Ombudsman", '"nationale ombudsman"'),
        ("Dan maar naar de rechter!", '"naar de rechter"'),
    ],
)
def test_escalation_terms_give_a_reason(comment: str, reason_part: str) -> None:
    found = reasons(opmerking=comment)
    assert any(reason_part in r for r in found), found
    assert alert_for(signal(opmerking=comment), POLICY).ernst in ("middel", "hoog")


@pytest.mark.parametrize(
    "comment",
    [
        "Ik heb geen klacht, alles ging prima",
        "Ik heb geen enkele klacht over de medewerker",
        "Ik heb er geen bezwaar tegen dat u belt",
        "Ik hoef geen advocaat, het is opgelost",
        "Ik ga echt niet naar de rechter hoor",
        "Zonder klachten geholpen",
        "Ik zie het wel zitten met de nieuwe regeling",
        "Ik zie het helemaal zitten!",
        "Ik maak het formulier morgen af",
        "De aanslag van de gemeentebelasting klopt niet",
        "De wachtruimte zat bomvol",
        "Het dreigt mis te gaan met mijn aanvraag",
        "Ik heb mezelf aangemeld voor de nieuwsbrief",
        "Laten we de handen in elkaar slaan",
        "Ik schiet niet op met deze website",
        "Het ging prima, ik zie geen problemen",
    ],
)
def test_benign_phrasings_give_no_alert(comment: str) -> None:
    assert reasons(opmerking=comment, rapportcijfer=8) == [], comment


@pytest.mark.parametrize(
    "comment",
    [
        "Ik zie het niet meer zitten",
        "ik zie het ECHT niet meer zitten met al die brieven",
        "Ik zie 't allemaal niet meer zitten",
        "Ik zie het leven niet meer zitten",
        "Als dit zo doorgaat doe ik mezelf iets aan",
        "ik doe mezelf echt iets aan",
        "Ik denk erover om mijzelf iets aan te doen",
        "Ik denk aan zelfmoord",
        "SUÏCIDE is de enige uitweg",
        "ik wil niet meer leven zo",
        "Ik zie geen uitweg",
        "Ik weet waar u woont",
        "Ik maak jullie af",
        "Ik vermoord die ambtenaar",
        "Ik steek het gemeentehuis in de fik",
        "Ik sla je helemaal in elkaar",
        "Er ligt straks een bom bij de balie",
    ],
)
def test_danger_phrases_are_urgent(comment: str) -> None:
    alert = alert_for(signal(opmerking=comment, rapportcijfer=7), POLICY)
    assert alert is not None, comment
    assert alert.ernst == "urgent", comment
    assert any("mogelijk gevaar" in r for r in alert.redenen)
    # Urgent: due before the end of the working day it came in on.
    assert alert.uiterlijk_op == "2026-11-25T16:00:00Z"


def test_danger_terms_are_not_negation_aware_escalation_terms_are() -> None:
    assert any("gevaar" in r for r in reasons(opmerking="Ik denk niet aan zelfmoord hoor"))
    assert reasons(opmerking="Geen klacht") == []


def test_matching_is_on_whole_words_without_accents() -> None:
    terms = TermList.of(["officiële klacht", "bom"])
    assert terms.find("Een OFFICIELE klacht") == ["officiële klacht"]
    assert terms.find("bommetje, bomvol, bombarie") == []
    assert normalise("Suïcide Één") == "suicide een"


def test_longest_term_wins_and_reason_quotes_the_policy_not_the_citizen() -> None:
    found = reasons(opmerking="Ik ga naar de rechter, mijn advocaat is ingelicht")
    assert found == [
        'dreigt met juridische stappen ("naar de rechter")',
        'dreigt met juridische stappen ("advocaat")',
    ]


# -- consent, due dates, one alert per response ------------------------------------------


def test_consent_gives_callback_otherwise_process_improvement_without_contact_route() -> None:
    callback = alert_for(signal(rapportcijfer=1, terugbel_toestemming=True), POLICY)
    assert callback.soort == "terugbellen" and callback.terugbel_toestemming is True
    team_signal = alert_for(signal(rapportcijfer=1, terugbel_toestemming=False), POLICY)
    assert team_signal.soort == "procesverbetering"
    assert team_signal.terugbel_toestemming is False
    data = team_signal.to_dict()
    validate_data("alert.v1.json", data)
    keys = " ".join(data).lower()
    for route in ("telefoon", "mail", "bereikbaarheid", "adres", "nummer"):
        assert route not in keys, route
    assert "@" not in json.dumps(data)


@pytest.mark.parametrize(
    ("created", "rapportcijfer", "due"),
    [
        # middel: 3 working days; Friday 27 Nov 2026 -> Wednesday 2 Dec 17:00 CET.
        ("2026-11-27T10:00:00Z", 3, "2026-12-02T16:00:00Z"),
        # hoog (two reasons): 1 working day; Thursday 24 Dec 2026 -> Monday 28 Dec.
        ("2026-12-24T10:00:00Z", 1, "2026-12-28T16:00:00Z"),
    ],
)
def test_due_date_from_service_level_per_severity(
    created: str, rapportcijfer: int, due: str
) -> None:
    sentiment = NEGATIVE if rapportcijfer == 1 else NEUTRAL
    alert = alert_for(
        signal(ontvangen_op=created, rapportcijfer=rapportcijfer, nps=0, sentiment=sentiment),
        POLICY,
    )
    assert alert.uiterlijk_op == due


def test_one_alert_per_response_with_a_stable_id() -> None:
    s = signal(rapportcijfer=1, nps=0, sentiment=VERY_NEGATIVE, opmerking="klacht! advocaat!")
    event = new_event(SIGNAL.name, s.to_dict(), source="/t", key=s.klant)
    first = AlertingStage(POLICY).process(SIGNAL.topic, event, {})
    again = AlertingStage(POLICY).process(SIGNAL.topic, event, {})
    assert len(first) == 1 and len(first[0].event.data["redenen"]) >= 4
    assert first[0].event.id == again[0].event.id
    validate_data("alert.v1.json", first[0].event.data)


# -- repeat contact -----------------------------------------------------------------------


def moment(at: str, kanaal: str = "telefoon", dienst: dict | None = None) -> dict[str, Any]:
    return {
        "plaatsgevondenOp": at,
        "kanaal": kanaal,
        "dienst": dienst or PASPOORT,
        "team": "KCC",
        "gelukt": False,
    }


def test_three_contacts_on_one_service_within_30_days() -> None:
    history = (
        moment("2026-11-01T09:00:00Z"),
        moment("2026-11-10T09:00:00Z"),
        moment("2026-11-24T09:00:00Z"),
    )
    alert = alert_for(signal(rapportcijfer=2, contacthistorie=history), POLICY)
    assert "van het kastje naar de muur: 3 contacten over Paspoort aanvragen in 30 dagen" in (
        alert.redenen
    )
    assert [m["plaatsgevondenOp"] for m in alert.contacthistorie] == [
        m["plaatsgevondenOp"] for m in history
    ]
    # One of them 31 days before: only two within the window.
    older = (moment("2026-10-25T09:00:00Z"), *history[1:])
    assert not any("kastje" in r for r in reasons(rapportcijfer=2, contacthistorie=older))


def test_two_channels_within_14_days() -> None:
    history = (moment("2026-11-20T09:00:00Z", "telefoon"), moment("2026-11-24T09:00:00Z", "balie"))
    found = reasons(rapportcijfer=2, contacthistorie=history)
    assert "van het kastje naar de muur: contact via 2 kanalen (telefoon, balie) in 14 dagen" in (
        found
    )
    apart = (moment("2026-11-01T09:00:00Z", "telefoon"), moment("2026-11-24T09:00:00Z", "balie"))
    assert not any("kanalen" in r for r in reasons(rapportcijfer=2, contacthistorie=apart))


def test_repeat_contact_alone_adds_to_an_alert_but_makes_none() -> None:
    history = tuple(moment(f"2026-11-{d:02d}T09:00:00Z") for d in (5, 12, 19))
    assert reasons(rapportcijfer=8, contacthistorie=history) == []


def test_join_keeps_gelukt_and_carries_30_days_of_contacts_on_the_signal() -> None:
    stage = SignalStage(scorer=lexicon_scorer())
    states = {"contacts": DictState(), "pending": DictState()}
    who = klant(2)
    old = contact_event(klant=who, plaatsgevondenOp="2026-10-01T09:00:00Z")
    failed = contact_event(
        klant=who,
        plaatsgevondenOp="2026-11-20T09:00:00Z",
        indicatieContactGelukt=False,
        kanaal="e-mail",
    )
    last = contact_event(klant=who, plaatsgevondenOp="2026-11-23T10:00:00Z")
    for i, c in enumerate((old, failed, last)):
        process_record(stage, CONTACT.topic, c, states, str(i))
    response = response_event(
        {"invitationId": "i", "contactId": last.data["contactId"], "klant": who},
        rapportcijfer={"score": 2},
    )
    [out] = process_record(stage, RESPONSE.topic, response, states, "9").emits
    validate_data("signal.v1.json", out.event.data)
    history = out.event.data["contacthistorie"]
    assert [(m["kanaal"], m["gelukt"]) for m in history] == [("e-mail", False), ("telefoon", True)]
    assert history[-1]["contactId"] == last.data["contactId"]


# -- the policy file ----------------------------------------------------------------------


def test_own_policy_file_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "beleid.toml"
    path.write_text(
        """
[servicelevel]
urgent = 0
hoog = 2
middel = 5

[[regel]]
naam = "cijfer"
rapportcijfer_max = 5
ernst = "hoog"
reden = "cijfer {rapportcijfer} is te laag"

[termen.eigen]
woorden = ["wethouder"]
reden = "noemt de {term}"
"""
    )
    policy = load_policy(path)
    alert = alert_for(signal(rapportcijfer=5, ontvangen_op="2026-11-27T10:00:00Z"), policy)
    assert alert.redenen == ("cijfer 5 is te laag",) and alert.ernst == "hoog"
    assert alert.uiterlijk_op == "2026-12-01T16:00:00Z"  # Friday + 2 working days
    assert alert_reasons(signal(opmerking="ik bel de Wethouder"), policy) == ["noemt de wethouder"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[servicelevel]\nurgent = -1\nhoog = 1\nmiddel = 3\n", "servicelevel.urgent"),
        ("[[regel]]\nnaam = 'x'\nreden = 'x'\nnps_maximum = 3\n", "regel[0].nps_maximum"),
        ("[[regel]]\nreden = 'x'\nernst = 'heel hoog'\nnps_max = 3\n", "regel[0].ernst"),
        ("[termen.x]\nwoorden = ['...']\n", "term"),
        ("[werkdagen]\nbevrijdingsdag = 'soms'\n", "bevrijdingsdag"),
        ("[herhaald_contact]\nvenster_dagen = 60\n", "herhaald_contact.venster_dagen"),
        ("kleur = 'blauw'\n", "kleur"),
    ],
)
def test_wrong_policy_files_are_refused_with_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "fout.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_policy(path)


# -- properties ---------------------------------------------------------------------------

_FILLER = st.lists(
    st.sampled_from(["het", "gewoon", "echt", "de", "brief", "gemeente", "vandaag", "dus"]),
    max_size=6,
).map(" ".join)
_DANGER = [
    "ik zie het niet meer zitten",
    "ik doe mezelf iets aan",
    "ik denk aan zelfmoord",
    "ik weet waar u woont",
]


def _variant(text: str, flips: list[bool]) -> str:
    accents = {"e": "é", "i": "ï", "o": "ó"}
    out = []
    for ch, flip in zip(text, flips + [False] * len(text), strict=False):
        out.append(accents.get(ch, ch.upper()) if flip else ch)
    return "".join(out)


@settings(max_examples=60, deadline=None)
@given(
    phrase=st.sampled_from(_DANGER),
    before=_FILLER,
    after=_FILLER,
    flips=st.lists(st.booleans(), max_size=40),
    punctuation=st.sampled_from([".", "!", "...", ",", " -"]),
)
def test_danger_is_found_whatever_the_case_accents_and_surrounding_words(
    phrase: str, before: str, after: str, flips: list[bool], punctuation: str
) -> None:
    comment = f"{before}{punctuation} {_variant(phrase, flips)}{punctuation} {after}"
    alert = alert_for(signal(opmerking=comment), POLICY)
    assert alert is not None and alert.ernst == "urgent", comment


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(
            [
                "ik",
                "zie",
                "het",
                "wel",
                "zitten",
                "helemaal",
                "doe",
                "mezelf",
                "een",
                "plezier",
                "maak",
                "formulier",
                "af",
                "aanslag",
                "bomvol",
                "geen",
                "klacht",
                "bezwaar",
                "tegen",
            ]
        ),
        max_size=12,
    )
)
def test_benign_look_alike_words_in_any_order_never_give_urgent(words: list[str]) -> None:
    """Words of the benign look-alikes ("ik zie het wel zitten", "ik maak het formulier af",
    "aanslag", "bomvol"), in any order: a guard against too broad danger patterns."""
    comment = " ".join(words)
    alert = alert_for(signal(opmerking=comment), POLICY)
    urgent = alert is not None and alert.ernst == "urgent"
    assert not urgent, comment
