"""A partner's own side: its offerings with a service area, and the projects of a year."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import DeliveryMode, FlagCode, NeedCode
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.partners.models import Offering, Project
from alliance.partners.projects import project_refuses

# China's extent; a point outside it is a typing error, not a service area.
LAT_RANGE = (18.0, 54.0)
LON_RANGE = (73.0, 135.0)


@dataclass(frozen=True)
class OfferingForm:
    """Raw strings from the form; `parse_offering` turns them into checked values or field errors."""

    title: str = ""
    description: str = ""
    need: str = ""
    project_id: str = ""
    eligibility_flags: tuple[str, ...] = ()
    base_lat: str = ""
    base_lon: str = ""
    radius_km: str = ""
    region_codes: tuple[str, ...] = ()
    monthly_capacity: str = "0"
    delivery_mode: str = DeliveryMode.HOME_VISIT
    active: bool = True


def _float(value: str, field: str, errors: dict[str, str]) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        errors[field] = _("Enter a number, e.g. 27.99.")
        return None


async def parse_offering(
    form: OfferingForm, partner_id: int | None = None, current_project_id: int | None = None
) -> dict:
    """Checked values or field errors. A project must take offerings from this partner for this need
    (alliance/partners/projects.py); the project an offering already names may stay."""
    errors: dict[str, str] = {}
    if not form.title.strip():
        errors["title"] = _("Give the offering a title.")
    if form.need not in NeedCode.__members__:
        errors["need"] = _("Choose the need this offering serves.")
    unknown = [flag for flag in form.eligibility_flags if flag not in FlagCode.__members__]
    if unknown:
        errors["eligibility_flags"] = _("Unknown flag code: {codes}").format(codes=", ".join(unknown))
    lat = _float(form.base_lat, "base_lat", errors)
    lon = _float(form.base_lon, "base_lon", errors)
    radius = _float(form.radius_km, "radius_km", errors)
    if lat is not None and not LAT_RANGE[0] <= lat <= LAT_RANGE[1]:
        errors["base_lat"] = _("Latitude must be between 18 and 54 (China).")
    if lon is not None and not LON_RANGE[0] <= lon <= LON_RANGE[1]:
        errors["base_lon"] = _("Longitude must be between 73 and 135 (China).")
    if (lat is None) != (lon is None):
        errors["base_lon" if lon is None else "base_lat"] = _("Give both latitude and longitude.")
    if radius is not None and not 0 < radius <= 500:
        errors["radius_km"] = _("The radius must be more than 0 and at most 500 km.")
    if lat is not None and radius is None:
        errors["radius_km"] = _("A base point needs a radius.")
    regions = await Region.filter(code__in=list(form.region_codes))
    missing = sorted(set(form.region_codes) - {region.code for region in regions})
    if missing:
        errors["region_codes"] = _("Unknown region code: {codes}").format(codes=", ".join(missing))
    if lat is None and not form.region_codes:
        errors["service_area"] = _("Give a service area: a base point with a radius, or at least one region.")
    try:
        capacity = int(form.monthly_capacity or "0")
        if capacity < 0:
            raise ValueError
    except ValueError:
        errors["monthly_capacity"] = _("Enter a whole number of places per month, 0 or more.")
        capacity = 0
    if form.delivery_mode not in {mode.value for mode in DeliveryMode}:
        errors["delivery_mode"] = _("Choose home visit or event at a venue.")
    project = None
    if form.project_id:
        project = await Project.get_or_none(id=int(form.project_id)) if form.project_id.isdigit() else None
        if project is None:
            errors["project_id"] = _("Unknown project.")
        elif project.id != current_project_id:
            problem = await project_refuses(project, partner_id, form.need)
            if problem:
                errors["project_id"] = problem
    if errors:
        raise InvalidInput(errors)
    return {
        "title": form.title.strip(),
        "description": form.description.strip(),
        "need_id": form.need,
        "project": project,
        "eligibility_flags": list(form.eligibility_flags),
        "base_lat": lat,
        "base_lon": lon,
        "radius_km": radius,
        "monthly_capacity": capacity,
        "delivery_mode": form.delivery_mode,
        "active": form.active,
        "regions": regions,
    }


async def save_offering(principal: Principal, form: OfferingForm, offering_id: int | None = None) -> Offering:
    """Create (offering_id None) or edit one of the principal's partner's offerings, all or nothing."""
    require(principal, Action.EDIT_OFFERINGS)
    existing = (
        await get_visible(principal, Action.EDIT_OFFERINGS, offering_id) if offering_id is not None else None
    )
    partner_id = existing.partner_id if existing is not None else principal.partner_id  # type: ignore[attr-defined]
    values = await parse_offering(
        form,
        partner_id,
        existing.project_id if existing is not None else None,  # type: ignore[attr-defined]
    )
    regions = values.pop("regions")
    async with in_transaction():
        if existing is None:
            if partner_id is None:
                raise InvalidInput({"partner": _("Only partner staff publish offerings.")})
            offering = await Offering.create(partner_id=partner_id, **values)
        else:
            offering = existing
            for name, value in values.items():
                setattr(offering, name, value)
            await offering.save()
            await offering.regions.clear()
        if regions:
            await offering.regions.add(*regions)
        await record(principal, "offering.save", "offering", offering.id, {"title": offering.title})
    return offering


async def offerings_of(principal: Principal) -> list[Offering]:
    return (
        await visible(principal, Action.VIEW_OFFERINGS)
        .order_by("-active", "title")
        .prefetch_related("regions", "project")
    )


async def projects_for_year(year: int, partner_id: int | None = None) -> list[Project]:
    """The year's active projects an offering of this partner may name (all active ones for None)."""
    projects = await Project.filter(year=year, active=True).order_by("code")
    if partner_id is None:
        return projects
    return [project for project in projects if await project_refuses(project, partner_id, None) is None]
