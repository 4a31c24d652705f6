"""Tables as CSV (always) or Parquet (with the optional extra: pip install '.[parquet]').

One column per table column, plus "ondergrens"/"bovengrens" columns where the column holds
intervals; numbers raw (shares as fractions 0..1, a dot as decimal sign). A suppressed cell
is the text SUPPRESSED_TEXT, never a number. Text that a spreadsheet would read as a formula
(starting with = + - @, tab or carriage return) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pipeline.dashboard.tables import SUPPRESSED_TEXT, Cell, Table

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ParquetUnavailable(RuntimeError):
    pass


def safe_text(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def _has_bounds(table: Table, index: int) -> bool:
    return any(r.cells[index].low is not None for r in table.rows if not r.cells[index].suppressed)


def _extras(table: Table, index: int) -> int:
    """How many extra text lines (theme examples) the column has at most."""
    return max((len(r.cells[index].extra) for r in table.rows), default=0)


def header(table: Table) -> list[str]:
    names = [table.row_header]
    for i, column in enumerate(table.columns):
        names.append(column.label)
        if _has_bounds(table, i):
            names += [f"{column.label} ondergrens", f"{column.label} bovengrens"]
        names += [f"voorbeeld {k}" for k in range(1, _extras(table, i) + 1)]
    return names


def _value(cell: Cell) -> Any:
    if cell.suppressed:
        return SUPPRESSED_TEXT
    if cell.is_number:
        return cell.value
    return cell.text if cell.kind != "leeg" else ""


def records(table: Table) -> list[list[Any]]:
    """The rows of the export, typed (numbers stay numbers); header() names the columns."""
    bounded = [_has_bounds(table, i) for i in range(len(table.columns))]
    extras = [_extras(table, i) for i in range(len(table.columns))]
    out = []
    for row in table.rows:
        values: list[Any] = [row.label]
        for cell, with_bounds, n in zip(row.cells, bounded, extras, strict=True):
            values.append(_value(cell))
            if with_bounds:
                shown = cell.is_number and not cell.suppressed
                values += [cell.low if shown else None, cell.high if shown else None]
            values += [*cell.extra, *[None] * (n - len(cell.extra))]
        out.append(values)
    return out


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_text(h) for h in header(table)])
    for values in records(table):
        writer.writerow(
            ["" if v is None else safe_text(v) if isinstance(v, str) else v for v in values]
        )
    return buffer.getvalue()


def to_parquet(table: Table) -> bytes:
    """Every column as text (a suppressed cell cannot be a number); raises
    ParquetUnavailable without pyarrow."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ParquetUnavailable(
            "pyarrow is not installed: pip install 'klantsignaal[parquet]'"
        ) from exc
    names = header(table)
    rows = records(table)
    columns = {
        name: pa.array([None if r[i] is None else str(r[i]) for r in rows], type=pa.string())
        for i, name in enumerate(names)
    }
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()
