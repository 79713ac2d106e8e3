"""Edit a household's details (phone, address, community, accessibility needs, contact preference,
member count) by its community worker, the coordinator over its region or the admin (Action.CASEWORK).

Validated like intake (alliance/households/intake_format.py). The phone is saved through
Household.save() so its blind index follows. A new address or community puts the household back at
its community's centre (precision "region": there is no one-household geocoding job, only the
per-batch `geocode_intake_batch`) and re-matches its open requests (`match_requests_job`, which also
refreshes the claim board). Audited with the NAMES of the changed fields, never their values.
Given a reported change (`change_id`), the change is marked verified in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from alliance.cases.models import HouseholdChange
from alliance.cases.offline import regions_for_registration
from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import Accessibility, ContactPreference, LocationPrecision, RequestStatus
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.core.timeutil import utc_now
from alliance.households.intake_format import (
    MAX_MEMBERS,
    FieldError,
    code_list,
    member_count_of,
    normalise_phone,
)
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.notifications import outbox

EDIT_ACTION = "household.details_edited"
_ACCESSIBILITY_CODES = frozenset(code.value for code in Accessibility)
_ACCESSIBILITY_LIST = [code.value for code in Accessibility]


@dataclass
class EditForm:
    # phone: "" keeps the phone as it is unless change_phone is set (then "" removes it).
    phone: str = ""
    change_phone: bool = False
    address: str = ""
    region_code: str = ""
    accessibility: list[str] = field(default_factory=list)
    contact_preference: str = ContactPreference.SMS.value
    member_count: str = "1"
    change_id: int | None = None

    @classmethod
    def of(cls, household: Household) -> EditForm:
        return cls(
            address=household.address,
            region_code=household.region_id,  # type: ignore[attr-defined]
            accessibility=list(household.accessibility or []),
            contact_preference=str(household.contact_preference),
            member_count=str(household.member_count),
        )


@dataclass
class EditOutcome:
    household: Household
    changed: list[str]
    job_ids: list[str] = field(default_factory=list)
    change: HouseholdChange | None = None


async def editable_household(principal: Principal, household_id: int) -> Household:
    require(principal, Action.CASEWORK)
    return await get_visible(principal, Action.CASEWORK, household_id)


async def pending_change(
    principal: Principal, household: Household, change_id: int | None
) -> HouseholdChange | None:
    if not change_id:
        return None
    change = await HouseholdChange.get_or_none(id=change_id, household_id=household.id)
    if change is None:
        raise InvalidInput({"change": _("No such change.")})
    return change


def _check(form: EditForm, regions: dict[str, Region]) -> tuple[dict[str, object], dict[str, str]]:
    errors: list[FieldError] = []
    values: dict[str, object] = {}
    if form.change_phone:
        phone_text = form.phone.strip()
        phone = normalise_phone(phone_text) if phone_text else None
        if phone_text and phone is None:
            errors.append(
                FieldError(
                    "phone",
                    _(
                        "Neither an 11-digit mobile (13812345678) nor a landline with its area code (0577-88123456)."
                    ),
                )
            )
        values["phone"] = phone
    address = form.address.strip()
    if len(address) > 255:
        errors.append(FieldError("address", _("At most 255 characters.")))
    values["address"] = address
    if form.region_code not in regions:
        errors.append(FieldError("region_code", _("Choose a community within your area.")))
    values["region_code"] = form.region_code
    values["accessibility"] = sorted(
        code_list(form.accessibility, "accessibility", _ACCESSIBILITY_CODES, _ACCESSIBILITY_LIST, errors)
    )
    contact = form.contact_preference.strip().upper()
    if contact not in ContactPreference.__members__.values():
        errors.append(
            FieldError(
                "contact_preference",
                _("Unknown contact preference {code}: use SMS, VOICE or COMMUNITY_WORKER.").format(
                    code=contact
                ),
            )
        )
    values["contact_preference"] = contact
    values["member_count"] = member_count_of(form.member_count.strip(), errors)
    found: dict[str, str] = {}
    for error in errors:
        found.setdefault(error.field, error.message)
    return values, found


async def edit_household(
    principal: Principal, household_id: int, form: EditForm, address: str = ""
) -> EditOutcome:
    household = await editable_household(principal, household_id)
    change = await pending_change(principal, household, form.change_id)
    regions = {region.code: region for region in await regions_for_registration(principal)}
    values, errors = _check(form, regions)
    if errors:
        raise InvalidInput(errors)
    changed: list[str] = []
    if form.change_phone and values["phone"] != household.phone:
        household.phone = values["phone"]  # type: ignore[assignment]
        changed.append("phone")
    if values["address"] != household.address:
        household.address = str(values["address"])
        changed.append("address")
    if values["region_code"] != household.region_id:  # type: ignore[attr-defined]
        household.region_id = str(values["region_code"])  # type: ignore[attr-defined]
        changed.append("community")
    if values["accessibility"] != sorted(household.accessibility or []):
        household.accessibility = values["accessibility"]  # type: ignore[assignment]
        changed.append("accessibility")
    if values["contact_preference"] != str(household.contact_preference):
        household.contact_preference = ContactPreference(str(values["contact_preference"]))
        changed.append("contact_preference")
    if values["member_count"] != household.member_count:
        household.member_count = int(values["member_count"])  # type: ignore[call-overload]
        changed.append("member_count")
    moved = "address" in changed or "community" in changed
    job_ids: list[str] = []
    async with in_transaction():
        if changed:
            update = ["phone" if name == "phone" else name for name in changed]
            update = [{"community": "region_id"}.get(name, name) for name in update]
            if moved:
                region = regions[str(values["region_code"])]
                household.lat, household.lon = region.lat, region.lon
                household.location_precision = LocationPrecision.REGION
                update += ["lat", "lon", "location_precision"]
            await household.save(update_fields=[*update, "updated_at"])
            if moved or "accessibility" in changed or "member_count" in changed:
                open_ids = list(
                    await ServiceRequest.filter(household_id=household.id, status=RequestStatus.OPEN)
                    .order_by("id")
                    .values_list("id", flat=True)
                )
                if open_ids:
                    stamp = f"{utc_now().timestamp():.0f}"
                    job = await outbox.add_job(
                        "match_requests_job", open_ids, job_id=f"match:household-edit:{household.id}:{stamp}"
                    )
                    job_ids.append(job.job_id)
            await record(
                principal,
                EDIT_ACTION,
                "household",
                household.id,
                {"fields": changed, **({"change": change.id} if change else {})},
                address,
                households=[household.id],
            )
        if change is not None and change.verified_at is None:
            change.verified_by_id = principal.user_id  # type: ignore[attr-defined]
            change.verified_at = utc_now()
            await change.save(update_fields=["verified_by_id", "verified_at"])
            await record(
                principal,
                "household.change_verified",
                "household",
                household.id,
                {"change": change.id, "applied": True},
                address,
                households=[household.id],
            )
    return EditOutcome(household, changed, job_ids, change)


FIELD_LABELS = {
    "phone": lambda: _("phone"),
    "address": lambda: _("address"),
    "community": lambda: _("community"),
    "accessibility": lambda: _("accessibility needs"),
    "contact_preference": lambda: _("contact preference"),
    "member_count": lambda: _("member count"),
}


def field_names(fields: list[str]) -> str:
    return ", ".join(FIELD_LABELS[name]() if name in FIELD_LABELS else name for name in fields)


__all__ = ["MAX_MEMBERS", "EDIT_ACTION", "EditForm", "EditOutcome", "edit_household", "field_names"]
