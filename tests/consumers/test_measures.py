"""Measures: every figure equals an independent SQL query (or a hand computation) on the
same warehouse, on SQLite and PostgreSQL; suppressed cells never show a number."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import case, func, select
from starlette.testclient import TestClient

from consumers.measures_read import SqlMeasuresReadModel
from consumers.warehouse import Warehouse, invitations, page_feedback, responses, signals
from pipeline.measures.compute import measures
from pipeline.ports import SinkRecord
from pipeline.times import iso
from schemas.cloudevents import new_event
from schemas.types import CONTACT, INVITATION, PAGE_FEEDBACK, RESPONSE, SIGNAL

WEEK_A = datetime(2026, 11, 9, 8, tzinfo=UTC)  # Monday of ISO week 2026-W46
WEEK_B = WEEK_A + timedelta(days=7)
DIENST = {"code": "paspoort", "naam": "Paspoort aanvragen"}
TOKEN = "test-token"


def _record(type_name: str, topic: str, data: dict[str, Any]) -> SinkRecord:
    return SinkRecord(topic, "0", new_event(type_name, data, source="/test", key="k"))


class Data:
    def __init__(self, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        self.records: list[SinkRecord] = []
        self.n = 0

    def answers(self, kanaal: str, start: datetime, count: int, invited: int) -> None:
        for i in range(invited):
            self.n += 1
            at = start + timedelta(hours=i % 40)
            inv = {
                "invitationId": f"i-{self.n}",
                "contactId": f"c-{self.n}",
                "klant": f"k-{self.n}",
                "token": f"t-{self.n}",
                "kanaal": kanaal,
                "dienst": DIENST,
                "team": "KCC",
                "dispatch": ["inline"],
                "createdAt": iso(at),
                "expiresAt": iso(at + timedelta(days=14)),
            }
            self.records.append(_record(INVITATION.name, INVITATION.topic, inv))
            if i < count:
                self._answer(inv, at + timedelta(minutes=30))

    def _answer(self, inv: dict[str, Any], at: datetime) -> None:
        nps, ces, cijfer = self.rng.randint(0, 10), self.rng.randint(1, 5), self.rng.randint(1, 10)
        response = {
            "responseId": f"r-{self.n}",
            "invitationId": inv["invitationId"],
            "contactId": inv["contactId"],
            "klant": inv["klant"],
            "answeredAt": iso(at),
            "terugbelToestemming": False,
            "nps": {"score": nps},
            "ces": {"score": ces, "schaal": 5},
            "rapportcijfer": {"score": cijfer},
        }
        signal = {
            "signalId": f"s-{self.n}",
            "bron": "response",
            "responseId": f"r-{self.n}",
            "contactId": inv["contactId"],
            "klant": inv["klant"],
            "kanaal": inv["kanaal"],
            "dienst": DIENST,
            "team": "KCC",
            "ontvangenOp": iso(at),
            "nps": nps,
            "ces": ces,
            "cesSchaal": 5,
            "rapportcijfer": cijfer,
            "sentiment": {
                "label": "neu",
                "score": 0.0,
                "very_negative": False,
                "model_version": "-",
                "language": "und",
            },
        }
        self.records.append(_record(RESPONSE.name, RESPONSE.topic, response))
        self.records.append(_record(SIGNAL.name, SIGNAL.topic, signal))

    def contact(self, klant: str, dienst: str, at: datetime, kanaal: str = "telefoon") -> None:
        self.n += 1
        data = {
            "contactId": f"cc-{self.n}",
            "klant": klant,
            "kanaal": kanaal,
            "onderwerp": "vraag",
            "indicatieContactGelukt": True,
            "taal": "nld",
            "vertrouwelijk": False,
            "plaatsgevondenOp": iso(at),
            "dienst": {"code": dienst, "naam": dienst},
            "team": "KCC",
        }
        self.records.append(_record(CONTACT.name, CONTACT.topic, data))

    def page_feedback(self, dienst: str, start: datetime, count: int) -> None:
        for i in range(count):
            self.n += 1
            data = {
                "feedbackId": f"f-{self.n}",
                "pagina": "https://www.voorbeeldstad.nl/paspoort",
                "beoordeling": self.rng.choice(["goed", "goed", "matig", "slecht"]),
                "gegevenOp": iso(start + timedelta(hours=i)),
                "dienst": {"code": dienst, "naam": dienst},
            }
            self.records.append(_record(PAGE_FEEDBACK.name, PAGE_FEEDBACK.topic, data))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path) -> Iterator[Warehouse]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    wh = Warehouse(url)
    data = Data()
    data.answers("telefoon", WEEK_A, count=37, invited=150)
    data.answers("e-mail", WEEK_A, count=9, invited=40)  # under 10 answers: suppressed
    data.answers("balie", WEEK_A, count=12, invited=12)
    data.answers("telefoon", WEEK_B, count=15, invited=60)
    # Repeat contacts (hand computed): k1 about paspoort on Tue, Wed (repeat), Fri (repeat);
    # k2 paspoort Tue and afval Wed (another service: no repeat); k3 .. k10 once.
    day = WEEK_A + timedelta(days=1)
    for offset in (0, 1, 3):
        data.contact("k1", "paspoort", day + timedelta(days=offset))
    data.contact("k2", "paspoort", day)
    data.contact("k2", "afval", day + timedelta(days=1))
    for k in range(3, 11):
        data.contact(f"k{k}", "paspoort", day)
    data.contact("k1", "paspoort", day + timedelta(days=12))  # 9 days after the last: no repeat
    data.page_feedback("paspoort", WEEK_A, 25)
    data.page_feedback("afval", WEEK_A, 5)
    wh.store(data.records)
    yield wh
    wh.engine.dispose()


def _cell(cells: list[dict], key: str, group: str, period: str) -> dict:
    [cell] = [c for c in cells if c[key] == group and c["periode"] == period]
    return cell


def _wilson_by_hand(x: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = x / n
    denominator = 1 + z**2 / n
    centre = p + z**2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return (centre - spread) / denominator, (centre + spread) / denominator


def _sql_answers(wh: Warehouse, kanaal: str, start: datetime) -> dict[str, Any]:
    coded = case((signals.c.nps >= 9, 1), (signals.c.nps <= 6, -1), else_=0)
    query = select(
        func.count(signals.c.nps),
        func.sum(case((signals.c.nps >= 9, 1), else_=0)),
        func.sum(case((signals.c.nps <= 6, 1), else_=0)),
        func.avg(coded * 1.0),
        func.avg(coded * coded * 1.0),
        func.avg(signals.c.ces * 1.0),
        func.avg(signals.c.rapportcijfer * 1.0),
        func.sum(case((signals.c.rapportcijfer <= 5, 1), else_=0)),
        func.sum(case((signals.c.rapportcijfer <= 6, 1), else_=0)),
        func.sum(case((signals.c.rapportcijfer == 7, 1), else_=0)),
    ).where(
        signals.c.bron == "response",
        signals.c.kanaal == kanaal,
        signals.c.ontvangen_op >= start,
        signals.c.ontvangen_op < start + timedelta(days=7),
    )
    with wh.engine.connect() as conn:
        row = conn.execute(query).one()
    names = ("n", "promoters", "detractors", "mean", "mean_sq", "ces", "cijfer", "le5", "le6", "c7")
    return dict(zip(names, (float(v) for v in row), strict=True))


def test_each_figure_equals_an_independent_sql_query(warehouse: Warehouse) -> None:
    cells = measures(SqlMeasuresReadModel(warehouse.engine), "kanaal", "week")
    cell = _cell(cells, "kanaal", "telefoon", "2026-W46")
    sql = _sql_answers(warehouse, "telefoon", WEEK_A)
    n = int(sql["n"])
    assert cell["antwoorden"]["n"] == n == 37
    nps = cell["nps"]
    assert nps["waarde"] == pytest.approx(
        100 * (sql["promoters"] - sql["detractors"]) / n, abs=0.01
    )
    variance = sql["mean_sq"] - sql["mean"] ** 2
    assert nps["marge"] == pytest.approx(100 * 1.96 * math.sqrt(variance / n), abs=0.02)
    low, high = _wilson_by_hand(int(sql["detractors"]), n)
    assert nps["detractors"]["aandeel"] == pytest.approx(sql["detractors"] / n, abs=1e-4)
    assert nps["detractors"]["ondergrens"] == pytest.approx(low, abs=1e-4)
    assert nps["detractors"]["bovengrens"] == pytest.approx(high, abs=1e-4)
    assert cell["ces"]["gemiddelde"] == pytest.approx(sql["ces"], abs=1e-3)
    cijfer = cell["rapportcijfer"]
    assert cijfer["gemiddelde"] == pytest.approx(sql["cijfer"], abs=1e-3)
    assert cijfer["aandeelTotEnMet5"]["aandeel"] == pytest.approx(sql["le5"] / n, abs=1e-4)
    assert cijfer["aandeelTotEnMet6"]["aandeel"] == pytest.approx(sql["le6"] / n, abs=1e-4)
    assert cijfer["verdeling"]["7"] == pytest.approx(sql["c7"] / n, abs=1e-4)
    assert sum(cijfer["verdeling"].values()) == pytest.approx(1.0, abs=1e-3)


def test_response_rate_equals_sql_join(warehouse: Warehouse) -> None:
    cells = measures(SqlMeasuresReadModel(warehouse.engine), "kanaal", "week")
    answered = (
        select(func.count())
        .select_from(
            invitations.join(responses, responses.c.invitation_id == invitations.c.invitation_id)
        )
        .where(invitations.c.kanaal == "telefoon", invitations.c.created_at < WEEK_B)
    )
    invited = select(func.count()).where(
        invitations.c.kanaal == "telefoon", invitations.c.created_at < WEEK_B
    )
    with warehouse.engine.connect() as conn:
        x, n = conn.execute(answered).scalar_one(), conn.execute(invited).scalar_one()
    respons = _cell(cells, "kanaal", "telefoon", "2026-W46")["respons"]
    assert respons["uitgenodigd"] == n == 150
    assert respons["aandeel"] == pytest.approx(x / n, abs=1e-4)
    assert (respons["ondergrens"], respons["bovengrens"]) == pytest.approx(
        _wilson_by_hand(x, n), abs=1e-4
    )


def test_repeat_contacts_and_page_feedback_by_hand_and_sql(warehouse: Warehouse) -> None:
    read = SqlMeasuresReadModel(warehouse.engine)
    by_kanaal = measures(read, "kanaal", "week")
    herhaal = _cell(by_kanaal, "kanaal", "telefoon", "2026-W46")["herhaalcontact"]
    # Week A: 3 (k1) + 2 (k2) + 8 (k3..k10) = 13 contacts, of which 2 repeats (k1's 2nd, 3rd).
    assert herhaal["aandeel"] == pytest.approx(2 / 13, abs=1e-4)
    assert (herhaal["ondergrens"], herhaal["bovengrens"]) == pytest.approx(
        _wilson_by_hand(2, 13), abs=1e-4
    )
    by_dienst = measures(read, "dienst", "week")
    feedback = _cell(by_dienst, "dienst", "paspoort", "2026-W46")["paginafeedback"]
    query = select(func.count()).where(
        page_feedback.c.dienst_code == "paspoort", page_feedback.c.beoordeling == "slecht"
    )
    with warehouse.engine.connect() as conn:
        slecht = conn.execute(query).scalar_one()
    assert feedback["n"] == 25
    assert feedback["slecht"]["aandeel"] == pytest.approx(slecht / 25, abs=1e-4)
    assert _cell(by_dienst, "dienst", "afval", "2026-W46")["paginafeedback"] == {"onderdrukt": True}


def _numbers(value: Any, skip: tuple[str, ...] = ("periode",)) -> list[Any]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [x for k, v in value.items() if k not in skip for x in _numbers(v, skip)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v, skip)]
    if isinstance(value, str):
        return []
    return [value]


def test_suppressed_cells_never_show_a_number(warehouse: Warehouse) -> None:
    cells = measures(SqlMeasuresReadModel(warehouse.engine), "kanaal", "week")
    email = _cell(cells, "kanaal", "e-mail", "2026-W46")
    assert email["antwoorden"] == {"onderdrukt": True}
    assert email["respons"] == {"onderdrukt": True}, "9 of 40 would reveal a count under 10"
    assert _numbers(email) == [], email
    # An unsuppressed cell does show numbers (the check above can fail).
    assert _numbers(_cell(cells, "kanaal", "balie", "2026-W46"))
    for cell in cells:
        for block in ("nps", "ces", "rapportcijfer"):
            if block in cell and "onderdrukt" not in cell[block]:
                assert cell[block]["n"] >= 10


def test_month_and_team_cells_add_up(warehouse: Warehouse) -> None:
    read = SqlMeasuresReadModel(warehouse.engine)
    month = _cell(measures(read, "kanaal", "month"), "kanaal", "telefoon", "2026-11")
    assert month["antwoorden"]["n"] == 37 + 15
    team = _cell(measures(read, "team", "week"), "team", "KCC", "2026-W46")
    assert team["antwoorden"]["n"] == 37 + 9 + 12


def test_measures_api(warehouse: Warehouse, tmp_path) -> None:
    from starlette.applications import Starlette

    from consumers.measures_api import MeasuresApi
    from pipeline.settings import Settings
    from pipeline.web.staff_app import web_auth

    settings = Settings(data_dir=tmp_path, api_token=TOKEN)
    api = MeasuresApi(warehouse, web_auth(settings))
    client = TestClient(Starlette(routes=api.routes()))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/v1/measures").status_code == 401
    bad = client.get("/v1/measures?by=wijk", headers=auth)
    assert bad.status_code == 400 and "by" in bad.json()["error"]
    bad = client.get("/v1/measures?by=kanaal&period=dag", headers=auth)
    assert bad.status_code == 400 and "period" in bad.json()["error"]
    body = client.get("/v1/measures?by=dienst&period=month", headers=auth).json()
    expected = measures(SqlMeasuresReadModel(warehouse.engine), "dienst", "month")
    assert body["cellen"] == expected and body["minimumAantal"] == 10
