"""A real browser for the tests: headless Debian Chromium through Selenium, off the network.

The driver path is given explicitly, so Selenium Manager never runs (it would download
drivers). Chromium itself is kept off the network: every request that is not for the
loopback goes to a proxy on a closed loopback port, host names do not resolve, and the net
log is checked afterwards for any TCP connection off the loopback.

Without Chromium (or selenium) a browser test skips locally and FAILS under CI=true: in CI
a missing browser means a page went untested in a browser, which must not look green.
`scripts/install-test-deps.sh` installs both Debian packages. The `browser` fixture is
registered for every test module by tests/conftest.py; the helpers below are imported.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = os.environ.get("KLANTSIGNAAL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KLANTSIGNAAL_CHROMEDRIVER", "/usr/bin/chromedriver")
PHONE = {"width": 375, "height": 740}
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
        # A Dutch phone: headless Chromium ignores --lang for Accept-Language.
        driver.execute_cdp_cmd(
            "Emulation.setUserAgentOverride",
            {
                "userAgent": driver.execute_script("return navigator.userAgent"),
                "acceptLanguage": "nl-NL,nl;q=0.9",
            },
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


def by_css(driver: WebDriver, selector: str) -> WebElement:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def radio_label(driver: WebDriver, name: str, value: int) -> WebElement:
    """The visible tap target of one answer: the <label> around the (hidden) radio."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//input[@name='{name}' and @value='{value}']/..")


def navigation_status(driver: WebDriver) -> int:
    return int(
        driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")
    )


def submit(driver: WebDriver) -> int:
    """Press Versturen, wait for the next page; its HTTP status."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.wait import WebDriverWait

    old_page = by_css(driver, "html")
    by_css(driver, "button[type=submit]").click()
    # Mid-navigation chromedriver may answer "Node ... does not belong to the document"
    # instead of "stale element": ask again rather than fail.
    WebDriverWait(driver, 10, ignored_exceptions=(WebDriverException,)).until(
        ec.staleness_of(old_page)
    )
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    return navigation_status(driver)


def text(driver: WebDriver) -> str:
    return by_css(driver, "body").text


def active(driver: WebDriver) -> dict[str, Any]:
    return dict(
        driver.execute_script(
            "const e = document.activeElement;"
            "return {tag: e.tagName, name: e.name || e.id, value: e.value, checked: e.checked,"
            " outline: getComputedStyle(e.closest('label') || e).outlineStyle};"
        )
    )


def screenshot(driver: WebDriver, path: Path, viewport_only: bool = False) -> None:
    """The whole page (beyond the viewport) as a PNG, or only what the phone shows."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": not viewport_only}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
