"""Matching pages: the coordinator's gap list and allocation proposals, and the partner's answers
to the requests proposed to it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.access import Action, require
from alliance.matching.allocation import (
    allocation_job_id,
    decide_item,
    items_for_partner,
    proposal_detail,
    proposal_progress,
    proposals_for,
    request_allocation,
)
from alliance.matching.selectors import gaps_for
from web.auth import require_principal
from web.htmx_hooks import hx_redirect, hx_refresh
from web.jobs import relay_outbox
from web.templating import render


async def gaps(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_GAPS)
    return render(request, "matching/gaps.html", {"gaps": await gaps_for(principal)})


async def proposals(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.PROPOSE_ALLOCATION)
    return render(request, "matching/proposals.html", {"proposals": await proposals_for(principal)})


async def proposal_create(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.PROPOSE_ALLOCATION)
    form = await request.form()
    proposal = await request_allocation(principal, str(form.get("region", "")).strip() or None)
    await relay_outbox(request.app, [allocation_job_id(proposal.id)])
    return hx_redirect(f"/matching/proposals/{proposal.id}", request)


async def proposal(request: Request) -> Response:
    principal = await require_principal(request)
    view = await proposal_detail(principal, request.path_params["proposal_id"])
    return render(request, "matching/proposal.html", {"view": view})


async def proposal_progress_block(request: Request) -> Response:
    """Polled by the proposal page while a worker computes it; once done, the page reloads."""
    principal = await require_principal(request)
    progress = await proposal_progress(principal, request.path_params["proposal_id"])
    if progress.done:
        return hx_refresh(request, f"/matching/proposals/{progress.proposal_id}")
    return render(request, "matching/_progress.html", {"progress": progress})


async def partner_proposals(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.RESPOND_PROPOSALS)
    return render(request, "matching/partner_proposals.html", {"items": await items_for_partner(principal)})


def _decide(accept: bool):
    async def handler(request: Request) -> Response:
        principal = await require_principal(request)
        decision = await decide_item(principal, request.path_params["item_id"], accept)
        items = await items_for_partner(principal)
        item = next(row for row in items if row["id"] == decision.item.id)
        return render(
            request,
            "matching/partner_proposals.html",
            {"items": items, "item": item, "decided_id": item["id"], "message": decision.message},
            block="item_row",
        )

    return handler


routes = [
    Route("/matching/gaps", gaps, methods=["GET"], name="matching_gaps"),
    Route("/matching/proposals", proposals, methods=["GET"], name="matching_proposals"),
    Route("/matching/proposals", proposal_create, methods=["POST"], name="matching_proposal_create"),
    Route("/matching/proposals/{proposal_id:int}", proposal, methods=["GET"], name="matching_proposal"),
    Route(
        "/matching/proposals/{proposal_id:int}/progress",
        proposal_progress_block,
        methods=["GET"],
        name="matching_proposal_progress",
    ),
    Route("/partner/proposals", partner_proposals, methods=["GET"], name="partner_proposals"),
    Route("/partner/proposals/{item_id:int}/accept", _decide(True), methods=["POST"], name="proposal_accept"),
    Route(
        "/partner/proposals/{item_id:int}/decline", _decide(False), methods=["POST"], name="proposal_decline"
    ),
]
