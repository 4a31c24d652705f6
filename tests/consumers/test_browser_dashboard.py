"""The dashboard in a real browser (Chromium, 375 px wide) on simulated data.

Sign in as a coordinator, open /dashboard, wait until Chart.js has drawn every chart from
its table; a screenshot is saved, every canvas holds drawn data (pixels in the first
series' colour, not only axes), no Content-Security-Policy violation happened, axe-core
finds no WCAG 2.1 A/AA violation, every control is reachable with Tab, nothing scrolls
sideways, and hostile comments shown as theme examples stay inert text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from consumers.funnel import SqlVisitRecorder
from consumers.warehouse import Warehouse
from pipeline.app import build_embedded
from pipeline.ports import SinkRecord
from pipeline.settings import Settings
from pipeline.stages.base import iso
from pipeline.web.accounts import AccountStore
from producers.simulator import ContactSimulator, run_demo
from schemas.cloudevents import new_event
from schemas.types import SIGNAL
from tests.support.axe import assert_accessible
from tests.support.browser import by_css, screenshot
from tests.support.dashboard_helpers import PASSWORD
from tests.support.live_server import TOKEN, live_server

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = (
    "<script>alert('xss')</script> <img src=x onerror=alert('img')> wachttijd formulier",
    '=HYPERLINK("http://evil") {{7*7}} <b>vet</b> wachttijd balie formulier',
)
FIRST_COLOUR = (0x00, 0x68, 0x9E)  # the first series' colour in consumers/static/dashboard.js
CSP_LISTENER = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)


def _simulate(data_dir: Path) -> None:
    """Three weeks of contacts and answers through the embedded pipeline, up to today,
    plus hostile comments on the website (page-feedback signals) for one service."""
    settings = Settings(data_dir=data_dir, api_token=TOKEN)
    system = build_embedded(settings)
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday() + 14)
    start = datetime(monday.year, monday.month, monday.day, 8, tzinfo=UTC)
    simulator = ContactSimulator(
        seed=5, pseudonym_key=system.settings.pseudonym_key, start=start, contacts_per_day=55
    )
    run_demo(system.runtime, 800, simulator=simulator, visits=SqlVisitRecorder(system.warehouse))
    system.runtime.run_until_idle()  # type: ignore[union-attr]
    _hostile_comments(system.warehouse, start + timedelta(days=15))
    system.close()
    AccountStore(system.settings.accounts).add_user("cora", PASSWORD, "coordinator", [])


def _hostile_comments(warehouse: Warehouse, at: datetime) -> None:
    records = []
    for i in range(40):
        data = {
            "signalId": f"hostile-{i}",
            "bron": "page-feedback",
            "feedbackId": f"hostile-{i}",
            "klant": "-",
            "dienst": {"code": "proef", "naam": "Proef <i>dienst</i>"},
            "beoordeling": "slecht",
            "opmerking": HOSTILE[i % 2],
            "ontvangenOp": iso(at + timedelta(minutes=i)),
            "sentiment": {
                "label": "neg",
                "score": -0.5,
                "very_negative": False,
                "model_version": "-",
                "language": "nld",
            },
        }
        event = new_event(SIGNAL.name, data, source="/test", key="-")
        records.append(SinkRecord(SIGNAL.topic, "0", event))
    warehouse.store(records)


def _sign_in(browser: WebDriver, base: str) -> None:
    from selenium.webdriver.support.wait import WebDriverWait

    browser.get(base + "/dashboard")
    assert "/login" in browser.current_url
    by_css(browser, "#gebruikersnaam").send_keys("cora")
    by_css(browser, "#wachtwoord").send_keys(PASSWORD)
    by_css(browser, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script(
            "return document.documentElement.getAttribute('data-charts') === 'klaar'"
        )
    )
    assert browser.current_url == base + "/dashboard"


def _drawn_pixels(browser: WebDriver) -> list[dict]:
    return list(
        browser.execute_script(
            """
            const [r, g, b] = arguments[0];
            return [...document.querySelectorAll('figure.chart canvas')].map(c => {
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let series = 0, ink = 0;
              for (let i = 0; i < d.length; i += 4) {
                if (d[i + 3] > 0) ink++;
                if (Math.abs(d[i] - r) < 40 && Math.abs(d[i + 1] - g) < 40
                    && Math.abs(d[i + 2] - b) < 40 && d[i + 3] > 100) series++;
              }
              return {label: c.getAttribute('aria-label'), width: c.width, series, ink,
                      drawn: c.closest('figure').dataset.drawn === '1'};
            });""",
            FIRST_COLOUR,
        )
    )


def _chart_points(browser: WebDriver) -> list[dict]:
    """Per chart: the non-null values Chart.js draws (main series) and the table cells of
    the charted series, shown (with a number) or suppressed."""
    return list(
        browser.execute_script(
            """
            return [...document.querySelectorAll('figure.chart')].map(f => {
              const chart = Chart.getChart(f.querySelector('canvas'));
              const main = chart.data.datasets
                .filter(d => d.label && !d.label.endsWith('95%-marge'));
              const points = main.flatMap(d => d.data).filter(v => v !== null).length;
              const table = document.getElementById(f.dataset.table);
              const keys = f.dataset.series.split(' ').filter(Boolean);
              const cols = [...table.querySelectorAll('thead th[data-key]')]
                .map(t => t.dataset.key);
              let cells = [];
              for (const tr of table.querySelectorAll('tbody tr')) {
                const tds = [...tr.querySelectorAll('td')];
                if (f.dataset.along === 'rijen') {
                  cells.push(...tds.filter((td, i) => !keys.length || keys.includes(cols[i])));
                } else if (!keys.length || keys.includes(tr.dataset.key)) {
                  cells.push(...tds);
                }
              }
              return {table: f.dataset.table, points, cells: cells.length,
                      shown: cells.filter(td => td.hasAttribute('data-value')).length,
                      suppressed: cells.filter(td => td.dataset.onderdrukt === '1').length};
            });"""
        )
    )


def _tab_stops(browser: WebDriver, presses: int) -> list[str]:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    stops = []
    for _ in range(presses):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        stops.append(
            browser.execute_script(
                "const e = document.activeElement;"
                "return e.id || e.getAttribute('href') || e.getAttribute('aria-labelledby')"
                " || e.tagName;"
            )
        )
    return stops


def test_dashboard_in_a_real_browser(browser: WebDriver, tmp_path: Path) -> None:
    _simulate(tmp_path / "data")
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_LISTENER})
    with live_server(tmp_path) as server:
        _sign_in(browser, server.base)
        shot = tmp_path / "dashboard.png"
        screenshot(browser, shot)
        assert shot.stat().st_size > 20_000
        print(f"screenshot: {shot}")

        charts = _drawn_pixels(browser)
        assert len(charts) == 7, charts
        for chart in charts:
            assert chart["drawn"] and chart["series"] > 50, chart  # data, not only axes
        assert browser.execute_script("return window.__csp") == []
        # Chart data holds exactly the table's numbers: a suppressed cell is no point or bar.
        for chart in _chart_points(browser):
            assert chart["points"] == chart["shown"] and chart["shown"] > 0, chart
            assert chart["suppressed"] + chart["shown"] == chart["cells"], chart

        # Hostile comments are theme examples shown as plain text.
        from selenium.common.exceptions import NoAlertPresentException

        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 - no dialog was opened
        page = by_css(browser, "main").text
        assert "<script>alert('xss')</script>" in page and "Proef <i>dienst</i>" in page
        assert (
            browser.execute_script(
                "return document.querySelectorAll('main img, main b, main i').length"
            )
            == 0
        )
        sources = browser.execute_script("return [...document.scripts].map(s => s.src)")
        assert sources == [
            server.base + "/dashboard/static/vendor/chart.umd.min.js",
            server.base + "/dashboard/static/dashboard.js",
        ]

        width = browser.execute_script("return window.innerWidth")
        assert width == 375
        assert browser.execute_script("return document.scrollingElement.scrollWidth") <= width
        assert_accessible(browser, "the dashboard")

        stops = _tab_stops(browser, 30)
        for wanted in ("f-per", "f-periode", "f-kanaal", "f-dienst", "f-team", "c-kanalen"):
            assert wanted in stops, stops
        assert any(str(s).startswith("/dashboard/export/kanalen.csv") for s in stops), stops
        assert browser.execute_script("return window.__csp") == []

        # A filter value that is not offered: the form says so at the field (and passes axe).
        browser.get(server.base + "/dashboard?kanaal=bestaat-niet")
        assert by_css(browser, "#f-kanaal").get_attribute("aria-invalid") == "true"
        assert "Kies een kanaal uit de lijst" in by_css(browser, "#f-kanaal-fout").text
        assert_accessible(browser, "the dashboard with a filter error")
