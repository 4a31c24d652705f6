"""Service alerts reach the coordinators of the service's team by e-mail (a real SMTP server,
aiosmtpd) when they open and when they recover: Dutch text with the evidence, links, and no
personal data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consumers.service_alert_notifications import compose_service_alert, service_alert_notifications
from pipeline.app import System, build_embedded
from pipeline.settings import Settings
from tests.pipeline.monitoring.test_monitoring_pipeline import (
    BAD_COMMENT,
    GOOD_COMMENT,
    Feed,
    _service_alerts,
)
from tests.support.smtp_server import SmtpServer, smtp_server  # noqa: F401

KCC = "coordinator.kcc@gemeente.example"
OTHER = "coordinator.bz@gemeente.example"
FALLBACK = "coordinatoren@gemeente.example"
RAW_COMMENT = "Bel me op 06-12345678 of mail piet@example.org, mijn BSN is 111222333. Slecht!"

ALERT = {
    "serviceAlertId": "sa-1",
    "dienst": {"code": "paspoort", "naam": "Paspoort aanvragen"},
    "kanaal": "telefoon",
    "metriek": "aandeel-detractors",
    "status": "open",
    "waarde": 0.39,
    "drempel": 0.33,
    "venster": "2026-11-03T08:12:00Z/2026-11-05T14:00:00Z",
    "aantal": 62,
    "aangemaaktOp": "2026-11-05T14:00:00Z",
    "bewijs": {
        "basislijn": 0.2,
        "huidigeWaarde": 0.39,
        "limiet": 4.1,
        "statistiek": 4.2,
        "vensterStart": "2026-11-03T08:12:00Z",
        "vensterEinde": "2026-11-05T14:00:00Z",
        "aantal": 62,
        "aantalSlecht": 24,
        "voorbeeldOpmerkingen": [RAW_COMMENT],
    },
}


def test_message_has_the_evidence_in_dutch_and_no_personal_data() -> None:
    subject, body = compose_service_alert(ALERT, "https://klantsignaal.gemeente.example", "KCC")
    assert "Paspoort aanvragen via telefoon" in subject
    for expected in (
        "aandeel criticasters",
        "Normaal is dit 20%",
        "Nu is het 39% (24 van 62)",
        "van 03-11-2026 09:12 tot 05-11-2026 15:00",  # local time (CET)
        "https://klantsignaal.gemeente.example/dashboard",
        "/v1/service-alerts?dienst=paspoort&kanaal=telefoon",
        "coördinator van team KCC",
        "Slecht!",  # the example comment, scrubbed
    ):
        assert expected in body, expected
    for personal in ("12345678", "piet@example.org", "111222333"):
        assert personal not in body and personal not in subject
    recovered = {**ALERT, "status": "hersteld", "waarde": 0.18}
    subject, body = compose_service_alert(recovered, "https://x.example", None)
    assert subject.startswith("[klantsignaal] Weer normaal: Paspoort aanvragen")
    assert "weer normaal" in body and "Slecht!" not in body


def test_recipients_are_the_coordinators_of_the_teams_or_the_fallback() -> None:
    routes = {"KCC": (KCC, FALLBACK), "Burgerzaken": (OTHER, FALLBACK)}
    sent = service_alert_notifications(ALERT, routes, [FALLBACK], ["KCC", "Burgerzaken"], "u")
    assert [n.doel for n in sent] == [KCC, FALLBACK, OTHER], "one message per address"
    assert {n.aanleiding for n in sent} == {"dienst-open"}
    nobody = service_alert_notifications(ALERT, routes, [FALLBACK], ["Onbekend"], "u")
    assert [n.doel for n in nobody] == [FALLBACK]
    assert service_alert_notifications(ALERT, {}, [], ["KCC"], "u") == []


@pytest.fixture
def system(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[System]:  # noqa: F811
    config = tmp_path / "meldingen.toml"
    config.write_text(
        f'[team.KCC]\ncoordinatoren = ["{KCC}"]\n'
        f'[team.Burgerzaken]\ncoordinatoren = ["{OTHER}"]\n'
        f'[standaard]\ncoordinatoren = ["{FALLBACK}"]\n',
        encoding="utf-8",
    )
    settings = Settings(
        data_dir=tmp_path,
        api_token="t",
        link_key="k",
        pseudonym_key="p",
        monitor_warmup_min=40,
        monitor_warmup_days=0,
        monitor_arl0=300,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        notifications_config=str(config),
        notification_max_age_hours=24 * 30,  # the feed's events lie days back
        public_url="https://klantsignaal.gemeente.example",
    )
    built = build_embedded(settings)
    yield built
    built.close()


def test_coordinators_get_open_and_recovery_by_smtp(
    system: System,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    sender = system.background[0]
    feed = Feed(system)
    feed.answers(([3] + [9] * 4) * 8, "Niet zo goed.")
    feed.answers([2] * 30, BAD_COMMENT)
    sender.run_once()
    alerts = _service_alerts(system)
    assert {a["status"] for a in alerts} == {"open"} and alerts
    opened = smtp_server.recorder.to(KCC)
    assert len(opened) == len(alerts), "one e-mail per service alert (detractors, negatief)"
    assert all(
        m["Subject"].strip().startswith("[klantsignaal] Let op: Paspoort aanvragen via telefoon")
        for m in opened
    )
    [text] = [m.get_content() for m in opened if "criticasters" in m.get_content()]
    assert "Normaal is dit" in text and "Nu is het" in text
    assert "https://klantsignaal.gemeente.example/v1/service-alerts?dienst=paspoort" in text
    assert "@example.nl" not in text and "jan.jansen" not in text, "comments are scrubbed"
    assert not smtp_server.recorder.to(OTHER), "Burgerzaken handled none of these contacts"
    assert not smtp_server.recorder.to(FALLBACK)
    # Replaying is harmless: the outbox knows the message.
    sender.run_once()
    assert len(smtp_server.recorder.to(KCC)) == len(alerts)
    feed.answers([9] * 150, GOOD_COMMENT)
    sender.run_once()
    recovered = [a for a in _service_alerts(system) if a["status"] == "hersteld"]
    assert recovered
    subjects = [m["Subject"].strip() for m in smtp_server.recorder.to(KCC)]
    assert len(subjects) == len(alerts) + len(recovered), subjects
    assert sum(s.startswith("[klantsignaal] Weer normaal: Paspoort") for s in subjects) == len(
        recovered
    )
