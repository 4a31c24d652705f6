"""Callback time and SLA adherence of alerts, and least privilege on /v1/measures and
/v1/funnel: every figure equals an independent SQL query on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import and_, func, or_, select, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consumers.funnel import funnel
from consumers.funnel_api import FunnelApi
from consumers.measures_api import MeasuresApi
from consumers.measures_read import SqlMeasuresReadModel
from consumers.warehouse import Warehouse, alert_details, alert_status_changes, alerts
from pipeline.measures.compute import measures
from pipeline.settings import Settings
from pipeline.times import iso
from pipeline.web.accounts import AccountStore
from pipeline.web.staff_app import web_auth
from schemas.types import ALERT, ALERT_STATUS
from tests.consumers.test_measures import WEEK_A, Data, _record

NOW = WEEK_A + timedelta(days=20)  # the moment the SLA adherence is computed at
TOKEN = "followup-token"


class Alerts:
    """Alerts with their status changes, written as events through the warehouse sink."""

    def __init__(self, data: Data) -> None:
        self.data = data
        self.n = 0

    def alert(
        self,
        team: str,
        kanaal: str,
        created: datetime,
        due: datetime | None,
        consent: bool = True,
        changes: tuple[tuple[str, str, timedelta], ...] = (),
    ) -> None:
        self.n += 1
        alert_id = f"a-{team}-{self.n}"
        data: dict[str, Any] = {
            "alertId": alert_id,
            "signalId": f"s-{alert_id}",
            "klant": f"k-{alert_id}",
            "team": team,
            "kanaal": kanaal,
            "dienst": {"code": "paspoort", "naam": "Paspoort aanvragen"},
            "ernst": "middel",
            "redenen": ["laag rapportcijfer"],
            "terugbelToestemming": consent,
            "aangemaaktOp": iso(created),
            "soort": "terugbellen" if consent else "procesverbetering",
        }
        if due is not None:
            data["uiterlijkOp"] = iso(due)
        self.data.records.append(_record(ALERT.name, ALERT.topic, data))
        for handeling, status, after in changes:
            change: dict[str, Any] = {
                "alertId": alert_id,
                "team": team,
                "status": status,
                "handeling": handeling,
                "door": "medewerker",
                "op": iso(created + after),
            }
            if handeling == "terugbelpoging":
                change["uitkomst"] = "bereikt"
            if handeling == "afhandelen":
                change["categorie"] = "opgelost"
            self.data.records.append(_record(ALERT_STATUS.name, ALERT_STATUS.topic, change))


def _history(i: int) -> tuple[tuple[str, str, timedelta], ...]:
    """A varied, hand-made handling history for alert i of the busy cell."""
    call = ("terugbelpoging", "in-behandeling", timedelta(hours=1.5 * (i + 1) + 0.25 * i * i))
    second_call = ("terugbelpoging", "in-behandeling", timedelta(hours=60))
    claim = ("claim", "in-behandeling", timedelta(minutes=10))
    done_in_time = ("afhandelen", "afgehandeld", timedelta(hours=30))
    done_late = ("afhandelen", "afgehandeld", timedelta(hours=70))
    reopen = ("heropenen", "open", timedelta(hours=40))
    kinds = [
        (claim, call, done_in_time),
        (call, second_call, done_late),
        (call,),  # called, never handled: late once overdue
        (call, done_in_time, reopen, done_late),  # the first handling counts
        (claim,),
    ]
    return kinds[i % len(kinds)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path) -> Iterator[Warehouse]:
    url = (
        f"sqlite:///{tmp_path / 'warehouse.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    wh = Warehouse(url)
    data = Data(seed=11)
    data.answers("telefoon", WEEK_A, count=30, invited=60)
    book = Alerts(data)
    for i in range(16):  # KCC via telefoon: due 2 days after creation
        created = WEEK_A + timedelta(hours=3 * i)
        book.alert("KCC", "telefoon", created, created + timedelta(days=2), changes=_history(i))
    for i in range(3):  # no consent: SLA yes, callback time no
        created = WEEK_A + timedelta(hours=5 * i)
        book.alert("KCC", "telefoon", created, created + timedelta(days=2), consent=False)
    for _ in range(2):  # open and not yet due at NOW: undecided
        created = WEEK_A + timedelta(days=1)
        book.alert("KCC", "telefoon", created, NOW + timedelta(days=3), changes=_history(0)[:2])
    book.alert("KCC", "telefoon", WEEK_A, None, changes=_history(0))  # no due date
    for i in range(12):  # another team via telefoon, all handled in time
        created = WEEK_A + timedelta(hours=2 * i)
        history = (
            ("terugbelpoging", "in-behandeling", timedelta(hours=2)),
            ("afhandelen", "afgehandeld", timedelta(hours=3)),
        )
        book.alert("Burgerzaken", "telefoon", created, created + timedelta(days=1), True, history)
    for _ in range(5):  # a small cell: suppressed
        book.alert("KCC", "e-mail", WEEK_A, WEEK_A + timedelta(days=1), changes=_history(0))
    wh.store(data.records)
    yield wh
    wh.engine.dispose()


def _cell(cells: list[dict], key: str, group: str, period: str) -> dict:
    [cell] = [c for c in cells if c[key] == group and c["periode"] == period]
    return cell


def _hours_sql(engine: Any, team: str | None, kanaal: str) -> list[float]:
    """Hours from creation to the first callback attempt, ordered, straight from SQL."""
    diff = (
        "(julianday(f.eerste) - julianday(a.aangemaakt_op)) * 24"
        if engine.dialect.name == "sqlite"
        else "EXTRACT(EPOCH FROM (f.eerste - a.aangemaakt_op)) / 3600"
    )
    team_filter = "AND a.team = :team" if team else ""
    query = text(
        f"SELECT {diff} FROM alerts a JOIN (SELECT alert_id, MIN(op) AS eerste "
        "FROM alert_status_changes WHERE handeling = 'terugbelpoging' GROUP BY alert_id) f "
        "ON f.alert_id = a.alert_id WHERE a.terugbel_toestemming AND a.kanaal = :kanaal "
        f"{team_filter} ORDER BY 1"
    )
    params = {"kanaal": kanaal, **({"team": team} if team else {})}
    with engine.connect() as conn:
        return [float(v) for (v,) in conn.execute(query, params)]


def _percentile_by_hand(ordered: list[float], q: float) -> float:
    rank = q * (len(ordered) - 1)
    below = int(rank)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] * (1 - (rank - below)) + ordered[above] * (rank - below)


def _wilson_by_hand(x: int, n: int) -> tuple[float, float]:
    z, p = 1.959963984540054, x / n
    centre, spread = p + z**2 / (2 * n), z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return (centre - spread) / (1 + z**2 / n), (centre + spread) / (1 + z**2 / n)


def test_callback_time_equals_sql(warehouse: Warehouse) -> None:
    cells = measures(SqlMeasuresReadModel(warehouse.engine), "team", "week", now=NOW)
    got = _cell(cells, "team", "KCC", "2026-W46")["terugbeltijd"]
    hours = _hours_sql(warehouse.engine, "KCC", "telefoon")
    hours += _hours_sql(warehouse.engine, "KCC", "e-mail")
    hours.sort()
    assert got["n"] == len(hours) == 13 + 2 + 1 + 5  # every consenting alert with a call
    assert got["mediaanUren"] == pytest.approx(_percentile_by_hand(hours, 0.5), abs=0.01)
    assert got["p90Uren"] == pytest.approx(_percentile_by_hand(hours, 0.9), abs=0.01)
    if warehouse.engine.dialect.name == "postgresql":
        query = text(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY h), "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY h) FROM (SELECT "
            "EXTRACT(EPOCH FROM (MIN(c.op) - a.aangemaakt_op)) / 3600 AS h FROM alerts a "
            "JOIN alert_status_changes c ON c.alert_id = a.alert_id "
            "WHERE c.handeling = 'terugbelpoging' AND a.terugbel_toestemming "
            "AND a.team = 'KCC' GROUP BY a.alert_id, a.aangemaakt_op) t"
        )
        with warehouse.engine.connect() as conn:
            median, p90 = conn.execute(query).one()
        assert got["mediaanUren"] == pytest.approx(float(median), abs=0.01)
        assert got["p90Uren"] == pytest.approx(float(p90), abs=0.01)


def test_sla_adherence_equals_sql(warehouse: Warehouse) -> None:
    cells = measures(SqlMeasuresReadModel(warehouse.engine), "kanaal", "week", now=NOW)
    got = _cell(cells, "kanaal", "telefoon", "2026-W46")["slaNaleving"]
    done = (
        select(alert_status_changes.c.alert_id, func.min(alert_status_changes.c.op).label("op"))
        .where(alert_status_changes.c.status == "afgehandeld")
        .group_by(alert_status_changes.c.alert_id)
        .subquery()
    )
    due = alert_details.c.uiterlijk_op
    base = (
        select(func.count())
        .select_from(
            alerts.join(alert_details, alert_details.c.alert_id == alerts.c.alert_id).outerjoin(
                done, done.c.alert_id == alerts.c.alert_id
            )
        )
        .where(alerts.c.kanaal == "telefoon", due.is_not(None))
    )
    decided = base.where(or_(done.c.op.is_not(None), due < NOW))
    in_time = base.where(and_(done.c.op.is_not(None), done.c.op <= due))
    with warehouse.engine.connect() as conn:
        n, x = conn.execute(decided).scalar_one(), conn.execute(in_time).scalar_one()
    # By hand: KCC 16 (in time: i%5 == 0 or 3, that is 7) + 3 without consent (late) + 12 of
    # Burgerzaken (in time); 2 not yet due and 1 without a due date are undecided.
    assert (n, x) == (16 + 3 + 12, 7 + 12)
    assert got["beoordeeld"] == n
    assert got["aandeel"] == pytest.approx(x / n, abs=1e-4)
    assert (got["ondergrens"], got["bovengrens"]) == pytest.approx(_wilson_by_hand(x, n), abs=1e-4)


def test_small_cells_show_no_follow_up_number(warehouse: Warehouse) -> None:
    cells = measures(SqlMeasuresReadModel(warehouse.engine), "kanaal", "week", now=NOW)
    email = _cell(cells, "kanaal", "e-mail", "2026-W46")
    assert email["terugbeltijd"] == {"onderdrukt": True}
    assert email["slaNaleving"] == {"onderdrukt": True}
    month = _cell(
        measures(SqlMeasuresReadModel(warehouse.engine), "kanaal", "month"),
        *("kanaal", "telefoon", "2026-11"),
    )
    assert month["terugbeltijd"]["n"] >= 10 and "aandeel" in month["slaNaleving"]


def _client(warehouse: Warehouse, tmp_path) -> tuple[TestClient, AccountStore]:
    settings = Settings(data_dir=tmp_path, api_token=TOKEN)
    auth = web_auth(settings)
    routes = [*MeasuresApi(warehouse, auth).routes(), *FunnelApi(warehouse, auth).routes()]
    return TestClient(Starlette(routes=routes)), AccountStore(settings.accounts)


def test_team_limited_readers_see_only_their_teams(warehouse: Warehouse, tmp_path) -> None:
    client, accounts = _client(warehouse, tmp_path)
    everything = {"Authorization": f"Bearer {accounts.add_token('bi', 'alerts:read', [])}"}
    kcc = {"Authorization": f"Bearer {accounts.add_token('kcc', 'alerts:read', ['KCC'])}"}
    other = {"Authorization": f"Bearer {accounts.add_token('bz', 'alerts:read', ['Burgerzaken'])}"}
    by_team = client.get("/v1/measures?by=team&period=week", headers=kcc).json()["cellen"]
    assert {c["team"] for c in by_team} == {"KCC"}
    all_teams = client.get("/v1/measures?by=team&period=week", headers=everything).json()
    assert {c["team"] for c in all_teams["cellen"]} == {"KCC", "Burgerzaken"}
    # by kanaal: the telefoon cell of a KCC reader counts only KCC's alerts ...
    sla = _cell(
        client.get("/v1/measures?by=kanaal", headers=kcc).json()["cellen"],
        "kanaal",
        "telefoon",
        "2026-W46",
    )["slaNaleving"]
    assert sla["beoordeeld"] == 16 + 3
    # ... and Burgerzaken, with no answers of its own, sees no answer of KCC.
    cells = client.get("/v1/measures?by=kanaal", headers=other).json()["cellen"]
    telefoon = _cell(cells, "kanaal", "telefoon", "2026-W46")
    assert telefoon["antwoorden"] == {"onderdrukt": True} and "nps" not in telefoon
    assert telefoon["slaNaleving"]["beoordeeld"] == 12
    # The funnel: the answers' invitations are all KCC's.
    assert client.get("/v1/funnel", headers=kcc).json()["totals"]["invited"] == 60
    assert client.get("/v1/funnel", headers=other).json()["totals"]["invited"] == 0
    assert funnel(warehouse, "kanaal")["totals"]["invited"] == 60
    # A coordinator signed up for one team is limited the same way (the Principal rule).
    accounts.add_user("coord", "correct horse battery staple", "coordinator", ["Burgerzaken"])
    from pipeline.web.authz import aggregate_teams

    assert aggregate_teams(accounts.user("coord")) == frozenset({"Burgerzaken"})
