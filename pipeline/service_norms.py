"""Service norms in public: per service the promise ("U krijgt binnen 2 werkdagen antwoord")
and the measured satisfaction per quarter, for a public page (producers/service_norms.py).

The norms come from a TOML file (KLANTSIGNAAL_SERVICE_NORMS_FILE; empty: no public pages):

    [dienst.paspoort]
    naam = "Paspoort aanvragen"
    norm = "U krijgt binnen 2 werkdagen antwoord."
    toelichting = "Belt u ons? Dan ..."          # optional

The satisfaction per quarter comes from the measures (pipeline/measures) through the port
SatisfactionReads; only unsuppressed cells (10 answers or more) give a number. Plain
domain code: no transport, no database.
"""

from __future__ import annotations

import re
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pipeline.measures.compute import measures
from pipeline.measures.ports import MeasuresReadModel

CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # the service code doubles as the URL path
QUARTERS_SHOWN = 4
QUARTER_NAMES = {"1": "1e kwartaal", "2": "2e kwartaal", "3": "3e kwartaal", "4": "4e kwartaal"}


@dataclass(frozen=True)
class ServiceNorm:
    code: str
    naam: str
    norm: str
    toelichting: str = ""


def load_service_norms(path: str | Path) -> dict[str, ServiceNorm]:
    """The norms per service code; ValueError naming the file and the key when wrong."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"service norms {path}: {exc}") from exc
    unknown = sorted(set(raw) - {"dienst"})
    if unknown:
        raise ValueError(f"service norms {path}: unknown key {unknown[0]}")
    norms = {}
    for code, entry in raw.get("dienst", {}).items():
        where = f"service norms {path}: dienst.{code}"
        if not CODE.match(code):
            raise ValueError(f"{where}: the code may hold only a-z, 0-9 and -")
        extra = sorted(set(entry) - {"naam", "norm", "toelichting"})
        if extra:
            raise ValueError(f"{where}: unknown key {extra[0]}")
        for key in ("naam", "norm"):
            if not str(entry.get(key, "")).strip():
                raise ValueError(f"{where}: {key} is missing")
        norms[code] = ServiceNorm(code, entry["naam"], entry["norm"], entry.get("toelichting", ""))
    return norms


@dataclass(frozen=True)
class QuarterSatisfaction:
    kwartaal: str  # "2026-Q4"
    label: str  # "4e kwartaal 2026"
    antwoorden: int | None = None  # None: fewer than 10 answers, no number at all
    cijfer: float | None = None  # mean rapportcijfer
    tevreden: float | None = None  # share of rapportcijfer 7 or higher

    @property
    def shown(self) -> bool:
        return self.antwoorden is not None


class SatisfactionReads(Protocol):
    def quarters(self, dienst: str, now: datetime) -> list[QuarterSatisfaction]: ...


def recent_quarters(now: datetime, count: int = QUARTERS_SHOWN) -> list[str]:
    """The quarter of `now` and the ones before it, newest first ("2026-Q4", "2026-Q3", ...)."""
    year, quarter = now.year, (now.month - 1) // 3 + 1
    keys = []
    for _ in range(count):
        keys.append(f"{year}-Q{quarter}")
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return keys


def quarter_from_cell(key: str, cell: Mapping[str, Any] | None) -> QuarterSatisfaction:
    year, _, quarter = key.partition("-Q")
    label = f"{QUARTER_NAMES[quarter]} {year}"
    block = (cell or {}).get("rapportcijfer") or {}
    if "gemiddelde" not in block or "aandeel" not in block["aandeelTotEnMet6"]:
        return QuarterSatisfaction(key, label)  # suppressed or no data: no number
    low = block["aandeelTotEnMet6"]["aandeel"]
    return QuarterSatisfaction(key, label, block["n"], block["gemiddelde"], round(1 - low, 4))


@dataclass
class MeasuredSatisfaction:
    """SatisfactionReads from the measures per dienst and quarter (cached a few minutes:
    the page is public and the figures change slowly)."""

    read: MeasuresReadModel
    cache_seconds: float = 300.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[tuple[str, str], dict[str, Any]]] | None = None

    def _cells(self, now: datetime) -> dict[tuple[str, str], dict[str, Any]]:
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            cells = measures(self.read, "dienst", "quarter", now)
            by_key = {(c["dienst"], c["periode"]): c for c in cells}
            self._cached = (time.monotonic(), by_key)
            return by_key

    def quarters(self, dienst: str, now: datetime | None = None) -> list[QuarterSatisfaction]:
        now = now or datetime.now(UTC)
        cells = self._cells(now)
        return [quarter_from_cell(k, cells.get((dienst, k))) for k in recent_quarters(now)]


__all__ = ["MeasuredSatisfaction", "ServiceNorm", "load_service_norms"]
