"""Public service-norm pages: the norm from the TOML file and the satisfaction per quarter
from the warehouse; a quarter under 10 answers shows no number; off by default; accessible
(axe-core in a real browser against `klantsignaal run`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consumers.measures_read import SqlMeasuresReadModel
from consumers.warehouse import Warehouse, signals
from pipeline.app import service_norm_routes
from pipeline.service_norms import MeasuredSatisfaction, load_service_norms, recent_quarters
from pipeline.settings import Settings
from producers.service_norms import ServiceNormPages
from tests.consumers.test_measures import Data
from tests.support.axe import assert_accessible
from tests.support.browser import by_css, navigation_status, text
from tests.support.live_server import LiveServer, live_server

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

NORMS = """
[dienst.paspoort]
naam = "Paspoort aanvragen"
norm = "U krijgt binnen 2 werkdagen antwoord."
toelichting = "Maak een afspraak via de website of bel 14 020."

[dienst.afval]
naam = "Grofvuil ophalen"
norm = "Wij halen uw grofvuil binnen 10 werkdagen op."
"""


def _quarter_start(moment: datetime) -> datetime:
    return datetime(moment.year, 3 * ((moment.month - 1) // 3) + 1, 1, tzinfo=UTC)


def _fill(warehouse: Warehouse, now: datetime) -> None:
    """Previous quarter: 12 answers (shown); this quarter: 6 answers (suppressed)."""
    this_quarter = _quarter_start(now)
    previous = _quarter_start(this_quarter - timedelta(days=1))
    data = Data(seed=21)
    data.answers("telefoon", previous + timedelta(days=3), count=12, invited=30)
    data.answers("telefoon", this_quarter + timedelta(hours=1), count=6, invited=20)
    warehouse.store(data.records)


@pytest.fixture
def norms_file(tmp_path: Path) -> Path:
    path = tmp_path / "servicenormen.toml"
    path.write_text(NORMS, encoding="utf-8")
    return path


def test_norms_file_is_checked(tmp_path: Path, norms_file: Path) -> None:
    norms = load_service_norms(norms_file)
    assert norms["paspoort"].norm == "U krijgt binnen 2 werkdagen antwoord."
    bad = tmp_path / "bad.toml"
    bad.write_text('[dienst.paspoort]\nnaam = "Paspoort"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="dienst.paspoort: norm is missing"):
        load_service_norms(bad)
    bad.write_text('[dienst."Pas poort"]\nnaam = "P"\nnorm = "n"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="only a-z"):
        load_service_norms(bad)


def test_recent_quarters() -> None:
    now = datetime(2026, 2, 10, tzinfo=UTC)
    assert recent_quarters(now) == ["2026-Q1", "2025-Q4", "2025-Q3", "2025-Q2"]


def test_page_shows_unsuppressed_quarters_only(tmp_path: Path, norms_file: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    now = datetime.now(UTC)
    _fill(warehouse, now)
    assert service_norm_routes(Settings(data_dir=tmp_path), warehouse) == [], "off by default"
    reads = MeasuredSatisfaction(SqlMeasuresReadModel(warehouse.engine))
    pages = ServiceNormPages(load_service_norms(norms_file), reads)
    client = TestClient(Starlette(routes=pages.routes()))
    page = client.get("/servicenormen/paspoort")
    assert page.status_code == 200 and "public" in page.headers["cache-control"]
    html = page.text
    assert "U krijgt binnen 2 werkdagen antwoord." in html
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</th>(.*?)</tr>", html, re.S)
    assert len(rows) == 4
    (_, cells_now), (_, cells_prev) = rows[0], rows[1]
    assert "Nog te weinig antwoorden" in cells_now
    shown = re.sub(r"<[^>]+>", "", cells_now)  # the text, without the tags' attributes
    assert not re.search(r"\d", shown), "a suppressed quarter shows no number"
    # The previous quarter: the mean rapportcijfer of its 12 answers, from SQL.
    start = _quarter_start(_quarter_start(now) - timedelta(days=1))
    query = select(func.avg(signals.c.rapportcijfer * 1.0), func.count()).where(
        signals.c.ontvangen_op >= start, signals.c.ontvangen_op < _quarter_start(now)
    )
    with warehouse.engine.connect() as conn:
        mean, n = conn.execute(query).one()
    assert n == 12
    assert f"<td>{mean:.1f}</td>".replace(".", ",") in cells_prev
    assert "<td>12</td>" in cells_prev
    assert all("Nog te weinig antwoorden" in cells for _, cells in rows[2:])
    # Unknown service: 404 in Dutch; the list links every service.
    assert client.get("/servicenormen/rijbewijs").status_code == 404
    index = client.get("/servicenormen").text
    assert 'href="/servicenormen/paspoort"' in index and 'href="/servicenormen/afval"' in index


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("norms")
    path = workdir / "servicenormen.toml"
    path.write_text(NORMS, encoding="utf-8")
    with live_server(workdir, extra_env={"KLANTSIGNAAL_SERVICE_NORMS_FILE": str(path)}) as run:
        warehouse = Warehouse(f"sqlite:///{workdir / 'data' / 'warehouse.db'}")
        _fill(warehouse, datetime.now(UTC))
        warehouse.engine.dispose()
        yield run


@pytest.mark.browser
def test_norm_pages_in_a_browser_are_accessible(browser: WebDriver, server: LiveServer) -> None:
    assert httpx.get(server.base + "/servicenormen/paspoort").status_code == 200, "no sign-in"
    browser.get(server.base + "/servicenormen")
    assert navigation_status(browser) == 200
    assert_accessible(browser, "the list of service norms")
    by_css(browser, "a[href='/servicenormen/paspoort']").click()
    assert "U krijgt binnen 2 werkdagen antwoord." in text(browser)
    assert by_css(browser, "html").get_attribute("lang") == "nl"
    assert by_css(browser, "tbody tr td").text == "Nog te weinig antwoorden", "no number"
    assert_accessible(browser, "the service-norm page of paspoort")
