"""Sign-in, sessions, CSRF and API tokens for the web app (Starlette edge of the kit).

Authenticators turn credentials into a Principal. Today: passwords from the accounts store.
An OIDC authenticator (a municipality's identity provider) can be added later behind the
same interface: it only has to map its ID token onto a username known to the store.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.web.accounts import AccountStore, Session
from pipeline.web.authz import ROLE_NAMES_NL, Principal, admin_token
from pipeline.web.http import problem

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SESSION_COOKIE = "ks_sessie"
LOGIN_CSRF_COOKIE = "ks_login_csrf"
MAX_FORM_BYTES = 20_000


class Authenticator(Protocol):
    """Turns what a person offers at sign-in into a Principal (None: refused)."""

    def authenticate(self, username: str, secret: str) -> Principal | None: ...


@dataclass
class PasswordAuthenticator:
    store: AccountStore

    def authenticate(self, username: str, secret: str) -> Principal | None:
        return self.store.verify_password(username, secret)


@dataclass(frozen=True)
class Staff:
    """A signed-in person on a page request."""

    principal: Principal
    session: Session

    @property
    def csrf(self) -> str:
        return self.session.csrf


def staff_templates(*extra: BaseLoader) -> Environment:
    """Jinja with autoescape, the kit's base template and the caller's own templates."""
    env = Environment(
        loader=ChoiceLoader([*extra, FileSystemLoader(str(TEMPLATES))]),
        autoescape=select_autoescape(["html"]),
    )
    env.globals["role_names"] = ROLE_NAMES_NL
    return env


class WebAuth:
    def __init__(
        self,
        store: AccountStore,
        admin_api_token: str,
        *,
        https: bool = False,
        session_hours: int = 10,
        authenticator: Authenticator | None = None,
    ):
        self.store = store
        self.admin_api_token = admin_api_token
        self.https = https
        self.session_hours = session_hours
        self.authenticator = authenticator or PasswordAuthenticator(store)
        self.templates = staff_templates()

    # -- who is asking ------------------------------------------------------------------
    def _admin_bearer(self, request: Request) -> Principal | None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given or not self.admin_api_token:
            return None
        same = hmac.compare_digest(given.encode("utf-8", "replace"), self.admin_api_token.encode())
        return admin_token() if same else None

    def bearer(self, request: Request) -> Principal | None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return None
        if self.admin_api_token and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.admin_api_token.encode()
        ):
            return admin_token()
        return self.store.token(given)

    def staff(self, request: Request) -> Staff | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        session = self.store.session(session_id)
        if session is None:
            return None
        user = self.store.user(session.username)  # role and teams as they are now
        return Staff(user, session) if user else None

    async def api_principal(self, request: Request) -> Principal | None:
        """For the JSON API: a bearer token, or a signed-in person (GET only: no CSRF)."""
        if request.headers.get("authorization"):
            # The admin token is a comparison (no thread hop); scoped tokens need the store.
            return self._admin_bearer(request) or await run_in_threadpool(self.bearer, request)
        if request.method == "GET":
            staff = await run_in_threadpool(self.staff, request)
            return staff.principal if staff else None
        return None

    async def api_guard(self, request: Request, allowed: Any) -> Principal | Response:
        """The principal when `allowed(principal)`; else 401 (who are you) or 403 (not you)."""
        principal = await self.api_principal(request)
        if principal is None:
            response = problem(
                401, "missing or invalid bearer token (Authorization: Bearer <token>)"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="klantsignaal"'
            return response
        if not allowed(principal):
            return problem(403, "this token or user may not do this")
        return principal

    # -- CSRF ---------------------------------------------------------------------------
    @staticmethod
    def csrf_ok(staff: Staff, form: Any) -> bool:
        given = form.get("csrf") if form is not None else None
        return isinstance(given, str) and _same(given, staff.csrf)

    # -- pages --------------------------------------------------------------------------
    def routes(self) -> list[Any]:
        return [
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ]

    def sign_in_redirect(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status)

    def _login_page(
        self, next_url: str, status: int = 200, error: str = "", username: str = ""
    ) -> Response:
        token = secrets.token_urlsafe(32)
        response = self.render(
            "login.html", status, csrf=token, next=next_url, error=error, username=username
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=self.https,
            path="/login",
        )
        return response

    async def login(self, request: Request) -> Response:
        next_url = _safe_next(request.query_params.get("next", "/inbox"))
        if request.method == "GET":
            return self._login_page(next_url)
        declared = request.headers.get("content-length") or ""  # chunked: no bound, refused
        if not declared.isdecimal() or int(declared) > MAX_FORM_BYTES:
            return self._login_page(next_url, 413, "Het formulier is te groot.")
        form = await request.form()
        given, expected = form.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not (isinstance(given, str) and expected and _same(given, expected)):
            return self._login_page(next_url, 403, "De pagina was verlopen. Probeer het opnieuw.")
        username = str(form.get("gebruikersnaam") or "").strip()[:100]
        password = str(form.get("wachtwoord") or "")[:1000]
        if "\x00" in username:  # no such name; PostgreSQL refuses NUL in text (a 500)
            error = "Gebruikersnaam of wachtwoord klopt niet."
            return self._login_page(next_url, 401, error)
        locked = await run_in_threadpool(self.store.locked_for, username)
        if locked > 0:
            minutes = max(1, round(locked / 60))
            error = (
                "Te veel mislukte pogingen. Probeer het over "
                f"{minutes} {'minuut' if minutes == 1 else 'minuten'} opnieuw."
            )
            return self._login_page(next_url, 429, error, username)
        user = await run_in_threadpool(self.authenticator.authenticate, username, password)
        if user is None:
            error = "Gebruikersnaam of wachtwoord klopt niet."
            return self._login_page(next_url, 401, error, username)
        session_id, _ = await run_in_threadpool(
            self.store.open_session, user.name, self.session_hours
        )
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=self.session_hours * 3600,
            httponly=True,
            samesite="lax",
            secure=self.https,
            path="/",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    async def logout(self, request: Request) -> Response:
        staff = await run_in_threadpool(self.staff, request)
        if staff is not None:
            form = await request.form()
            if not self.csrf_ok(staff, form):
                return self.render(
                    "message.html",
                    403,
                    staff=None,
                    heading="Niet gelukt",
                    lines=["De pagina was verlopen. Ga terug en probeer het opnieuw."],
                )
            session_id = request.cookies.get(SESSION_COOKIE, "")
            await run_in_threadpool(self.store.close_session, session_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (a 403, never a 500)."""
    return hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("utf-8", "replace")
    )


def _safe_next(value: str) -> str:
    """Only our own paths: never an open redirect to another site."""
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/inbox"
