"""The web kit without HTTP: roles and scopes, the alert workflow, passwords and lock-out,
tokens and sessions in the accounts store, the CSP hashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.alert_workflow import Action, ActionRefused, AlertState, apply
from pipeline.web import authz
from pipeline.web.accounts import AccountError, AccountStore
from pipeline.web.authz import Principal
from pipeline.web.security import content_security_policy, style_hashes

PASSWORD = "correct horse battery staple"


def user(role: str, *teams: str) -> Principal:
    return Principal(name=role, kind="user", role=role, teams=frozenset(teams))


def token(scope: str, *teams: str) -> Principal:
    scopes = {scope} | ({"alerts:read"} if scope == "alerts:write" else set())
    return Principal(name="t", kind="token", scopes=frozenset(scopes), teams=frozenset(teams))


def test_roles_and_scopes() -> None:
    anna, coord, analyst, admin = (
        user("caseworker", "KCC"),
        user("coordinator"),
        user("analyst"),
        user("admin"),
    )
    assert authz.sees_team(anna, "KCC") and not authz.sees_team(anna, "Burgerzaken")
    assert authz.visible_teams(anna) == {"KCC"} and authz.visible_teams(coord) is None
    assert not authz.sees_team(user("caseworker"), "KCC")  # no teams: nothing
    assert authz.may_act(anna, "KCC") and not authz.may_assign(anna, "KCC")
    assert authz.may_assign(coord, "Burgerzaken") and authz.may_act(admin, "X")
    assert not authz.may_read_alerts(analyst) and authz.visible_teams(analyst) == frozenset()
    assert authz.may_see_contact_details(anna, "KCC")
    assert not authz.may_see_contact_details(anna, "Burgerzaken")
    assert authz.may_see_contact_details(coord, "Burgerzaken")
    assert not authz.may_see_contact_details(admin, "KCC")
    assert not authz.may_see_contact_details(analyst, "KCC")
    ingest, reader, writer_b = token("ingest"), token("alerts:read"), token("alerts:write", "B")
    assert authz.may_ingest(ingest) and not authz.may_read_alerts(ingest)
    assert not authz.may_ingest(reader) and authz.sees_team(reader, "any")
    assert not authz.may_act(reader, "any")
    assert authz.may_act(writer_b, "B") and not authz.sees_team(writer_b, "C")
    assert not authz.may_see_contact_details(writer_b, "B")
    legacy = authz.admin_token()
    assert authz.may_ingest(legacy) and authz.may_act(legacy, "any")


def test_workflow_open_to_resolved_and_back() -> None:
    state = AlertState()
    state = apply(state, Action("claim", "anna"))
    assert state == AlertState("in-behandeling", "anna")
    state = apply(state, Action("toewijzen", "carla", toegewezen_aan="bram"))
    assert state.toegewezen_aan == "bram"
    with pytest.raises(ActionRefused):
        apply(state, Action("terugbelpoging", "bram", uitkomst="misschien"))
    state = apply(state, Action("terugbelpoging", "bram", uitkomst="voicemail"))
    assert state == AlertState("in-behandeling", "bram")
    with pytest.raises(ActionRefused):
        apply(state, Action("afhandelen", "bram", categorie="weet ik veel"))
    state = apply(state, Action("afhandelen", "bram", categorie="opgelost"))
    assert state.status == "afgehandeld"
    for refused in ("claim", "terugbelpoging", "afhandelen"):
        with pytest.raises(ActionRefused):
            apply(state, Action(refused, "anna", uitkomst="bereikt", categorie="opgelost"))
    assert apply(state, Action("heropenen", "anna")) == AlertState("open", None)
    with pytest.raises(ActionRefused):
        apply(AlertState(), Action("heropenen", "anna"))
    # A callback on an open alert takes it into treatment by whoever called.
    assert apply(AlertState(), Action("terugbelpoging", "eva", uitkomst="bereikt")) == AlertState(
        "in-behandeling", "eva"
    )


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_lock_out_grows_and_ends(tmp_path: Path) -> None:
    clock = Clock()
    store = AccountStore(f"sqlite:///{tmp_path / 'accounts.db'}", clock=clock)
    store.add_user("anna", PASSWORD, "caseworker", ["KCC"])
    assert store.verify_password("anna", PASSWORD).teams == {"KCC"}  # type: ignore[union-attr]
    for _ in range(5):
        assert store.verify_password("anna", "wrong") is None
    first = store.locked_for("anna")
    assert 29 <= first <= 30
    assert store.verify_password("anna", PASSWORD) is None  # locked: even the right one
    clock.now += timedelta(seconds=31)
    assert store.verify_password("anna", "wrong again") is None
    assert 59 <= store.locked_for("anna") <= 60  # doubled
    clock.now += timedelta(seconds=61)
    assert store.verify_password("anna", PASSWORD) is not None
    assert store.locked_for("anna") == 0  # success resets
    for _ in range(5):  # unknown names lock too (no hint which names exist)
        assert store.verify_password("nobody", "x") is None
    assert store.locked_for("nobody") > 0


def test_store_rules_tokens_and_sessions(tmp_path: Path) -> None:
    clock = Clock()
    store = AccountStore(f"sqlite:///{tmp_path / 'accounts.db'}", clock=clock)
    with pytest.raises(AccountError):
        store.add_user("x", "short", "caseworker", [])
    with pytest.raises(AccountError):
        store.add_user("x", PASSWORD, "superuser", [])
    with pytest.raises(AccountError):
        store.add_token("x", "everything", [])
    secret = store.add_token("zaaksysteem", "alerts:write", ["B"])
    found = store.token(secret)
    assert found is not None and found.scopes == {"alerts:write", "alerts:read"}
    assert store.token(secret + "x") is None
    store.add_user("anna", PASSWORD, "caseworker", ["KCC"])
    session_id, session = store.open_session("anna", hours=1)
    assert store.session(session_id) == session and len(session.csrf) > 20
    clock.now += timedelta(hours=2)
    assert store.session(session_id) is None  # expired
    session_id, _ = store.open_session("anna", hours=1)
    store.close_session(session_id)
    assert store.session(session_id) is None


def test_csp_allows_only_our_own_style_blocks(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<style>body{}</style><style>{{ user }}</style>")
    hashes = style_hashes([tmp_path])
    assert len(hashes) == 1  # the block with template syntax is not hashed
    csp = content_security_policy("https://www.gemeente.nl", hashes)
    assert "frame-ancestors https://www.gemeente.nl" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in content_security_policy()


def test_inbox_store_notes_are_scrubbed_and_forgettable(tmp_path: Path) -> None:
    from consumers.inbox_store import ChangedMeanwhile, InboxStore

    store = InboxStore(f"sqlite:///{tmp_path / 'inbox.db'}")
    act = Action("terugbelpoging", "anna", uitkomst="bereikt")
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    before = store.state("a1")
    after = apply(before.state, act)
    published: list[str] = []
    store.record(
        "a1",
        before,
        after,
        act,
        "belde terug",
        "Mail jan@example.nl",
        at,
        lambda: published.append("a1"),
    )
    assert published == ["a1"] and store.state("a1").state == after
    assert store.notes("a1")[0]["tekst"] == "Mail [e-mail]"
    with pytest.raises(ChangedMeanwhile):  # a stale read cannot overwrite a newer state
        store.record("a1", before, after, act, "x", None, at, lambda: None)

    def failing() -> None:
        raise RuntimeError("broker down")

    with pytest.raises(RuntimeError):  # publish failed: nothing of this action is kept
        store.record("a1", store.state("a1"), after, act, "y", "note", at, failing)
    assert [a["wat"] for a in store.audit_trail("a1")] == ["belde terug"]
    assert store.forget(["a1"]) == 1 and store.notes("a1") == []


def test_parallel_wrong_passwords_get_no_more_guesses_than_sequential_ones(
    tmp_path: Path,
) -> None:
    """Sign-ins run in parallel threads: each attempt is checked against the lock and counted
    as one step, so 30 simultaneous guesses are not 30 checks of the password."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    store = AccountStore(url, clock=Clock())
    store.add_user("anna", PASSWORD, "caseworker", ["KCC"])
    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(lambda i: store.verify_password("anna", f"gok{i}"), range(30)))
    assert results == [None] * 30
    with create_engine(url).connect() as conn:
        counted = conn.execute(text("SELECT count FROM login_failures")).scalar_one()
    assert counted == 5, f"{counted} passwords were checked before the lock held"
