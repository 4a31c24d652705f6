"""Crypto-shredding without a broker: a sealed record shows nothing of the citizen, opens
to exactly what was sealed, is ERASED once the key is forgotten, and refuses to open when
tampered with or sealed by another key store; state entries likewise."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.runtimes.kafka.keystore import KeyStore
from pipeline.sealing import ERASED, Sealer

KLANT = "k-" + "ab" * 16
HEADERS = [
    ("ce_id", b"e-42"),
    ("ce_type", b"nl.klantsignaal.contact.v1"),
    ("ce_partitionkey", KLANT.encode()),
]
VALUE = '{"contactId":"c-1","inhoud":"Schandalig é"}'.encode()


def test_sealed_record_hides_the_citizen_and_opens_again(tmp_path: Path) -> None:
    sealer = Sealer(KeyStore(f"sqlite:///{tmp_path / 'keys.db'}"))
    key, headers, value = sealer.seal(KLANT.encode(), HEADERS, VALUE)
    wire = (key or b"") + value + b"".join(v for _, v in headers)
    for secret in (KLANT.encode(), b"c-1", b"Schandalig", b"e-42"):
        assert secret not in wire
    assert dict(headers)["ce_type"] == b"nl.klantsignaal.contact.v1"
    assert sealer.open(key, headers, value) == (KLANT.encode(), HEADERS, VALUE)
    tampered = value[:-1] + bytes([value[-1] ^ 1])
    with pytest.raises(ValueError):
        sealer.open(key, headers, tampered)
    other = Sealer(KeyStore(f"sqlite:///{tmp_path / 'other.db'}"))
    with pytest.raises(ValueError, match="another key store"):
        other.open(key, headers, value)
    assert sealer.keys.forget(KLANT) == 1
    assert sealer.open(key, headers, value) is ERASED
    plain = (b"dienst|kanaal", HEADERS, VALUE)  # not keyed by a klant: left as it is
    assert sealer.seal(*plain) == plain


def test_sealed_state_opens_until_forgotten(tmp_path: Path) -> None:
    sealer = Sealer(KeyStore(f"sqlite:///{tmp_path / 'keys.db'}"))
    table_key = sealer.state_key(KLANT, create=True)
    assert table_key is not None and table_key != KLANT
    stored = sealer.seal_state(KLANT, {"c-1": {"plaatsgevondenOp": "2026-11-23T10:00:00Z"}})
    assert "c-1" not in str(stored)
    assert sealer.open_state(KLANT, stored) == {"c-1": {"plaatsgevondenOp": "2026-11-23T10:00:00Z"}}
    sealer.keys.forget(KLANT)
    assert sealer.state_key(KLANT, create=False) is None
    assert sealer.open_state(KLANT, stored) is None
    assert sealer.state_key("paspoort|telefoon", create=False) == "paspoort|telefoon"
