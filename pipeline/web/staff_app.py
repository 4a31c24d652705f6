"""Wiring of the web kit into the app: one WebAuth, security headers on every response."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from pipeline.settings import Settings
from pipeline.web.accounts import AccountStore
from pipeline.web.auth import TEMPLATES, WebAuth
from pipeline.web.security import SecurityHeaders, content_security_policy, style_hashes

ROOT = Path(__file__).resolve().parents[2]
# Template folders whose literal <style> blocks the CSP allows by hash.
TEMPLATE_DIRS = (ROOT / "producers" / "templates", ROOT / "consumers" / "templates", TEMPLATES)


def is_https(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def web_auth(settings: Settings) -> WebAuth:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return WebAuth(
        AccountStore(settings.accounts),
        settings.api_token,
        https=is_https(settings),
        session_hours=settings.session_hours,
    )


def secure_app(app: Starlette, settings: Settings) -> Starlette:
    csp = content_security_policy(
        settings.frame_ancestors, style_hashes(d for d in TEMPLATE_DIRS if d.is_dir())
    )
    app.add_middleware(SecurityHeaders, csp=csp, https=is_https(settings))
    return app
