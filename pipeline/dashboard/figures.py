"""Measures cells (pipeline.measures.compute) flattened into figures, generically.

A cell is a nested dict. Blocks are recognised by their shape, not their name, so a measure
added later (a new block in the cell) shows up on the dashboard without code changes:
- {"onderdrukt": true}                      -> suppressed: no number at all;
- {"waarde": v, "marge": m, ...}            -> a value with a margin (NPS: v ± m);
- {"aandeel": p, "ondergrens": l, ...}      -> a share with its Wilson interval;
- {"gemiddelde": m, ...}                    -> a mean;
- a plain number                            -> a count or other figure;
- "verdeling": {"1": p, ...}                -> a distribution (kept apart from the rest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SKIP_KEYS = frozenset({"kanaal", "dienst", "team", "periode"})
LABELS = {
    "antwoorden": "Antwoorden",
    "nps": "NPS",
    "ces": "CES (1 tot 5)",
    "rapportcijfer": "Rapportcijfer",
    "respons": "Respons",
    "herhaalcontact": "Herhaalcontact binnen 7 dagen",
    "paginafeedback": "Paginafeedback",
    "promotors": "promotors (9-10)",
    "passives": "passives (7-8)",
    "detractors": "criticasters (0-6)",
    "aandeelTotEnMet5": "aandeel 5 of lager",
    "aandeelTotEnMet6": "aandeel 6 of lager",
    "uitgenodigd": "uitgenodigd",
    "n": "aantal",
    "goed": "goed",
    "matig": "matig",
    "slecht": "slecht",
    "verdeling": "verdeling",
    "terugbeltijd": "Terugbeltijd",
    "mediaanUren": "mediaan in uren",
    "p90Uren": "90% binnen (uren)",
    "slaNaleving": "Op tijd teruggebeld (norm)",
    "beoordeeld": "beoordeeld",
}
KIND_SUFFIX = {"aandeel": "aandeel", "gemiddelde": "gemiddelde", "marge": "", "getal": ""}


@dataclass(frozen=True)
class Figure:
    """One figure of one cell. `kind`: marge | aandeel | gemiddelde | getal | onderdrukt."""

    key: str  # dotted path, e.g. "nps.promotors"
    kind: str
    value: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def suppressed(self) -> bool:
        return self.kind == "onderdrukt"


def label(key: str) -> str:
    """Dutch label of a dotted figure key; unknown parts are split at capitals."""
    parts = []
    for part in key.split("."):
        words = LABELS.get(part) or re.sub(r"(?<=[a-z])(?=[A-Z0-9])", " ", part).lower()
        parts.append(words)
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _block(key: str, block: dict[str, Any]) -> Figure | None:
    if block.get("onderdrukt") is True:
        return Figure(key, "onderdrukt")
    if _is_number(block.get("waarde")) and _is_number(block.get("marge")):
        v, m = float(block["waarde"]), float(block["marge"])
        return Figure(key, "marge", v, round(v - m, 4), round(v + m, 4))
    if _is_number(block.get("aandeel")):
        return Figure(
            key, "aandeel", block["aandeel"], block.get("ondergrens"), block.get("bovengrens")
        )
    if _is_number(block.get("gemiddelde")):
        return Figure(key, "gemiddelde", float(block["gemiddelde"]))
    return None


OWN_KEYS = frozenset(
    {"onderdrukt", "waarde", "marge", "aandeel", "ondergrens", "bovengrens", "gemiddelde"}
)


def _walk(prefix: str, value: Any, out: list[Figure]) -> None:
    if _is_number(value):
        # The parts of a distribution are shares (without an interval); the rest counts.
        kind = "aandeel" if ".verdeling." in prefix else "getal"
        out.append(Figure(prefix, kind, value))
        return
    if not isinstance(value, dict):
        return
    own = _block(prefix, value) if prefix else None
    if own is not None:
        out.append(own)
        if own.suppressed:
            return
    for key, child in value.items():
        if own is not None and key in OWN_KEYS:
            continue
        if not prefix and key in SKIP_KEYS:
            continue
        _walk(f"{prefix}.{key}" if prefix else key, child, out)


def flatten(cell: dict[str, Any]) -> dict[str, Figure]:
    """All figures of a cell by key, in the cell's order."""
    out: list[Figure] = []
    _walk("", cell, out)
    return {f.key: f for f in out}


def is_distribution(key: str) -> bool:
    return ".verdeling." in key


def figure_keys(cells: list[dict[str, Any]]) -> list[str]:
    """The union of figure keys over cells, in first-seen order (stable across requests)."""
    flat = [flatten(cell) for cell in cells]
    seen: dict[str, None] = {}
    for figures in sorted(flat, key=len, reverse=True):  # the fullest cell sets the order
        for key in figures:
            seen.setdefault(key, None)
    # A block suppressed in some cells and shown by its parts in others ("antwoorden" vs
    # "antwoorden.n") is a row of its own only if it ever holds a figure itself.
    return [
        k
        for k in seen
        if not (
            any(other.startswith(k + ".") for other in seen)
            and all(f.get(k) is None or f[k].suppressed for f in flat)
        )
    ]
