"""The citizen questionnaire in a real browser: headless Chromium at phone size.

Drives `klantsignaal run` (a real server process) with Debian's chromium and chromedriver
through Selenium. The driver path is given explicitly, so Selenium Manager never runs (it
would download drivers). Chromium itself is kept off the network: every request that is
not for the loopback goes to a proxy on a closed loopback port, host names do not
resolve, and the net log is checked afterwards for any TCP connection off the loopback.

Without Chromium (or selenium) the test skips locally and FAILS under CI=true: in CI a
missing browser means the questionnaire went untested in a browser, which must not look
green. `scripts/install-test-deps.sh` installs both Debian packages.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.live_server import LiveServer, live_server, poll

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("KLANTSIGNAAL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KLANTSIGNAAL_CHROMEDRIVER", "/usr/bin/chromedriver")
PHONE = {"width": 375, "height": 740}
NEGATIVE_COMMENT = "Waardeloos. Niemand belt ooit terug, ik ben het zat!"
QUESTIONS = (
    "1. Hoe makkelijk was het om dit te regelen?",
    "2. Zou u deze dienst aanraden aan anderen?",
    "3. Welk rapportcijfer geeft u?",
)
# Chromium as root in a container, and quiet: no sync, updates, pings, first-run pages.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-search-engine-choice-screen",
    "--no-pings",
    "--metrics-recording-only",
    "--password-store=basic",
    "--disable-features=Translate,MediaRouter,OptimizationHints,NetworkTimeServiceQuerying,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater",
    # Off the network for good: Chromium still tries a few background fetches (sign-in,
    # updates, a search preconnect) despite the flags above. Those go to this proxy on the
    # closed discard port and fail at once; loopback is never proxied, so the server is
    # reached directly. No name resolves either (the server is addressed by IP).
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--lang=nl",
    f"--window-size={PHONE['width']},{PHONE['height']}",
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the browser test must run in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium emulating a 375x740 phone (touch-less), its own fresh profile."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        _unavailable(f"selenium is not installed ({exc}); pip install -e '.[test]'")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            _unavailable(f"{path} not found: apt-get install chromium chromium-driver")
    profile = Path(tempfile.mkdtemp(prefix="klantsignaal-chromium-"))
    netlog = tmp_path / "chromium-netlog.json"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}"):
        options.add_argument(flag)
    service = Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = None
    error: Exception | None = None
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        error = exc
    if driver is None:  # outside `except`: keeps the report free of chained tracebacks
        shutil.rmtree(profile, ignore_errors=True)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        _unavailable(f"Chromium could not start: {first_line} (see {tmp_path}/chromedriver.log)")
    assert driver is not None
    try:
        driver.set_page_load_timeout(15)
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {**PHONE, "deviceScaleFactor": 2, "mobile": True},
        )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    _assert_stayed_on_loopback(netlog)


def _assert_stayed_on_loopback(netlog: Path) -> None:
    """Every TCP connection Chromium attempted was to 127.0.0.1, and no UDP data left it.

    (Chromium `connect()`s a UDP socket to a public IPv6 address to learn whether IPv6 is
    routable; that sends no packet, so only sent UDP bytes count.)
    """
    text = netlog.read_text().rstrip()
    if not text.endswith("}"):  # cut short at exit: keep whole events, close the list
        lines = text.splitlines()
        while lines and not lines[-1].rstrip().endswith(("},", "}")):
            lines.pop()
        text = "\n".join(lines).rstrip().rstrip(",") + "]}"
    log = json.loads(text)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    off_loopback = []
    for event in log["events"]:
        name = names.get(event["type"])
        params = event.get("params") or {}
        if name in {"TCP_CONNECT", "TCP_CONNECT_ATTEMPT"}:
            addresses = params.get("address_list") or [params.get("address")]
            off_loopback += [a for a in addresses if a and not a.startswith("127.0.0.1:")]
        if name in {"UDP_BYTES_SENT", "UDP_SEND_ERROR"}:
            off_loopback.append(f"udp {params}")
    assert not off_loopback, f"Chromium tried to reach the network: {sorted(set(off_loopback))}"


# --- helpers ---------------------------------------------------------------------------


def _by_css(driver: WebDriver, selector: str) -> WebElement:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _radio_label(driver: WebDriver, name: str, value: int) -> WebElement:
    """The visible tap target of one answer: the <label> around the (hidden) radio."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//input[@name='{name}' and @value='{value}']/..")


def _navigation_status(driver: WebDriver) -> int:
    return int(
        driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")
    )


def _submit(driver: WebDriver) -> int:
    """Press Versturen, wait for the next page; its HTTP status."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.wait import WebDriverWait

    old_page = _by_css(driver, "html")
    _by_css(driver, "button[type=submit]").click()
    WebDriverWait(driver, 10).until(ec.staleness_of(old_page))
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    return _navigation_status(driver)


def _text(driver: WebDriver) -> str:
    return _by_css(driver, "body").text


def _active(driver: WebDriver) -> dict[str, Any]:
    return dict(
        driver.execute_script(
            "const e = document.activeElement;"
            "return {tag: e.tagName, name: e.name || e.id, value: e.value, checked: e.checked,"
            " outline: getComputedStyle(e.closest('label') || e).outlineStyle};"
        )
    )


def _screenshot(driver: WebDriver, path: Path, viewport_only: bool = False) -> None:
    """The whole page (beyond the viewport) as a PNG, or only what the phone shows."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": not viewport_only}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


# --- the test --------------------------------------------------------------------------


def test_questionnaire_in_a_phone_browser(
    browser: WebDriver, server: LiveServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    print(f"screenshots, server log, chromedriver log and Chromium net log in {tmp_path}")
    contact_id = server.post_contact()
    link = server.invitation_link(contact_id)
    assert link.startswith(server.base + "/q/")

    # --- the form as it opens on a phone ---
    browser.get(link)
    assert _navigation_status(browser) == 200
    assert _by_css(browser, "html").get_attribute("lang") == "nl"
    assert browser.execute_script("return window.innerWidth") == PHONE["width"]
    legends = [e for e in browser.find_elements(By.TAG_NAME, "legend") if e.is_displayed()]
    assert [e.text for e in legends][:3] == list(QUESTIONS)
    for question in QUESTIONS:  # each scale is a group named by its question
        group = browser.find_element(By.XPATH, f"//fieldset[legend='{question}']")
        assert group.accessible_name == question
    _screenshot(browser, tmp_path / "questionnaire-375x740.png")

    # No horizontal scrolling on this phone, nor at 320 px (WCAG 1.4.10 Reflow).
    for width in (PHONE["width"], 320):
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {**PHONE, "width": width, "deviceScaleFactor": 2, "mobile": True},
        )
        scroll_width = browser.execute_script("return document.scrollingElement.scrollWidth")
        assert browser.execute_script("return window.innerWidth") == width
        assert scroll_width <= width, f"page is {scroll_width}px wide on a {width}px phone"
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**PHONE, "deviceScaleFactor": 2, "mobile": True}
    )

    # Every control has an accessible name; the answer buttons are big enough to tap.
    controls = browser.find_elements(By.CSS_SELECTOR, "input, textarea, select, button")
    radios = [c for c in controls if c.get_attribute("type") == "radio"]
    assert len(radios) == 5 + 11 + 10
    unnamed = [
        f"{c.tag_name} name={c.get_attribute('name')} value={c.get_attribute('value')}"
        for c in controls
        if not c.accessible_name.strip()
    ]
    assert not unnamed, f"controls without an accessible name: {unnamed}"
    for radio in radios:
        assert radio.accessible_name.startswith(radio.get_attribute("value"))
        target = radio.find_element(By.XPATH, "..").rect
        assert target["width"] >= 44 and target["height"] >= 44, target
    for textarea in browser.find_elements(By.TAG_NAME, "textarea"):
        assert textarea.accessible_name.endswith("(niet verplicht)")
    assert "bellen" in _by_css(browser, "#terugbellen").accessible_name

    # --- keyboard only: Tab into question 1, Space picks, an arrow moves the choice ---
    keys = ActionChains(browser)
    keys.send_keys(Keys.TAB).perform()
    focused = _active(browser)
    assert (focused["tag"], focused["name"], focused["checked"]) == ("INPUT", "ces", False)
    assert focused["outline"] != "none", "no visible focus on the answer buttons"
    keys.send_keys(Keys.SPACE).perform()
    assert _active(browser)["checked"] and _active(browser)["value"] == "1"
    keys.send_keys(Keys.ARROW_RIGHT).perform()
    focused = _active(browser)
    assert (focused["name"], focused["value"], focused["checked"]) == ("ces", "2", True)
    _screenshot(browser, tmp_path / "questionnaire-keyboard-375x740.png", viewport_only=True)
    checked = browser.find_elements(By.CSS_SELECTOR, "input[name=ces]:checked")
    assert [c.get_attribute("value") for c in checked] == ["2"]
    keys.send_keys(Keys.TAB).perform()  # one tab stop per question: on to its comment
    assert _active(browser)["name"] == "ces_opmerking"

    # --- nothing answered: the Dutch error, the form again ---
    browser.get(link)
    assert _submit(browser) == 422
    errors = _by_css(browser, "#fouten")
    assert errors.is_displayed() and errors.get_attribute("role") == "alert"
    assert "Beantwoord minstens één vraag." in errors.text
    assert [e.text for e in browser.find_elements(By.TAG_NAME, "legend")][:3] == list(QUESTIONS)
    _screenshot(browser, tmp_path / "questionnaire-errors-375x740.png")

    # --- an out-of-range score (a tampered form) and a comment without a score ---
    browser.execute_script("document.querySelector('input[name=nps][value=\"10\"]').value = '11';")
    _radio_label(browser, "nps", 11).click()
    _by_css(browser, "#ces_opmerking").send_keys("Lang gewacht.")
    assert _submit(browser) == 422
    messages = _by_css(browser, "#fouten").text
    assert "Kies bij vraag 2 een cijfer van 0 tot en met 10." in messages
    assert "Kies bij vraag 1 ook een cijfer, of maak het tekstvak leeg." in messages
    assert _by_css(browser, "#ces_opmerking").get_property("value") == "Lang gewacht."
    assert server.alerts() == []

    # --- very negative, with a comment and consent to be called back ---
    _radio_label(browser, "ces", 1).click()
    _radio_label(browser, "nps", 0).click()
    _radio_label(browser, "rapportcijfer", 1).click()
    _by_css(browser, "#rapportcijfer_opmerking").send_keys(NEGATIVE_COMMENT)
    browser.find_element(By.CSS_SELECTOR, "label[for=terugbellen]").click()
    assert _by_css(browser, "#terugbellen").is_selected()
    assert _submit(browser) == 200
    submitted = time.monotonic()
    assert _by_css(browser, "html").get_attribute("lang") == "nl"
    assert _by_css(browser, "h1").text == "Bedankt voor uw antwoorden!"
    assert "We nemen zo nodig contact met u op." in _text(browser)

    alerts = poll(server.alerts, 2.0)
    assert time.monotonic() - submitted < 2.0
    assert [a["contactId"] for a in alerts] == [contact_id]
    assert alerts[0]["terugbelToestemming"] is True

    # --- the link a second time ---
    browser.get(link)
    assert _by_css(browser, "html").get_attribute("lang") == "nl"
    assert "al ingevuld" in _by_css(browser, "h1").text
    assert browser.find_elements(By.TAG_NAME, "form") == []
