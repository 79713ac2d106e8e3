"""Where the app may send a browser: paths on this site only. Every redirect whose target comes
from the request (`next`, a form's `back`, `Referer`) and every HX-Redirect goes through here, so no
link of ours can bounce a user to another site (an open redirect is a phishing tool)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request


def safe_local_path(target: object, fallback: str = "/") -> str:
    """`target` when it is a path on this site, else `fallback`.

    Refused: anything not starting with one "/" ("//evil", a scheme, a bare host); any backslash
    ("/\\evil" — browsers read "\\" as "/"); any control character or whitespace (browsers drop tabs
    and line breaks, so "/\\t/evil" would become "//evil"); anything urlsplit sees a host in."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target or any(ord(character) < 0x21 or ord(character) == 0x7F for character in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def safe_referer(request: Request, fallback: str) -> str:
    """The page the user came from when it is on this site (same host), as a local path; else
    `fallback`."""
    referer = request.headers.get("referer", "")
    if not referer:
        return fallback
    try:
        parts = urlsplit(referer)
    except ValueError:
        return fallback
    if parts.scheme not in ("http", "https") or parts.netloc != request.url.netloc:
        return fallback
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_local_path(path, fallback)
