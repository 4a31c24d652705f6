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


def test_a_sealed_records_inside_is_written_as_jsonfast_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inside of a sealed record (klant, headers, value: strings only) is orjson's text
    without jsonfast's read-back for a "null" in it: the same bytes jsonfast.dumps writes,
    for values with nulls, non-ASCII text, control characters and Latin-1 read bytes."""
    import pipeline.sealing as sealing
    from schemas import jsonfast

    values = [
        VALUE,
        b'{"a":null,"b":[null,1.5,-0.0,1e-05],"c":"\\u0000\\n\\t\\"\\\\"}',
        '{"t":"caf\u00e9 \u2603 \U0001f600 \u2028"}'.encode(),
        bytes(range(256)),  # every byte, read as Latin-1
        b"",
    ]
    written: list[tuple[bytes, bytes]] = []
    real = sealing._encrypt

    def spy(found: object, plain: bytes) -> bytes:
        inner = jsonfast.loads(plain)
        written.append((plain, jsonfast.dumps(inner)))
        return real(found, plain)  # type: ignore[arg-type]

    monkeypatch.setattr(sealing, "_encrypt", spy)
    sealer = Sealer(KeyStore(f"sqlite:///{tmp_path / 'keys.db'}"))
    for value in values:
        headers = [*HEADERS, ("dl_reason", "r\u00e9den \x00".encode())]
        key, out_headers, sealed = sealer.seal(KLANT.encode(), headers, value)
        assert sealer.open(key, out_headers, sealed) == (KLANT.encode(), headers, value)
    assert len(written) == len(values)
    for plain, stdlib_way in written:
        assert plain == stdlib_way
    assert sealing._strings_json({"k": "x", "h": [["a", "null"]], "v": "null"}) == (
        jsonfast.dumps({"k": "x", "h": [["a", "null"]], "v": "null"})
    )
