"""The measures per group (kanaal, dienst or team) and period (ISO week or month).

Every share carries its Wilson interval. Suppression: a figure whose base has fewer than
MIN_ANSWERS observations is replaced by {"onderdrukt": true} - no value, no count - and a
cell with fewer than MIN_ANSWERS answers shows no answer-based figure at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pipeline.measures.followup import callback_block, sla_block
from pipeline.measures.ports import (
    AnswerRow,
    ContactRow,
    Dimension,
    InvitationRow,
    MeasuresReadModel,
    PageFeedbackRow,
)
from pipeline.measures.stats import ces_on_five, nps_from_scores
from pipeline.measures.suppression import MIN_ANSWERS, SUPPRESSED, share

Period = Literal["week", "month", "quarter"]
REPEAT_DAYS = 7  # a contact about the same service by the same klant within 7 days
DIMENSIONS: tuple[str, ...] = ("kanaal", "dienst", "team")
PERIODS: tuple[str, ...] = ("week", "month", "quarter")
__all__ = ["MIN_ANSWERS", "SUPPRESSED", "measures", "period_key", "share"]


def period_key(moment: datetime, period: Period) -> str:
    """ISO week ("2026-W48"), month ("2026-11") or quarter ("2026-Q4") of a UTC moment."""
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "quarter":
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    return f"{moment.year}-{moment.month:02d}"


def _mean(values: list[float]) -> dict[str, Any]:
    if len(values) < MIN_ANSWERS:
        return dict(SUPPRESSED)
    return {"gemiddelde": round(sum(values) / len(values), 3), "n": len(values)}


def nps_block(scores: list[int]) -> dict[str, Any]:
    if len(scores) < MIN_ANSWERS:
        return dict(SUPPRESSED)
    nps = nps_from_scores(scores)
    return {
        "waarde": round(nps.value, 2),
        "marge": round(nps.margin(), 2),
        "n": nps.n,
        "promotors": share(nps.promoters, nps.n),
        "passives": share(nps.passives, nps.n),
        "detractors": share(nps.detractors, nps.n),
        "verdeling": {str(v): round(scores.count(v) / nps.n, 4) for v in range(11)},
    }


def rapportcijfer_block(grades: list[int]) -> dict[str, Any]:
    if len(grades) < MIN_ANSWERS:
        return dict(SUPPRESSED)
    n = len(grades)
    return {
        **_mean([float(g) for g in grades]),
        "verdeling": {str(g): round(grades.count(g) / n, 4) for g in range(1, 11)},
        "aandeelTotEnMet5": share(sum(1 for g in grades if g <= 5), n),
        "aandeelTotEnMet6": share(sum(1 for g in grades if g <= 6), n),
    }


def answers_block(rows: list[AnswerRow]) -> dict[str, Any]:
    if len(rows) < MIN_ANSWERS:
        return {"antwoorden": dict(SUPPRESSED)}
    ces = [ces_on_five(r.ces, r.ces_schaal or 5) for r in rows if r.ces is not None]
    return {
        "antwoorden": {"n": len(rows)},
        "nps": nps_block([r.nps for r in rows if r.nps is not None]),
        "ces": _mean(ces),
        "rapportcijfer": rapportcijfer_block(
            [r.rapportcijfer for r in rows if r.rapportcijfer is not None]
        ),
    }


def response_block(rows: list[InvitationRow]) -> dict[str, Any]:
    answered = sum(1 for r in rows if r.answered)
    if answered < MIN_ANSWERS:
        return dict(SUPPRESSED)  # the rate would reveal a count under 10
    return {"uitgenodigd": len(rows), **share(answered, len(rows))}


def repeat_flags(rows: Iterable[ContactRow]) -> list[tuple[ContactRow, bool]]:
    """Each contact with whether the same klant contacted about the same service in the
    REPEAT_DAYS before it."""
    by_person: dict[tuple[str, str], list[ContactRow]] = defaultdict(list)
    for row in rows:
        by_person[(row.klant, row.dienst)].append(row)
    flagged = []
    window = timedelta(days=REPEAT_DAYS)
    for contacts in by_person.values():
        contacts.sort(key=lambda r: r.at)
        for i, row in enumerate(contacts):
            flagged.append((row, i > 0 and row.at - contacts[i - 1].at <= window))
    return flagged


def page_feedback_block(rows: list[PageFeedbackRow]) -> dict[str, Any]:
    if len(rows) < MIN_ANSWERS:
        return dict(SUPPRESSED)
    n = len(rows)
    return {
        "n": n,
        **{
            b: share(sum(1 for r in rows if r.beoordeling == b), n)
            for b in ("goed", "matig", "slecht")
        },
    }


def measures(
    read: MeasuresReadModel, by: Dimension, period: Period, now: datetime | None = None
) -> list[dict[str, Any]]:
    """All cells (group x period) with data, sorted by period then group. `now` decides
    which open alerts are overdue for the SLA adherence (default: the current time)."""
    now = now or datetime.now(UTC)
    cells: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for a in read.answers(by):
        cells[(a.group, period_key(a.at, period))]["answers"].append(a)
    for i in read.invitations(by):
        cells[(i.group, period_key(i.at, period))]["invitations"].append(i)
    for c, repeat in repeat_flags(read.contacts(by)):
        cells[(c.group, period_key(c.at, period))]["contacts"].append(repeat)
    for f in read.page_feedback(by):
        cells[(f.group, period_key(f.at, period))]["page_feedback"].append(f)
    for a in read.alerts(by):
        cells[(a.group, period_key(a.created, period))]["alerts"].append(a)
    out = []
    for (group, key), parts in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        repeats = parts["contacts"]
        out.append(
            {
                by: group,
                "periode": key,
                **answers_block(parts["answers"]),
                "respons": response_block(parts["invitations"]),
                "herhaalcontact": share(sum(repeats), len(repeats)),
                "paginafeedback": page_feedback_block(parts["page_feedback"]),
                "terugbeltijd": callback_block(parts["alerts"]),
                "slaNaleving": sla_block(parts["alerts"], now),
            }
        )
    return out
