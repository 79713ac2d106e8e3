"""A volunteer's visits as an iCalendar feed, so they show up in the phone's calendar.

The feed URL carries a signed token of the volunteer id and link generation
(alliance.visits.links.calendar_token): calendar apps cannot log in. The volunteer can ask for a new
link (rotate_calendar_link), which makes every older one answer 404. Each visit is one VEVENT with a UID stable for the visit and SEQUENCE = the
visit's schedule_version, so a moved visit updates in place; a cancelled visit, or one the
volunteer was taken off, stays in the feed as STATUS:CANCELLED so the phone removes it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event
from tortoise.expressions import F

from alliance.core import audit
from alliance.core.access import Action, Principal, get_visible
from alliance.core.audit import record
from alliance.core.codes import VisitStatus
from alliance.core.errors import NotFound
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import utc_now
from alliance.partners.models import Volunteer
from alliance.visits.links import calendar_link_from_token, calendar_token
from alliance.visits.models import VolunteerBooking

PAST_DAYS = 30
FUTURE_DAYS = 180
UID_DOMAIN = "alliance.invalid"


async def own_calendar_token(principal: Principal, secret_key: str) -> str:
    """The signed-in volunteer's current feed token."""
    volunteer = await get_visible(principal, Action.VIEW_OWN_VOLUNTEER, principal.volunteer_id or 0)
    return calendar_token(secret_key, volunteer.id, volunteer.calendar_generation)


async def rotate_calendar_link(principal: Principal) -> Volunteer:
    """The volunteer asks for a new feed link: every earlier link stops working at once."""
    volunteer = await get_visible(principal, Action.VIEW_OWN_VOLUNTEER, principal.volunteer_id or 0)
    await Volunteer.filter(id=volunteer.id).update(calendar_generation=F("calendar_generation") + 1)
    await volunteer.refresh_from_db(fields=["calendar_generation"])
    await record(
        principal,
        "calendar_link.rotate",
        "volunteer",
        volunteer.id,
        {"generation": volunteer.calendar_generation},
    )
    return volunteer


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def visit_uid(visit_id: int) -> str:
    return f"visit-{visit_id}@{UID_DOMAIN}"


async def volunteer_calendar(
    secret_key: str, token: str, now: datetime | None = None, *, address: str = ""
) -> bytes:
    """The feed for the volunteer the token names (an audited view of the households' addresses).
    LinkInvalid for a forged token; NotFound for a volunteer who left or a link they replaced."""
    volunteer_id, generation = calendar_link_from_token(secret_key, token)
    volunteer = await Volunteer.get_or_none(id=volunteer_id, active=True)
    if volunteer is None or volunteer.calendar_generation != generation:
        raise NotFound("volunteer")  # left, or a link the volunteer replaced
    now = now or utc_now()
    bookings = (
        await VolunteerBooking.filter(
            volunteer_id=volunteer.id,
            window_end__gt=now - timedelta(days=PAST_DAYS),
            window_start__lt=now + timedelta(days=FUTURE_DAYS),
        )
        .order_by("window_start", "id")
        .prefetch_related("visit__partner", "visit__request__household__region")
    )
    calendar = Calendar()
    calendar.add("prodid", "-//Alliance//Visits//ZH")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", _("Visits of {name}").format(name=volunteer.name))
    calendar.add("x-wr-timezone", "Asia/Shanghai")
    for booking in bookings:
        visit = booking.visit
        household = visit.request.household
        cancelled = visit.status == VisitStatus.CANCELLED or not booking.active
        event = Event()
        event.add("uid", visit_uid(visit.id))
        event.add("sequence", visit.schedule_version)
        # RFC 5545: with METHOD, DTSTAMP is when this feed was made; the visit's own change time is
        # LAST-MODIFIED. Every time goes out in UTC ("Z"), so no VTIMEZONE is needed.
        event.add("dtstamp", _utc(now))
        event.add("last-modified", _utc(visit.updated_at or now))
        event.add("dtstart", _utc(visit.window_start))
        event.add("dtend", _utc(visit.window_end))
        event.add(
            "summary",
            _("Visit: {need} · {community}").format(
                need=label(visit.request.need_id),  # type: ignore[attr-defined]
                community=household.region.name,
            ),
        )
        event.add("location", household.address or household.region.name)
        event.add("description", _("Organisation: {partner}").format(partner=visit.partner.name))
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        calendar.add_component(event)
    # Fetched by a calendar program with the link alone: no principal, the volunteer is the subject.
    await audit.viewed(
        None,
        "calendar.feed_view",
        ("volunteer", volunteer.id),
        households=[booking.visit.request.household.id for booking in bookings],
        volunteers=[volunteer.id],
        address=address,
    )
    return calendar.to_ical()
