"""The dashboard's tables: plain rows and cells, shown as HTML, drawn as charts, exported.

Every chart on the dashboard is drawn from one of these tables (the table is its text
alternative), and every export is one of them, so a figure has exactly one source.
A suppressed cell carries no number at all, only SUPPRESSED_TEXT.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.dashboard.figures import Figure, figure_keys, flatten, is_distribution, label

SUPPRESSED_TEXT = "te weinig antwoorden"
ALL = "alle"
ALL_LABEL = "Alle kanalen"


def _nl(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}".replace(",", " ").replace(".", ",").replace(" ", ".")


@dataclass(frozen=True)
class Cell:
    """kind: marge | aandeel | gemiddelde | getal | onderdrukt | tekst | leeg."""

    kind: str
    value: float | int | str | None = None
    low: float | None = None
    high: float | None = None
    extra: tuple[str, ...] = ()  # text lines shown under a text cell (theme examples)

    @property
    def suppressed(self) -> bool:
        return self.kind == "onderdrukt"

    @property
    def is_number(self) -> bool:
        return self.kind in ("marge", "aandeel", "gemiddelde", "getal")

    @property
    def text(self) -> str:
        v = self.value
        if self.kind == "onderdrukt":
            return SUPPRESSED_TEXT
        if self.kind == "leeg" or v is None:
            return "–"
        if self.kind == "tekst" or isinstance(v, str):
            return str(v)
        if self.kind == "aandeel":
            text = f"{_nl(100 * v, 1)}%"
            if self.low is not None and self.high is not None:
                text += f" ({_nl(100 * self.low, 1)} tot {_nl(100 * self.high, 1)}%)"
            return text
        if self.kind == "marge" and self.low is not None and self.high is not None:
            return f"{_nl(v, 1)} ± {_nl((self.high - self.low) / 2, 1)}"
        if self.kind == "gemiddelde":
            return _nl(v, 2)
        return _nl(v, 0) if float(v).is_integer() else _nl(v, 4)


SUPPRESSED = Cell("onderdrukt")
EMPTY = Cell("leeg")  # no data at all in that period (shown as "–", drawn as a gap)


def from_figure(figure: Figure | None) -> Cell:
    """A missing figure (its block was suppressed higher up) is suppressed too."""
    if figure is None or figure.suppressed:
        return SUPPRESSED
    return Cell(figure.kind, figure.value, figure.low, figure.high)


def text_cell(value: Any) -> Cell:
    return Cell("tekst", "" if value is None else str(value))


@dataclass(frozen=True)
class Column:
    key: str
    label: str


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Chart:
    """How the browser draws a table: `along` rows or columns on the x axis; `series` the
    keys of the other axis drawn (empty: all); `kind` bar or line."""

    along: str  # "rijen" | "kolommen"
    series: tuple[str, ...] = ()
    kind: str = "bar"
    label: str = ""
    unit: str = ""  # the y axis title, e.g. "NPS (punten)" or "%"


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    row_header: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    note: str = ""
    charts: tuple[Chart, ...] = field(default_factory=tuple)

    def cell(self, row_key: str, column_key: str) -> Cell:
        [row] = [r for r in self.rows if r.key == row_key]
        index = [c.key for c in self.columns].index(column_key)
        return row.cells[index]


def _groups(cells: Iterable[dict[str, Any]], dimension: str) -> dict[str, dict[str, Any]]:
    return {str(c[dimension]): c for c in cells}


def comparison(
    table_id: str,
    title: str,
    cells: list[dict[str, Any]],
    total: dict[str, Any] | None,
    dimension: str = "kanaal",
) -> Table:
    """Figures (rows) for each group side by side (columns), plus the total column."""
    by_group = _groups(cells, dimension)
    if total is not None:
        by_group[ALL] = total
    columns = tuple(Column(g, ALL_LABEL if g == ALL else g) for g in by_group)
    flat = {g: flatten(c) for g, c in by_group.items()}
    keys = [k for k in figure_keys(list(by_group.values())) if not is_distribution(k)]
    rows = tuple(
        Row(k, label(k), tuple(from_figure(flat[g].get(k)) for g in by_group)) for k in keys
    )
    return Table(table_id, title, "Cijfer", columns, rows)


def trend(table_id: str, title: str, cells: Sequence[dict[str, Any]]) -> Table:
    """Periods (rows) by figures (columns), for one group's cells in period order."""
    keys = [k for k in figure_keys(list(cells)) if not is_distribution(k)]
    columns = tuple(Column(k, label(k)) for k in keys)
    rows = []
    for cell in cells:
        if cell.get("leeg"):  # a period without any data: a gap, no number
            rows.append(Row(cell["periode"], cell["periode"], tuple(EMPTY for _ in keys)))
            continue
        flat = flatten(cell)
        rows.append(
            Row(cell["periode"], cell["periode"], tuple(from_figure(flat.get(k)) for k in keys))
        )
    return Table(table_id, title, "Periode", columns, tuple(rows))


def distribution(
    table_id: str,
    title: str,
    prefix: str,
    cells: list[dict[str, Any]],
    total: dict[str, Any] | None,
    row_label: str,
    dimension: str = "kanaal",
    keys: Sequence[str] = (),
) -> Table:
    """One distribution (rows: its values) per group (columns). `keys`: explicit row keys
    (e.g. the NPS categories); else every key under `prefix` + ".verdeling."."""
    by_group = _groups(cells, dimension)
    if total is not None:
        by_group[ALL] = total
    flat = {g: flatten(c) for g, c in by_group.items()}
    if not keys:
        keys = [
            k for k in figure_keys(list(by_group.values())) if k.startswith(prefix + ".verdeling.")
        ]
    columns = tuple(Column(g, ALL_LABEL if g == ALL else g) for g in by_group)
    rows = tuple(
        Row(
            k,
            k.rsplit(".", 1)[-1] if ".verdeling." in k else label(k),
            tuple(from_figure(flat[g].get(k)) for g in by_group),
        )
        for k in keys
    )
    return Table(table_id, title, row_label, columns, rows)
