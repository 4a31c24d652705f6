"""The contact simulator: valid events, deterministic, no BSNs, realistic distributions."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.privacy import Pseudonymiser, is_valid_bsn
from pipeline.sentiment import SentimentResult
from producers import simulator_data as vocab
from producers.simulator import ContactSimulator, run_demo
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, PAGE_FEEDBACK, RESPONSE
from schemas.validation import validate_event

KEY = "test-pseudonym-key"
LOCAL = ZoneInfo("Europe/Amsterdam")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _invitation(contact: CloudEvent, dispatch: Sequence[str] = ("email",)) -> dict:
    """What the trigger would make of a contact (only the fields the simulator reads)."""
    return {
        "invitationId": "inv-" + contact.data["contactId"],
        "contactId": contact.data["contactId"],
        "klant": contact.data["klant"],
        "kanaal": contact.data["kanaal"],
        "dienst": contact.data["dienst"],
        "team": contact.data["team"],
        "dispatch": list(dispatch),
    }


@pytest.fixture(scope="module")
def many() -> tuple[ContactSimulator, list[CloudEvent], list[CloudEvent]]:
    """4,000 contacts and a (forced) response to each one, shared by the statistical tests."""
    sim = ContactSimulator(seed=7, pseudonym_key=KEY)
    contacts = sim.contacts(4000)
    responses = [sim.response_for(c.data, _invitation(c), force=True) for c in contacts]
    return sim, contacts, [r for r in responses if r is not None]


def test_events_validate_against_the_schemas() -> None:
    sim = ContactSimulator(seed=1, pseudonym_key=KEY)
    contacts = sim.contacts(300)
    responses = [sim.response_for(c.data, _invitation(c), force=True) for c in contacts[:200]]
    feedback = [sim.page_feedback() for _ in range(60)]
    for event in [*contacts, *responses, *feedback]:
        assert event is not None
        validated = validate_event(event.to_structured())
        assert validated.partitionkey == event.data.get("klant")
    assert {e.type for e in contacts} == {CONTACT.name}
    assert {e.type for e in responses if e} == {RESPONSE.name}
    assert {e.type for e in feedback} == {PAGE_FEEDBACK.name}


def test_deterministic_by_seed() -> None:
    def run(seed: int) -> list[dict]:
        sim = ContactSimulator(seed=seed, pseudonym_key=KEY)
        contacts = sim.contacts(150)
        out = [c.to_structured() for c in contacts]
        out += [r.to_structured() for c in contacts for r in sim.responses_for(_invitation(c))]
        out += [sim.page_feedback().to_structured() for _ in range(10)]
        return out

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_response_does_not_depend_on_call_order() -> None:
    sim = ContactSimulator(seed=5, pseudonym_key=KEY)
    contacts = sim.contacts(50)
    forward = [sim.response_for(c.data, _invitation(c), force=True) for c in contacts]
    backward = [sim.response_for(c.data, _invitation(c), force=True) for c in reversed(contacts)]
    assert [r.to_structured() for r in forward] == [r.to_structured() for r in reversed(backward)]


def test_no_bsn_leaves_the_simulator() -> None:
    sim = ContactSimulator(seed=11, pseudonym_key=KEY)
    contacts = sim.contacts(600)
    events = contacts + [r for c in contacts for r in sim.responses_for(_invitation(c))]
    events += [sim.page_feedback() for _ in range(100)]
    text = "\n".join(json.dumps(e.to_structured(), ensure_ascii=False) for e in events)

    bsns = sim._known_bsns()
    assert len(bsns) > 400 and all(is_valid_bsn(b) for b in bsns)
    assert not [b for b in bsns if b in text]
    # Nor anything else that looks like one: a standalone 9-digit number passing the elfproef.
    candidates = re.findall(r"(?<![0-9A-Za-z])\d{9}(?![0-9A-Za-z])", text)
    assert not [c for c in candidates if is_valid_bsn(c)]
    # The klant keys are the pseudonyms of those BSNs, as at the ingestion edge.
    pseudonyms = Pseudonymiser(KEY)
    assert {c.data["klant"] for c in contacts} <= {pseudonyms.klant(b) for b in bsns}


def test_channel_mix_and_contact_properties(many) -> None:
    _, contacts, _ = many
    n = len(contacts)
    share = Counter(c.data["kanaal"] for c in contacts)
    assert abs(share["telefoon"] / n - 0.40) < 0.05
    assert abs(share["e-formulier"] / n - 0.25) < 0.05
    assert abs(share["balie"] / n - 0.15) < 0.04
    assert abs(share["e-mail"] / n - 0.10) < 0.04
    assert abs((share["chat"] + share["whatsapp"]) / n - 0.10) < 0.04

    failed = sum(not c.data["indicatieContactGelukt"] for c in contacts) / n
    confidential = sum(c.data["vertrouwelijk"] for c in contacts) / n
    consent = sum(c.data["bereikbaarheid"]["enqueteToestemming"] for c in contacts) / n
    dutch = sum(c.data["taal"] == "nld" for c in contacts) / n
    assert 0.05 < failed < 0.11
    assert 0.015 < confidential < 0.05
    assert 0.80 < consent < 0.90
    assert dutch > 0.9

    services = Counter(c.data["dienst"]["code"] for c in contacts)
    assert len(services) >= 20
    assert services["paspoort"] > services["hondenbelasting"]
    assert {c.data["team"] for c in contacts} >= {
        "KCC", "Burgerzaken", "Belastingen", "Wmo-team", "Stadsbeheer"
    }  # fmt: skip
    for c in contacts:
        kanalen = c.data["bereikbaarheid"]["kanalen"]
        assert set(kanalen) <= {"email", "sms", "inline"}
        if "inline" in kanalen:
            assert c.data["kanaal"] in ("e-formulier", "chat")


def test_office_hours_weekdays_and_order(many) -> None:
    _, contacts, _ = many
    times = [_time(c.data["plaatsgevondenOp"]) for c in contacts]
    assert times == sorted(times)
    assert times[0] >= datetime(2025, 3, 3, 7, 0, tzinfo=UTC)  # the default start
    weekend = 0
    for c, t in zip(contacts, times, strict=True):
        local = t.astimezone(LOCAL)
        if c.data["kanaal"] in vocab.STAFFED_CHANNELS:
            assert local.weekday() < 5
            assert 8.5 <= local.hour + local.minute / 60 < 20
        weekend += local.weekday() >= 5
    # Digital channels carry on at the weekend, but quietly.
    assert 0 < weekend < 0.1 * len(contacts)


def test_repeat_contacts_by_the_same_citizen(many) -> None:
    _, contacts, _ = many
    per_klant = Counter(c.data["klant"] for c in contacts)
    repeats = sum(v - 1 for v in per_klant.values())
    assert 0.08 < repeats / len(contacts) < 0.25
    same_service = Counter((c.data["klant"], c.data["dienst"]["code"]) for c in contacts)
    assert max(same_service.values()) >= 2


def test_responses_reference_their_invitation_and_contact() -> None:
    sim = ContactSimulator(seed=2, pseudonym_key=KEY)
    contacts = sim.contacts(3000)
    answered = 0
    for contact in contacts:
        invitation = _invitation(contact, dispatch=("email",))
        for response in sim.responses_for(invitation):
            answered += 1
            data = response.data
            assert data["invitationId"] == invitation["invitationId"]
            assert data["contactId"] == contact.data["contactId"]
            assert data["klant"] == contact.data["klant"] == response.partitionkey
            assert _time(data["answeredAt"]) > _time(contact.data["plaatsgevondenOp"])
    # e-mail invitations are answered by roughly one in six citizens.
    assert 0.12 < answered / len(contacts) < 0.22


def test_invitation_from_elsewhere_is_answered_from_the_invitation_alone() -> None:
    sim = ContactSimulator(seed=4, pseudonym_key=KEY)
    other = ContactSimulator(seed=99, pseudonym_key=KEY).contacts(400)
    invitations = [
        _invitation(c, ("inline",)) | {"createdAt": "2025-05-01T10:00:00Z"} for c in other
    ]
    responses = [r for inv in invitations for r in sim.responses_for(inv)]
    assert responses
    for r in responses:
        validate_event(r.to_structured())
        assert r.data["answeredAt"] >= "2025-05-01T10:00:00Z"


def test_scores_follow_service_quality(many) -> None:
    sim, contacts, responses = many
    by_contact = {c.data["contactId"]: c for c in contacts}
    cijfers: dict[str, list[int]] = {}
    for r in responses:
        code = by_contact[r.data["contactId"]].data["dienst"]["code"]
        cijfers.setdefault(code, []).append(r.data["rapportcijfer"]["score"])
    good = [s for code in ("paspoort", "verhuizing", "rijbewijs") for s in cijfers[code]]
    weak = [s for code in ("bijstand", "wmo-hulpmiddel", "jeugdhulp") for s in cijfers[code]]
    assert statistics.mean(good) - statistics.mean(weak) > 1.5
    overall = statistics.mean(r.data["rapportcijfer"]["score"] for r in responses)
    assert 6.0 < overall < 8.0  # a typical municipal rapportcijfer
    # The three answers tell one story.
    pairs = [(r.data["rapportcijfer"]["score"], r.data["nps"]["score"]) for r in responses
             if "nps" in r.data]  # fmt: skip
    assert statistics.correlation(*zip(*pairs, strict=True)) > 0.6


def _comments(response: CloudEvent) -> str:
    answers = (response.data.get(q, {}) for q in ("ces", "nps", "rapportcijfer"))
    return " ".join(a["opmerking"] for a in answers if a.get("opmerking"))


NEGATIVE_MARKERS = re.compile(
    r"\b(niet|geen|nooit|lang|wacht|schandalig|klacht|waardeloze?|belachelijk|niemand|"
    r"jammer|teleurstellend|nog steeds)\b|😡|😠|👎|🤬|!!!",
    re.IGNORECASE,
)  # fmt: skip
POSITIVE_MARKERS = re.compile(
    r"\b(snel|vriendelijke?|top|prima|duidelijke?|fijn|goed|super|bedankt|complimenten|"
    r"uitstekend|netjes|makkelijk)\b|👍|😊|🙂|👏|💯",
    re.IGNORECASE,
)  # fmt: skip


def test_comments_match_the_scores(many) -> None:
    _, _, responses = many
    low = [_comments(r) for r in responses if r.data["rapportcijfer"]["score"] <= 4]
    high = [_comments(r) for r in responses if r.data["rapportcijfer"]["score"] >= 8]
    low, high = [c for c in low if c], [c for c in high if c]
    assert len(low) > 50 and len(high) > 50

    def share(texts: list[str], pattern: re.Pattern[str]) -> float:
        return sum(bool(pattern.search(t)) for t in texts) / len(texts)

    assert share(low, NEGATIVE_MARKERS) > share(high, NEGATIVE_MARKERS) + 0.3
    assert share(high, POSITIVE_MARKERS) > share(low, POSITIVE_MARKERS) + 0.3
    # Unhappy citizens write more often, and some of them very angrily.
    low_all = [r for r in responses if r.data["rapportcijfer"]["score"] <= 4]
    assert sum(bool(_comments(r)) for r in low_all) / len(low_all) > 0.5
    assert any(re.search(r"schandalig|klacht|ombudsman|!!!", c, re.I) for c in low)
    # Not every respondent writes something.
    assert any(not _comments(r) for r in responses)


def test_comments_match_the_scores_for_the_lexicon_scorer(many) -> None:
    from pipeline.sentiment import lexicon_scorer

    try:
        scorer = lexicon_scorer()
    except Exception as exc:  # the sentiment package is another module's responsibility
        pytest.skip(f"lexicon scorer unavailable: {exc}")
    _, _, responses = many
    low = [c for r in responses if r.data["rapportcijfer"]["score"] <= 3 if (c := _comments(r))]
    high = [c for r in responses if r.data["rapportcijfer"]["score"] >= 9 if (c := _comments(r))]
    low_scores = [s.score for s in scorer.score_batch(low)]
    high_scores = [s.score for s in scorer.score_batch(high)]
    assert statistics.mean(low_scores) < 0 < statistics.mean(high_scores)


def test_page_feedback() -> None:
    sim = ContactSimulator(seed=8, pseudonym_key=KEY)
    feedback = [sim.page_feedback() for _ in range(600)]
    ratings = Counter(f.data["beoordeling"] for f in feedback)
    assert ratings["goed"] > ratings["matig"] > 0 and ratings["slecht"] > 0
    assert ratings["goed"] > ratings["slecht"]
    with_comment = [f for f in feedback if f.data.get("opmerking")]
    assert 0.15 < len(with_comment) / len(feedback) < 0.6
    assert all(f.data["pagina"].startswith("https://") for f in feedback)
    assert any("klant" not in f.data for f in feedback)  # anonymous visitors


class _StubScorer:
    """Stands in for the sentiment package: this test is about the simulator's events."""

    version = "stub"

    def score(self, text: str) -> SentimentResult:
        return SentimentResult("neu", 0.0, False, (), self.version, "nld")

    def score_batch(self, texts: Sequence[str]) -> list[SentimentResult]:
        return [self.score(t) for t in texts]


def test_run_demo_through_the_embedded_pipeline(tmp_path: Path) -> None:
    from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
    from pipeline.settings import Settings
    from pipeline.topology import DEAD_LETTER, build_topology

    settings = Settings(data_dir=tmp_path, api_token="t", pseudonym_key=KEY, link_key="links")
    event_log = EventLog(tmp_path / "log.db")
    runtime = EmbeddedRuntime(event_log, build_topology(settings, _StubScorer()))
    sim = ContactSimulator(seed=9, pseudonym_key=KEY)
    counts = run_demo(runtime, 400, simulator=sim, batch_size=100)

    assert counts["contacts"] == 400
    assert counts["page_feedback"] == 20
    assert 0 < counts["responses"] < counts["invitations"] < counts["contacts"]
    assert event_log.records(DEAD_LETTER) == []  # every response joined with its contact
    signals = event_log.records("scored-signals")
    assert len(signals) == counts["responses"] + counts["page_feedback"]
    invitations = {
        i["data"]["invitationId"]: i["data"] for i in event_log.records("survey-invitations")
    }
    for r in event_log.records("survey-responses"):
        invitation = invitations[r["data"]["invitationId"]]
        assert r["data"]["contactId"] == invitation["contactId"]
        assert r["data"]["klant"] == invitation["klant"]
