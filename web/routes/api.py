"""Machine APIs under /api/: household intake for the assistance system (signed, no
session, exempt from CSRF). Answers are JSON read and written through web/api_models.py; errors are
RFC 9457 problem details (web/problems.py); the contract is served at /api/intake/openapi.json."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alliance.cases.inbound import receive_reply
from alliance.core import audit
from alliance.core.codes import IntakeChannel
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.households.geocoding import geocode_job_id
from alliance.households.household_status import household_status
from alliance.households.intake import import_households
from alliance.households.intake_format import MAX_API_RECORDS, UnreadableFile, records_from_json
from alliance.households.models import IntakeSource
from alliance.households.sources import SignatureRejected, verify_signed_request
from alliance.matching.matching import match_job_id
from web.api_contracts import intake_document
from web.api_models import (
    ExternalIdPath,
    HouseholdStatus,
    ImportResult,
    InboundReplyBody,
    InboundReplyResult,
    IntakeBatch,
)
from web.jobs import enqueue_quietly, relay_outbox
from web.openapi import answer, answering_invalid, validated, validated_json
from web.problems import FieldProblem, invalid, problem

# 10,000 records of about a kilobyte each, with room to spare.
MAX_INTAKE_BODY_BYTES = 32 * 1024 * 1024


async def _read_limited(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_INTAKE_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_INTAKE_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _signed_path(request: Request) -> str:
    # The path as it came on the wire (percent-encoded), which is what the client signed.
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


async def _signer(request: Request, body: bytes) -> IntakeSource:
    try:
        return await verify_signed_request(
            request.headers.get("x-alliance-timestamp"),
            request.headers.get("x-alliance-signature"),
            body,
            source_name=request.headers.get("x-alliance-source") or None,
            method=request.method,
            path=_signed_path(request),
        )
    except SignatureRejected as rejected:
        await audit.refused(
            None,
            "api.signature_refused",
            request.url.path,
            request.client.host if request.client else "unknown",
            {
                "method": request.method,
                "source": (request.headers.get("x-alliance-source") or "")[:64],
                "reason": rejected.reason,
            },
        )
        raise


async def intake_households(request: Request) -> Response:
    """POST a JSON array of households (at most 10,000), signed; answers the import's counts."""
    body = await _read_limited(request)
    if body is None:
        return problem(
            request,
            413,
            "too_large",
            _("The body is too large: send at most {limit} records.").format(limit=MAX_API_RECORDS),
        )
    try:
        source = await _signer(request, body)
    except SignatureRejected as rejected:
        return problem(request, 401, "unauthorized", rejected.reason)
    try:
        records = records_from_json(body)
    except UnreadableFile as unreadable:
        return problem(request, 400, "malformed", str(unreadable))
    # The envelope through its model (an array of at most 10,000 objects); each record's fields are
    # then checked one by one by the import, which refuses bad records in `rejected`.
    validated(IntakeBatch, records.items, "body")
    result = await import_households(records, source=source, channel=IntakeChannel.API, filename="api")
    await enqueue_quietly(
        request.app, "match_intake_batch", result.batch, job_id=match_job_id("batch", result.batch)
    )
    if result.geocoding_pending:
        # Never geocode inside the request: the worker does it; the sweep catches a lost enqueue.
        await enqueue_quietly(
            request.app, "geocode_intake_batch", result.batch, job_id=geocode_job_id(result.batch)
        )
    return answer(ImportResult.model_validate(result.as_json()))


async def intake_household(request: Request) -> Response:
    """GET what became of one household (signed over an empty body)."""
    try:
        await _signer(request, b"")
    except SignatureRejected as rejected:
        return problem(request, 401, "unauthorized", rejected.reason)
    external_id = validated(ExternalIdPath, request.path_params, "path").external_id
    try:
        status = await household_status(external_id)
    except NotFound:
        return problem(request, 404, "not_found", _("No household with this external id."))
    return answer(HouseholdStatus.model_validate(status))


async def intake_document_route(request: Request) -> Response:
    """The intake API's OpenAPI 3.1 document."""
    return JSONResponse(intake_document())


MAX_REPLY_BODY_BYTES = 8 * 1024


async def inbound_reply(request: Request) -> Response:
    """POST one household reply from the SMS or voice gateway (signed like intake; docs/notifications.md)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REPLY_BODY_BYTES:
            return problem(request, 413, "too_large", _("The body is too large: one reply is at most 8 KB."))
    try:
        gateway = await _signer(request, body)
    except SignatureRejected as rejected:
        return problem(request, 401, "unauthorized", rejected.reason)
    sent = validated_json(InboundReplyBody, body)
    try:
        result = await receive_reply(gateway, sent.message_id, sent.channel, sent.sender, sent.text)
    except InvalidInput as refused:
        return invalid(
            request,
            [
                FieldProblem(location="body", field=name, detail=str(text))
                for name, text in refused.errors.items()
            ],
        )
    if result.job_ids:
        await relay_outbox(request.app, result.job_ids)
    return answer(InboundReplyResult.model_validate(result.as_json()))


routes = [
    Route("/api/intake/openapi.json", intake_document_route, methods=["GET"], name="api_intake_openapi"),
    Route(
        "/api/v1/intake/households",
        answering_invalid(intake_households),
        methods=["POST"],
        name="api_intake_households",
    ),
    Route(
        "/api/v1/intake/households/{external_id}",
        answering_invalid(intake_household),
        methods=["GET"],
        name="api_intake_household",
    ),
    Route(
        "/api/v1/inbound/replies",
        answering_invalid(inbound_reply),
        methods=["POST"],
        name="api_inbound_reply",
    ),
]
