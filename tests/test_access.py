"""Graded authorization: every route, walked by users of another region or partner, refuses; and
walked by the staff of a partner in each lifecycle state, and by deactivated users, allows only what
the lifecycle leaves (docs/security.md, "Lifecycle and powers")."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from starlette.routing import Mount, Route

from alliance.cases.household_actions import report_change
from alliance.core import exports
from alliance.core.access import Action, allows, principal_for, visible
from alliance.core.codes import PartnerStatus, TaskKind
from alliance.core.models import PasswordReset, User, UserSession
from alliance.core.timeutil import utc_now
from alliance.events.models import Attendance, EmploymentOutcome, Event, Registration
from alliance.households.models import Household, IntakeConflict
from alliance.matching.allocation import propose_allocation
from alliance.matching.claims import claim_request
from alliance.matching.matching import match_all
from alliance.matching.models import ProposalItem, ServiceRequest, TransferRequest
from alliance.notifications.models import Notification, Task
from alliance.notifications.tasks import Subject, open_task
from alliance.partners import webhooks
from alliance.partners.models import Offering, Partner, PartnerToken, Project, Volunteer
from alliance.partners.offerings import OfferingForm, save_offering
from alliance.partners.tokens import create_token_for
from alliance.visits.checkins import check_in_on_behalf
from alliance.visits.models import CheckIn, Visit
from alliance.visits.scheduling import schedule_visit
from tests.claims_support import add_household_request
from tests.events_support import walk_event_for
from tests.factories import build_two_sides, login, session_csrf
from tests.intake_support import intake_batch_for, intake_conflict_for
from tests.visits_support import scheduled_visit_for

PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/language"),
    ("GET", "/healthz"),
    # Probes and metrics: details only for local callers, the metrics token or an administrator
    # (tests/test_health.py and tests/test_metrics.py walk them).
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/"),
    # Signed by the assistance system (HMAC), no session: tests/test_intake_api.py walks them.
    ("POST", "/api/v1/intake/households"),
    ("GET", "/api/v1/intake/households/{external_id}"),
    # The APIs' OpenAPI documents, public like the documentation: tests/test_api_contract.py.
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/intake/openapi.json"),
    # The SMS / voice gateway's household replies, signed like intake: tests/test_inbound_replies.py.
    ("POST", "/api/v1/inbound/replies"),
    # Bearer-token partner API, no session: tests/test_partner_api.py walks them.
    ("GET", "/api/v1/partner/requests"),
    ("POST", "/api/v1/partner/requests/{request_id:int}/claim"),
    ("POST", "/api/v1/partner/requests/{request_id:int}/release"),
    # Bearer-token eligibility checks: tests/test_eligibility.py walks it (lifecycle, limits, consent).
    ("POST", "/api/v1/partner/eligibility"),
    # Signed personal links, no session: tests/test_visits.py and tests/test_visit_pages.py walk them.
    ("GET", "/visit-response/{token}"),
    ("POST", "/visit-response/{token}"),
    ("GET", "/calendar/{token}.ics"),
    # The household's signed event link: tests/test_event_pages.py walks it.
    ("GET", "/event-registration/{token}"),
    ("POST", "/event-registration/{token}"),
    # The signed single-use password-reset link: tests/test_sessions.py walks it.
    ("GET", "/reset-password/{token}"),
    ("POST", "/reset-password/{token}"),
    # The partner sign-up (limited per address): tests/test_partner_applications.py walks it.
    ("GET", "/join"),
    ("POST", "/join"),
    # A partner's signed, revocable volunteer sign-up link: tests/test_volunteer_pages.py walks it.
    ("GET", "/join/{token}"),
    ("POST", "/join/{token}"),
}
# Routes that act on one object of side A: any user of side B is refused (403 or 404).
OBJECT_ROUTES = {
    ("GET", "/households/{household_id:int}"),
    ("GET", "/partner/offerings/{offering_id:int}/edit"),
    ("POST", "/partner/offerings/{offering_id:int}/edit"),
    ("GET", "/admin/partners/{partner_id:int}"),
    ("POST", "/admin/partners/{partner_id:int}/status"),
    ("POST", "/admin/partners/{partner_id:int}/changes"),
    ("POST", "/admin/partners/{partner_id:int}/admin-link"),
    ("POST", "/admin/partners/{partner_id:int}/claims-resume"),
    ("POST", "/partner/staff/{staff_id:int}/role"),
    ("POST", "/partner/staff/{staff_id:int}/active"),
    ("POST", "/partner/staff/invitations/{invitation_id:int}/revoke"),
    ("GET", "/intake/batches/{batch_id:int}"),
    ("GET", "/intake/batches/{batch_id:int}/progress"),
    ("GET", "/intake/batches/{batch_id:int}/rejected.csv"),
    ("POST", "/intake/batches/{batch_id:int}/rejected.csv"),
    # Exports are their asker's only (tests/test_exports.py): another user's reads as not found.
    ("GET", "/exports/{export_id:int}"),
    ("GET", "/exports/{export_id:int}/progress"),
    ("GET", "/exports/{export_id:int}/download"),
    ("POST", "/intake/duplicates/{household_id:int}/merge"),
    ("POST", "/intake/duplicates/{household_id:int}/dismiss"),
    ("POST", "/intake/conflicts/{conflict_id:int}/accept"),
    ("POST", "/intake/conflicts/{conflict_id:int}/reject"),
    ("GET", "/matching/proposals/{proposal_id:int}"),
    ("GET", "/matching/proposals/{proposal_id:int}/progress"),
    ("POST", "/partner/proposals/{item_id:int}/accept"),
    ("POST", "/partner/proposals/{item_id:int}/decline"),
    ("GET", "/requests/{request_id:int}"),
    ("POST", "/requests/{request_id:int}/claim"),
    ("POST", "/requests/{request_id:int}/release"),
    ("POST", "/requests/{request_id:int}/close"),
    ("POST", "/requests/{request_id:int}/assign"),
    ("POST", "/requests/{request_id:int}/transfer"),
    ("POST", "/transfers/{transfer_id:int}/decide"),
    ("POST", "/partner/api-tokens/{token_id:int}/revoke"),
    ("GET", "/requests/{request_id:int}/schedule"),
    ("POST", "/requests/{request_id:int}/schedule"),
    ("GET", "/visits/{visit_id:int}"),
    ("POST", "/visits/{visit_id:int}/reschedule"),
    ("POST", "/visits/{visit_id:int}/volunteers"),
    ("POST", "/visits/{visit_id:int}/cancel"),
    ("POST", "/visits/{visit_id:int}/respond"),
    ("GET", "/households/{household_id:int}/visits"),
    ("GET", "/volunteer/visits/{visit_id:int}"),
    ("POST", "/volunteer/visits/{visit_id:int}/check-in"),
    ("POST", "/volunteer/visits/{visit_id:int}/check-out"),
    ("GET", "/households/{household_id:int}/card"),
    ("POST", "/households/{household_id:int}/card/reissue"),
    ("POST", "/oversight/check-ins/{check_in_id:int}/review"),
    ("POST", "/oversight/visits/{visit_id:int}/check-in"),
    ("POST", "/oversight/visits/{visit_id:int}/record"),
    ("POST", "/service/{visit_id:int}/confirm"),
    ("POST", "/service/{visit_id:int}/rate"),
    ("POST", "/cockpit/households/{household_id:int}/escalate"),
    ("GET", "/partner/events/{event_id:int}"),
    ("GET", "/partner/events/{event_id:int}/edit"),
    ("POST", "/partner/events/{event_id:int}/edit"),
    ("POST", "/partner/events/{event_id:int}/cancel"),
    ("POST", "/partner/events/{event_id:int}/invite"),
    ("POST", "/partner/events/{event_id:int}/register"),
    ("POST", "/partner/events/{event_id:int}/outcomes"),
    ("POST", "/partner/registrations/{registration_id:int}/cancel"),
    ("GET", "/partner/sessions/{session_id:int}"),
    ("POST", "/partner/sessions/{session_id:int}/attendance"),
    ("POST", "/partner/sessions/{session_id:int}/scan"),
    ("GET", "/households/{household_id:int}/events"),
    ("POST", "/households/{household_id:int}/events/{event_id:int}/register"),
    ("POST", "/households/{household_id:int}/registrations/{registration_id:int}/cancel"),
    ("POST", "/households/{household_id:int}/events/{event_id:int}/outcomes"),
    ("POST", "/admin/accounts/{user_id:int}/active"),
    ("POST", "/admin/accounts/{user_id:int}/sign-out"),
    ("POST", "/admin/accounts/{user_id:int}/reset-link"),
    # Projects are the administrator's: side B's users are refused side A's project like any other.
    ("GET", "/admin/projects/{project_id:int}"),
    ("POST", "/admin/projects/{project_id:int}"),
    ("GET", "/partner/webhooks/{endpoint_id:int}"),
    ("POST", "/partner/webhooks/{endpoint_id:int}"),
    ("POST", "/partner/webhooks/deliveries/{delivery_id:int}/resend"),
    # Casework: verification, consent, one's inbox.
    ("POST", "/households/{household_id:int}/verify"),
    ("POST", "/households/{household_id:int}/consent"),
    # A region's settings (tests/test_region_settings.py): its coordinator (and those above) only.
    ("GET", "/admin/region-settings/{region_code}"),
    ("POST", "/admin/region-settings/{region_code}"),
    ("POST", "/inbox/notices/{notification_id:int}/read"),
    ("POST", "/inbox/tasks/{task_id:int}/done"),
    # A partner's volunteer: only its own partner's admin manages it.
    ("GET", "/partner/volunteers/{volunteer_id:int}"),
    ("POST", "/partner/volunteers/{volunteer_id:int}"),
    ("POST", "/partner/volunteers/{volunteer_id:int}/active"),
    ("POST", "/partner/volunteers/{volunteer_id:int}/decide"),
    ("POST", "/partner/volunteers/{volunteer_id:int}/login"),
    # Casework (alliance/cases/): the household's worker and coordinator only.
    ("GET", "/households/{household_id:int}/case"),
    ("GET", "/households/{household_id:int}/edit"),
    ("POST", "/households/{household_id:int}/edit"),
    ("POST", "/households/{household_id:int}/case/notes"),
    ("POST", "/households/{household_id:int}/case/assessments"),
    ("POST", "/households/{household_id:int}/case/help"),
    ("POST", "/households/{household_id:int}/case/change"),
    ("POST", "/households/{household_id:int}/case/decline"),
    ("POST", "/households/register/link/{household_id:int}"),
    ("POST", "/case/changes/{change_id:int}/verify"),
    # Regular visits by the community's worker (tests/test_regular_visits.py).
    ("GET", "/regular-visits/households/{household_id:int}"),
    ("GET", "/households/{household_id:int}/entitlement"),
    ("POST", "/regular-visits/households/{household_id:int}/check-in"),
    ("POST", "/regular-visits/households/{household_id:int}/check-out"),
}
# Routes that list or show "my own": side B may open them but must never see side A's data in them.
SCOPED_PAGES = {
    ("GET", "/households"),
    ("POST", "/households"),
    ("GET", "/admin/partners"),
    ("GET", "/partner"),
    ("GET", "/partner/offerings"),
    ("GET", "/partner/offerings/new"),
    ("GET", "/partner/staff"),
    ("GET", "/volunteer"),
    ("GET", "/my-household"),
    ("GET", "/intake"),
    ("GET", "/intake/duplicates"),
    ("GET", "/intake/conflicts"),
    ("GET", "/matching/gaps"),
    ("GET", "/matching/proposals"),
    ("GET", "/partner/proposals"),
    ("GET", "/board"),
    ("GET", "/board/claims"),
    ("GET", "/requests"),
    ("GET", "/partner/api-tokens"),
    ("GET", "/visits"),
    ("GET", "/outbox"),
    ("GET", "/oversight"),
    ("GET", "/cockpit"),
    ("GET", "/cockpit/unserved"),
    ("GET", "/cockpit/export.csv"),
    ("GET", "/cockpit/export.xlsx"),
    ("POST", "/cockpit/export.csv"),
    ("POST", "/cockpit/export.xlsx"),
    ("GET", "/exports"),
    ("GET", "/cockpit/report"),
    ("GET", "/cockpit/supervision"),
    ("GET", "/cockpit/supervision/report"),
    ("GET", "/cockpit/supervision/export.csv"),
    ("GET", "/cockpit/supervision/export.xlsx"),
    ("POST", "/cockpit/supervision/export.csv"),
    ("POST", "/cockpit/supervision/export.xlsx"),
    ("GET", "/partner/events"),
    ("GET", "/partner/events/new"),
    ("GET", "/my-household/events"),
    ("GET", "/events/hires"),
    ("GET", "/account"),
    ("GET", "/admin/accounts"),
    ("GET", "/audit"),
    ("GET", "/audit/export.csv"),
    ("POST", "/audit/export.csv"),
    ("GET", "/targets/regions"),
    ("GET", "/partner/webhooks"),
    ("GET", "/inbox"),
    ("GET", "/admin/region-settings"),
    ("GET", "/partner/volunteers"),
    ("GET", "/partner/volunteers/new"),
    ("GET", "/volunteer/profile"),
    ("GET", "/households/register"),
    ("GET", "/my-household/act"),
    ("GET", "/regular-visits"),
    # A partner's own responsible households only (tests/test_partner_worklist.py).
    ("GET", "/partner/regular-visits"),
    ("GET", "/regular-visits/rhythm"),
    # Eligibility checks: the partner's own offerings; the household's own entitlement QR.
    ("GET", "/partner/eligibility"),
    ("GET", "/partner/eligibility/scan"),
    ("GET", "/my-household/entitlement"),
    ("GET", "/cockpit/promises"),
    ("GET", "/cockpit/promises/export.csv"),
    ("POST", "/cockpit/promises/export.csv"),
    ("GET", "/cockpit/promises/export.xlsx"),
    ("POST", "/cockpit/promises/export.xlsx"),
    ("GET", "/cockpit/promises/settings"),
}
# Alliance-wide settings: administrators only.
ADMIN_ONLY = {
    ("GET", "/admin/need-rules"),
    ("GET", "/admin/workers"),
    ("POST", "/admin/need-rules"),
    ("GET", "/admin/targets"),
    ("POST", "/admin/targets"),
    ("GET", "/admin/projects"),
    ("POST", "/admin/projects"),
    ("GET", "/admin/holidays"),
    ("POST", "/admin/holidays"),
    ("POST", "/admin/holidays/remove"),
}
# Writes that only ever touch the writer's own partner.
# (A proposal is computed for the writer's own region only.)
SELF_WRITES = {
    ("POST", "/partner"),
    ("POST", "/partner/offerings/new"),
    ("POST", "/matching/proposals"),
    ("POST", "/partner/api-tokens"),
    ("POST", "/partner/staff/invite"),
    ("POST", "/partner/events/new"),
    ("POST", "/account/password"),
    ("POST", "/account/sessions/end-others"),
    # A volunteer replaces their own calendar link.
    ("POST", "/volunteer/calendar-link"),
    # A coordinator sets the targets of their own regions only (tests/test_projects.py).
    ("POST", "/targets/regions"),
    ("POST", "/partner/webhooks"),
    # One's own inbox; a household's own consent.
    ("POST", "/inbox/read-all"),
    ("POST", "/my-household/consent"),
    # A partner admin's own volunteers and sign-up link; a volunteer's own profile and days off.
    ("POST", "/partner/volunteers/new"),
    ("POST", "/partner/volunteers/import"),
    ("POST", "/partner/volunteers/signup-link"),
    ("POST", "/partner/volunteers/signup-link/revoke"),
    ("POST", "/volunteer/profile"),
    ("POST", "/volunteer/time-off"),
    ("POST", "/volunteer/time-off/remove"),
    # A worker registers households in their own area only; a household acts for itself only.
    ("POST", "/households/register"),
    ("POST", "/my-household/help"),
    ("POST", "/my-household/change"),
    ("POST", "/my-household/decline"),
    # A coordinator sets the visiting rhythm of their own region.
    ("POST", "/regular-visits/rhythm"),
    # An eligibility check for one of the partner's own offerings (another's is not found).
    ("POST", "/partner/eligibility"),
    ("POST", "/partner/eligibility/scan"),
    # ... and the response promises of their own region.
    ("POST", "/cockpit/promises/settings"),
}


def _app_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        for method in route.methods or []:
            if method != "HEAD":
                found.add((method, route.path))
    return found


# Former addresses that send the users who may open the new page there (and refuse everyone else).
REDIRECTS = {("GET", "/admin/region-policy"): ("/admin/region-settings", "coordinator")}


def test_every_route_is_in_the_permission_walk(app):
    listed = PUBLIC | OBJECT_ROUTES | SCOPED_PAGES | SELF_WRITES | ADMIN_ONLY | set(REDIRECTS)
    missing = _app_routes(app) - listed
    assert not missing, f"routes not covered by the permission walk: {sorted(missing)}"


@pytest.fixture
async def world(app):
    left, right, admin = await build_two_sides()
    for side in (left, right):
        principal = await principal_for(side.users["partner_admin"])
        side.offering = await save_offering(
            principal,
            OfferingForm(
                title=f"上门照护{side.partner.name}",
                need="HOME_CARE",
                region_codes=(side.district,),
                monthly_capacity="10",
            ),
        )
        side.batch = await intake_batch_for(side.community)
        side.conflict = await intake_conflict_for(side.household)
    await match_all()
    for side in (left, right):
        outcome = await propose_allocation(await principal_for(side.users["coordinator"]))
        side.proposal = outcome.proposal
        side.item = await ProposalItem.get(proposal_id=outcome.proposal.id)
        side.request = await ServiceRequest.get(household_id=side.household.id)
        side.transfer = await TransferRequest.create(
            request_id=side.request.id,
            from_partner_id=side.partner.id,
            to_partner_id=side.partner.id,
            reason="walk",
            due_at=utc_now() + timedelta(hours=36),
        )
        side.token = (await create_token_for(side.partner.name)).token
    for index, side in enumerate((left, right)):
        # On a further household of the side's community: the side's own request stays open.
        side.visit = await scheduled_visit_for(side, f"walk{index}")
        side.visited_household_id = (await ServiceRequest.get(id=side.visit.request_id)).household_id
        side.check_in = await checked_in_for(side, f"door{index}")
        side.checked_in_household_id = await ServiceRequest.get(
            visits__id=side.check_in.visit_id
        ).values_list("household_id", flat=True)
    for side in (left, right):
        side.event, side.session, side.registration = await walk_event_for(side)
        side.project = await Project.create(year=2026, code=f"WALK{side.district}", name="走访项目")
        side.webhook, _secret = await webhooks.create_endpoint(
            await principal_for(side.users["partner_admin"]), "https://crm.example.com/hook", ["match.new"]
        )
        side.delivery = await webhooks.send_test(
            await principal_for(side.users["partner_admin"]), side.webhook.id
        )
        worker = side.users["community_worker"]
        side.notice = await Notification.create(
            user_id=worker.id,
            household_id=side.household.id,
            channel="in_app",
            kind="visit_scheduled",
            body=f"请转告 {side.household.head_name}",
        )
        side.task = await open_task(
            worker.id,
            TaskKind.VERIFY_HOUSEHOLD,
            Subject("household", side.household.id),
            params={"name": side.household.head_name, "household_id": side.household.id},
        )
        # A ready export of the side's coordinator (the audit trail of the region).
        coordinator = await principal_for(side.users["coordinator"])
        directory = app.state.settings.data_dir / "exports"
        side.export = await exports.request_export(coordinator, "audit_csv", {}, directory)
        await exports.run_export(side.export.id)
        household = await principal_for(side.users["household"])
        side.change = (await report_change(household, None, "moved", "搬到走访路1号")).change
    return left, right, admin


async def checked_in_for(side, suffix: str) -> CheckIn:
    """A visit starting now on a further household, checked in by the coordinator for the volunteer."""
    request = await add_household_request(side, suffix)
    await match_all(notify=False)
    dispatcher = await principal_for(side.users["dispatcher"])
    await claim_request(dispatcher, request.id)
    start = utc_now() + timedelta(minutes=30)
    visit = (
        await schedule_visit(dispatcher, request.id, start, start + timedelta(hours=1), [side.volunteer.id])
    ).visit
    coordinator = await principal_for(side.users["coordinator"])
    return (await check_in_on_behalf(coordinator, visit.id, side.volunteer.id, "walk")).check_in


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _fill(path: str, side) -> str:
    return (
        path.replace("{household_id:int}", str(side.household.id))
        .replace("{offering_id:int}", str(side.offering.id))
        .replace("{partner_id:int}", str(side.partner.id))
        .replace("{batch_id:int}", str(side.batch))
        .replace("{proposal_id:int}", str(side.proposal.id))
        .replace("{item_id:int}", str(side.item.id))
        .replace("{request_id:int}", str(side.request.id))
        .replace("{transfer_id:int}", str(side.transfer.id))
        .replace("{token_id:int}", str(side.token.id))
        .replace("{visit_id:int}", str(side.visit.id))
        .replace("{check_in_id:int}", str(side.check_in.id))
        .replace("{event_id:int}", str(side.event.id))
        .replace("{session_id:int}", str(side.session.id))
        .replace("{registration_id:int}", str(side.registration.id))
        .replace("{user_id:int}", str(side.users["community_worker"].id))
        .replace("{conflict_id:int}", str(side.conflict.id))
        .replace("{project_id:int}", str(side.project.id))
        .replace("{endpoint_id:int}", str(side.webhook.id))
        .replace("{delivery_id:int}", str(side.delivery.id))
        .replace("{staff_id:int}", str(side.users["partner_admin"].id))
        # No invitation exists in the walk's world: every caller gets 404 (tests/test_partner_staff.py).
        .replace("{invitation_id:int}", "1")
        .replace("{notification_id:int}", str(side.notice.id))
        .replace("{task_id:int}", str(side.task.id))
        .replace("{export_id:int}", str(side.export.id))
        .replace("{volunteer_id:int}", str(side.volunteer.id))
        .replace("{change_id:int}", str(side.change.id))
        .replace("{region_code}", side.community)
    )


async def _call(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    if method == "GET":
        return await client.get(path)
    return await client.post(
        path,
        data={
            "status": "suspended",
            "title": "改名",
            "need": "HOME_CARE",
            "region_codes": "330302",
            "description": "hijacked",
            "monthly_capacity": "1",
        },
        headers={"X-CSRF-Token": session_csrf(client)},
    )


async def test_anonymous_requests_go_to_login(app, world):
    left, _right, _admin = world
    async with _client(app) as client:
        for method, path in sorted(OBJECT_ROUTES | SCOPED_PAGES | SELF_WRITES):
            if method == "POST":
                await client.get("/login")  # a session (and its CSRF token) exists before any form
            response = await _call(client, method, _fill(path, left))
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login")


async def test_former_addresses_redirect_only_those_who_may_open_the_page(app, world):
    left, _right, _admin = world
    for (method, path), (target, role) in REDIRECTS.items():
        async with _client(app) as client:
            response = await _call(client, method, path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login")
            await login(client, left.users["partner_admin"].username)
            assert (await _call(client, method, path)).status_code == 403, path
        async with _client(app) as client:
            await login(client, left.users[role].username)
            response = await _call(client, method, path)
            assert response.status_code in (301, 303) and response.headers["location"] == target, path
            assert (await client.get(target)).status_code == 200


async def test_users_of_another_region_or_partner_are_refused_every_object(app, world):
    left, right, _admin = world
    for role, user in right.users.items():
        async with _client(app) as client:
            assert (await login(client, user.username)).status_code == 303
            for method, path in sorted(OBJECT_ROUTES):
                response = await _call(client, method, _fill(path, left))
                assert response.status_code in (403, 404), (role, method, path, response.status_code)
    # Nothing of side A changed through those attempts.
    assert (await Partner.get(id=left.partner.id)).status == "approved"
    assert (await Offering.get(id=left.offering.id)).title.startswith("上门照护")
    request = await ServiceRequest.get(id=left.request.id)
    assert request.status == "open" and request.claimed_by_id is None
    assert (await TransferRequest.get(id=left.transfer.id)).status == "pending"
    assert (await PartnerToken.get(id=left.token.id)).revoked_at is None
    visit = await Visit.get(id=left.visit.id)
    assert (visit.status, visit.schedule_version, visit.household_response) == ("scheduled", 1, "pending")
    assert (await Household.get(id=left.household.id)).card_serial == 1
    assert await CheckIn.filter(visit_id=left.visit.id).count() == 0
    assert (await CheckIn.get(id=left.check_in.id)).reviewed_at is None
    event = await Event.get(id=left.event.id)
    assert (event.status, event.title, event.seats_taken) == ("published", left.event.title, 1)
    assert (await Registration.get(id=left.registration.id)).status == "registered"
    assert await Attendance.all().count() == 0 and await EmploymentOutcome.all().count() == 0
    worker = left.users["community_worker"]
    assert (await User.get(id=worker.id)).is_active
    assert (
        not await PasswordReset.exists()
        and not await UserSession.filter(end_reason="signed_out_everywhere").exists()
    )
    assert (await IntakeConflict.get(id=left.conflict.id)).status == "pending"
    assert (await Household.get(id=left.household.id)).head_name == left.household.head_name
    household = await Household.get(id=left.household.id)
    assert (household.verified, household.consent_status, household.matchable) == (False, "system", True)
    assert (await Notification.get(id=left.notice.id)).read_at is None
    assert (await Task.get(id=left.task.id)).state == "open"
    volunteer = await Volunteer.get(id=left.volunteer.id)
    assert (volunteer.active, volunteer.name, volunteer.status) == (True, left.volunteer.name, "approved")


async def test_scoped_pages_never_show_another_sides_data(app, world):
    left, right, _admin = world
    markers = [
        left.household.head_name,
        left.partner.name,
        left.offering.title,
        left.volunteer.name,
        left.event.title,
    ]
    for role, user in right.users.items():
        async with _client(app) as client:
            await login(client, user.username)
            for _method, path in sorted(SCOPED_PAGES):
                response = await client.get(path)
                if response.status_code == 303 and response.headers["location"].startswith("/exports/"):
                    # An export: its file, written as the worker would, holds nothing of side A.
                    location = response.headers["location"]
                    await exports.run_export(int(location.rsplit("/", 1)[1]))
                    response = await client.get(location + "/download")
                assert response.status_code in (200, 403, 404), (role, path, response.status_code)
                for marker in markers:
                    assert marker not in response.text, (role, path, marker)


async def test_owners_do_see_their_own(app, world):
    left, _right, _admin = world
    expectations = [
        ("coordinator", "/households", left.household.head_name),
        ("community_worker", "/households", left.household.head_name),
        ("coordinator", f"/households/{left.household.id}", left.household.external_id),
        ("coordinator", "/admin/partners", left.partner.name),
        ("coordinator", "/admin/accounts", left.users["community_worker"].username),
        ("partner_admin", "/partner", left.partner.name),
        ("partner_admin", "/partner/offerings", left.offering.title),
        ("partner_admin", f"/partner/offerings/{left.offering.id}/edit", left.offering.title),
        ("dispatcher", "/partner/offerings", left.offering.title),
        ("dispatcher", "/board", f"/requests/{left.request.id}"),
        ("dispatcher", f"/requests/{left.request.id}", f"#{left.request.id}"),
        ("coordinator", "/requests", f"/requests/{left.request.id}"),
        ("partner_admin", "/partner/api-tokens", left.token.prefix),
        ("volunteer", "/volunteer", left.volunteer.name),
        ("dispatcher", "/partner/events", left.event.title),
        ("partner_admin", f"/partner/events/{left.event.id}", left.household.head_name),
        ("dispatcher", f"/partner/sessions/{left.session.id}", left.household.head_name),
        ("community_worker", f"/households/{left.household.id}/events", left.event.title),
        ("household", "/my-household/events", left.event.title),
        ("household", "/my-household", left.household.head_name),
        ("community_worker", "/inbox", left.household.head_name),
        ("coordinator", "/admin/region-settings", left.community),
        ("coordinator", f"/admin/region-settings/{left.community}", left.community),
        ("dispatcher", "/visits", f"/visits/{left.visit.id}"),
        ("dispatcher", f"/visits/{left.visit.id}", "/visit-response/"),
        (
            "community_worker",
            f"/households/{left.visited_household_id}/visits",
            f"/visits/{left.visit.id}/respond",
        ),
    ]
    for role, path, marker in expectations:
        async with _client(app) as client:
            await login(client, left.users[role].username)
            response = await client.get(path)
            assert response.status_code == 200, (role, path, response.status_code)
            assert marker in response.text, (role, path)


async def test_self_writes_only_touch_the_writers_partner(app, world):
    left, right, _admin = world
    async with _client(app) as client:
        await login(client, right.users["partner_admin"].username)
        for method, path in sorted(SELF_WRITES):
            await _call(client, method, path)
    assert (await Partner.get(id=left.partner.id)).description == ""
    assert (await Partner.get(id=right.partner.id)).description == "hijacked"
    # Its home-care offering and the training venue of its event (tests.events_support.walk_event_for).
    assert await Offering.filter(partner_id=left.partner.id).count() == 2


async def test_list_queries_are_filtered_in_the_database(world):
    left, right, admin = world
    coordinator = await principal_for(left.users["coordinator"])
    ids = await visible(coordinator, Action.VIEW_HOUSEHOLDS).order_by("id").values_list("id", flat=True)
    assert ids == [left.household.id, left.visited_household_id, left.checked_in_household_id]
    everyone = await visible(await principal_for(admin), Action.VIEW_HOUSEHOLDS).count()
    assert everyone == await Household.all().count() == 6
    worker = await principal_for(right.users["community_worker"])
    assert await visible(worker, Action.VIEW_HOUSEHOLDS).order_by("id").values_list("id", flat=True) == [
        right.household.id,
        right.visited_household_id,
        right.checked_in_household_id,
    ]


async def test_alliance_wide_settings_refuse_everyone_but_admins(app, world):
    left, right, _admin = world
    for side in (left, right):
        for role, user in side.users.items():
            async with _client(app) as client:
                await login(client, user.username)
                for method, path in sorted(ADMIN_ONLY):
                    response = await _call(client, method, path)
                    assert response.status_code == 403, (role, method, path, response.status_code)


# Their own account (password, sessions) stays theirs in every state of their organisation.
OWN_ACCOUNT = {("GET", "/account"), ("POST", "/account/password"), ("POST", "/account/sessions/end-others")}
# So does their inbox: the notice of the suspension is in it.
OWN_ACCOUNT |= {("GET", "/inbox"), ("POST", "/inbox/read-all")}
# What the staff (and the volunteers) of a partner may still open in each lifecycle state: every
# other route of the walk must refuse them (403 or 404). Approved staff are the walk's control.
# A volunteer's own profile does not hang on a partner's standing (a volunteer is not partner staff).
VOLUNTEER_OWN_PROFILE = {
    ("GET", "/volunteer/profile"),
    ("POST", "/volunteer/profile"),
    ("POST", "/volunteer/time-off"),
}
LIFECYCLE_ALLOWED = {
    PartnerStatus.PENDING: {
        "partner_admin": {("GET", "/partner"), ("POST", "/partner")},
        "dispatcher": {("GET", "/partner")},
        "volunteer": {("GET", "/volunteer"), ("POST", "/volunteer/calendar-link"), *VOLUNTEER_OWN_PROFILE},
    },
    PartnerStatus.SUSPENDED: {
        "partner_admin": {("GET", "/partner")},
        "dispatcher": {("GET", "/partner")},
        "volunteer": {("GET", "/volunteer"), ("POST", "/volunteer/calendar-link"), *VOLUNTEER_OWN_PROFILE},
    },
    PartnerStatus.CLOSED: {
        "partner_admin": {("GET", "/partner")},
        "dispatcher": {("GET", "/partner")},
        "volunteer": {("GET", "/volunteer"), ("POST", "/volunteer/calendar-link"), *VOLUNTEER_OWN_PROFILE},
    },
}
# Pages the approved staff of the same partner do open (so the refusals above are the lifecycle's).
APPROVED_OPENS = {
    "partner_admin": {
        ("GET", "/board"),
        ("GET", "/partner/offerings"),
        ("GET", "/partner/offerings/{offering_id:int}/edit"),
        ("GET", "/partner/events"),
        ("GET", "/partner/events/{event_id:int}"),
        ("GET", "/partner/api-tokens"),
        ("GET", "/partner/staff"),
        ("GET", "/requests/{request_id:int}"),
        ("GET", "/visits/{visit_id:int}"),
        ("GET", "/partner/volunteers"),
        ("GET", "/partner/volunteers/{volunteer_id:int}"),
        ("GET", "/partner/eligibility"),
    },
    "dispatcher": {
        ("GET", "/board"),
        ("GET", "/board/claims"),
        ("GET", "/partner/proposals"),
        ("GET", "/partner/sessions/{session_id:int}"),
        ("GET", "/visits"),
        ("GET", "/visits/{visit_id:int}"),
        ("GET", "/partner/volunteers"),
        ("GET", "/partner/eligibility/scan"),
    },
    "volunteer": {("GET", "/volunteer/visits/{visit_id:int}")},
}
WALKED = OBJECT_ROUTES | SCOPED_PAGES | SELF_WRITES


async def _walk_own_side(app, side, role: str) -> set[tuple[str, str]]:
    """Every walked route, called by `role` of `side` on the side's own objects: those not refused."""
    opened = set()
    async with _client(app) as client:
        assert (await login(client, side.users[role].username)).status_code == 303
        for method, path in sorted(WALKED):
            response = await _call(client, method, _fill(path, side))
            assert response.status_code != 500, (role, method, path)
            if response.status_code not in (403, 404):
                opened.add((method, path))
    return opened


@pytest.mark.parametrize("status", [PartnerStatus.PENDING, PartnerStatus.SUSPENDED, PartnerStatus.CLOSED])
async def test_partner_lifecycle_decides_every_route(app, world, status):
    left, _right, _admin = world
    for role in APPROVED_OPENS:
        principal = await principal_for(left.users[role])
        assert principal.partner_status in (None, PartnerStatus.APPROVED)
    await Partner.filter(id=left.partner.id).update(status=status)
    for role, allowed_beside_account in LIFECYCLE_ALLOWED[status].items():
        allowed = allowed_beside_account | OWN_ACCOUNT
        opened = await _walk_own_side(app, left, role)
        assert opened == allowed, (status, role, sorted(opened - allowed), sorted(allowed - opened))
    # Nothing that touches households changed through the walk.
    request = await ServiceRequest.get(id=left.request.id)
    assert request.status == "open" and request.claimed_by_id is None
    visit = await Visit.get(id=left.visit.id)
    assert (visit.status, visit.schedule_version) == ("scheduled", 1)
    assert await CheckIn.filter(visit_id=left.visit.id).count() == 0
    assert (await Event.get(id=left.event.id)).status == "published"
    assert (await PartnerToken.get(id=left.token.id)).revoked_at is None
    assert await Offering.filter(partner_id=left.partner.id, title="改名").count() == 0


async def test_approved_partner_staff_open_their_pages(app, world):
    # The control for the lifecycle walk: the same users, approved, do open these.
    left, _right, _admin = world
    for role, expected in APPROVED_OPENS.items():
        async with _client(app) as client:
            await login(client, left.users[role].username)
            for method, path in sorted(expected):
                response = await _call(client, method, _fill(path, left))
                assert response.status_code == 200, (role, method, path, response.status_code)


async def test_deactivated_users_can_do_nothing(app, world):
    left, _right, admin = world
    for role, user in [*left.users.items(), ("admin", admin)]:
        async with _client(app) as client:
            assert (await login(client, user.username)).status_code == 303
            await User.filter(id=user.id).update(is_active=False)
            for method, path in sorted(WALKED | ADMIN_ONLY):
                response = await _call(client, method, _fill(path, left))
                # The session ends: every route sends the browser to the login page.
                assert response.status_code == 303, (role, method, path, response.status_code)
                assert response.headers["location"].startswith("/login"), (role, method, path)
            # A job building the principal of a deactivated user gets one allowed nothing.
            principal = await principal_for(await User.get(id=user.id))
            assert not any(allows(principal, action) for action in Action)
            await User.filter(id=user.id).update(is_active=True)
