"""Path and query numbers are range-checked at the edge, before they reach a query: an id past the
database's integer range must be a 404 (or the default), never a 500 from the driver.

`register_convertors()` replaces Starlette's `{name:int}` convertor for every route, so it must run
before any route is built: `web/__init__.py` calls it."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from alliance.core.i18n import gettext as _

# Every id column is a 32-bit integer at least (PostgreSQL `integer`, SQLite's 64-bit rowid).
MAX_ID = 2**31 - 1
# A page past this shows nothing anyway; bounded so OFFSET stays a small number.
MAX_PAGE = 100_000

# 1 .. 2147483647 without leading zeros, as a regular expression (a path that does not match the
# route's pattern is a 404 before any handler runs).
ID_PATTERN = (
    "(?:[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
    "|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])"
)


class IdConvertor(IntegerConvertor):
    """`{name:int}`: a database id, 1 to 2^31-1; anything else does not match the route."""

    regex = ID_PATTERN

    def to_string(self, value: int) -> str:
        value = int(value)
        assert 1 <= value <= MAX_ID, "an id is 1 to 2^31-1"
        return str(value)


def register_convertors() -> None:
    register_url_convertor("int", IdConvertor())


def bounded_int(text: str | None, *, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    """The whole number in `text` when it lies in minimum..maximum, else None (absent, not a number,
    or out of range)."""
    text = (text or "").strip()
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 12:
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None


def int_param(
    params: Mapping[str, str], name: str, default: int, *, minimum: int = 1, maximum: int = MAX_ID
) -> int:
    """An integer query parameter, or `default` when it is missing, not a number or out of range."""
    found = bounded_int(params.get(name), minimum=minimum, maximum=maximum)
    return default if found is None else found


def page_param(params: Mapping[str, str], name: str = "page") -> int:
    return int_param(params, name, 1, maximum=MAX_PAGE)


class RefuseNul:
    """A page address with a NUL character (%00) is refused with 400 before any handler: no text
    column can hold one, and PostgreSQL refuses the query outright. (The APIs' models refuse it
    field by field, as a 422 problem.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not scope["path"].startswith("/api/")
            and ("\x00" in scope["path"] or b"%00" in scope.get("query_string", b""))
        ):
            response = PlainTextResponse(
                _("The address holds a NUL character (%00); remove it and try again."), status_code=400
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
