"""CSRF protection and secure headers, as plain ASGI middleware so they cover every route."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alliance.core import i18n

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"
MAX_FORM_BYTES = 20 * 1024 * 1024

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


# Static files (CSS, JS, icons) hold nothing personal: the only answers browsers may keep.
CACHEABLE_PREFIXES = ("/static/",)
HSTS = b"max-age=31536000; includeSubDomains"


class SecureHeadersMiddleware:
    """CSP and friends on every answer; `Cache-Control: no-store` on every answer but static files
    (pages, fragments, API answers, feeds and downloads may carry personal data, and a shared
    computer's back button or a proxy must not keep them); HSTS behind TLS, and always when
    ALLIANCE_HTTPS is on (TLS may end at a proxy that forwards plain HTTP)."""

    def __init__(self, app: ASGIApp, https_only: bool = False) -> None:
        self.app = app
        self.https_only = https_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        behind_tls = self.https_only or scope.get("scheme") == "https"
        cacheable = scope["path"].startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                extra = {
                    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
                    b"x-frame-options": b"DENY",
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"same-origin",
                    b"permissions-policy": b"camera=(self), geolocation=(self), microphone=()",
                }
                if behind_tls:
                    extra[b"strict-transport-security"] = HSTS
                if not cacheable:
                    extra[b"cache-control"] = b"no-store"
                headers += [(name, value) for name, value in extra.items() if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CSRFMiddleware:
    """Synchronizer token kept in the signed session. Forms send it as a hidden field, HTMX as the
    X-CSRF-Token header (set once on <body hx-headers>). Machine APIs under /api/ carry no session
    cookie and authenticate by signature or bearer token instead, so they are exempt."""

    def __init__(self, app: ASGIApp, exempt_prefixes: tuple[str, ...] = ("/api/",)) -> None:
        self.app = app
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = scope["session"]
        token = session.get("csrf")
        if not token:
            token = session["csrf"] = secrets.token_urlsafe(32)
        scope["csrf_token"] = token
        if scope["method"] in SAFE_METHODS or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        sent = headers.get(CSRF_HEADER, b"").decode()
        if not sent:
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse(i18n.gettext("Request body too large"), status_code=413)(
                    scope, receive, send
                )
                return
            sent = await _form_token(scope, body)
            receive = _replay(body)
        if not sent or not secrets.compare_digest(sent, token):
            message = i18n.gettext(
                "Your form has expired or came from another site. Reload the page and try again."
            )
            await PlainTextResponse(message, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _form_token(scope: Scope, body: bytes) -> str:
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode()
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD, [""])[0]
    if content_type.startswith("multipart/form-data"):
        form = await Request(scope, _replay(body)).form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


class LanguageMiddleware:
    """The user's choice (kept in the session), else Accept-Language, else the default."""

    def __init__(self, app: ASGIApp, default_language: str) -> None:
        self.app = app
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            chosen = scope["session"].get("lang")
            accept = dict(scope["headers"]).get(b"accept-language", b"").decode()
            with i18n.language(chosen or i18n.negotiate(accept) or self.default_language):
                await self.app(scope, receive, send)
            return
        await self.app(scope, receive, send)
