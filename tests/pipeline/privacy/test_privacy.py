"""Pseudonyms and scrubbing of personal data in free text."""

from __future__ import annotations

import hashlib
import hmac
import sys
import threading
import time

import pytest

from pipeline.privacy import Pseudonymiser, is_valid_bsn, scrub


def test_eight_digit_bsn_is_the_nine_digit_one() -> None:
    from pipeline.privacy import normalise_bsn

    assert is_valid_bsn("10000008")
    assert normalise_bsn("10000008") == "010000008"
    assert not is_valid_bsn("١٢٣٤٥٦٧٨٢")  # other scripts' digits are no BSN


def test_elfproef() -> None:
    assert is_valid_bsn("123456782")
    assert is_valid_bsn("111222333")
    assert not is_valid_bsn("123456789")
    assert not is_valid_bsn("12345678a")
    assert not is_valid_bsn("000000000")


def test_pseudonym_is_keyed_and_stable() -> None:
    a, b = Pseudonymiser("key-a"), Pseudonymiser("key-b")
    assert a.klant("123456782") == a.klant(" 123456782 ")
    assert a.klant("123456782") != b.klant("123456782")
    assert a.klant("123456782").startswith("k-") and len(a.klant("123456782")) == 34


def test_pseudonyms_are_hmac_sha256_of_kind_and_value() -> None:
    """Pinned: a pseudonym changes only with the key (the warehouse joins on them)."""
    key = b"key-a"
    klant = hmac.new(key, b"bsn:123456782", hashlib.sha256).hexdigest()[:32]
    actor = hmac.new(key, b"actor:Jan Jansen", hashlib.sha256).hexdigest()[:16]
    assert Pseudonymiser("key-a").klant(" 123456782") == "k-" + klant
    assert Pseudonymiser("key-a").actor("Jan Jansen ") == "m-" + actor


def test_a_pseudonym_keeps_the_gil() -> None:
    """The web edge makes pseudonyms on its event loop. A call that lets go of the GIL
    (the one-shot hmac.digest does, for any message) lets a waiting thread in, and the
    request waits until that thread hands it back (up to the switch interval, 5 ms).
    Here a thread spins as soon as it holds the GIL; with a long switch interval it can
    only get it when a pseudonym lets go."""
    pseudonyms = Pseudonymiser("key-a")
    spins = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            spins[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        time.sleep(0.01)  # it runs; the GIL comes back here after the interval, by force
        before = spins[0]
        for i in range(500):
            pseudonyms.actor(f"medewerker {i}")
            pseudonyms.klant("123456782")
        during = spins[0] - before
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert during == 0, "a pseudonym call let another thread take the GIL"


@pytest.mark.parametrize(
    ("text", "placeholder", "secret"),
    [
        ("mail me op jan.jansen@example.nl aub", "[e-mail]", "jan.jansen@example.nl"),
        ("bel 06-12345678 even", "[telefoon]", "12345678"),
        ("bel 0612345678", "[telefoon]", "0612345678"),
        ("bel +31 20 123 4567", "[telefoon]", "123 4567"),
        ("mijn bsn is 123456782", "[nummer]", "123456782"),
        ("IBAN NL91ABNA0417164300 klopt niet", "[iban]", "0417164300"),
        ("ik woon Kerkstraat 12a in Utrecht", "[adres]", "Kerkstraat 12"),
        ("postcode 1234 AB", "[postcode]", "1234 AB"),
        ("postcode 1234ab", "[postcode]", "1234ab"),
        ("bsn 123 456 782 staat erop", "[nummer]", "456"),
        ("bel 06 - 12345678", "[telefoon]", "12345678"),
        ("bel +31 (0)6 12345678", "[telefoon]", "12345678"),
        ("ik woon kerkstraat 12", "[adres]", "kerkstraat 12"),
        ("Laan van Meerdervoort 12", "[adres]", "Meerdervoort"),
    ],
)
def test_scrub_removes_personal_data(text: str, placeholder: str, secret: str) -> None:
    cleaned = scrub(text)
    assert placeholder in cleaned
    assert secret not in cleaned


def test_scrub_keeps_ordinary_numbers_and_words() -> None:
    for text in (
        "Drie keer doorverwezen, 45 minuten gewacht, in 2026 nog steeds niets.",
        "in 2026 en 2027 wachtte ik 123 456 789 minuten",  # 3-3-3 but no elfproef
        "van 10 tot 12 uur open",
    ):
        assert scrub(text) == text
