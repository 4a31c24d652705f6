"""The invitation policy (pipeline/invitation_policy.py) and the trigger that applies it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.invitation_policy import PolicyError, load_policy, parse_policy
from pipeline.processing import process_record
from pipeline.settings import Settings
from pipeline.stages.trigger import TriggerStage
from pipeline.times import iso
from schemas.cloudevents import CloudEvent
from schemas.types import CONTACT, INVITATION
from schemas.validation import validate_data
from tests.support.events import contact_data, contact_event, envelope, klant

FRIDAY_LATE = datetime(2026, 11, 27, 15, 45, tzinfo=UTC)  # 16:45 in Amsterdam
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 10:00 in Amsterdam


class _State(dict):
    def put(self, key: str, value: dict[str, Any]) -> None:
        self[key] = value


def _states() -> dict[str, _State]:
    return {"last_invited": _State(), "opted_out": _State()}


def _decide(policy: Any, offered: tuple[str, ...] = ("inline",), **kw: Any) -> Any:
    args = {"klant": klant(1), "kanaal": "telefoon", "dienst": "paspoort", "now": NOW, **kw}
    return policy.decide(offered=offered, **args)


def test_shipped_policy_defaults() -> None:
    policy = load_policy()
    assert policy.quarantine_days == 30
    assert policy.rule("telefoon", "paspoort").expiry_days == 7
    assert policy.rule("brief", "paspoort").eligible is False
    decision = _decide(policy, offered=("inline",))
    assert decision.invite and decision.route == "inline" and decision.send_at == NOW
    assert decision.expires_at == NOW + timedelta(days=7) and decision.reminder_at is None


def test_sample_is_deterministic_per_klant_and_close_to_the_rate() -> None:
    policy = parse_policy({"sample_salt": "s1", "defaults": {"sample_rate": 0.3}})
    klanten = [klant(1000 + i) for i in range(3000)]
    chosen = [k for k in klanten if _decide(policy, klant=k).invite]
    assert 0.27 < len(chosen) / len(klanten) < 0.33
    again = parse_policy({"sample_salt": "s1", "defaults": {"sample_rate": 0.3}})
    assert chosen == [k for k in klanten if _decide(again, klant=k).invite], "a replay agrees"
    other_salt = parse_policy({"sample_salt": "s2", "defaults": {"sample_rate": 0.3}})
    assert chosen != [k for k in klanten if _decide(other_salt, klant=k).invite]
    assert _decide(parse_policy({"defaults": {"sample_rate": 0.0}})).reason == (
        "niet in de steekproef"
    )


def test_dienst_overrides_only_what_it_names() -> None:
    policy = parse_policy(
        {
            "kanaal": {"telefoon": {"routes": ["sms"], "expiry_days": 3}},
            "dienst": {"afval": {"expiry_days": 10}, "wmo": {"eligible": False}},
        }
    )
    assert policy.rule("telefoon", "afval").routes == ("sms",)
    assert policy.rule("telefoon", "afval").expiry_days == 10
    assert policy.rule("telefoon", "paspoort").expiry_days == 3
    assert not _decide(policy, dienst="wmo").invite
    # The first allowed route the contact offers; none allowed: no invitation.
    assert _decide(policy, offered=("email", "sms")).route == "sms"
    assert _decide(policy, offered=("inline", "email")).reason == "geen toegestane verzendroute"


def test_email_waits_for_office_hours_and_public_holidays() -> None:
    policy = load_policy()
    friday = _decide(policy, offered=("email",), now=FRIDAY_LATE)
    # 16:45 + 60 min is after closing: Monday 09:00 Amsterdam = 08:00 UTC.
    assert friday.send_at.astimezone(UTC) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert friday.reminder_at.astimezone(UTC) == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    koningsdag_eve = datetime(2026, 4, 26, 20, 0, tzinfo=UTC)  # Sunday; Monday 27 April is off
    tuesday = _decide(policy, offered=("email",), now=koningsdag_eve).send_at
    assert tuesday.astimezone(UTC) == datetime(2026, 4, 28, 7, 0, tzinfo=UTC)  # CEST
    at_once = _decide(policy.with_delay("email", 0), offered=("email",), now=FRIDAY_LATE)
    assert at_once.send_at == FRIDAY_LATE, "EMAIL_DELAY_SECONDS=0 sends at once"
    assert Settings(email_delay_seconds=0).invitation_policy().delay("email") == timedelta(0)


def test_a_reminder_that_would_come_after_expiry_is_dropped() -> None:
    policy = parse_policy({"defaults": {"expiry_days": 2, "reminder_after_hours": 72}})
    assert _decide(policy, offered=("email",)).reminder_at is None


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"kanaal": {"telefoon": {"sample_rate": 2}}}, "kanaal.telefoon.sample_rate"),
        ({"defaults": {"routes": ["post"]}}, "defaults.routes"),
        ({"defaults": {"verloop": 3}}, "defaults: unknown key"),
        ({"quarantine_days": -1}, "quarantine_days"),
        ({"office_hours": {"timezone": "Mars/Olympus"}}, "office_hours.timezone"),
        ({"office_hours": {"start": "negen uur"}}, "office_hours.start"),
        ({"routes": {"duif": {}}}, "routes.duif"),
    ],
)
def test_a_wrong_policy_names_the_key(raw: dict, key: str) -> None:
    with pytest.raises(PolicyError, match=key.replace(".", r"\.")):
        parse_policy(raw)


def test_policy_file_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "beleid.toml"
    path.write_text("quarantine_days = 90\n[dienst.afval]\neligible = false\n")
    policy = Settings(invitation_policy_file=str(path)).invitation_policy()
    assert policy.quarantine_days == 90 and not policy.rule("balie", "afval").eligible
    path.write_text("quarantine_days = [")
    with pytest.raises(PolicyError, match="beleid.toml"):
        load_policy(path)


def test_trigger_writes_the_decision_on_the_invitation() -> None:
    clock = lambda: FRIDAY_LATE  # noqa: E731
    stage = TriggerStage(link_key="k", policy=load_policy(), clock=clock)
    event = contact_event(
        taal="eng", bereikbaarheid={"enqueteToestemming": True, "kanalen": ["email"]}
    )
    [emit] = stage.process(CONTACT.topic, event, _states())
    data = emit.event.data
    assert validate_data(INVITATION.name, data) == []
    assert data["dispatch"] == ["email"] and data["taal"] == "eng"
    assert data["sendAt"] == "2026-11-30T08:00:00Z"
    assert data["expiresAt"] == "2026-12-07T08:00:00Z"
    assert data["reminderAt"] == "2026-12-03T08:00:00Z"


def test_contact_without_bereikbaarheid_is_not_invited() -> None:
    data = contact_data()
    del data["bereikbaarheid"]
    event = CloudEvent.from_structured(envelope(CONTACT.name, data))
    outcome = process_record(TriggerStage(link_key="k"), CONTACT.topic, event, _states(), "1")
    assert outcome.dead_letter is None and outcome.emits == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=24 * 200), min_size=1, max_size=40))
def test_no_two_invitations_within_the_quarantine_in_any_arrival_order(hours: list[int]) -> None:
    stage, states = TriggerStage(link_key="k"), _states()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    invited = []
    for h in hours:
        event = contact_event(klant=klant(9), plaatsgevondenOp=iso(start + timedelta(hours=h)))
        if stage.process(CONTACT.topic, event, states):
            invited.append(h)
    invited.sort()
    assert invited, "the first contact is always invited"
    assert all(b - a >= 30 * 24 for a, b in zip(invited, invited[1:], strict=False))
