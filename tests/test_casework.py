"""Casework services: a household found offline, needs assessments and case notes, what a household
starts itself or through its worker, and the case timeline (scope and audit)."""

from __future__ import annotations

import pytest

from alliance.cases.assessments import AssessmentForm, add_case_note, assess_need
from alliance.cases.household_actions import ask_for_help, decline_help, report_change, verify_change
from alliance.cases.models import CaseNote, HouseholdChange, NeedsAssessment, Referral
from alliance.cases.offline import OfflineForm, PossibleDuplicates, link_referral, register_offline
from alliance.cases.timeline import case_timeline
from alliance.core.access import principal_for
from alliance.core.codes import CloseReason, NotificationChannel, RequestStatus, VisitStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.models import AuditEntry
from alliance.households.models import Household, IntakeBatch, IntakeRecord
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import Notification, OutboxJob
from alliance.visits.models import Visit
from alliance.visits.scheduling import schedule_visit
from tests.intake_support import id_number
from tests.visits_support import add_volunteer, build_visit_world, window


@pytest.fixture
async def world():
    return await build_visit_world()


def offline_form(community: str, **changes) -> OfflineForm:
    values = {
        "head_name": "陈阿婆",
        "id_number": id_number("33030219400101002"),
        "phone": "13955556666",
        "address": "五马街88号",
        "region_code": community,
        "member_count": "1",
        "flags": ["ELDERLY_ALONE"],
        "accessibility": ["LOW_VISION"],
        "contact_preference": "VOICE",
        "source": "hotline",
        "referrer_name": "12345热线 王接线员",
    }
    values.update(changes)
    return OfflineForm(**values)


async def test_worker_registers_a_hotline_household_unverified_with_its_requests(world):
    left = world.claims.left
    worker = await principal_for(left.users["community_worker"])
    registered = await register_offline(worker, offline_form(left.community))
    household = await Household.get(id=registered.household.id)
    assert not household.verified and household.region_id == left.community
    assert household.contact_preference == "VOICE" and household.accessibility == ["LOW_VISION"]
    needs = sorted(await ServiceRequest.filter(household_id=household.id).values_list("need_id", flat=True))
    assert needs == ["HEALTH_SUPPORT", "HOME_CARE", "TELECOM_DISCOUNT"]
    referral = await Referral.get(household_id=household.id)
    assert referral.source == "hotline" and referral.registered_by_id == left.users["community_worker"].id
    assert await AuditEntry.exists(action="household.register_offline", object_id=str(household.id))
    # Geocoded like intake households: its address waits for the geocoder.
    assert (await IntakeRecord.get(household_id=household.id)).geocode_pending


async def test_a_failure_after_the_household_is_written_leaves_nothing_half_registered(world, monkeypatch):
    """The process dies after the import wrote the household and its requests, at the referral's
    audit entry: nothing of it stays (no household without its referral, no orphan batch)."""
    left = world.claims.left
    worker = await principal_for(left.users["community_worker"])
    counts = [await model.all().count() for model in (Household, ServiceRequest, Referral, IntakeBatch)]

    async def dies(*_args, **_kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr("alliance.cases.offline.record", dies)
    with pytest.raises(RuntimeError):
        await register_offline(worker, offline_form(left.community))
    assert [
        await model.all().count() for model in (Household, ServiceRequest, Referral, IntakeBatch)
    ] == counts
    monkeypatch.undo()
    registered = await register_offline(worker, offline_form(left.community))
    assert await Referral.exists(household_id=registered.household.id)


async def test_bad_input_names_each_field_and_saves_nothing(world):
    left = world.claims.left
    worker = await principal_for(left.users["community_worker"])
    before = await Household.all().count()
    with pytest.raises(InvalidInput) as refused:
        await register_offline(
            worker,
            offline_form(
                left.community, id_number="330302194001010021", phone="12", source="", flags=["NOPE"]
            ),
        )
    assert {"id_number", "phone", "source", "flags"} <= set(refused.value.errors)
    assert "GB 11643" in refused.value.errors["id_number"]
    # Another district's community is outside a community worker's area.
    with pytest.raises(InvalidInput) as outside:
        await register_offline(worker, offline_form(world.claims.right.community))
    assert "330328001001" in outside.value.errors["region_code"]
    assert await Household.all().count() == before


async def test_possible_duplicates_are_shown_first_and_the_worker_may_link_instead(world):
    left = world.claims.left
    worker = await principal_for(left.users["community_worker"])
    known = id_number("33030219500101123")
    household = await Household.get(id=left.household.id)
    household.id_number = known  # through the model: encrypted and indexed on save
    await household.save()
    form = offline_form(left.community, id_number=known, phone="")
    before = await Household.all().count()
    with pytest.raises(PossibleDuplicates) as shown:
        await register_offline(worker, form)
    assert [found.id for found in shown.value.duplicates] == [left.household.id]
    assert "*" in shown.value.duplicates[0].id_number_masked
    assert await Household.all().count() == before
    await link_referral(worker, left.household.id, form)
    note = await CaseNote.get(household_id=left.household.id)
    assert "12345" in note.text
    # Or it is a new household after all: confirmed, it is created (and marked a possible duplicate).
    registered = await register_offline(worker, form, confirmed_new=True)
    assert (await Household.get(id=registered.household.id)).possible_duplicate_of_id == left.household.id


async def test_assessment_opens_a_request_that_matching_picks_up_and_closes_another(world):
    left = world.claims.left
    coordinator = await principal_for(left.users["coordinator"])
    opened = await assess_need(
        coordinator,
        left.household.id,
        AssessmentForm(need="LEGAL_AID", description="房屋纠纷", severity="2", since="2026-01-05"),
    )
    request = await ServiceRequest.get(id=opened.assessment.request_id)
    assert request.need_id == "LEGAL_AID" and request.status == RequestStatus.OPEN
    assert await OutboxJob.exists(job_name="match_requests_job", job_id=f"match:case-request:{request.id}")
    closed = await assess_need(
        coordinator,
        left.household.id,
        AssessmentForm(
            need="LEGAL_AID",
            description="已由法律援助中心处理",
            severity="1",
            action="close",
            close_reason="done_by_others",
        ),
    )
    assert closed.assessment.outcome == "closed"
    request = await ServiceRequest.get(id=request.id)
    assert request.status == RequestStatus.CANCELLED and request.close_reason == CloseReason.DONE_BY_OTHERS
    with pytest.raises(InvalidInput) as refused:
        await assess_need(coordinator, left.household.id, AssessmentForm(need="LEGAL_AID", severity="9"))
    assert {"description", "severity"} <= set(refused.value.errors)
    assert await NeedsAssessment.filter(household_id=left.household.id).count() == 2


async def test_household_asks_reports_and_declines_and_partners_hear_of_it(world):
    left = world.claims.left
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    household = await principal_for(left.users["household"])
    asked = await ask_for_help(household, None, "BENEFITS_HELP", "想申请低保")
    assert asked.created
    worker = left.users["community_worker"]
    assert await Notification.exists(
        kind="household_asked", user_id=worker.id, channel=NotificationChannel.IN_APP
    )
    reported = await report_change(household, None, "phone_changed", "新号码 13711112222")
    assert await Notification.exists(kind="household_change", user_id=worker.id)
    # The reported phone is kept as reported, not applied, until a worker verifies it.
    assert (await Household.get(id=left.household.id)).phone == "13812345678"
    await verify_change(await principal_for(worker), reported.change.id)
    assert (await HouseholdChange.get(id=reported.change.id)).verified_by_id == worker.id

    declined = await decline_help(household, None, "子女已接回家")
    assert sorted(declined.requests) == sorted([world.request.id, asked.requests[0]])
    for request in await ServiceRequest.filter(household_id=left.household.id):
        assert request.status in (RequestStatus.CANCELLED, RequestStatus.COMPLETED)
    assert (await Visit.get(id=visit.id)).status == VisitStatus.CANCELLED
    dispatcher = left.users["dispatcher"]
    assert await Notification.exists(kind="request_closed_casework", user_id=dispatcher.id)
    entry = await AuditEntry.filter(action="household.decline_help").first()
    assert entry.details["on_behalf"] is False


async def test_a_worker_acts_on_behalf_and_it_is_recorded_as_such(world):
    left = world.claims.left
    worker = await principal_for(left.users["community_worker"])
    await ask_for_help(worker, left.household.id, "LEGAL_AID", "")
    entry = await AuditEntry.filter(action="household.ask_for_help").first()
    assert entry.details["on_behalf"] is True and entry.actor_id == left.users["community_worker"].id
    other = await principal_for(world.claims.right.users["community_worker"])
    with pytest.raises(NotFound):
        await decline_help(other, left.household.id, "")


async def test_timeline_merges_the_history_for_its_worker_only_and_is_audited(world):
    left = world.claims.left
    worker = await principal_for(left.users["community_worker"])
    await add_case_note(worker, left.household.id, "call", "电话联系，老人说腿疼")
    await assess_need(
        worker, left.household.id, AssessmentForm(need="HEALTH_SUPPORT", description="腿疼", severity="2")
    )
    timeline = await case_timeline(worker, left.household.id)
    kinds = {entry.kind for entry in timeline.entries}
    assert {"call", "assessment", "request"} <= kinds
    assert any("腿疼" in entry.text for entry in timeline.entries)
    assert await AuditEntry.exists(action="household.timeline_view")
    for outsider in ("community_worker", "coordinator"):
        with pytest.raises(NotFound):
            await case_timeline(await principal_for(world.claims.right.users[outsider]), left.household.id)
    with pytest.raises(PermissionDenied):
        await case_timeline(await principal_for(left.users["dispatcher"]), left.household.id)
