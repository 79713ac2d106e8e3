"""The demo city: logins that work, valid people, consistent flags and requests, reproducible."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

from alliance.cases.models import NeedsAssessment
from alliance.core.access import principal_for
from alliance.core.accounts import authenticate
from alliance.core.codes import FlagCode, RequestStatus, Role, TargetMetric
from alliance.core.models import Region, User
from alliance.core.regions import path_for
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.models import Flag, Household
from alliance.households.needs import active_key, needs_for_flags, priority_with_waiting, request_priority
from alliance.households.reference import ensure_reference_data, rules_by_flag
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.notifications.models import Notification
from alliance.partners.models import Offering, Partner, Project, Volunteer
from alliance.targets.models import Target
from alliance.targets.tallies import REGULAR_VISIT_PROJECT
from alliance.visits.models import RegularDue, ServiceRecord, Visit, VolunteerBooking
from fixtures.demo_city import DEMO_LOGINS, DEMO_PASSWORD, build_demo_city, database_is_empty
from tests.conftest import _wipe_database

HOUSEHOLDS = 200
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def is_valid_id_number(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], ID_WEIGHTS, strict=True))
    return number[17] == "10X98765432"[total % 11]


def born_on(number: str) -> date:
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


async def test_database_is_empty_before_the_build_and_not_after():
    assert await database_is_empty()
    counts = await build_demo_city(households=HOUSEHOLDS, seed=7)
    assert not await database_is_empty()
    assert counts["households"] == HOUSEHOLDS == await Household.all().count()
    # worker.wuma has regular visits due and overdue, and a follow-up past due (alliance/visits/regular.py).
    worker = await principal_for(await User.get(username="worker.wuma"))
    assert counts["regular_visits"] >= 1
    assert await RegularDue.filter(worker_id=worker.user_id).exists()
    assert await Notification.filter(kind="regular_follow_up_overdue", user_id=worker.user_id).exists()


async def test_every_demo_login_authenticates_with_its_role_and_scope():
    await build_demo_city(households=HOUSEHOLDS)
    users = {}
    for username, role, _sees in DEMO_LOGINS:
        user = await authenticate(username, DEMO_PASSWORD, "127.0.0.1")
        assert user is not None, username
        assert user.role == role
        users[username] = user
    assert await authenticate("admin", "wrong-password", "127.0.0.1") is None

    assert [users[name].region_id for name in ("coord.city", "coord.lucheng", "coord.wencheng")] == [
        "330300",
        "330302",
        "330328",
    ]
    worker_region = await Region.get(code=users["worker.wuma"].region_id)
    assert worker_region.level == "community"
    assert worker_region.path.startswith("/330300/330302/330302006/")  # 五马街道
    assert await Household.filter(region_id=worker_region.code).exists()

    telecom = await Partner.get(name="温州移动")
    assert telecom.status == "approved"
    assert users["telecom.admin"].partner_id == users["telecom.dispatch"].partner_id == telecom.id
    assert users["telecom.dispatch"].role == Role.DISPATCHER
    pending = await Partner.get(id=users["pending.admin"].partner_id)
    assert pending.status == "pending"

    volunteer = await Volunteer.get(id=users["volunteer.demo"].volunteer_id).prefetch_related("partners")
    assert [partner.name for partner in volunteer.partners] == ["鹿城区志愿者协会"]
    household = await Household.get(id=users["household.demo"].household_id).prefetch_related("region")
    assert household.region.path.startswith("/330300/330302/")


async def test_id_numbers_are_valid_unique_and_fit_the_flags():
    await build_demo_city(households=HOUSEHOLDS)
    households = await Household.all().prefetch_related("region")
    numbers = [household.id_number for household in households]
    assert all(is_valid_id_number(number) for number in numbers)
    assert len(set(numbers)) == len(numbers)
    flags: dict[int, set[str]] = defaultdict(set)
    for household_id, code in await Flag.all().values_list("household_id", "code"):
        flags[household_id].add(str(code))
    today = utc_now().astimezone(LOCAL_TZ).date()
    for household in households:
        born = born_on(household.id_number)
        assert date(1930, 1, 1) <= born < today
        assert household.id_number[:6] == household.region.code[:6]  # the district's area code
        if FlagCode.ELDERLY_ALONE in flags[household.id]:
            assert born.year <= 1960 and household.member_count == 1
        if household.phone is None:
            assert household.contact_preference == "COMMUNITY_WORKER"
        else:
            assert len(household.phone) == 11 and household.phone.startswith("1")
        if "BLIND" in household.accessibility:
            assert household.contact_preference in ("VOICE", "COMMUNITY_WORKER")
        assert household.consent and household.lat is not None and household.address.startswith("温州市")


async def test_every_household_has_flags_and_an_open_request_per_derived_need():
    await build_demo_city(households=HOUSEHOLDS)
    rules = await rules_by_flag()
    flags: dict[int, list[str]] = defaultdict(list)
    first_flagged: dict[int, date] = {}
    for household_id, code, active, detected_at in await Flag.all().values_list(
        "household_id", "code", "active", "detected_at"
    ):
        assert active
        flags[household_id].append(str(code))
        day = detected_at.astimezone(LOCAL_TZ).date()
        first_flagged[household_id] = min(day, first_flagged.get(household_id, day))
    today = utc_now().astimezone(LOCAL_TZ).date()
    open_requests: dict[int, dict[str, ServiceRequest]] = defaultdict(dict)
    # Active requests: open, and the few of today's demo round (claimed and scheduled).
    for request in await ServiceRequest.filter(active_key__isnull=False):
        assert request.need_id not in open_requests[request.household_id]  # type: ignore[attr-defined]
        open_requests[request.household_id][request.need_id] = request  # type: ignore[attr-defined]
    # Besides: the training request household.demo's worker opened by a needs assessment.
    assessed = set(await NeedsAssessment.filter(outcome="opened").values_list("request_id", flat=True))
    for household in await Household.all():
        codes = flags[household.id]
        assert 1 <= len(codes) <= 3
        needs = needs_for_flags(codes, rules)
        derived = {need: r for need, r in open_requests[household.id].items() if r.id not in assessed}
        assert sorted(derived) == sorted(needs)
        for need, request in derived.items():
            assert request.active_key == active_key(household.id, need)
            # Scored as intake scores it: the household plus the weeks since its earliest flag.
            assert request.priority == priority_with_waiting(
                request_priority(codes, household.accessibility, household.member_count),
                (today - first_flagged[household.id]).days,
            )


async def test_a_quarter_of_households_have_a_history_of_completed_visits():
    counts = await build_demo_city(households=HOUSEHOLDS)
    completed = await ServiceRequest.filter(status=RequestStatus.COMPLETED)
    served = {request.household_id for request in completed}  # type: ignore[attr-defined]
    assert 0.15 * HOUSEHOLDS <= len(served) <= 0.35 * HOUSEHOLDS
    year_start = utc_now().astimezone(LOCAL_TZ).replace(month=1, day=1, hour=0, minute=0, second=0)
    person_times = 0
    for request in completed:
        assert request.active_key is None and request.close_reason == "completed"
        assert request.claimed_by_id is not None  # type: ignore[attr-defined]
        visit = await Visit.get(request_id=request.id)
        record = await ServiceRecord.get(visit_id=visit.id).prefetch_related("risk_checks")
        assert visit.status == "completed" and visit.partner_id == request.claimed_by_id  # type: ignore[attr-defined]
        assert year_start <= request.created_at < visit.window_start <= record.completed_at <= utc_now()
        assert len(record.risk_checks) == 6
        person_times += record.persons_served
        steps = await RequestTransition.filter(request_id=request.id).order_by("at")
        assert [str(step.to_status) for step in steps] == ["claimed", "scheduled", "in_service", "completed"]
        # The need stays open for the next regular visit (household.demo's is scheduled already).
        follow_up = await ServiceRequest.get(
            household_id=request.household_id,  # type: ignore[attr-defined]
            need_id=request.need_id,  # type: ignore[attr-defined]
            status__in=[RequestStatus.OPEN, RequestStatus.CLAIMED, RequestStatus.SCHEDULED],
        )
        assert follow_up.created_at > record.completed_at
    assert person_times == counts["person_times"] >= len(completed)


async def test_same_seed_builds_the_same_households_and_another_seed_does_not(servers):
    async def snapshot() -> list[tuple]:
        return (
            await Household.all()
            .order_by("external_id")
            .values_list("external_id", "head_name", "id_number", "region_id", "member_count")
        )

    await build_demo_city(households=HOUSEHOLDS, seed=11)
    first = await snapshot()
    await _wipe_database(servers.database_url)
    await ensure_reference_data()
    await build_demo_city(households=HOUSEHOLDS, seed=11)
    assert await snapshot() == first
    await _wipe_database(servers.database_url)
    await ensure_reference_data()
    await build_demo_city(households=HOUSEHOLDS, seed=12)
    assert await snapshot() != first


async def test_regions_follow_the_tree_and_communities_are_generated():
    await build_demo_city(households=HOUSEHOLDS)
    regions = {region.code: region for region in await Region.all()}
    levels = Counter(str(region.level) for region in regions.values())
    assert (levels["city"], levels["district"], levels["town"]) == (1, 12, 191)
    children = Counter(region.parent_id for region in regions.values() if region.level == "community")  # type: ignore[attr-defined]
    assert set(children.values()) <= {3, 4, 5, 6} and len(children) == 191
    for region in regions.values():
        parent = regions.get(region.parent_id)  # type: ignore[attr-defined]
        assert region.path == path_for(parent.path if parent else None, region.code)
        assert region.depth == region.path.count("/") - 2
        assert region.lat is not None and region.lon is not None
        if region.level == "community":
            assert len(region.code) == 12 and region.code.startswith(parent.code)
            assert region.name.endswith(("社区", "村"))


async def test_partners_projects_volunteers_and_targets_for_this_year():
    await build_demo_city(households=HOUSEHOLDS)
    year = utc_now().astimezone(LOCAL_TZ).year
    targets = {
        str(target.metric): target.value for target in await Target.filter(year=year, scope_key="alliance")
    }
    assert targets == {
        TargetMetric.PROJECTS: 10,
        TargetMetric.ORGANISATIONS: 100,
        TargetMetric.VOLUNTEERS: 1000,
        TargetMetric.PERSON_TIMES: 10000,
    }
    # The ten partner projects carry the person-time target; the regular-visit project is made by the
    # demo's first regular check-out (a community worker's visit is its person-time).
    projects = await Project.filter(year=year).exclude(code=REGULAR_VISIT_PROJECT)
    assert len(projects) == 10 and sum(project.target_person_times for project in projects) == 10000
    assert await Project.filter(year=year, code=REGULAR_VISIT_PROJECT).exists()

    telecom = await Partner.get(name="温州移动")
    offering = await Offering.get(partner_id=telecom.id).prefetch_related("regions")
    assert offering.need_id == "TELECOM_DISCOUNT"  # type: ignore[attr-defined]
    assert {region.code for region in offering.regions} == {
        code for code, level in await Region.all().values_list("code", "level") if level == "district"
    }
    approved = await Partner.filter(status="approved").count()
    assert 18 <= approved - 1 <= 30
    # Two applications through the sign-up service: one awaiting review, one asked for changes.
    assert await Partner.filter(status="pending").count() == 2
    changes = await Partner.get(name="瓯海区心语心理咨询中心")
    assert changes.changes_requested and changes.credit_code
    assert await Partner.filter(name__endswith="志愿者协会").count() == 12
    assert not await Offering.filter(project_id__isnull=True).exists()
    needs_offered = set(await Offering.all().values_list("need_id", flat=True))
    assert len(needs_offered) == 10

    volunteers = await Volunteer.all().prefetch_related("partners")
    assert 250 <= len(volunteers) <= 350
    for volunteer in volunteers:
        assert volunteer.partners and volunteer.skills and volunteer.weekly_availability
        assert volunteer.home_lat is not None and volunteer.max_travel_km > 0


async def test_the_demo_volunteer_has_a_round_scheduled_through_the_services():
    counts = await build_demo_city(households=HOUSEHOLDS)

    volunteer_id = (await User.get(username="volunteer.demo")).volunteer_id
    bookings = await VolunteerBooking.filter(
        volunteer_id=volunteer_id, visit__status="scheduled"
    ).prefetch_related("visit__request")
    assert len(bookings) == counts["visits_scheduled_today"] == 3
    assert all(booking.visit.request.status == RequestStatus.SCHEDULED for booking in bookings)
    assert all(booking.window_start > utc_now() for booking in bookings)


async def test_the_demo_logins_find_notices_and_tasks_in_their_inbox():
    from alliance.core.codes import TaskKind
    from alliance.notifications.inbox import InboxFilters, inbox_page
    from alliance.notifications.models import Task

    counts = await build_demo_city(households=HOUSEHOLDS)
    found = {}
    for username in ("worker.wuma", "coord.lucheng", "telecom.dispatch", "volunteer.demo", "household.demo"):
        principal = await principal_for(await User.get(username=username))
        found[username] = len((await inbox_page(principal, InboxFilters())).items)
    assert all(found.values()), repr((found, counts))
    worker = await User.get(username="worker.wuma")
    kinds = set(await Task.filter(owner_id=worker.id).values_list("kind", flat=True))
    assert {TaskKind.VERIFY_HOUSEHOLD, TaskKind.CONSENT_EXPIRES} <= kinds, repr((kinds, counts))
    # Matched households stay consented (and the boards full).
    matched = await Household.filter(requests__matches__id__isnull=False).distinct()
    assert matched and all(household.matchable and household.consent for household in matched)


async def test_the_telecom_dispatcher_can_schedule_its_first_claim():
    """The demo dead-end of issue 21: telecom.dispatch holds claims, and its volunteers (placed by
    telecom.admin through the volunteer services) are near enough and free enough to schedule."""
    from datetime import timedelta

    from alliance.core.access import principal_for
    from alliance.visits.scheduling import schedule_visit
    from alliance.visits.selectors import schedule_planner

    counts = await build_demo_city(households=HOUSEHOLDS)
    assert counts["telecom_claims"] >= 1
    dispatcher = await principal_for(await User.get(username="telecom.dispatch"))
    first = (
        await ServiceRequest.filter(claimed_by_id=dispatcher.partner_id, status=RequestStatus.CLAIMED)
        .order_by("id")
        .first()
    )
    assert first is not None
    planner = await schedule_planner(dispatcher, first.id, None, timedelta(hours=1))
    assert planner.proposed and not planner.no_slot
    suitable = [fit.volunteer_id for fit in planner.fits if fit.suitable]
    assert suitable and planner.window_start < utc_now() + timedelta(days=3)
    outcome = await schedule_visit(
        dispatcher, first.id, planner.window_start, planner.window_end, suitable[:1]
    )
    assert outcome.visit.partner_id == dispatcher.partner_id  # type: ignore[attr-defined]
    telecom = await Volunteer.filter(partners__id=dispatcher.partner_id)
    assert all(volunteer.weekly_availability and volunteer.approved_at for volunteer in telecom)


async def test_the_demo_worker_has_offline_households_notes_and_an_assessment():
    from alliance.cases.models import CaseNote, NeedsAssessment, Referral

    counts = await build_demo_city(households=HOUSEHOLDS, casework=True)
    assert counts["households_registered_offline"] == 3
    worker = await User.get(username="worker.wuma")
    referrals = await Referral.all().prefetch_related("household")
    assert sorted(str(referral.source) for referral in referrals) == ["agency", "hotline", "walk_in"]
    for referral in referrals:
        assert referral.household.region_id == worker.region_id and not referral.household.verified  # type: ignore[attr-defined]
        assert await ServiceRequest.exists(household_id=referral.household.id, status=RequestStatus.OPEN)
    assert await CaseNote.filter(author_id=worker.id).count() >= 2
    assert await NeedsAssessment.filter(assessed_by_id=worker.id).count() >= 2


async def test_household_demo_has_a_visit_to_confirm_or_move():
    await build_demo_city(households=HOUSEHOLDS)
    user = await User.get(username="household.demo")
    upcoming = Visit.filter(request__household_id=user.household_id, status="scheduled")
    assert await upcoming.exists()


async def test_household_demo_is_invited_to_a_training_course_and_registers():
    """issue 21: the demo has a published course in the coming days, by training.admin's partner, and
    household.demo finds its invitation on "Courses and job fairs" and registers through its link."""
    from alliance.events.models import EventInvitation
    from alliance.events.registrations import register_by_link
    from alliance.events.selectors import own_events, partner_events
    from tests.conftest import TEST_SECRET

    counts = await build_demo_city(households=HOUSEHOLDS, secret_key=TEST_SECRET)
    admin = await principal_for(await User.get(username="training.admin"))
    rows = await partner_events(admin)
    assert len(rows) == 1
    event = rows[0].event
    assert event.status == "published" and event.partner_id == admin.partner_id  # type: ignore[attr-defined]
    assert counts["event_invitations"] == await EventInvitation.filter(event_id=event.id).count() >= 1

    household = await principal_for(await User.get(username="household.demo"))
    found = await own_events(household, TEST_SECRET)
    assert [view.event.id for view, _path in found] == [event.id]
    view, path = found[0]
    assert view.invited and view.can_register and view.registration is None
    assert all(session.starts_at > utc_now() for session in view.sessions) and len(view.sessions) == 3
    outcome = await register_by_link(TEST_SECRET, path.rsplit("/", 1)[1])
    assert outcome.registration.status == "registered"
    assert outcome.registration.household_id == household.household_id  # type: ignore[attr-defined]
