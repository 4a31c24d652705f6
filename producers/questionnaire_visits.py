"""How far citizens get with the questionnaire, for the response funnel (docs/dispatch.md).

An ASGI middleware in front of the citizen pages that only watches: a questionnaire page
shown (GET /q/{token} answered 200) counts as "opened", answers sent (POST /q/{token}, also
with errors to correct) as "started". It reports through the VisitRecorder port; a failure
to record is logged and never changes the citizen's page.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool

from pipeline.citizen_ports import QuestionnaireReads
from pipeline.ports import VisitRecorder

log = logging.getLogger(__name__)
_QUESTIONNAIRE = re.compile(r"/q/([A-Za-z0-9_-]{16,64})")


def visit_stage(method: str, status: int) -> str | None:
    if method == "GET" and status == 200:
        return "opened"
    if method == "POST" and (status < 400 or status == 422):
        return "started"
    return None


class VisitTracking:
    def __init__(self, app: Any, reads: QuestionnaireReads, recorder: VisitRecorder):
        self.app = app
        self.reads = reads
        self.recorder = recorder

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = _QUESTIONNAIRE.fullmatch(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        seen: dict[str, int] = {}

        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        stage = visit_stage(scope["method"], seen.get("status", 500))
        if stage is not None:
            await run_in_threadpool(self._record, match.group(1), stage)

    def _record(self, token: str, stage: str) -> None:
        try:
            invitation = self.reads.invitation(token)
            if invitation is not None:
                self.recorder.record_visit(invitation.invitation_id, stage)
        except Exception:
            log.exception("could not record a questionnaire visit (%s)", stage)
