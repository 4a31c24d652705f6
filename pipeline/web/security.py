"""Security headers on every response: a strict CSP, no framing, no sniffing, no referrer.

Inline <script> is never allowed. Inline <style> blocks are allowed only by hash, and only
the static blocks found in our own template files at start-up (so a template may keep its
CSS inline while nothing a user typed could ever add a style or a script).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)


def style_hashes(template_dirs: Iterable[Path]) -> list[str]:
    """CSP hashes ('sha256-…') of the literal <style> blocks in the templates of these dirs."""
    hashes: set[str] = set()
    for directory in template_dirs:
        for path in sorted(Path(directory).glob("*.html")):
            for block in _STYLE_BLOCK.findall(path.read_text(encoding="utf-8")):
                if "{{" in block or "{%" in block:
                    continue  # rendered per request: cannot be hashed ahead of time
                digest = hashlib.sha256(block.encode("utf-8")).digest()
                hashes.add(f"'sha256-{base64.b64encode(digest).decode()}'")
    return sorted(hashes)


def content_security_policy(frame_ancestors: str = "", style_hashes: Iterable[str] = ()) -> str:
    ancestors = frame_ancestors.strip() or "'none'"
    styles = " ".join(["'self'", *style_hashes])
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src {styles}; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        f"form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )


class SecurityHeaders:
    """ASGI middleware: adds the headers to every HTTP response unless the app set them.

    `no_store_prefixes`: paths whose pages show personal data; the browser keeps no copy.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        csp: str,
        no_store_prefixes: tuple[str, ...] = ("/inbox", "/login", "/q/", "/v1/"),
        https: bool = False,
    ) -> None:
        self.app = app
        self.no_store_prefixes = no_store_prefixes
        self.headers: list[tuple[bytes, bytes]] = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if "frame-ancestors 'none'" in csp:
            self.headers.append((b"x-frame-options", b"DENY"))
        if https:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = str(scope.get("path", "")).startswith(self.no_store_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                if no_store and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
