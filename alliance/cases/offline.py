"""Registering a household found offline: a call to the 12345 hotline, a walk-in at the community
office, a door knock, a referral by another agency. A community worker (own community) or a
coordinator (own region) enters it on a page; it is checked by the same rules as intake rows
(intake_format.check_record: GB 11643 ID check, region code, phone, address, accessibility,
contact preference, flags), written through the import itself (flags → needs → requests, the
duplicate mark, the geocoding queue) and starts unverified. Possible duplicates are shown before
anything is saved, and the worker may link the referral to an existing household instead."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from alliance.cases.models import CaseNote, Referral
from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import CaseNoteKind, IntakeChannel, ReferralSource
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.core.privacy import mask_id_number, mask_phone
from alliance.core.timeutil import to_local, utc_now
from alliance.households.intake import ImportResult, import_households
from alliance.households.intake_format import HouseholdRow, RawRecord, RecordSet, check_record
from alliance.households.models import Household
from alliance.households.selectors import find_by_id_number, find_by_phone

MAX_REFERRER = 64
MAX_AGENCY = 128


@dataclass
class OfflineForm:
    head_name: str = ""
    id_number: str = ""
    phone: str = ""
    address: str = ""
    region_code: str = ""
    member_count: str = "1"
    flags: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    accessibility: list[str] = field(default_factory=list)
    contact_preference: str = "SMS"
    source: str = ""
    referrer_name: str = ""
    referrer_agency: str = ""


@dataclass
class PossibleDuplicate:
    """A household that may be this one. Outside the viewer's scope only its region is named."""

    id: int | None
    head_name: str
    region_name: str
    id_number_masked: str
    phone_masked: str
    why: str


@dataclass
class Registered:
    household: Household
    result: ImportResult


class PossibleDuplicates(InvalidInput):
    """Nothing saved: these households may be the one being registered; confirm or link."""

    def __init__(self, duplicates: list[PossibleDuplicate]) -> None:
        super().__init__({"duplicates": _("This household may be registered already.")})
        self.duplicates = duplicates


async def regions_for_registration(principal: Principal) -> list[Region]:
    """The communities the viewer may register households in."""
    require(principal, Action.CASEWORK)
    query = Region.filter(level="community")
    if principal.region_path:
        query = query.filter(path__startswith=principal.region_path)
    return await query.order_by("path")


def _referral_errors(form: OfflineForm) -> dict[str, str]:
    errors = {}
    if form.source not in ReferralSource.__members__.values():
        errors["source"] = _("Choose how the household reached you.")
    if len(form.referrer_name.strip()) > MAX_REFERRER:
        errors["referrer_name"] = _("At most {most} characters.").format(most=MAX_REFERRER)
    if len(form.referrer_agency.strip()) > MAX_AGENCY:
        errors["referrer_agency"] = _("At most {most} characters.").format(most=MAX_AGENCY)
    if form.source == ReferralSource.AGENCY and not form.referrer_agency.strip():
        errors["referrer_agency"] = _("Required for a referral: the agency that referred the household.")
    return errors


def _values(form: OfflineForm, external_id: str) -> dict[str, object]:
    return {
        "external_id": external_id,
        "head_name": form.head_name,
        "id_number": form.id_number,
        "phone": form.phone,
        "address": form.address,
        "region_code": form.region_code,
        "member_count": form.member_count,
        "flags": list(form.flags),
        "needs": list(form.needs),
        "accessibility": list(form.accessibility),
        "contact_preference": form.contact_preference,
    }


async def check_offline(principal: Principal, form: OfflineForm) -> HouseholdRow:
    """The intake rules and the referral's, all field errors at once (InvalidInput), or the clean row."""
    require(principal, Action.CASEWORK)
    region = await Region.get_or_none(code=form.region_code.strip()) if form.region_code.strip() else None
    in_scope = region is not None and (
        not principal.region_path or region.path.startswith(principal.region_path)
    )
    checked = check_record(
        RawRecord(row=1, values=_values(form, "OFFLINE-CHECK")),
        {region.code} if in_scope and region else set(),
        to_local(utc_now()).date(),
    )
    errors = _referral_errors(form)
    if isinstance(checked, list):
        for error in checked:
            errors.setdefault(error.field, error.message)
    if region is not None and not in_scope:
        errors["region_code"] = _("Region {code} is outside your area.").format(code=region.code)
    if errors:
        raise InvalidInput(errors)
    assert isinstance(checked, HouseholdRow)
    return checked


async def possible_duplicates_of(principal: Principal, row: HouseholdRow) -> list[PossibleDuplicate]:
    """Households with the same ID number or phone, or the same name in the same community."""
    found: dict[int, tuple[Household, str]] = {}
    for household in await find_by_id_number(row.id_number or "").order_by("id"):
        found.setdefault(household.id, (household, _("same ID number")))
    for household in await find_by_phone(row.phone or "").order_by("id"):
        found.setdefault(household.id, (household, _("same phone")))
    for household in await Household.filter(head_name=row.head_name, region_id=row.region_code).limit(10):
        found.setdefault(household.id, (household, _("same name in this community")))
    if not found:
        return []
    mine = set(
        await visible(principal, Action.CASEWORK).filter(id__in=list(found)).values_list("id", flat=True)
    )
    names = dict(
        await Region.filter(code__in={household.region_id for household, _why in found.values()}).values_list(  # type: ignore[attr-defined]
            "code", "name"
        )
    )
    return [
        PossibleDuplicate(
            id=household.id if household.id in mine else None,
            head_name=household.head_name if household.id in mine else "—",
            region_name=names.get(household.region_id, ""),  # type: ignore[attr-defined]
            id_number_masked=mask_id_number(household.id_number),
            phone_masked=mask_phone(household.phone) if household.id in mine else "—",
            why=why,
        )
        for household, why in sorted(found.values(), key=lambda pair: pair[0].id)
    ]


async def register_offline(
    principal: Principal, form: OfflineForm, *, confirmed_new: bool = False
) -> Registered:
    """Check, show possible duplicates (PossibleDuplicates, nothing saved) unless the worker confirmed
    it is a new household, then write it through the import and record its referral."""
    row = await check_offline(principal, form)
    if not confirmed_new:
        duplicates = await possible_duplicates_of(principal, row)
        if duplicates:
            raise PossibleDuplicates(duplicates)
    external_id = f"OFFLINE-{row.region_code}-{secrets.token_hex(6)}"
    # One transaction: the household, its requests and its referral are written together or not at
    # all (a process dying between them would leave a household nobody knows how it came).
    async with in_transaction():
        result = await import_households(
            RecordSet(format="json", items=[_values(form, external_id)]),
            # A one-row "file" named for the worker; the Referral says how the household came.
            channel=IntakeChannel.FILE,
            filename=f"offline:{principal.username}"[:255],
        )
        if result.rejected:
            # The same rules ran above; a region removed meanwhile is the only way here.
            raise InvalidInput({error.field: error.message for error in result.rejected[0].errors})
        household = await Household.get(external_id=external_id)
        await Referral.create(
            household_id=household.id,
            source=ReferralSource(form.source),
            referrer_name=form.referrer_name.strip(),
            referrer_agency=form.referrer_agency.strip(),
            registered_by_id=principal.user_id,
        )
        await record(
            principal,
            "household.register_offline",
            "household",
            household.id,
            {
                "source": form.source,
                "referrer_agency": form.referrer_agency.strip(),
                "batch": result.batch,
                "confirmed_new": confirmed_new,
                "requests_created": result.requests_created,
            },
            households=[household.id],
        )
    return Registered(household, result)


async def link_referral(principal: Principal, household_id: int, form: OfflineForm) -> Household:
    """The household was registered already: keep the referral as a case note on it instead."""
    require(principal, Action.CASEWORK)
    household = await get_visible(principal, Action.CASEWORK, household_id)
    errors = _referral_errors(form)
    if errors:
        raise InvalidInput(errors)
    source_text = referral_source_label(form.source)
    who = " / ".join(part for part in (form.referrer_name.strip(), form.referrer_agency.strip()) if part)
    text = _("Referred again ({source}){who}.").format(source=source_text, who=f": {who}" if who else "")
    async with in_transaction():
        await CaseNote.create(
            household_id=household.id, kind=CaseNoteKind.NOTE, text=text, author_id=principal.user_id
        )
        await record(
            principal,
            "household.referral_linked",
            "household",
            household.id,
            {"source": form.source, "referrer_agency": form.referrer_agency.strip()},
            households=[household.id],
        )
    return household


def referral_source_label(source: str) -> str:
    return {
        ReferralSource.HOTLINE: _("12345 hotline"),
        ReferralSource.WALK_IN: _("walk-in"),
        ReferralSource.DOOR_KNOCK: _("door knock"),
        ReferralSource.AGENCY: _("referral by another agency"),
    }.get(source, source)  # type: ignore[call-overload]
