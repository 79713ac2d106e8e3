"""The operations of the partner API and the intake API, each listed once: web/openapi.py builds
the served OpenAPI documents from these lists (/api/v1/openapi.json, /api/intake/openapi.json), and
tests/test_api_contract.py checks that every /api/ route of the app is listed and nothing else."""

from __future__ import annotations

from functools import cache
from typing import Any

from web.api_models import (
    ClaimBody,
    ClaimResult,
    EligibilityAnswer,
    EligibilityBody,
    ExternalIdPath,
    HouseholdStatus,
    ImportResult,
    InboundReplyBody,
    InboundReplyResult,
    IntakeBatch,
    OpenApiDocument,
    ReleaseBody,
    ReleaseResult,
    RequestPath,
    RequestsPage,
    RequestsQuery,
)
from web.openapi import Operation, Reply, document
from web.problems import Problem

VERSION = "1.2.0"
RETRY_AFTER = {"Retry-After": "Seconds to wait before the next call."}

_TOKEN = ({"partnerToken": []},)
_SIGNED = ({"intakeSignature": [], "intakeTimestamp": []},)
_UNAUTHORIZED = Reply("No token, or an unknown or revoked one.", Problem, {"WWW-Authenticate": "Bearer"})
_FORBIDDEN = Reply(
    "The organisation is pending, suspended or closed, or the token's maker was deactivated.", Problem
)
_RATE = Reply("Over this token's rate (retry_after, Retry-After).", Problem, RETRY_AFTER)
_INVALID = Reply("A parameter or the body was refused: `errors` lists each field.", Problem)
_NOT_FOUND = Reply("Not matched to your organisation, or no such request.", Problem)

PARTNER_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/api/v1/openapi.json",
        "partnerOpenApi",
        "This document",
        {200: Reply("The OpenAPI 3.1 document.", OpenApiDocument)},
        tags=("meta",),
        security=(),
    ),
    Operation(
        "GET",
        "/api/v1/partner/requests",
        "listMatchedRequests",
        "Open requests matched to your offerings, best match first",
        {
            200: Reply("A page of requests, without personal data.", RequestsPage),
            401: _UNAUTHORIZED,
            403: _FORBIDDEN,
            422: _INVALID,
            429: _RATE,
        },
        description="Before a claim: community, need, flags, member count, a distance band, never a "
        "name, phone, address or ID number. Paged by cursor.",
        tags=("requests",),
        query=RequestsQuery,
        security=_TOKEN,
    ),
    Operation(
        "POST",
        "/api/v1/partner/requests/{request_id:int}/claim",
        "claimRequest",
        "Claim a matched request",
        {
            200: Reply("This call won the claim: the household's contact details.", ClaimResult),
            401: _UNAUTHORIZED,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: Reply("already_claimed (by), capacity_exhausted or not_open (request_status).", Problem),
            422: _INVALID,
            429: Reply(
                "rate_limited, or claims_paused (paused_until) after too many releases.", Problem, RETRY_AFTER
            ),
        },
        tags=("requests",),
        path_params=RequestPath,
        body=ClaimBody,
        body_required=False,
        security=_TOKEN,
    ),
    Operation(
        "POST",
        "/api/v1/partner/requests/{request_id:int}/release",
        "releaseRequest",
        "Give a claimed request back to the pool",
        {
            200: Reply("Released: the request is open again.", ReleaseResult),
            401: _UNAUTHORIZED,
            403: _FORBIDDEN,
            404: Reply("Your organisation does not hold this request.", Problem),
            409: Reply("not_claimed: it is already scheduled or not claimed.", Problem),
            422: _INVALID,
            429: _RATE,
        },
        tags=("requests",),
        path_params=RequestPath,
        body=ReleaseBody,
        security=_TOKEN,
    ),
    Operation(
        "POST",
        "/api/v1/partner/eligibility",
        "checkEligibility",
        "Does this person qualify for one of your offerings?",
        {
            200: Reply("Yes or no, the condition and until when; nothing else.", EligibilityAnswer),
            401: _UNAUTHORIZED,
            403: _FORBIDDEN,
            404: Reply("offering_not_found: not one of your organisation's active offerings.", Problem),
            422: Reply("A field was refused, e.g. an ID number that is not one (errors).", Problem),
            429: Reply(
                "rate_limited (this token's rate) or eligibility_rate_limited (your organisation's "
                "checks: 60 a minute, 1,000 a day); retry_after.",
                Problem,
                RETRY_AFTER,
            ),
        },
        description="Answered only when the household consented to eligibility checks; an unknown ID "
        "number answers no_consent, like a household without that consent. Every check is audited and "
        "shown to the household (docs/partner-api.md).",
        tags=("eligibility",),
        body=EligibilityBody,
        security=_TOKEN,
    ),
)

_BAD_SIGNATURE = Reply("Not signed by an active source, too old, or a replay (detail says which).", Problem)

INTAKE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/api/intake/openapi.json",
        "intakeOpenApi",
        "This document",
        {200: Reply("The OpenAPI 3.1 document.", OpenApiDocument)},
        tags=("meta",),
        security=(),
    ),
    Operation(
        "POST",
        "/api/v1/intake/households",
        "importHouseholds",
        "Send flagged households (at most 10,000 a call)",
        {
            200: Reply("The import's counts; refused records with their field errors.", ImportResult),
            400: Reply("The body cannot be read as records (malformed).", Problem),
            401: _BAD_SIGNATURE,
            413: Reply("The body is too large (too_large).", Problem),
            422: _INVALID,
        },
        description="Signed with HMAC-SHA256 over timestamp, method, path and body (docs/intake.md).",
        tags=("intake",),
        body=IntakeBatch,
        security=_SIGNED,
    ),
    Operation(
        "GET",
        "/api/v1/intake/households/{external_id}",
        "householdStatus",
        "What became of one household",
        {
            200: Reply("Needs, requests, visits and person-times (no personal data).", HouseholdStatus),
            401: _BAD_SIGNATURE,
            404: Reply("No household with this external id (not_found).", Problem),
            422: _INVALID,
        },
        description="Signed over an empty body.",
        tags=("intake",),
        path_params=ExternalIdPath,
        security=_SIGNED,
    ),
    Operation(
        "POST",
        "/api/v1/inbound/replies",
        "inboundReply",
        "A household's SMS reply or phone key to a visit notice (the gateway's)",
        {
            200: Reply("How the reply was applied (or handed to the community worker).", InboundReplyResult),
            401: _BAD_SIGNATURE,
            413: Reply("The body is too large (too_large).", Problem),
            422: _INVALID,
        },
        description="Signed like the intake calls, by a gateway registered as a source; idempotent per "
        "message_id (docs/notifications.md).",
        tags=("gateway",),
        body=InboundReplyBody,
        security=_SIGNED,
    ),
)


@cache
def partner_document() -> dict[str, Any]:
    return document(
        title="Alliance partner API",
        version=VERSION,
        description="Matched requests, claims and releases for partners' own systems (docs/partner-api.md). "
        "Every error is an RFC 9457 problem (application/problem+json).",
        operations=PARTNER_OPERATIONS,
        security_schemes={
            "partnerToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from the partner's API tokens page (alli_...).",
            }
        },
    )


@cache
def intake_document() -> dict[str, Any]:
    return document(
        title="Alliance intake API",
        version=VERSION,
        description="Flagged households pushed by the assistance system (docs/intake.md). "
        "Every error is an RFC 9457 problem (application/problem+json).",
        operations=INTAKE_OPERATIONS,
        security_schemes={
            "intakeSignature": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Alliance-Signature",
                "description": 'sha256=<hex HMAC-SHA256 of "<timestamp>\\n<METHOD>\\n<path>\\n<body>">',
            },
            "intakeTimestamp": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Alliance-Timestamp",
                "description": "Unix seconds (up to 3 decimals), within 5 minutes of the server's clock.",
            },
        },
    )
