"""One error shape for every machine API: RFC 9457 problem details (`application/problem+json`).

    {"type": "urn:alliance:problem:already_claimed", "title": "Conflict", "status": 409,
     "detail": "…", "instance": "/api/v1/partner/requests/4711/claim", "code": "already_claimed",
     "by": "温州电信"}

`code` repeats the last part of `type` for clients that switch on a short word; a validation error
(422) lists each field in `errors` with where it was (`in`: body, query, path or header) and what is
wrong with it. Further members (`by`, `retry_after`, `paused_until`, `request_status`) are extensions
named in the OpenAPI documents (web/openapi.py)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:alliance:problem:"
NO_STORE = {"Cache-Control": "no-store"}


class FieldProblem(BaseModel):
    """One field that was refused."""

    model_config = ConfigDict(populate_by_name=True)

    location: Literal["body", "query", "path", "header"] = Field(alias="in")
    field: str = Field(description='Where in it, dotted for nested values: "limit", "0.phone".')
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the extension members this API uses."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="urn:alliance:problem:<code>")
    title: str = Field(description="The HTTP status's phrase, e.g. Conflict.")
    status: int = Field(ge=400, le=599)
    detail: str = Field("", description="What went wrong, in words for a person.")
    instance: str = Field(description="The path that was called.")
    code: str = Field(description="A short word for programs: unauthorized, already_claimed, ...")
    errors: list[FieldProblem] | None = Field(None, description="Each refused field (422 only).")
    by: str | None = Field(None, description="already_claimed: the organisation that holds the request.")
    retry_after: int | None = Field(None, description="rate_limited: seconds to wait.")
    paused_until: str | None = Field(None, description="claims_paused: when claims are allowed again.")
    request_status: str | None = Field(None, description="not_open: the request's status now.")


def problem(
    request: Request,
    status: int,
    code: str,
    detail: str = "",
    *,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = Problem(
        type=TYPE_PREFIX + code,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        code=code,
        errors=errors,
        **extensions,
    )
    all_headers = {**NO_STORE, **(headers or {})}
    if (
        status == 401
        and "WWW-Authenticate" not in all_headers
        and request.url.path.startswith("/api/v1/partner")
    ):
        all_headers["WWW-Authenticate"] = 'Bearer realm="alliance"'
    return JSONResponse(
        body.model_dump(mode="json", by_alias=True, exclude_none=True),
        status_code=status,
        headers=all_headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def field_problems(
    error: ValidationError, location: Literal["body", "query", "path", "header"]
) -> list[FieldProblem]:
    return [
        FieldProblem(
            location=location,
            field=".".join(str(part) for part in item["loc"]) or "(whole)",
            detail=item["msg"],
        )
        for item in error.errors(include_url=False)
    ]


def invalid(
    request: Request,
    errors: list[FieldProblem],
    detail: str = "",
) -> JSONResponse:
    detail = detail or "; ".join(f"{item.field}: {item.detail}" for item in errors)
    return problem(request, 422, "invalid", detail, errors=errors)
