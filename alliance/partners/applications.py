"""Partners join: the public sign-up, the reviewer's request for changes, and the applicant's
resubmission. Approving, rejecting (closing a pending application) and the later lifecycle are
`review.set_partner_status`; who may do what is `alliance/core/access.py` (a pending partner's staff
only complete their own profile)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.accounts import create_user
from alliance.core.audit import record
from alliance.core.codes import NeedCode, PartnerKind, PartnerStatus, RegionLevel, Role
from alliance.core.errors import InvalidInput
from alliance.core.i18n import DEFAULT_LANGUAGE, language
from alliance.core.i18n import gettext as _
from alliance.core.models import Region, User
from alliance.core.password_resets import IssuedReset, issue_first_password_link
from alliance.core.timeutil import utc_now
from alliance.notifications.models import Notification
from alliance.partners.models import Partner

MAX_NOTE = 1000
USERNAME = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
# Where an organisation may serve and be based: the region tree above the communities.
SERVICE_AREA_LEVELS = (RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.TOWN)


@dataclass(frozen=True)
class ApplicationForm:
    """Raw strings from the sign-up form (or the applicant's edit of it)."""

    name: str = ""
    kind: str = ""
    credit_code: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    region_code: str = ""
    service_region_codes: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    description: str = ""
    username: str = ""


@dataclass
class Checked:
    name: str
    kind: PartnerKind
    credit_code: str
    region: Region
    service_regions: list[Region] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)


async def service_area_choices() -> list[Region]:
    """The regions an application may name as home or service area, in tree order."""
    return await Region.filter(level__in=list(SERVICE_AREA_LEVELS)).order_by("path")


def credit_code_error(code: str) -> str | None:
    try:
        uscc.validate(code)
    except ValidationError:
        return _("A unified social credit code has 18 characters and a valid check character (GB 32100).")
    return None


async def _check(
    form: ApplicationForm, partner_id: int | None = None, *, whole: bool = True
) -> Checked | None:
    """Field errors of the form, all at once; `whole=False` checks only what an approved partner edits."""
    errors: dict[str, str] = {}
    name = " ".join(form.name.split())
    code = uscc.compact(form.credit_code) if form.credit_code.strip() else ""
    if not whole:
        pass
    elif not name:
        errors["name"] = _("Enter the organisation's name.")
    elif len(name) > 128:
        errors["name"] = _("At most {count} characters.").format(count=128)
    elif await Partner.filter(name=name).exclude(id=partner_id or 0).exists():
        errors["name"] = _("An organisation named {name} is already registered.").format(name=name)
    if whole and form.kind not in PartnerKind.__members__.values():
        errors["kind"] = _("Choose what kind of organisation it is.")
    if not whole:
        pass
    elif not code:
        errors["credit_code"] = _("Enter the unified social credit code (18 characters).")
    elif problem := credit_code_error(code):
        errors["credit_code"] = problem
    elif await Partner.filter(credit_code=code).exclude(id=partner_id or 0).exists():
        errors["credit_code"] = _("An organisation with this credit code is already registered.")
    # An application must be complete; an approved partner (some entered before sign-up existed)
    # may leave the contact, area and offers empty, but what it gives is checked the same way.
    if whole and not form.contact_name.strip():
        errors["contact_name"] = _("Enter the contact person's name.")
    phone = re.sub(r"[\s()]", "", form.contact_phone)
    if (whole or phone) and not PHONE.match(phone):
        errors["contact_phone"] = _(
            "Enter a mobile number (13812345678) or a landline with its area code (0577-88123456)."
        )
    if form.contact_email.strip() and not EMAIL.match(form.contact_email.strip()):
        errors["contact_email"] = _("Enter an email address such as name@example.org, or leave it empty.")
    if len(form.description) > 2000:
        errors["description"] = _("At most 2,000 characters.")
    region = await Region.get_or_none(code=form.region_code, level__in=list(SERVICE_AREA_LEVELS))
    if whole and region is None:
        errors["region_code"] = _("Choose the city, district or town the organisation is based in.")
    area = await Region.filter(code__in=list(form.service_region_codes), level__in=list(SERVICE_AREA_LEVELS))
    if whole and not form.service_region_codes:
        errors["service_region_codes"] = _("Choose at least one region the organisation serves.")
    elif len(area) != len(set(form.service_region_codes)):
        errors["service_region_codes"] = _("Choose the service area from the list.")
    needs = [need for need in form.needs if need in NeedCode.__members__]
    if whole and not form.needs:
        errors["needs"] = _("Choose at least one kind of help the organisation offers.")
    elif len(needs) != len(form.needs):
        errors["needs"] = _("Choose the kinds of help from the list.")
    if errors:
        raise InvalidInput(errors)
    if not whole or region is None:
        return None
    return Checked(name, PartnerKind(form.kind), code, region, list(area), sorted(set(needs)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Application:
    partner: Partner
    user: User
    link: IssuedReset


async def _tell_reviewers(partner: Partner, compose: Callable[[], str]) -> list[int]:
    """In-app notices to the coordinators of the partner's region and those above it (who review it)."""
    await partner.fetch_related("region")
    path = partner.region.path
    codes = [code for code in path.strip("/").split("/") if code] or [partner.region.code]
    reviewers = await User.filter(role=Role.COORDINATOR, region_id__in=codes, is_active=True)
    created = []
    for user in reviewers:
        with language(user.language or DEFAULT_LANGUAGE):
            body = compose()
        created.append(
            await Notification.create(
                user_id=user.id, channel="in_app", body=body, language=user.language or DEFAULT_LANGUAGE
            )
        )
    return [notification.id for notification in created]


async def submit_application(
    form: ApplicationForm, secret_key: str, lifetime: timedelta, *, address: str = ""
) -> Application:
    """A public sign-up: a pending partner, its first admin account and the single-use link that sets
    the account's password (shown to the applicant, who may then only complete the profile)."""
    username_error = (
        None
        if USERNAME.match(form.username.strip())
        else _("3 to 64 letters, digits, dots, dashes or underscores.")
    )
    try:
        checked = await _check(form)
    except InvalidInput as invalid:
        # Every field's error at once, the admin's user name included.
        raise InvalidInput(
            invalid.errors | ({"username": username_error} if username_error else {})
        ) from None
    if username_error:
        raise InvalidInput({"username": username_error})
    assert checked is not None
    async with in_transaction():
        partner = await Partner.create(
            name=checked.name,
            kind=checked.kind,
            credit_code=checked.credit_code,
            status=PartnerStatus.PENDING,
            region=checked.region,
            description=form.description.strip(),
            contact_name=form.contact_name.strip(),
            contact_phone=re.sub(r"[\s()]", "", form.contact_phone),
            contact_email=form.contact_email.strip(),
            offered_needs=checked.needs,
            submitted_at=utc_now(),
        )
        await partner.service_regions.add(*checked.service_regions)
        # No one knows this password: the link sets the real one.
        user = await create_user(
            form.username.strip(),
            secrets.token_urlsafe(24),
            Role.PARTNER_ADMIN,
            display_name=form.contact_name.strip(),
            partner_id=partner.id,
        )
        await record(
            None,
            "partner.applied",
            "partner",
            partner.id,
            {"to": str(PartnerStatus.PENDING), "admin": user.username, "address": address[:64]},
        )
        link = await issue_first_password_link(user, secret_key, lifetime, address=address)
        await Notification.create(
            user_id=user.id,
            channel="in_app",
            language=DEFAULT_LANGUAGE,
            body=_("The application of {name} was received. The civil-affairs bureau will review it.").format(
                name=partner.name
            ),
        )
        await _tell_reviewers(
            partner, lambda: _("A new partner application awaits review: {name}.").format(name=partner.name)
        )
    return Application(partner, user, link)


async def request_changes(principal: Principal, partner_id: int, note: str) -> Partner:
    """The reviewer asks a pending applicant for changes; the applicant sees the note on its profile."""
    require(principal, Action.REVIEW_PARTNERS)
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, partner_id)
    text = " ".join(note.split())
    if partner.status != PartnerStatus.PENDING:
        raise InvalidInput({"note": _("Only a pending application can be sent back for changes.")})
    if not text:
        raise InvalidInput({"note": _("Say what the applicant should change.")})
    if len(text) > MAX_NOTE:
        raise InvalidInput({"note": _("At most {count} characters.").format(count=MAX_NOTE)})
    async with in_transaction():
        await Partner.filter(id=partner.id).update(changes_requested=text)
        partner.changes_requested = text
        await record(principal, "partner.changes_requested", "partner", partner.id, {"reason": text})
        for user in await User.filter(partner_id=partner.id, role=Role.PARTNER_ADMIN, is_active=True):
            with language(user.language or DEFAULT_LANGUAGE):
                body = _("The civil-affairs bureau asks {name} for changes: {note}").format(
                    name=partner.name, note=text
                )
            await Notification.create(
                user_id=user.id, channel="in_app", body=body, language=user.language or DEFAULT_LANGUAGE
            )
    return partner


def application_form_of(partner: Partner, region_codes: list[str]) -> ApplicationForm:
    return ApplicationForm(
        name=partner.name,
        kind=str(partner.kind),
        credit_code=partner.credit_code or "",
        contact_name=partner.contact_name,
        contact_phone=partner.contact_phone,
        contact_email=partner.contact_email,
        region_code=partner.region_id,  # type: ignore[attr-defined]
        service_region_codes=tuple(region_codes),
        needs=tuple(partner.offered_needs or ()),
        description=partner.description,
    )


async def service_region_codes(partner: Partner) -> list[str]:
    return list(
        await Region.filter(partners_serving__id=partner.id).order_by("path").values_list("code", flat=True)
    )


async def save_application(principal: Principal, form: ApplicationForm) -> Partner:
    """The partner's admin edits its application or profile: a pending partner everything it applied
    with (and resubmits it: the reviewer's request is then answered); an approved one its contact,
    description, service area and what it offers (name, kind and credit code are the bureau's to change)."""
    require(principal, Action.EDIT_PARTNER_PROFILE)
    partner = await get_visible(principal, Action.EDIT_PARTNER_PROFILE, principal.partner_id or 0)
    pending = partner.status == PartnerStatus.PENDING
    checked = await _check(form, partner.id, whole=pending)
    async with in_transaction():
        changes: dict = {
            "description": form.description.strip(),
            "contact_name": form.contact_name.strip(),
            "contact_phone": re.sub(r"[\s()]", "", form.contact_phone),
            "contact_email": form.contact_email.strip(),
        }
        regions = await Region.filter(code__in=list(form.service_region_codes))
        needs = sorted({need for need in form.needs if need in NeedCode.__members__})
        changes["offered_needs"] = needs
        if pending and checked is not None:
            changes |= {
                "name": checked.name,
                "kind": checked.kind,
                "credit_code": checked.credit_code,
                "region_id": checked.region.code,
                "submitted_at": utc_now(),
                "changes_requested": "",
            }
        await Partner.filter(id=partner.id).update(**changes)
        await partner.refresh_from_db()
        await partner.service_regions.clear()
        await partner.service_regions.add(*regions)
        await record(
            principal,
            "partner.resubmitted" if pending else "partner.profile",
            "partner",
            partner.id,
            {"service_regions": [region.code for region in regions], "needs": needs},
        )
        if pending:
            await _tell_reviewers(
                partner,
                lambda: _("The application of {name} was changed and awaits review again.").format(
                    name=partner.name
                ),
            )
    return partner
