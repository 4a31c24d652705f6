"""Helpers for the dashboard tests: read the tables back out of the HTML and the CSV."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient

from consumers.dashboard import Dashboard
from consumers.warehouse import Warehouse
from pipeline.settings import Settings
from pipeline.web.accounts import AccountStore
from pipeline.web.staff_app import secure_app, web_auth

PASSWORD = "correct horse battery staple"
SUPPRESSED = "te weinig antwoorden"


@dataclass
class HtmlCell:
    text: str
    value: float | None
    low: float | None
    high: float | None
    suppressed: bool
    kind: str | None


@dataclass
class HtmlTable:
    columns: list[str] = field(default_factory=list)
    rows: dict[str, list[HtmlCell]] = field(default_factory=dict)
    row_labels: dict[str, str] = field(default_factory=dict)

    def cell(self, row: str, column: str) -> HtmlCell:
        return self.rows[row][self.columns.index(column)]


def _num(value: str | None) -> float | None:
    return None if value is None else float(value)


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, HtmlTable] = {}
        self.table: HtmlTable | None = None
        self.row: str | None = None
        self.cell: dict[str, Any] | None = None
        self.in_row_header = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-table"):
            self.table = self.tables.setdefault(str(a["data-table"]), HtmlTable())
        elif self.table is None:
            return
        elif tag == "th" and a.get("data-key") is not None:
            self.table.columns.append(str(a["data-key"]))
        elif tag == "tr" and a.get("data-key") is not None:
            self.row = str(a["data-key"])
            self.table.rows[self.row] = []
        elif tag == "th" and a.get("scope") == "row":
            self.in_row_header = True
            self.table.row_labels[str(self.row)] = ""
        elif tag == "td" and self.row is not None:
            self.cell = {"attrs": a, "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.table = None
        elif tag == "th":
            self.in_row_header = False
        elif tag == "td" and self.cell is not None and self.table is not None:
            a = self.cell["attrs"]
            self.table.rows[str(self.row)].append(
                HtmlCell(
                    text=self.cell["text"].strip(),
                    value=_num(a.get("data-value")),
                    low=_num(a.get("data-low")),
                    high=_num(a.get("data-high")),
                    suppressed=a.get("data-onderdrukt") == "1",
                    kind=a.get("data-kind"),
                )
            )
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"] += data
        elif self.in_row_header and self.table is not None:
            self.table.row_labels[str(self.row)] += data


def tables_of(html: str) -> dict[str, HtmlTable]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def dashboard_app(warehouse: Warehouse, data_dir: Any) -> tuple[TestClient, Settings]:
    settings = Settings(data_dir=data_dir, api_token="dashboard-test-token").with_secrets()
    auth = web_auth(settings)
    app = Starlette(routes=[*auth.routes(), *Dashboard(auth, warehouse).routes()])
    return TestClient(secure_app(app, settings)), settings


def add_user(settings: Settings, name: str, role: str, *teams: str) -> None:
    AccountStore(settings.accounts).add_user(name, PASSWORD, role, list(teams))


def sign_in(client: TestClient, name: str) -> None:
    client.cookies.clear()
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    form = {"csrf": csrf.group(1), "gebruikersnaam": name, "wachtwoord": PASSWORD}
    done = client.post("/login", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
