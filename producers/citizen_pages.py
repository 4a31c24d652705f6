"""Rendering of the citizen pages: Jinja templates (autoescaped), static files, safe headers."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

STATIC_PATH = "/citizen-static"  # CSS and JS from the installed package (no inline code)


class CitizenPages:
    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("producers", "templates"),
            autoescape=select_autoescape(["html"]),
        )
        self._env.globals["static"] = STATIC_PATH

    @staticmethod
    def static_mount() -> Mount:
        files = StaticFiles(packages=[("producers", "static")])
        return Mount(STATIC_PATH, app=files, name="citizen-static")

    def render(self, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        html = self._env.get_template(name).render(**context)
        response = HTMLResponse(html, status_code=status)
        # The link is a capability and the page may show answers: never cache, never leak.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def message(self, t: dict[str, str], key: str, status: int = 200) -> HTMLResponse:
        """A page with a heading and a line: t[key_h1], t[key_1]."""
        context = {"t": t, "heading": t[f"{key}_h1"], "lines": [t[f"{key}_1"]]}
        return self.render("message.html", context, status)
