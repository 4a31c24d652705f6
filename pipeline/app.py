"""Composition root: wires settings, runtime, warehouse and the web routes together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consumers.alert_actions import AlertActions
from consumers.alerts_api import AlertsApi
from consumers.callback_book import CallbackFirst, SqlCallbackBook
from consumers.dashboard import Dashboard
from consumers.dispatch import SqlAddressBook
from consumers.dispatcher import Dispatcher, build_dispatch
from consumers.funnel import SqlVisitRecorder
from consumers.funnel_api import FunnelApi
from consumers.inbox import Inbox
from consumers.inbox_reads import InboxReads
from consumers.inbox_store import InboxStore
from consumers.measures_api import MeasuresApi
from consumers.measures_read import SqlMeasuresReadModel
from consumers.notifications import build_notifications
from consumers.notifications_api import NotificationsApi
from consumers.notify_outbox import Outbox
from consumers.questionnaire_reads import WarehouseQuestionnaireReads
from consumers.service_alerts_api import ServiceAlertsApi
from consumers.warehouse import Warehouse, WarehouseSink
from pipeline.datafiles import database_urls, secure_data_files
from pipeline.ops.web import readiness_route, watch_embedded
from pipeline.ports import Publisher
from pipeline.privacy import Pseudonymiser, RotatingPseudonymiser, key_list
from pipeline.runtimes.embedded import EmbeddedRuntime, EventLog
from pipeline.sentiment import Scorer
from pipeline.service_norms import MeasuredSatisfaction, load_service_norms
from pipeline.settings import Settings
from pipeline.topology import TOPICS, topology_for
from pipeline.web.staff_app import secure_app, web_auth
from producers.ingestion import IngestionEdge
from producers.ingestion_api import IngestionApi
from producers.page_feedback import PageFeedbackWidget
from producers.questionnaire import Questionnaire
from producers.service_norms import ServiceNormPages

log = logging.getLogger(__name__)


@dataclass
class System:
    settings: Settings
    warehouse: Warehouse
    publisher: Publisher
    web: Starlette
    runtime: EmbeddedRuntime | None = None
    on_close: list[Callable[[], None]] = field(default_factory=list)
    background: list[Any] = field(default_factory=list)  # threads with start() and stop()
    dispatcher: Dispatcher | None = None  # e-mail/SMS; also in background

    def start(self) -> None:
        """Start the runtime and the background workers (notification sender)."""
        if self.runtime is not None:
            self.runtime.start()
        for worker in self.background:
            worker.start()
            self.on_close.append(worker.stop)

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
        for hook in self.on_close:
            hook()


def pseudonymiser_for(settings: Settings, warehouse: Warehouse) -> Pseudonymiser:
    """The edge's pseudonymiser; after a key rotation, citizens known in the warehouse under
    a previous key keep their pseudonym (docs/privacy.md, Keys)."""
    old = key_list(settings.pseudonym_keys_old)
    if not old:
        return Pseudonymiser(settings.pseudonym_key)
    return RotatingPseudonymiser(settings.pseudonym_key, old, warehouse.klant_known)


def build_web(settings: Settings, publisher: Publisher, warehouse: Warehouse) -> Starlette:
    auth = web_auth(settings)
    address_book = SqlAddressBook(settings.dispatch)
    reads = InboxReads(warehouse)
    ingestion = IngestionApi(
        edge=IngestionEdge(pseudonymiser_for(settings, warehouse)),
        publisher=publisher,
        address_book=SqlAddressBook(settings.dispatch),
        warehouse=warehouse,
        api_token=settings.api_token,
        base_url=settings.base_url,
        max_body_bytes=settings.max_body_bytes,
        max_batch_events=settings.max_batch_events,
        auth=auth,
    )
    questionnaire_reads = WarehouseQuestionnaireReads(warehouse)
    questionnaire = Questionnaire(
        publisher,
        questionnaire_reads,
        SqlCallbackBook(settings.dispatch),
        ces_scale=settings.ces_scale,
        revision_minutes=settings.revision_minutes,
        rate_per_link=settings.rate_per_link,
        rate_per_address=settings.rate_per_address,
        visits=SqlVisitRecorder(warehouse),
    )
    notifications = NotificationsApi(Outbox(settings.warehouse), settings.api_token)
    store = InboxStore(settings.inbox)
    actions = AlertActions(store, publisher)
    alerts = AlertsApi(reads, auth, settings.base_url, actions)
    # The caseworker sees the callback number the citizen gave in the questionnaire first.
    contact_details = CallbackFirst(SqlCallbackBook(settings.dispatch), address_book)
    inbox = Inbox(auth, reads, store, actions, contact_details)
    widget = PageFeedbackWidget(
        publisher,
        allowed_origins=settings.widget_origin_list,
        rate_per_address=settings.widget_rate_per_address,
    )
    service_alerts = ServiceAlertsApi(warehouse, auth)
    measures = MeasuresApi(warehouse, auth)
    norms = service_norm_routes(settings, warehouse)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "runtime": settings.runtime})

    ready = readiness_route(warehouse)

    async def home(_: Request) -> Response:
        return HTMLResponse(
            "<!doctype html><html lang='nl'><meta charset='utf-8'><title>klantsignaal</title>"
            "<h1>klantsignaal draait</h1><p>API: <code>POST /v1/events</code>, "
            "<code>GET /v1/alerts</code>, "
            "<code>GET /v1/invitations?contact_id=…&amp;source=…</code>.</p>"
        )

    routes: list[Any] = [
        Route("/", home),
        Route("/healthz", health),
        Route("/readyz", ready),
        *ingestion.routes(),
        *questionnaire.routes(),
        *widget.routes(),
        *alerts.routes(),
        *notifications.routes(),
        *auth.routes(),
        *inbox.routes(),
        *FunnelApi(warehouse, auth).routes(),
        *service_alerts.routes(),
        *measures.routes(),
        *Dashboard(auth, warehouse).routes(),
        *norms,
    ]
    return secure_app(Starlette(routes=routes), settings)


def service_norm_routes(settings: Settings, warehouse: Warehouse) -> list[Any]:
    """The public service-norm pages, when the operator configured norms (off by default)."""
    if not settings.service_norms_file:
        return []
    norms = load_service_norms(settings.service_norms_file)
    reads = MeasuredSatisfaction(SqlMeasuresReadModel(warehouse.engine))
    return ServiceNormPages(norms, reads).routes()


def build_embedded(settings: Settings, scorer: Scorer | None = None) -> System:
    """The whole system in one process: SQLite log and state, SQLite (or PostgreSQL) warehouse."""
    settings = settings.with_secrets()
    secure_data_files(settings.data_dir, database_urls(settings))
    warehouse = Warehouse(settings.warehouse)
    topology = topology_for(settings, scorer)
    notification_sink, notification_sender = build_notifications(settings)
    runtime = EmbeddedRuntime(
        EventLog(settings.data_dir / "log.db"),
        topology,
        sinks=[WarehouseSink(warehouse, TOPICS), notification_sink],
    )
    dispatch_sink, dispatcher = build_dispatch(settings, runtime)
    runtime.sinks += (dispatch_sink,)
    web = build_web(settings, runtime, warehouse)
    system = System(settings, warehouse, runtime, web, runtime=runtime, dispatcher=dispatcher)
    system.background.append(notification_sender)
    system.background.append(dispatcher)
    watch_embedded(runtime)
    return system
