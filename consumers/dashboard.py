"""The staff dashboard at /dashboard: measures, trends, distributions, funnel, comment
themes and open service alerts, with filters as a plain GET form and an export per table.

Who: coordinators and analysts (aggregates). A user limited to teams sees only those
teams. Analysts see no comment text (no theme examples). Dutch, server-rendered tables;
charts are drawn in the browser by Chart.js (served from our origin) from those tables.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from consumers.dashboard_read import FilteredMeasuresRead, Filters, SqlComments, choices
from consumers.funnel import funnel
from consumers.service_alerts_api import ServiceAlertReader, split_open_recent
from consumers.warehouse import Warehouse, invitations
from pipeline.dashboard import export
from pipeline.dashboard.overall import AllGroups
from pipeline.dashboard.periods import bounds, name_nl
from pipeline.dashboard.sections import alerts_table, funnel_table, themes_table
from pipeline.dashboard.tables import Table
from pipeline.dashboard.themes import ThemeCache
from pipeline.dashboard.view import View, measure_tables, pick_period
from pipeline.measures.compute import measures
from pipeline.web.auth import Staff, WebAuth, staff_templates
from pipeline.web.authz import Principal

ROLES = ("coordinator", "analyst")
PER = {"week": "Per week", "month": "Per maand"}
NO_STORE = {"Cache-Control": "no-store"}
# A dashboard may be a minute behind: the same filters within VIEW_SECONDS reuse the figures.
VIEW_SECONDS = 60.0
VIEW_ENTRIES = 64


def may_see_dashboard(p: Principal) -> bool:
    return p.is_user and p.role in ROLES


def may_see_comments(p: Principal) -> bool:
    """Example comments are free text: coordinators only, never analysts."""
    return p.is_user and p.role == "coordinator"


def team_limit(p: Principal) -> frozenset[str] | None:
    return frozenset(p.teams) if p.teams else None


class FilterError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Query:
    per: str = "week"
    periode: str | None = None
    kanaal: str | None = None
    dienst: str | None = None
    team: str | None = None

    def filters(self, limit: frozenset[str] | None) -> Filters:
        teams = frozenset({self.team}) if self.team else limit
        return Filters(self.kanaal, self.dienst, teams)


def parse(params: Any, options: dict[str, list[str]]) -> Query:
    """The filters from the query string; FilterError naming the field when not offered."""
    per = params.get("per") or "week"
    if per not in PER:
        raise FilterError("per", "Kies bij 'Per' week of maand.")
    chosen: dict[str, str | None] = {}
    for name in ("kanaal", "dienst", "team"):
        value = params.get(name) or None
        if value is not None and value not in options[name]:
            raise FilterError(
                name, f"Kies een {name} uit de lijst: deze bestaat niet of is niet voor u."
            )
        chosen[name] = value
    return Query(per, params.get("periode") or None, **chosen)


@dataclass
class Dashboard:
    auth: WebAuth
    warehouse: Warehouse
    theme_cache: ThemeCache = field(default_factory=ThemeCache)
    templates: Any = field(init=False)
    _views: dict[Any, tuple[float, View]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.templates = staff_templates(PackageLoader("consumers", "templates"))
        self.templates.globals["periode_naam"] = name_nl

    def routes(self) -> list[Any]:
        return [
            Route("/dashboard", self.page, methods=["GET"]),
            Route("/dashboard/export/{name}.{fmt}", self.export, methods=["GET"]),
            Mount("/dashboard/static", StaticFiles(packages=[("consumers", "static")])),
        ]

    def _render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=NO_STORE)

    async def _staff(self, request: Request) -> Staff | Response:
        staff = await run_in_threadpool(self.auth.staff, request)
        if staff is None:
            return self.auth.sign_in_redirect(request)
        if not may_see_dashboard(staff.principal):
            return self._render(
                "message.html",
                403,
                staff=staff,
                heading="Geen toegang",
                lines=("Het dashboard is voor coördinatoren en analisten.",),
            )
        return staff

    async def _view(self, request: Request, staff: Staff) -> tuple[View, Query, dict] | Response:
        limit = team_limit(staff.principal)
        options = await run_in_threadpool(choices, self.warehouse.engine, limit)
        try:
            query = parse(request.query_params, options)
        except FilterError as error:
            if request.url.path != "/dashboard":  # an export: no form to show
                return Response(f"{error.name}: {error}\n", 400, headers=NO_STORE)
            return self._render(
                "dashboard.html",
                400,
                staff=staff,
                view=View("week", None, []),
                query=Query(),
                options=options,
                per=PER,
                error=error,
                export_query="",
            )
        examples = may_see_comments(staff.principal)
        view = await run_in_threadpool(self.cached_view, query, limit, examples)
        return view, query, options

    def cached_view(self, query: Query, limit: frozenset[str] | None, examples: bool) -> View:
        """The view for these filters, recomputed when older than VIEW_SECONDS."""
        key = (query, limit, examples)
        with self._lock:
            hit = self._views.get(key)
        if hit is not None and time.monotonic() - hit[0] < VIEW_SECONDS:
            return hit[1]
        view = self.build(query, limit, examples)
        with self._lock:
            self._views[key] = (time.monotonic(), view)
            while len(self._views) > VIEW_ENTRIES:
                self._views.pop(next(iter(self._views)))
        return view

    def build(self, query: Query, limit: frozenset[str] | None, examples: bool) -> View:
        engine = self.warehouse.engine
        filters = query.filters(limit)
        read = FilteredMeasuresRead(engine, filters)
        totals = measures(AllGroups(read), "kanaal", query.per)  # type: ignore[arg-type]
        periods = [c["periode"] for c in totals]
        periode, notice = pick_period(totals, query.periode)
        view = View(query.per, periode, periods, notice=notice)
        if periode is None:
            return view
        by_kanaal = measures(read, "kanaal", query.per)  # type: ignore[arg-type]
        view.tables += measure_tables(by_kanaal, totals, periode)
        start, end = bounds(periode)
        created = invitations.c.created_at
        where = [created >= start, created < end, *filters.conditions(invitations)]
        view.tables.append(funnel_table(funnel(self.warehouse, "kanaal", where=where)))
        first = bounds(view.table("trend").rows[0].key)[0] if view.table("trend") else start
        source = SqlComments(engine, filters, first, end)
        themes = self.theme_cache.themes((filters, first, end), source)
        view.tables.append(themes_table(themes, examples))
        view.tables.append(alerts_table(self._open_alerts(query, limit)))
        return view

    def _open_alerts(self, query: Query, limit: frozenset[str] | None) -> list[dict[str, Any]]:
        opened, _ = split_open_recent(
            ServiceAlertReader(self.warehouse.engine).all(), datetime.now(UTC)
        )
        out = []
        for alert in opened:
            dienst = alert.get("dienst") or {}
            code = dienst.get("code") if isinstance(dienst, dict) else dienst
            if query.dienst and code != query.dienst:
                continue
            if query.kanaal and alert.get("kanaal") not in (None, query.kanaal):
                continue
            if limit is not None and alert.get("team") and alert["team"] not in limit:
                continue
            out.append(alert)
        return out

    async def page(self, request: Request) -> Response:
        staff = await self._staff(request)
        if isinstance(staff, Response):
            return staff
        result = await self._view(request, staff)
        if isinstance(result, Response):
            return result
        view, query, options = result
        return self._render(
            "dashboard.html",
            staff=staff,
            view=view,
            query=query,
            options=options,
            per=PER,
            export_query=request.url.query,
        )

    async def export(self, request: Request) -> Response:
        staff = await self._staff(request)
        if isinstance(staff, Response):
            return staff
        name, fmt = request.path_params["name"], request.path_params["fmt"]
        if fmt not in ("csv", "parquet"):
            return Response(
                "Kies csv of parquet.\n", 404, media_type="text/plain", headers=NO_STORE
            )
        result = await self._view(request, staff)
        if isinstance(result, Response):
            return result
        view, _, _ = result
        table = view.table(name)
        if table is None:
            return Response(
                "Deze tabel bestaat niet.\n", 404, media_type="text/plain", headers=NO_STORE
            )
        return _download(table, fmt, view.periode or "")


def _download(table: Table, fmt: str, periode: str) -> Response:
    filename = f"klantsignaal-{table.id}-{periode or 'leeg'}.{fmt}"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        body = "\ufeff" + export.to_csv(table)  # the BOM lets spreadsheets read UTF-8
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    try:
        data = export.to_parquet(table)
    except export.ParquetUnavailable:
        return Response(
            "Parquet-export is niet geïnstalleerd. Vraag uw beheerder: "
            "pip install 'klantsignaal[parquet]'. CSV werkt altijd.\n",
            406,
            media_type="text/plain; charset=utf-8",
            headers=NO_STORE,
        )
    return Response(data, media_type="application/vnd.apache.parquet", headers=headers)
