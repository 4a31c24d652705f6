"""Baseline: the warehouse schema as it was before migrations (commit a09923c).

A frozen copy of the table definitions of consumers/warehouse.py and
consumers/warehouse_revisions.py at that commit. Never edit it: a data directory made by
that code is stamped with this revision and upgraded from here. Tables that already exist
are left alone (checkfirst), so a data directory from an even older version, which lacks a
table or two, gets the missing ones here, as create_all did before.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

metadata = MetaData()


def _id_columns() -> list[Column[Any]]:
    return [
        Column("event_id", String(200), primary_key=True),
        Column("stored_at", DateTime(timezone=True), nullable=False),
    ]


def _dienst_columns() -> list[Column[Any]]:
    return [Column("dienst_code", String(64), index=True), Column("dienst_naam", String(200))]


contacts = Table(
    "contacts",
    metadata,
    *_id_columns(),
    Column("contact_id", String(100), nullable=False, index=True),
    Column("klant", String(80), nullable=False, index=True),
    Column("kanaal", String(30), nullable=False),
    Column("onderwerp", String(200)),
    *_dienst_columns(),
    Column("team", String(100), index=True),
    Column("contact_gelukt", Boolean),
    Column("vertrouwelijk", Boolean),
    Column("taal", String(3)),
    Column("plaatsgevonden_op", DateTime(timezone=True), index=True),
)
invitations = Table(
    "invitations",
    metadata,
    *_id_columns(),
    Column("invitation_id", String(100), nullable=False, unique=True),
    Column("contact_id", String(100), nullable=False, index=True),
    Column("klant", String(80), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("kanaal", String(30)),
    *_dienst_columns(),
    Column("team", String(100)),
    Column("dispatch", JSON),
    Column("created_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
)
responses = Table(
    "responses",
    metadata,
    *_id_columns(),
    Column("response_id", String(100), nullable=False, index=True),
    Column("invitation_id", String(100), nullable=False, index=True),
    Column("contact_id", String(100), nullable=False, index=True),
    Column("klant", String(80), nullable=False),
    Column("ces", Integer),
    Column("ces_schaal", Integer),
    Column("ces_opmerking", Text),
    Column("nps", Integer),
    Column("nps_opmerking", Text),
    Column("rapportcijfer", Integer),
    Column("rapportcijfer_opmerking", Text),
    Column("terugbel_toestemming", Boolean),
    Column("answered_at", DateTime(timezone=True), index=True),
)
signals = Table(
    "signals",
    metadata,
    *_id_columns(),
    Column("signal_id", String(100), nullable=False, index=True),
    Column("bron", String(20), nullable=False),
    Column("response_id", String(100)),
    Column("feedback_id", String(100)),
    Column("contact_id", String(100)),
    Column("klant", String(80)),
    Column("kanaal", String(30)),
    *_dienst_columns(),
    Column("team", String(100), index=True),
    Column("ces", Integer),
    Column("ces_schaal", Integer),
    Column("nps", Integer),
    Column("rapportcijfer", Integer),
    Column("beoordeling", String(10)),
    Column("opmerking", Text),
    Column("sentiment_label", String(3), index=True),
    Column("sentiment_score", Float),
    Column("very_negative", Boolean),
    Column("sentiment_explanation", JSON),
    Column("model_version", String(80)),
    Column("taal_opmerking", String(3)),
    Column("ontvangen_op", DateTime(timezone=True), index=True),
)
alerts = Table(
    "alerts",
    metadata,
    *_id_columns(),
    Column("alert_id", String(100), nullable=False, unique=True),
    Column("signal_id", String(100), nullable=False),
    Column("response_id", String(100)),
    Column("contact_id", String(100)),
    Column("klant", String(80), nullable=False),
    Column("team", String(100), nullable=False, index=True),
    Column("kanaal", String(30)),
    *_dienst_columns(),
    Column("ernst", String(10), nullable=False),
    Column("redenen", JSON, nullable=False),
    Column("opmerking", Text),
    Column("terugbel_toestemming", Boolean, nullable=False),
    Column("status", String(20), nullable=False, default="open", index=True),
    Column("aangemaakt_op", DateTime(timezone=True), nullable=False, index=True),
)
# Alert details added after the alerts table existed (no migrations yet): one row per alert.
alert_details = Table(
    "alert_details",
    metadata,
    Column("alert_id", String(100), primary_key=True),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    Column("soort", String(20), index=True),  # terugbellen | procesverbetering
    Column("uiterlijk_op", DateTime(timezone=True), index=True),
    Column("contacthistorie", JSON),
)
page_feedback = Table(
    "page_feedback",
    metadata,
    *_id_columns(),
    Column("feedback_id", String(100), nullable=False),
    Column("pagina", String(500), nullable=False),
    *_dienst_columns(),
    Column("beoordeling", String(10), nullable=False),
    Column("opmerking", Text),
    Column("gegeven_op", DateTime(timezone=True), index=True),
)
service_alerts = Table(
    "service_alerts",
    metadata,
    *_id_columns(),
    *_dienst_columns(),
    Column("metriek", String(40)),
    Column("waarde", Float),
    Column("drempel", Float),
    Column("venster", String(100)),
    Column("body", JSON),
)
opt_outs = Table(
    "opt_outs",
    metadata,
    *_id_columns(),
    Column("opt_out_id", String(100), nullable=False),
    Column("klant", String(80), index=True),
    Column("bron", String(20)),
    Column("invitation_id", String(100)),
    Column("gegeven_op", DateTime(timezone=True), index=True),
)
alert_status_changes = Table(
    "alert_status_changes",
    metadata,
    *_id_columns(),
    Column("alert_id", String(100), nullable=False, index=True),
    Column("team", String(100), index=True),
    Column("status", String(20), nullable=False),
    Column("handeling", String(30), nullable=False),
    Column("door", String(100)),
    Column("op", DateTime(timezone=True), nullable=False, index=True),
    Column("uitkomst", String(20)),
    Column("categorie", String(100)),
    Column("toegewezen_aan", String(100)),
)
# Caseworkers' "sentiment klopt niet" on a comment: training data for `sentiment retrain`.
sentiment_corrections = Table(
    "sentiment_corrections",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("signal_id", String(100), nullable=False, index=True),
    Column("text", Text, nullable=False),  # the scrubbed comment
    Column("label_from", String(3)),
    Column("label_to", String(3), nullable=False),
    Column("door", String(100)),
    Column("op", DateTime(timezone=True), nullable=False),
)
dispatch_outcomes = Table(
    "dispatch_outcomes",
    metadata,
    *_id_columns(),
    Column("outcome_id", String(100), nullable=False),
    Column("invitation_id", String(100), nullable=False, index=True),
    Column("klant", String(80)),
    Column("route", String(10)),
    Column("uitkomst", String(20), nullable=False, index=True),
    Column("reden", String(200)),
    Column("pogingen", Integer),
    Column("kanaal", String(30)),
    *_dienst_columns(),
    Column("op", DateTime(timezone=True), index=True),
)
# Filled by the questionnaire through the VisitRecorder port (consumers.funnel): one row per
# invitation and stage, "opened" (the page was shown) or "started" (a first answer sent).
questionnaire_visits = Table(
    "questionnaire_visits",
    metadata,
    Column("invitation_id", String(100), primary_key=True),
    Column("stage", String(10), primary_key=True),
    Column("op", DateTime(timezone=True), nullable=False),
)
# Which channel system (CloudEvents source) reported which contactId for which klant: a
# contactId is only unique per source, so lookups by contactId need the source too.
contact_sources = Table(
    "contact_sources",
    metadata,
    *_id_columns(),
    Column("source", String(500), nullable=False),
    Column("contact_id", String(100), nullable=False),
    Column("klant", String(80), nullable=False),
    Index("contact_sources_lookup", "contact_id", "source"),
)
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("position", String(100), primary_key=True),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    Column("stage", String(50)),
    Column("topic", String(100)),
    Column("reason", Text, nullable=False),
    Column("event_id", String(200)),
    Column("event_type", String(100)),
)

response_details = Table(
    "response_details",
    metadata,
    Column("response_id", String(100), primary_key=True),
    Column("invitation_id", String(100), nullable=False, index=True),
    Column("klant", String(80), nullable=False, index=True),
    Column("event_id", String(200), nullable=False),  # the revision now in `responses`
    Column("revisie", Integer, nullable=False),
    Column("first_answered_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Column("vervolg_soort", String(10)),  # "mis" or "goed"
    Column("vervolg_oorzaken", JSON),
    Column("vervolg_toelichting", Text),
    Column("contact_via", String(10)),  # "telefoon" or "email"; the number is never here
)


def upgrade() -> None:
    metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), checkfirst=True)
