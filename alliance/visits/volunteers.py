"""A partner's volunteers: added one by one, imported from a CSV or XLSX file, or signed up through
the partner's link and approved; edited, deactivated and reactivated by the partner admin; their own
profile (skills, languages, travel distance, weekly availability and days off) kept by themselves.

The weekly pattern and the days off here are what scheduling reads (suggestions.py). Deactivating a
volunteer frees their future bookings (the visits stay, unstaffed), tells the partner's dispatchers
in the app and ends the volunteer's login sessions, all in one transaction.

Which fields mean what: `status` is pending / approved / rejected (only approved ones are
suggested or booked); `approved_at` is when the volunteer joined (added by an admin, or approved
after signing up); `active` is False once deactivated.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from tortoise.transactions import in_transaction

from alliance.core import audit, sessions
from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.accounts import create_user
from alliance.core.codes import Language, RegionLevel, Role, Skill, VolunteerStatus
from alliance.core.errors import AllianceError, InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.models import Region, User
from alliance.core.password_resets import IssuedReset, issue_link_for
from alliance.core.sessions import SessionEnd
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.intake_format import UnreadableFile, decode_text, normalise_phone
from alliance.notifications.notifications import partner_staff, to_users, write_notices
from alliance.partners.models import Partner, Volunteer, VolunteerSignupLink, VolunteerTimeOff
from alliance.targets import growth
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.windows import format_weekly, parse_weekly

MAX_TRAVEL_KM = 100.0
MAX_IMPORT_ROWS = 5000
IMPORT_COLUMNS = (
    "name",
    "phone",
    "skills",
    "languages",
    "max_travel_km",
    "community",
    "lat",
    "lon",
    "availability",
)
SKILL_CODES = tuple(skill.value for skill in Skill if skill != Skill.SIGN_LANGUAGE)
LANGUAGE_CODES = tuple(language.value for language in Language)
SET_PASSWORD_LIFETIME = timedelta(days=7)


# --- the form ---------------------------------------------------------------------------------------


@dataclass
class VolunteerForm:
    """A volunteer as typed: on the admin's page, the sign-up page, or one row of an import."""

    name: str = ""
    phone: str = ""
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    max_travel_km: str = "10"
    community: str = ""
    lat: str = ""
    lon: str = ""
    availability: str = ""

    @classmethod
    def of(cls, volunteer: Volunteer) -> VolunteerForm:
        return cls(
            name=volunteer.name,
            phone=volunteer.phone,
            skills=tuple(skill for skill in volunteer.skills or [] if skill != Skill.SIGN_LANGUAGE),
            languages=tuple(volunteer.languages or [])
            + (
                ("SIGN_LANGUAGE",)
                if Skill.SIGN_LANGUAGE in (volunteer.skills or [])
                and "SIGN_LANGUAGE" not in (volunteer.languages or [])
                else ()
            ),
            max_travel_km=f"{volunteer.max_travel_km:g}",
            community=volunteer.region_id,  # type: ignore[attr-defined]
            lat="" if volunteer.home_lat is None else f"{volunteer.home_lat}",
            lon="" if volunteer.home_lon is None else f"{volunteer.home_lon}",
            availability=format_weekly(volunteer.weekly_availability),
        )


def _codes(values: tuple[str, ...] | list[str], allowed: tuple[str, ...]) -> tuple[list[str], list[str]]:
    chosen, unknown = [], []
    for value in values:
        code = str(value).strip().upper()
        if not code:
            continue
        (chosen if code in allowed else unknown).append(code)
    return sorted(set(chosen)), unknown


def _float(text: str) -> float | None:
    try:
        return float(str(text).strip())
    except ValueError:
        return None


async def check_form(form: VolunteerForm) -> dict[str, Any]:
    """The volunteer's fields checked and normalised, or InvalidInput naming every wrong field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    name = " ".join(form.name.split())
    if not name:
        errors["name"] = _("Enter the volunteer's name.")
    elif len(name) > 64:
        errors["name"] = _("At most 64 characters.")
    values["name"] = name
    phone = ""
    if form.phone.strip():
        phone = normalise_phone(form.phone) or ""
        if not phone:
            errors["phone"] = _("Enter an 11-digit mobile number or a landline with its area code.")
    values["phone"] = phone
    skills, unknown = _codes(form.skills, SKILL_CODES)
    if unknown:
        errors["skills"] = _("Unknown skill(s): {codes}.").format(codes=", ".join(unknown))
    languages, unknown = _codes(form.languages, LANGUAGE_CODES)
    if unknown:
        errors["languages"] = _("Unknown language(s): {codes}.").format(codes=", ".join(unknown))
    # Sign language is a language the volunteer ticks and the skill scheduling reads: keep both.
    if Language.SIGN_LANGUAGE in languages:
        skills = sorted({*skills, Skill.SIGN_LANGUAGE.value})
    values["skills"], values["languages"] = skills, languages
    travel = _float(form.max_travel_km)
    if travel is None or not (0 < travel <= MAX_TRAVEL_KM):
        errors["max_travel_km"] = _("Give a distance in km between 0 and 100.")
    values["max_travel_km"] = travel
    region = await Region.get_or_none(code=form.community.strip()) if form.community.strip() else None
    if region is None or region.level != RegionLevel.COMMUNITY:
        errors["community"] = _("Choose the community where the volunteer lives (a community code).")
    values["region_id"] = region.code if region else None
    lat, lon = form.lat.strip(), form.lon.strip()
    if lat or lon:
        home_lat, home_lon = _float(lat), _float(lon)
        if home_lat is None or home_lon is None or not (-90 <= home_lat <= 90 and -180 <= home_lon <= 180):
            errors["lat"] = _(
                "Give both latitude and longitude as numbers, or neither (the community's centre is used)."
            )
        values["home_lat"], values["home_lon"] = home_lat, home_lon
    else:
        values["home_lat"] = region.lat if region else None
        values["home_lon"] = region.lon if region else None
    try:
        values["weekly_availability"] = parse_weekly(form.availability)
    except InvalidInput as refused:
        errors.update(refused.errors)
    if errors:
        raise InvalidInput(errors)
    return values


# --- the partner admin's work --------------------------------------------------------------------------


async def _own_partner(principal: Principal | None, partner_id: int | None = None) -> int:
    """The partner acted for: the principal's own; an administrator's (or the command line's, with
    no principal) named one."""
    if principal is None:
        found = partner_id
    else:
        require(principal, Action.MANAGE_VOLUNTEERS)
        found = partner_id if principal.role == Role.ADMIN and partner_id else principal.partner_id
    if found is None or not await Partner.exists(id=found):
        raise NotFound("partner")
    return found


async def volunteers_of(principal: Principal, *, show: str = "active") -> list[Volunteer]:
    """The organisation's volunteers (dispatchers read, admins manage): active, pending or inactive."""
    query = visible(principal, Action.VIEW_VOLUNTEERS)
    if principal.role == Role.ADMIN:
        query = query.filter(partners__id=principal.partner_id or 0) if principal.partner_id else query
    if show == "pending":
        query = query.filter(status=VolunteerStatus.PENDING)
    elif show == "inactive":
        query = query.filter(active=False)
    else:
        query = query.filter(active=True, status=VolunteerStatus.APPROVED)
    return await query.order_by("name", "id").prefetch_related("region", "time_off").limit(1000)


async def create_volunteer(
    principal: Principal, form: VolunteerForm, *, partner_id: int | None = None, address: str = ""
) -> Volunteer:
    """A partner admin adds an approved volunteer to its organisation."""
    partner = await _own_partner(principal, partner_id)
    values = await check_form(form)
    async with in_transaction():
        volunteer = await _insert(values, partner, VolunteerStatus.APPROVED)
        await audit.record(
            principal, "volunteer.created", "volunteer", volunteer.id, {"partner": partner}, address
        )
    return volunteer


async def _insert(values: dict[str, Any], partner_id: int, status: VolunteerStatus) -> Volunteer:
    volunteer = await Volunteer.create(
        **values, status=status, approved_at=utc_now() if status == VolunteerStatus.APPROVED else None
    )
    await volunteer.partners.add(await Partner.get(id=partner_id))
    if status == VolunteerStatus.APPROVED:
        await growth.volunteer_joined(volunteer.id)  # recruited: counted against the yearly target
    return volunteer


async def managed_volunteer(principal: Principal, volunteer_id: int) -> Volunteer:
    volunteer = await get_visible(principal, Action.MANAGE_VOLUNTEERS, volunteer_id)
    await volunteer.fetch_related("region")
    return volunteer


async def update_volunteer(
    principal: Principal, volunteer_id: int, form: VolunteerForm, *, address: str = ""
) -> Volunteer:
    volunteer = await managed_volunteer(principal, volunteer_id)
    values = await check_form(form)
    changed = sorted(name for name, value in values.items() if getattr(volunteer, name, None) != value)
    async with in_transaction():
        await Volunteer.filter(id=volunteer.id).update(**values)
        await audit.record(
            principal, "volunteer.updated", "volunteer", volunteer.id, {"fields": changed}, address
        )
    return await managed_volunteer(principal, volunteer_id)


@dataclass
class Deactivation:
    volunteer: Volunteer
    freed_visits: list[int] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)
    sessions_ended: int = 0


async def set_volunteer_active(
    principal: Principal | None, volunteer_id: int, active: bool, *, address: str = ""
) -> Deactivation:
    """Deactivate: the volunteer's future bookings are freed (the visits stay, unstaffed), the
    partner's dispatchers are told in the app, and the volunteer's login stops at once. Reactivate:
    the volunteer and their login work again (their old bookings stay freed)."""
    if principal is None:
        volunteer = await Volunteer.get_or_none(id=volunteer_id)
        if volunteer is None:
            raise NotFound(f"volunteer {volunteer_id}")
    else:
        volunteer = await managed_volunteer(principal, volunteer_id)
    outcome = Deactivation(volunteer)
    now = utc_now()
    async with in_transaction():
        await Volunteer.filter(id=volunteer.id).update(active=active)
        volunteer.active = active
        if not active:
            await growth.volunteer_left(volunteer.id)
        elif volunteer.status == VolunteerStatus.APPROVED:
            await growth.volunteer_joined(volunteer.id)
        accounts = await User.filter(volunteer_id=volunteer.id)
        await User.filter(volunteer_id=volunteer.id).update(is_active=active)
        if not active:
            for account in accounts:
                outcome.sessions_ended += await sessions.end_user_sessions(account.id, SessionEnd.DEACTIVATED)
            bookings = await VolunteerBooking.filter(
                volunteer_id=volunteer.id, active=True, window_end__gt=now
            )
            outcome.freed_visits = sorted({booking.visit_id for booking in bookings})  # type: ignore[attr-defined]
            if bookings:
                await VolunteerBooking.filter(id__in=[booking.id for booking in bookings]).update(
                    active=False
                )
                outcome.notices = await _tell_dispatchers(volunteer, outcome.freed_visits)
        await audit.record(
            principal,
            "volunteer.activated" if active else "volunteer.deactivated",
            "volunteer",
            volunteer.id,
            {"freed_visits": outcome.freed_visits, "sessions_ended": outcome.sessions_ended}
            if not active
            else {},
            address,
        )
    return outcome


async def _tell_dispatchers(volunteer: Volunteer, visit_ids: list[int]) -> list[int]:
    notices: list[int] = []
    visits = await Visit.filter(id__in=visit_ids).order_by("window_start")
    by_partner: dict[int, list[Visit]] = {}
    for visit in visits:
        by_partner.setdefault(visit.partner_id, []).append(visit)  # type: ignore[attr-defined]
    for partner_id, partner_visits in by_partner.items():
        listed = ", ".join(f"#{visit.id}" for visit in partner_visits)

        def message(_channel, listed=listed, count=len(partner_visits)) -> str:
            return _(
                "{name} was deactivated and is no longer booked on {count} coming visit(s): {visits}. "
                "Staff them again from the visit pages."
            ).format(name=volunteer.name, count=count, visits=listed)

        notices += await write_notices(
            to_users(await partner_staff(partner_id), message), kind="volunteer_deactivated"
        )
    return notices


async def give_login(
    principal: Principal, volunteer_id: int, secret_key: str, *, address: str = ""
) -> IssuedReset:
    """A login for the volunteer (role volunteer, user name "vol<id>") if they have none, and a
    single-use link to set its password, to pass on to them."""
    volunteer = await managed_volunteer(principal, volunteer_id)
    if not volunteer.active or volunteer.status != VolunteerStatus.APPROVED:
        raise InvalidInput({"login": _("Only an approved, active volunteer gets a login.")})
    account = await User.get_or_none(volunteer_id=volunteer.id)
    if account is None:
        account = await create_user(
            f"vol{volunteer.id}",
            secrets.token_urlsafe(24),
            Role.VOLUNTEER,
            display_name=volunteer.name,
            volunteer_id=volunteer.id,
        )
        await audit.record(
            principal, "user.created", "user", account.id, {"volunteer": volunteer.id}, address
        )
    return await issue_link_for(principal, account, secret_key, SET_PASSWORD_LIFETIME, address=address)


async def login_of(volunteer_id: int) -> User | None:
    return await User.get_or_none(volunteer_id=volunteer_id)


# --- sign-up link and approval -------------------------------------------------------------------------


class SignupLinkInvalid(AllianceError):
    """The sign-up link was revoked, or never was."""


def _signer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="volunteer-signup")


async def current_signup_link(principal: Principal) -> VolunteerSignupLink | None:
    partner = await _own_partner(principal)
    return (
        await VolunteerSignupLink.filter(partner_id=partner, revoked_at__isnull=True).order_by("-id").first()
    )


def signup_path(secret_key: str, link: VolunteerSignupLink) -> str:
    return "/join/" + _signer(secret_key).dumps({"link": link.id})


async def new_signup_link(principal: Principal, *, address: str = "") -> VolunteerSignupLink:
    """A new sign-up link for the partner; the one before stops working."""
    partner = await _own_partner(principal)
    async with in_transaction():
        await VolunteerSignupLink.filter(partner_id=partner, revoked_at__isnull=True).update(
            revoked_at=utc_now()
        )
        link = await VolunteerSignupLink.create(partner_id=partner, created_by_id=principal.user_id)
        await audit.record(
            principal, "volunteer.signup_link_created", "partner", partner, {"link": link.id}, address
        )
    return link


async def revoke_signup_link(principal: Principal, *, address: str = "") -> int:
    partner = await _own_partner(principal)
    async with in_transaction():
        revoked = await VolunteerSignupLink.filter(partner_id=partner, revoked_at__isnull=True).update(
            revoked_at=utc_now()
        )
        await audit.record(principal, "volunteer.signup_link_revoked", "partner", partner, {}, address)
    return revoked


async def partner_of_link(secret_key: str, token: str) -> Partner:
    try:
        payload = _signer(secret_key).loads(token)
    except BadSignature as error:
        raise SignupLinkInvalid("bad signature") from error
    link = await VolunteerSignupLink.get_or_none(id=int(payload.get("link", 0)), revoked_at__isnull=True)
    if link is None:
        raise SignupLinkInvalid("revoked")
    partner = await Partner.get(id=link.partner_id)  # type: ignore[attr-defined]
    if partner.status != "approved":
        raise SignupLinkInvalid("partner not approved")
    return partner


async def sign_up(secret_key: str, token: str, form: VolunteerForm, *, address: str = "") -> Volunteer:
    """A person signs up through the partner's link: a PENDING volunteer, waiting for the admin."""
    partner = await partner_of_link(secret_key, token)
    values = await check_form(form)
    if not values["phone"]:
        raise InvalidInput({"phone": _("Enter your phone number, so the organisation can reach you.")})
    async with in_transaction():
        volunteer = await _insert(values, partner.id, VolunteerStatus.PENDING)
        await audit.record(
            None, "volunteer.signed_up", "volunteer", volunteer.id, {"partner": partner.id}, address
        )
    return volunteer


async def decide_signup(
    principal: Principal, volunteer_id: int, approve: bool, *, address: str = ""
) -> Volunteer:
    volunteer = await managed_volunteer(principal, volunteer_id)
    if volunteer.status != VolunteerStatus.PENDING:
        raise InvalidInput({"status": _("This volunteer was already decided.")})
    status = VolunteerStatus.APPROVED if approve else VolunteerStatus.REJECTED
    async with in_transaction():
        await Volunteer.filter(id=volunteer.id, status=VolunteerStatus.PENDING).update(
            status=status, approved_at=utc_now() if approve else None, active=approve
        )
        if approve:
            await growth.volunteer_joined(volunteer.id)
        await audit.record(
            principal,
            "volunteer.approved" if approve else "volunteer.rejected",
            "volunteer",
            volunteer.id,
            {},
            address,
        )
    return await managed_volunteer(principal, volunteer_id)


# --- import -------------------------------------------------------------------------------------------


@dataclass
class RowError:
    row: int
    field: str
    message: str


@dataclass
class ImportReport:
    created: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _rows(data: bytes, filename: str) -> list[dict[str, str]]:
    """The file's rows as dicts of text by lower-case column: CSV (UTF-8 or GBK) or XLSX."""
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception as error:  # openpyxl raises many kinds for a broken file
            raise UnreadableFile(_("The file is not a readable XLSX workbook.")) from error
        table = [
            ["" if cell is None else str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)
        ]
    else:
        text, _encoding = decode_text(data)
        table = list(csv.reader(io.StringIO(text)))
    if not table or not any(cell.strip() for cell in table[0]):
        raise UnreadableFile(_("The file is empty: expected a header row naming the columns."))
    header = [cell.strip().lower() for cell in table[0]]
    unknown = [name for name in header if name and name not in IMPORT_COLUMNS]
    if unknown or "name" not in header or "community" not in header:
        raise UnreadableFile(
            _(
                "The columns are: {expected} (name and community are required); this file has: {found}."
            ).format(expected=", ".join(IMPORT_COLUMNS), found=", ".join(header))
        )
    rows = [dict(zip(header, cells, strict=False)) for cells in table[1:] if "".join(cells).strip()]
    if len(rows) > MAX_IMPORT_ROWS:
        raise UnreadableFile(_("At most {count} rows per file.").format(count=MAX_IMPORT_ROWS))
    return rows


def _split(text: str) -> tuple[str, ...]:
    return tuple(
        part.strip()
        for part in str(text or "").replace("；", ";").replace(",", ";").split(";")
        if part.strip()
    )


async def import_volunteers(
    principal: Principal | None,
    data: bytes,
    filename: str,
    *,
    partner_id: int | None = None,
    address: str = "",
) -> ImportReport:
    """Every good row becomes an approved volunteer (each row in its own transaction); every bad one
    is listed with its row number (1 = the first row after the header), field and reason."""
    partner = await _own_partner(principal, partner_id)
    report = ImportReport()
    for number, row in enumerate(_rows(data, filename), start=1):
        form = VolunteerForm(
            name=row.get("name", ""),
            phone=row.get("phone", ""),
            skills=_split(row.get("skills", "")),
            languages=_split(row.get("languages", "")),
            max_travel_km=row.get("max_travel_km", "") or "10",
            community=row.get("community", ""),
            lat=row.get("lat", ""),
            lon=row.get("lon", ""),
            availability=row.get("availability", ""),
        )
        try:
            values = await check_form(form)
        except InvalidInput as refused:
            report.errors += [RowError(number, name, text) for name, text in refused.errors.items()]
            continue
        async with in_transaction():
            volunteer = await _insert(values, partner, VolunteerStatus.APPROVED)
        report.created.append(volunteer.id)
    await audit.record(
        principal,
        "volunteer.imported",
        "partner",
        partner,
        {
            "file": filename[:100],
            "created": len(report.created),
            "refused_rows": len({e.row for e in report.errors}),
        },
        address,
    )
    return report


# --- the volunteer's own profile ----------------------------------------------------------------------


async def own_profile(principal: Principal) -> Volunteer:
    volunteer = await get_visible(principal, Action.VIEW_OWN_VOLUNTEER, principal.volunteer_id or 0)
    await volunteer.fetch_related("region", "partners")
    return volunteer


async def update_own_profile(principal: Principal, form: VolunteerForm, *, address: str = "") -> Volunteer:
    """The volunteer changes their skills, languages, travel distance, home and weekly availability
    (their name and phone stay as the organisation entered them)."""
    volunteer = await get_visible(principal, Action.EDIT_OWN_VOLUNTEER, principal.volunteer_id or 0)
    form.name, form.phone = volunteer.name, form.phone or volunteer.phone
    values = await check_form(form)
    changed = sorted(name for name, value in values.items() if getattr(volunteer, name, None) != value)
    async with in_transaction():
        await Volunteer.filter(id=volunteer.id).update(**values)
        await audit.record(
            principal, "volunteer.profile_updated", "volunteer", volunteer.id, {"fields": changed}, address
        )
    return await own_profile(principal)


def _day(text: str, field_name: str) -> date:
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError as error:
        raise InvalidInput({field_name: _("Give the date as YYYY-MM-DD.")}) from error


async def add_time_off(
    principal: Principal, first: str, last: str, reason: str = "", *, address: str = ""
) -> VolunteerTimeOff:
    """A day or a range of days off (a holiday, a sick day): scheduling skips them. Bookings already
    made stay; the volunteer tells the dispatcher about those."""
    volunteer = await get_visible(principal, Action.EDIT_OWN_VOLUNTEER, principal.volunteer_id or 0)
    first_day = _day(first, "first_day")
    last_day = _day(last, "last_day") if str(last).strip() else first_day
    today = utc_now().astimezone(LOCAL_TZ).date()
    if last_day < first_day:
        raise InvalidInput({"last_day": _("The last day cannot be before the first.")})
    if last_day < today:
        raise InvalidInput({"first_day": _("The days off must not be all in the past.")})
    if (last_day - first_day).days > 366:
        raise InvalidInput({"last_day": _("At most a year at once.")})
    reason = " ".join(str(reason or "").split())[:100]
    async with in_transaction():
        row = await VolunteerTimeOff.create(
            volunteer_id=volunteer.id, first_day=first_day, last_day=last_day, reason=reason
        )
        await audit.record(
            principal,
            "volunteer.time_off_added",
            "volunteer",
            volunteer.id,
            {"first": first_day.isoformat(), "last": last_day.isoformat()},
            address,
        )
    return row


async def remove_time_off(principal: Principal, time_off_id: int, *, address: str = "") -> None:
    volunteer = await get_visible(principal, Action.EDIT_OWN_VOLUNTEER, principal.volunteer_id or 0)
    async with in_transaction():
        removed = await VolunteerTimeOff.filter(id=time_off_id, volunteer_id=volunteer.id).delete()
        if not removed:
            raise NotFound(f"time off {time_off_id}")
        await audit.record(
            principal,
            "volunteer.time_off_removed",
            "volunteer",
            volunteer.id,
            {"time_off": time_off_id},
            address,
        )


async def coming_time_off(volunteer_id: int) -> list[VolunteerTimeOff]:
    today = utc_now().astimezone(LOCAL_TZ).date()
    return await VolunteerTimeOff.filter(volunteer_id=volunteer_id, last_day__gte=today).order_by("first_day")
