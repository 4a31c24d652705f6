"""Public service-norm pages (no sign-in): per service its norm and the measured
satisfaction per quarter, to link from the municipality's website.

GET /servicenormen (the list) and GET /servicenormen/{code}. Only on when the operator
configured norms (KLANTSIGNAAL_SERVICE_NORMS_FILE). The figures come through the port
pipeline.service_norms.SatisfactionReads; a quarter with fewer than 10 answers shows
"Nog te weinig antwoorden" and no number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pipeline.service_norms import QuarterSatisfaction, SatisfactionReads, ServiceNorm
from producers.citizen_pages import CitizenPages

CACHE = "public, max-age=300"  # public figures, the same for everyone
TEXT = {"lang": "nl"}


def decimal_nl(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def quarter_row(q: QuarterSatisfaction) -> dict[str, str | bool]:
    if not q.shown or q.cijfer is None or q.tevreden is None:
        return {"label": q.label, "shown": False}
    return {
        "label": q.label,
        "shown": True,
        "cijfer": decimal_nl(q.cijfer),
        "tevreden": f"{round(100 * q.tevreden)}%",
        "antwoorden": str(q.antwoorden),
    }


@dataclass
class ServiceNormPages:
    norms: Mapping[str, ServiceNorm]
    reads: SatisfactionReads
    pages: CitizenPages = field(default_factory=CitizenPages)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/servicenormen", self.index, methods=["GET"]),
            Route("/servicenormen/{code}", self.service, methods=["GET"]),
            self.pages.static_mount(),
        ]

    def _public(self, response: Response) -> Response:
        response.headers["Cache-Control"] = CACHE
        return response

    async def index(self, request: Request) -> Response:
        services = sorted(self.norms.values(), key=lambda n: n.naam.lower())
        context = {"t": TEXT, "services": services}
        return self._public(self.pages.render("servicenormen.html", context))

    async def service(self, request: Request) -> Response:
        norm = self.norms.get(request.path_params["code"])
        if norm is None:
            context = {
                "t": TEXT,
                "heading": "Deze pagina bestaat niet",
                "lines": [
                    "Wij hebben geen servicenorm voor deze dienst. Kijk in de lijst van diensten."
                ],
            }
            return self.pages.render("message.html", context, status=404)
        quarters = await run_in_threadpool(self.reads.quarters, norm.code, datetime.now(UTC))
        context = {"t": TEXT, "norm": norm, "rows": [quarter_row(q) for q in quarters]}
        return self._public(self.pages.render("servicenorm.html", context))
