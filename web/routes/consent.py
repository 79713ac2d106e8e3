"""Verification and consent (alliance/households/consent.py, alliance/visits/consent_effects.py); the
region policy that decides whether verification comes before matching is one of the region settings
(web/routes/region_settings.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.codes import ConsentScope
from alliance.core.i18n import gettext as _
from alliance.visits import consent_effects
from alliance.visits.consent_effects import ConsentOutcome
from web.auth import client_address, require_principal
from web.flash import go
from web.jobs import enqueue_quietly, relay_outbox


async def _after_commit(request: Request, outcome: ConsentOutcome) -> None:
    if outcome.job_ids:
        await relay_outbox(request.app, outcome.job_ids)
    if outcome.request_ids:
        # Matching offers the household again (or no longer): its open requests are matched anew.
        await enqueue_quietly(request.app, "match_requests_job", outcome.request_ids)


async def verify(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    household_id = request.path_params["household_id"]
    outcome = await consent_effects.verify_household(
        principal,
        household_id,
        str(form.get("method", "")),
        str(form.get("note", "")),
        client_address(request),
    )
    await _after_commit(request, outcome)
    return go(request, f"/households/{household_id}#consent", _("The household is verified."))


async def _record(request: Request, household_id: int, back: str) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    outcome = await consent_effects.record_consent(
        principal,
        household_id,
        scope=[str(value) for value in form.getlist("scope")],
        method=str(form.get("method", "")),
        witness=str(form.get("witness", "")),
        expires_on=str(form.get("expires_on", "")),
        address=client_address(request),
    )
    await _after_commit(request, outcome)
    if outcome.cancelled_visit_ids:
        message = _("Consent recorded. The household left every claim board; {count} visits were cancelled.")
        return go(request, back, message.format(count=len(outcome.cancelled_visit_ids)))
    return go(request, back, _("Consent recorded."))


async def staff_consent(request: Request) -> Response:
    household_id = request.path_params["household_id"]
    return await _record(request, household_id, f"/households/{household_id}#consent")


async def own_consent(request: Request) -> Response:
    principal = await require_principal(request)
    return await _record(request, principal.household_id or 0, "/my-household#consent")


SCOPES = list(ConsentScope)

routes = [
    Route("/households/{household_id:int}/verify", verify, methods=["POST"], name="household_verify"),
    Route(
        "/households/{household_id:int}/consent", staff_consent, methods=["POST"], name="household_consent"
    ),
    Route("/my-household/consent", own_consent, methods=["POST"], name="own_consent"),
]
