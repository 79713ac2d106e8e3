"""Volunteers (alliance/visits/volunteers.py): a partner admin adds, imports, approves and
deactivates them; a volunteer keeps their weekly availability and days off, which scheduling reads;
a deaf household gets a volunteer who signs, or the dispatcher is told why none could be found."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from alliance.core.access import principal_for
from alliance.core.audit import AuditEntry
from alliance.core.codes import Accessibility, NotificationChannel, VolunteerStatus
from alliance.core.errors import InvalidInput, PermissionDenied
from alliance.core.i18n import language
from alliance.core.models import User, UserSession
from alliance.core.password_resets import reset_password
from alliance.households.models import Household
from alliance.notifications.models import Notification
from alliance.partners.models import Volunteer
from alliance.visits import selectors, volunteers
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.scheduling import schedule_visit
from alliance.visits.suggestions import earliest_slot, suggest_volunteers
from alliance.visits.volunteers import VolunteerForm
from alliance.visits.windows import DAY_KEYS
from tests.conftest import TEST_SECRET
from tests.visits_support import NEAR, add_volunteer, build_visit_world, days_ahead, local_day, window

COMMUNITY = "330302001001"


@pytest.fixture(autouse=True)
def english():
    with language("en"):
        yield


@pytest.fixture
async def world():
    return await build_visit_world()


async def _admin(world):
    return await principal_for(world.claims.left.users["partner_admin"])


def _form(name="李志愿", **changes) -> VolunteerForm:
    values = dict(
        name=name,
        phone="13900001111",
        skills=("CARE",),
        languages=("MANDARIN",),
        max_travel_km="10",
        community=COMMUNITY,
        lat=str(NEAR[0]),
        lon=str(NEAR[1]),
        availability="mon 08:00-20:00; tue 08:00-20:00; wed 08:00-20:00; thu 08:00-20:00; "
        "fri 08:00-20:00; sat 08:00-20:00; sun 08:00-20:00",
    )
    values.update(changes)
    return VolunteerForm(**values)


async def test_an_admin_adds_a_volunteer_who_is_then_suggested(world):
    admin = await _admin(world)
    volunteer = await volunteers.create_volunteer(admin, _form())
    assert volunteer.status == VolunteerStatus.APPROVED and volunteer.approved_at is not None
    fits = await suggest_volunteers(world.dispatcher, world.request.id, *window(2, 10))
    assert [fit.volunteer_id for fit in fits] == [volunteer.id]
    assert await AuditEntry.exists(action="volunteer.created", object_id=str(volunteer.id))


async def test_bad_fields_are_named_and_nothing_is_written(world):
    admin = await _admin(world)
    before = await Volunteer.all().count()
    with pytest.raises(InvalidInput) as refused:
        await volunteers.create_volunteer(
            admin,
            _form(name="", phone="12", max_travel_km="500", community="nowhere", availability="someday 9-12"),
        )
    assert set(refused.value.errors) >= {"name", "phone", "max_travel_km", "community", "availability"}
    assert await Volunteer.all().count() == before


async def test_a_dispatcher_may_not_manage_volunteers(world):
    with pytest.raises(PermissionDenied):
        await volunteers.create_volunteer(world.dispatcher, _form())


async def test_the_weekly_pattern_and_days_off_decide_who_is_free(world):
    volunteer = await add_volunteer(world.partner, "王", availability={"mon": [["09:00", "12:00"]]})
    # Mondays 9-12 only: free on the next Monday at 10, not at 14.
    monday = next(offset for offset in range(2, 9) if local_day(offset).weekday() == 0)
    assert [
        f.volunteer_id
        for f in await suggest_volunteers(world.dispatcher, world.request.id, *window(monday, 10))
    ] == [volunteer.id]
    assert await suggest_volunteers(world.dispatcher, world.request.id, *window(monday, 14)) == []
    # The volunteer takes that Monday off: no longer suggested, and the earliest slot skips it.
    me = await principal_for(
        await User.create(
            username="volw", password_hash="x", display_name="v", role="volunteer", volunteer_id=volunteer.id
        )
    )
    await volunteers.add_time_off(me, local_day(monday).isoformat(), "", "holiday")
    fits = await suggest_volunteers(
        world.dispatcher, world.request.id, *window(monday, 10), include_unsuitable=True
    )
    assert not fits[0].suitable and "day off" in " ".join(fits[0].reasons)
    # Searched from the Sunday before it (from tomorrow, a Monday tomorrow would come first).
    slot = await earliest_slot(
        world.dispatcher, world.request.id, timedelta(hours=1), after=days_ahead(monday - 1, 0)
    )
    assert slot is not None and slot.window_start.date() >= local_day(monday + 7) - timedelta(days=1)


async def test_the_volunteer_sets_their_own_pattern_and_sign_language(world):
    volunteer = await add_volunteer(world.partner, "赵")
    user = await User.create(
        username="volz", password_hash="x", display_name="v", role="volunteer", volunteer_id=volunteer.id
    )
    me = await principal_for(user)
    form = VolunteerForm.of(volunteer)
    form.languages = ("MANDARIN", "SIGN_LANGUAGE")
    form.availability = "wed 14:00-18:00"
    updated = await volunteers.update_own_profile(me, form)
    assert updated.weekly_availability == {"wed": [["14:00", "18:00"]]}
    assert "SIGN_LANGUAGE" in updated.skills and "SIGN_LANGUAGE" in updated.languages
    with pytest.raises(InvalidInput) as refused:
        form.availability = "wed 18:00-14:00"
        await volunteers.update_own_profile(me, form)
    assert "availability" in refused.value.errors


async def test_a_deaf_household_needs_a_volunteer_who_signs(world):
    await Household.filter(id=world.request.household_id).update(accessibility=[Accessibility.DEAF.value])
    hearing = await add_volunteer(world.partner, "听")
    planner = await selectors.schedule_planner(world.dispatcher, world.request.id, window(2, 10))
    assert planner.deaf and not any(fit.suitable for fit in planner.fits)
    assert "sign" in (planner.why_none or "")
    with pytest.raises(InvalidInput) as refused:
        await schedule_visit(world.dispatcher, world.request.id, *window(2, 10), [hearing.id])
    assert "sign" in refused.value.errors["volunteer_ids"]
    signer = await add_volunteer(world.partner, "手", skills=("CARE", "SIGN_LANGUAGE"))
    fits = await suggest_volunteers(world.dispatcher, world.request.id, *window(2, 10))
    assert [fit.volunteer_id for fit in fits] == [signer.id]
    assert "Knows sign language." in fits[0].reasons
    await schedule_visit(world.dispatcher, world.request.id, *window(2, 10), [signer.id, hearing.id])


async def test_none_free_is_told_apart_from_none_within_reach(world):
    await Volunteer.filter(id=world.claims.left.volunteer.id).update(active=False)
    await add_volunteer(world.partner, "远", home=(28.2, 120.9))
    planner = await selectors.schedule_planner(world.dispatcher, world.request.id, window(2, 10))
    assert "within reach" in (planner.why_none or "")
    await add_volunteer(world.partner, "忙", availability={})
    planner = await selectors.schedule_planner(world.dispatcher, world.request.id, window(2, 10))
    assert "not free" in (planner.why_none or "")


async def test_deactivating_frees_future_bookings_tells_dispatchers_and_ends_the_login(world, client):
    admin = await _admin(world)
    volunteer = await add_volunteer(world.partner, "走")
    user = await User.create(
        username="volgo", password_hash="x", display_name="v", role="volunteer", volunteer_id=volunteer.id
    )
    await UserSession.create(
        user=user,
        key_hash="k" * 64,
        created_at=days_ahead(0, 0),
        last_seen_at=days_ahead(0, 0),
        expires_at=days_ahead(3, 0),
    )
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 10), [volunteer.id])).visit
    outcome = await volunteers.set_volunteer_active(admin, volunteer.id, False)
    assert outcome.freed_visits == [visit.id] and outcome.sessions_ended == 1
    assert not await VolunteerBooking.filter(volunteer_id=volunteer.id, active=True).exists()
    assert await Visit.exists(id=visit.id)
    notices = await Notification.filter(kind="volunteer_deactivated", channel=NotificationChannel.IN_APP)
    told = {notice.user_id for notice in notices}  # type: ignore[attr-defined]
    assert world.claims.left.users["dispatcher"].id in told and f"#{visit.id}" in notices[0].body
    assert not (await User.get(id=user.id)).is_active
    assert await AuditEntry.exists(action="volunteer.deactivated", object_id=str(volunteer.id))
    assert await suggest_volunteers(world.dispatcher, world.request.id, *window(3, 10)) == []
    await volunteers.set_volunteer_active(admin, volunteer.id, True)
    assert (await User.get(id=user.id)).is_active


async def test_import_keeps_good_rows_and_lists_bad_ones(world):
    admin = await _admin(world)
    csv_text = (
        "name,phone,skills,languages,max_travel_km,community,availability\n"
        f"甲,13900000001,CARE,MANDARIN;SIGN_LANGUAGE,8,{COMMUNITY},mon 09:00-12:00\n"
        f",13900000002,CARE,,8,{COMMUNITY},\n"
        f"丙,13900000003,FLYING,,8,{COMMUNITY},wed 14:00-18:00\n"
        f"丁,,REPAIR,,5,{COMMUNITY},fri 25:00-26:00\n"
    )
    report = await volunteers.import_volunteers(admin, csv_text.encode("gb18030"), "v.csv")
    assert len(report.created) == 1
    assert [(error.row, error.field) for error in report.errors] == [
        (2, "name"),
        (3, "skills"),
        (4, "availability"),
    ]
    first = await Volunteer.get(id=report.created[0])
    assert first.weekly_availability == {"mon": [["09:00", "12:00"]]} and "SIGN_LANGUAGE" in first.skills


async def test_import_reads_xlsx(world):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["name", "community", "availability"])
    sheet.append(["戊", COMMUNITY, "sat 09:00-17:00"])
    sheet.append(["己", "999", ""])
    data = io.BytesIO()
    book.save(data)
    report = await volunteers.import_volunteers(await _admin(world), data.getvalue(), "v.xlsx")
    assert len(report.created) == 1 and [(e.row, e.field) for e in report.errors] == [(2, "community")]


async def test_sign_up_link_makes_pending_volunteers_the_admin_decides(world):
    admin = await _admin(world)
    link = await volunteers.new_signup_link(admin)
    token = volunteers.signup_path(TEST_SECRET, link).removeprefix("/join/")
    pending = await volunteers.sign_up(TEST_SECRET, token, _form("新人"))
    assert pending.status == VolunteerStatus.PENDING and pending.approved_at is None
    assert await suggest_volunteers(world.dispatcher, world.request.id, *window(2, 10)) == []
    await volunteers.decide_signup(admin, pending.id, True)
    assert [
        f.volunteer_id for f in await suggest_volunteers(world.dispatcher, world.request.id, *window(2, 10))
    ] == [pending.id]
    await volunteers.revoke_signup_link(admin)
    with pytest.raises(volunteers.SignupLinkInvalid):
        await volunteers.sign_up(TEST_SECRET, token, _form("晚来"))


async def test_a_volunteer_gets_a_login_and_sets_its_password_by_link(world):
    admin = await _admin(world)
    volunteer = await volunteers.create_volunteer(admin, _form())
    issued = await volunteers.give_login(admin, volunteer.id, TEST_SECRET)
    token = issued.path.removeprefix("/reset-password/")
    user = await reset_password(TEST_SECRET, token, "a-good-password", "a-good-password")
    assert user.role == "volunteer" and user.volunteer_id == volunteer.id  # type: ignore[attr-defined]


async def test_another_partners_volunteer_is_out_of_reach(world):
    admin = await _admin(world)
    other = world.claims.right.volunteer
    from alliance.core.errors import NotFound

    with pytest.raises(NotFound):
        await volunteers.set_volunteer_active(admin, other.id, False)


def test_days_cover_the_week():
    assert len(DAY_KEYS) == 7


async def test_a_volunteer_added_counts_as_recruited_until_deactivated(world):
    from alliance.targets.models import GrowthEntry

    admin = await _admin(world)
    volunteer = await volunteers.create_volunteer(admin, _form("新招募"))
    counted = await GrowthEntry.filter(kind="volunteer", ref_id=volunteer.id).count()
    assert counted >= 1  # the alliance-wide row (and one per project of the partner's offerings)
    await volunteers.set_volunteer_active(admin, volunteer.id, False)
    assert not await GrowthEntry.filter(kind="volunteer", ref_id=volunteer.id).exists()
    await volunteers.set_volunteer_active(admin, volunteer.id, True)
    assert await GrowthEntry.filter(kind="volunteer", ref_id=volunteer.id).count() == counted
