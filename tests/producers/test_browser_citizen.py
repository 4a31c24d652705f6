"""The citizen pages in a real browser against `klantsignaal run`: the adaptive
questionnaire with a callback number, the opt-out page, the page-feedback widget embedded
in a page of another origin, each checked with axe-core; plus the streamed form limit.

One server for the module (its data dir is searched as bytes for the phone number).
"""

from __future__ import annotations

import http.server
import json
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.axe import assert_accessible
from tests.support.browser import active, by_css, navigation_status, radio_label, text
from tests.support.events import klant
from tests.support.live_server import DEFAULT_SOURCE, LiveServer, free_port, live_server, poll

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

PHONE_DIGITS = "98765432"
PHONE = f"06 {PHONE_DIGITS}"
COMMENT = "Waardeloos. Niemand belt ooit terug, ik ben het zat!"


class _HostPage(http.server.BaseHTTPRequestHandler):
    """A municipal page on another origin that includes the widget with one line."""

    widget_src = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = (
            "<!doctype html><html lang='nl'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Paspoort aanvragen - Gemeente Voorbeeldstad</title></head><body><main>"
            "<h1>Paspoort aanvragen</h1><p>Maak een afspraak om uw paspoort aan te vragen.</p>"
            f"<script src='{self.widget_src}' data-dienst-code='paspoort' "
            "data-dienst-naam='Paspoort aanvragen' async></script>"
            "</main></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def _host(port: int, widget_src: str) -> http.server.ThreadingHTTPServer:
    handler = type("Host", (_HostPage,), {"widget_src": widget_src})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def hosts() -> dict[str, int]:
    return {"allowed": free_port(), "other": free_port()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, hosts: dict[str, int]) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("citizen")
    env = {"KLANTSIGNAAL_WIDGET_ORIGINS": f"http://127.0.0.1:{hosts['allowed']}"}
    with live_server(workdir, extra_env=env) as running:
        yield running


def _data_dir(server: LiveServer) -> Path:
    return server.log_path.parent / "data"


def _log_events(server: LiveServer, topic: str) -> list[dict[str, Any]]:
    """The events on a topic of the embedded log, read as any SQLite client would."""
    path = _data_dir(server) / "log.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT value FROM log WHERE topic = ? ORDER BY offset", (topic,))
        return [json.loads(r[0]) for r in rows]


def _bytes_of(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.exists())


def _click_label(driver: WebDriver, for_id: str) -> None:
    by_css(driver, f"label[for='{for_id}']").click()


def _navigate(driver: WebDriver, selector: str = "button[type=submit]") -> int:
    """Click what leads to a new page and wait for it to be loaded; its HTTP status.

    A marker on the old window object is gone once the new document is there (robust where
    waiting for a stale element can hit a node of a document being torn down).
    """
    from selenium.common.exceptions import WebDriverException

    driver.execute_script("window.__oldPage = true;")
    by_css(driver, selector).click()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if driver.execute_script(
                "return !window.__oldPage && document.readyState === 'complete'"
            ):
                return navigation_status(driver)
        except WebDriverException:
            pass  # between documents
        time.sleep(0.05)
    raise AssertionError("no new page within 15 s")


# --- the questionnaire -----------------------------------------------------------------


@pytest.mark.browser
def test_very_negative_answers_follow_up_callback_and_thanks(
    browser: WebDriver, server: LiveServer
) -> None:
    contact_id = server.post_contact(
        klant=klant(0),
        kanaal="telefoon",
        team="Burgerzaken",
        dienst={"code": "rijbewijs", "naam": "Rijbewijs verlengen"},
    )
    link = server.invitation_link(contact_id)
    browser.get(link)
    assert navigation_status(browser) == 200
    assert by_css(browser, "html").get_attribute("lang") == "nl"
    assert "Rijbewijs verlengen" in text(browser)
    assert by_css(browser, "form").get_attribute("novalidate") is not None
    optout = by_css(browser, "footer a")
    assert optout.text == "Ik wil geen vragenlijsten meer ontvangen"
    assert optout.get_attribute("href") == link + "/afmelden"
    assert_accessible(browser, "the questionnaire")

    # --- the error state: a summary at the top that links to each field ---
    assert _navigate(browser) == 422
    summary = by_css(browser, "#fouten")
    assert summary.get_attribute("role") == "alert"
    first_link = by_css(browser, "#fouten a")
    assert first_link.text == "Beantwoord minstens één vraag."
    assert_accessible(browser, "the error state")
    first_link.click()
    assert active(browser)["name"] == "ces"

    # --- very negative, with consent to be called and a phone number ---
    radio_label(browser, "ces", 1).click()
    radio_label(browser, "nps", 0).click()
    radio_label(browser, "rapportcijfer", 1).click()
    by_css(browser, "#rapportcijfer_opmerking").send_keys(COMMENT)
    _click_label(browser, "contact-telefoon")
    by_css(browser, "#telefoon").send_keys(PHONE)
    assert _navigate(browser) == 200

    # --- the follow-up: "Wat ging er mis?" ---
    assert by_css(browser, "h1").text == "Nog één vraag"
    assert by_css(browser, "legend").text == "Wat ging er mis? (niet verplicht)"
    assert_accessible(browser, "the follow-up")
    assert _log_events(server, "survey-responses") == []  # nothing stored before the end
    _click_label(browser, "oorzaak-doorverwezen")
    _click_label(browser, "oorzaak-niet-opgelost")
    by_css(browser, "#toelichting").send_keys("Drie keer doorverbonden.")
    assert _navigate(browser) == 200

    # --- the thank-you page thanks ---
    assert by_css(browser, "h1").text == "Bedankt voor uw antwoorden!"
    assert "We bellen u zo snel mogelijk" in text(browser)
    assert_accessible(browser, "the thank-you page")

    # --- the response event carries the right contact context ---
    invitation = httpx.get(
        server.base + "/v1/invitations",
        params={"contact_id": contact_id, "source": DEFAULT_SOURCE},
        headers=server.auth,
    ).json()["invitations"][0]
    responses = poll(lambda: _log_events(server, "survey-responses"), 5)
    assert len(responses) == 1
    data = responses[0]["data"]
    assert data["contactId"] == contact_id
    assert data["invitationId"] == invitation["invitationId"]
    assert data["klant"] == klant(0) == responses[0]["partitionkey"]
    assert (data["ces"]["score"], data["nps"]["score"], data["rapportcijfer"]["score"]) == (1, 0, 1)
    assert data["rapportcijfer"]["opmerking"] == COMMENT
    assert data["vervolg"] == {
        "soort": "mis",
        "oorzaken": ["niet-opgelost", "doorverwezen"],
        "toelichting": "Drie keer doorverbonden.",
    }
    assert data["terugbelToestemming"] is True and data["contactVia"] == "telefoon"
    alerts = poll(lambda: [a for a in server.alerts() if a["contactId"] == contact_id], 5)
    assert (alerts[0]["kanaal"], alerts[0]["team"]) == ("telefoon", "Burgerzaken")
    assert alerts[0]["dienst"]["code"] == "rijbewijs"
    assert alerts[0]["terugbelToestemming"] is True

    # --- the phone number: in dispatch's database, nowhere in warehouse, log or server log ---
    data_dir = _data_dir(server)
    poll(lambda: PHONE_DIGITS.encode() in _bytes_of(list(data_dir.glob("dispatch.db*"))), 5)
    elsewhere = [p for p in data_dir.rglob("*") if p.is_file() and "dispatch.db" not in p.name]
    elsewhere.append(server.log_path)
    assert any(p.name.startswith("warehouse.db") for p in elsewhere)
    for path in elsewhere:
        assert PHONE_DIGITS.encode() not in path.read_bytes(), f"phone number in {path}"

    # --- opt-out from the footer link ---
    browser.get(link)
    assert _navigate(browser, "footer a") == 200
    assert by_css(browser, "h1").text == "Geen vragenlijsten meer ontvangen"
    assert_accessible(browser, "the opt-out page")
    assert _navigate(browser) == 200
    assert by_css(browser, "h1").text == "U krijgt geen vragenlijsten meer"
    assert_accessible(browser, "the opt-out confirmation")
    opt_outs = _log_events(server, "opt-outs")
    assert [(o["data"]["klant"], o["data"]["bron"]) for o in opt_outs] == [
        (klant(0), "vragenlijst")
    ]

    # --- a forged link: a friendly page, no event ---
    browser.get(server.base + "/q/" + "Zm9yZ2VkLXRva2VuLTAxMjM0NTY3")
    assert navigation_status(browser) == 404
    assert by_css(browser, "h1").text == "Deze link werkt niet"
    assert_accessible(browser, "the page for a broken link")
    assert len(_log_events(server, "survey-responses")) == 1


@pytest.mark.browser
def test_english_questionnaire_for_an_english_contact(
    browser: WebDriver, server: LiveServer
) -> None:
    link = server.invitation_link(server.post_contact(klant=klant(1), taal="eng"))
    browser.get(link)
    assert by_css(browser, "html").get_attribute("lang") == "en"
    assert by_css(browser, "h1").text == "How did we help you?"
    assert "I do not want to receive questionnaires any more" in text(browser)
    assert_accessible(browser, "the English questionnaire")


# --- the page-feedback widget on another origin ----------------------------------------


def _widget_submit(browser: WebDriver) -> str:
    from selenium.webdriver.support.wait import WebDriverWait

    by_css(browser, ".ks-button").click()
    return str(
        WebDriverWait(browser, 10).until(
            lambda d: d.find_element("css selector", ".ks-status").text
        )
    )


@pytest.mark.browser
def test_widget_on_a_municipal_page(
    browser: WebDriver, server: LiveServer, hosts: dict[str, int]
) -> None:
    from selenium.webdriver.support.wait import WebDriverWait

    allowed = _host(hosts["allowed"], server.base + "/widget.js")
    other = _host(hosts["other"], server.base + "/widget.js")
    try:
        page = f"http://127.0.0.1:{hosts['allowed']}/paspoort"
        browser.get(page + "?zaak=123")
        WebDriverWait(browser, 10).until(lambda d: d.find_elements("css selector", ".ks-widget"))
        radios = browser.find_elements("css selector", ".ks-widget input[type=radio]")
        assert [r.accessible_name for r in radios] == ["Goed", "Matig", "Slecht"]
        assert_accessible(browser, "the widget")

        by_css(browser, ".ks-button").click()  # no smiley chosen
        error = by_css(browser, ".ks-error")
        assert error.is_displayed() and "Kies een smiley" in error.text
        assert active(browser)["value"] == "goed"
        assert_accessible(browser, "the widget with an error")

        by_css(browser, "label.ks-smiley:nth-of-type(3)").click()
        by_css(browser, ".ks-widget textarea").send_keys("Ik kan nergens een afspraak maken.")
        assert _widget_submit(browser) == "Bedankt voor uw reactie!"
        assert_accessible(browser, "the widget's thanks")
        feedback = poll(lambda: _log_events(server, "page-feedback"), 5)
        assert len(feedback) == 1
        assert feedback[0]["data"]["pagina"] == page  # without the query string
        assert feedback[0]["data"]["beoordeling"] == "slecht"
        assert feedback[0]["data"]["dienst"] == {"code": "paspoort", "naam": "Paspoort aanvragen"}

        # A page on an origin that is not allowed: CORS refuses, nothing is stored.
        browser.get(f"http://127.0.0.1:{hosts['other']}/")
        WebDriverWait(browser, 10).until(lambda d: d.find_elements("css selector", ".ks-widget"))
        by_css(browser, "label.ks-smiley").click()
        assert "lukte niet" in _widget_submit(browser)
        time.sleep(0.5)
        assert len(_log_events(server, "page-feedback")) == 1

        # Without JavaScript: the same form as a page of its own (for an iframe or a link).
        browser.get(server.base + "/feedback?pagina=" + page)
        assert_accessible(browser, "the widget without JavaScript")
        _click_label(browser, "beoordeling-goed")
        assert _navigate(browser) == 200
        assert by_css(browser, "h1").text == "Bedankt voor uw reactie!"
        assert len(poll(lambda: _log_events(server, "page-feedback")[1:], 5)) == 1
    finally:
        for host in (allowed, other):
            host.shutdown()
            host.server_close()


# --- limits on the stream, not on a header ---------------------------------------------


def _chunked_post(base: str, path: str, total: int) -> tuple[int, int]:
    """POST `total` bytes of form with Transfer-Encoding: chunked; (status, bytes sent)."""
    host, port = base.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"ces_opmerking=" + b"a." * 32_000
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    reply = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        try:
            while sent < total:
                sock.sendall(frame)
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered before the body ended
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while b"\r\n" not in reply:
                part = sock.recv(4096)
                if not part:
                    break
                reply += part
        except (ConnectionResetError, TimeoutError):
            pass
    return int(reply.split(b" ", 2)[1]), sent


def test_chunked_100_mb_form_is_refused_without_being_read(server: LiveServer) -> None:
    link = server.invitation_link(server.post_contact(klant=klant(2)))
    path = "/" + link.split("/", 3)[3]
    started = time.monotonic()
    status, sent = _chunked_post(server.base, path, 100_000_000)
    assert status == 413
    assert sent < 10_000_000, f"the server read {sent} bytes before refusing"
    assert time.monotonic() - started < 10
    huge = httpx.post(server.base + path, data={"ces": "9" * 4301})
    assert huge.status_code == 422
    assert "Kies bij vraag 1 een cijfer van 1 tot en met 5." in huge.text
    assert httpx.get(server.base + "/healthz").status_code == 200
