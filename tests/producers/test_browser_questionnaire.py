"""The citizen questionnaire in a real browser: headless Chromium at phone size.

Drives `klantsignaal run` (a real server process); the browser comes from tests/support/browser.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.axe import assert_accessible
from tests.support.browser import (
    PHONE,
    active,
    by_css,
    navigation_status,
    radio_label,
    screenshot,
    submit,
    text,
)
from tests.support.live_server import LiveServer, live_server, poll

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytestmark = pytest.mark.browser

NEGATIVE_COMMENT = "Waardeloos. Niemand belt ooit terug, ik ben het zat!"
QUESTIONS = (
    "1. Hoe makkelijk was het om dit te regelen?",
    "2. Zou u deze dienst aanraden aan anderen?",
    "3. Welk rapportcijfer geeft u?",
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as running:
        yield running


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
    assert navigation_status(browser) == 200
    assert by_css(browser, "html").get_attribute("lang") == "nl"
    assert browser.execute_script("return window.innerWidth") == PHONE["width"]
    legends = [e for e in browser.find_elements(By.TAG_NAME, "legend") if e.is_displayed()]
    assert [e.text for e in legends][:3] == list(QUESTIONS)
    for question in QUESTIONS:  # each scale is a group named by its question
        group = browser.find_element(By.XPATH, f"//fieldset[legend='{question}']")
        assert group.accessible_name == question
    screenshot(browser, tmp_path / "questionnaire-375x740.png")
    assert_accessible(browser, "the questionnaire")

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
    controls = browser.find_elements(
        By.CSS_SELECTOR, "input:not([type=hidden]), textarea, select, button"
    )
    radios = [c for c in controls if c.get_attribute("type") == "radio"]
    assert len(radios) == 5 + 11 + 10 + 3  # three scales, then "Mogen we contact opnemen?"
    unnamed = [
        f"{c.tag_name} name={c.get_attribute('name')} value={c.get_attribute('value')}"
        for c in controls
        if not c.accessible_name.strip()
    ]
    assert not unnamed, f"controls without an accessible name: {unnamed}"
    for radio in radios[:26]:
        assert radio.accessible_name.startswith(radio.get_attribute("value"))
        target = radio.find_element(By.XPATH, "..").rect
        assert target["width"] >= 44 and target["height"] >= 44, target
    for textarea in browser.find_elements(By.TAG_NAME, "textarea"):
        assert textarea.accessible_name.endswith("(niet verplicht)")
    assert "bel mij" in by_css(browser, "#contact-telefoon").accessible_name

    # --- keyboard only: Tab into question 1, Space picks, an arrow moves the choice ---
    keys = ActionChains(browser)
    keys.send_keys(Keys.TAB).perform()
    focused = active(browser)
    assert (focused["tag"], focused["name"], focused["checked"]) == ("INPUT", "ces", False)
    assert focused["outline"] != "none", "no visible focus on the answer buttons"
    keys.send_keys(Keys.SPACE).perform()
    assert active(browser)["checked"] and active(browser)["value"] == "1"
    keys.send_keys(Keys.ARROW_RIGHT).perform()
    focused = active(browser)
    assert (focused["name"], focused["value"], focused["checked"]) == ("ces", "2", True)
    screenshot(browser, tmp_path / "questionnaire-keyboard-375x740.png", viewport_only=True)
    checked = browser.find_elements(By.CSS_SELECTOR, "input[name=ces]:checked")
    assert [c.get_attribute("value") for c in checked] == ["2"]
    keys.send_keys(Keys.TAB).perform()  # one tab stop per question: on to its comment
    assert active(browser)["name"] == "ces_opmerking"

    # --- nothing answered: the Dutch error, the form again ---
    browser.get(link)
    assert submit(browser) == 422
    errors = by_css(browser, "#fouten")
    assert errors.is_displayed() and errors.get_attribute("role") == "alert"
    assert "Beantwoord minstens één vraag." in errors.text
    assert [e.text for e in browser.find_elements(By.TAG_NAME, "legend")][:3] == list(QUESTIONS)
    screenshot(browser, tmp_path / "questionnaire-errors-375x740.png")

    # --- an out-of-range score (a tampered form) and a comment without a score ---
    browser.execute_script("document.querySelector('input[name=nps][value=\"10\"]').value = '11';")
    radio_label(browser, "nps", 11).click()
    by_css(browser, "#ces_opmerking").send_keys("Lang gewacht.")
    assert submit(browser) == 422
    messages = by_css(browser, "#fouten").text
    assert "Kies bij vraag 2 een cijfer van 0 tot en met 10." in messages
    assert "Kies bij vraag 1 ook een cijfer, of maak het tekstvak leeg." in messages
    assert by_css(browser, "#ces_opmerking").get_property("value") == "Lang gewacht."
    assert server.alerts() == []

    # --- very negative, with a comment and consent to be called back ---
    radio_label(browser, "ces", 1).click()
    radio_label(browser, "nps", 0).click()
    radio_label(browser, "rapportcijfer", 1).click()
    by_css(browser, "#rapportcijfer_opmerking").send_keys(NEGATIVE_COMMENT)
    browser.find_element(By.CSS_SELECTOR, "label[for=contact-telefoon]").click()
    assert by_css(browser, "#contact-telefoon").is_selected()
    by_css(browser, "#telefoon").send_keys("06 12345678")
    assert submit(browser) == 200
    assert by_css(browser, "legend").text == "Wat ging er mis? (niet verplicht)"
    assert submit(browser) == 200
    submitted = time.monotonic()
    assert by_css(browser, "html").get_attribute("lang") == "nl"
    assert by_css(browser, "h1").text == "Bedankt voor uw antwoorden!"
    assert "We bellen u zo snel mogelijk" in text(browser)

    alerts = poll(server.alerts, 2.0)
    assert time.monotonic() - submitted < 2.0
    assert [a["contactId"] for a in alerts] == [contact_id]
    assert alerts[0]["terugbelToestemming"] is True

    # --- the link a second time, within the hour: the answers to change ---
    browser.get(link)
    assert by_css(browser, "html").get_attribute("lang") == "nl"
    assert "nog wijzigen" in by_css(browser, ".note").text
    assert by_css(browser, "#nps-0").is_selected()
