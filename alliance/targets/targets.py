"""The yearly targets: which one applies to a scope, the monthly plan, setting them with history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import TargetMetric
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.partners.models import Project
from alliance.targets.models import Target, TargetChange
from alliance.targets.scopes import Scope

METRICS: tuple[TargetMetric, ...] = (
    TargetMetric.PROJECTS,
    TargetMetric.ORGANISATIONS,
    TargetMetric.VOLUNTEERS,
    TargetMetric.PERSON_TIMES,
)
ALLIANCE_SCOPE = "alliance"
# The monthly curve: twelve Target rows (metric person_times, scope "curve:01".."curve:12") holding
# each month's share of the year in per mille; all zero (or none) means pro-rata of the days.
CURVE_SCOPE = "curve:{month:02d}"
PER_MILLE = 1000


async def _scope_key_checked(scope_key: str) -> tuple[int | None, str | None]:
    if scope_key == ALLIANCE_SCOPE:
        return None, None
    kind, _sep, ref = scope_key.partition(":")
    if kind == "project" and ref.isdigit() and await Project.exists(id=int(ref)):
        return int(ref), None
    if kind == "region" and ref and await Region.exists(code=ref):
        return None, ref
    if kind == "curve" and ref.isdigit() and 1 <= int(ref) <= 12:
        return None, None
    raise InvalidInput({"scope": _("Unknown target scope: {scope}").format(scope=scope_key)})


def whole_number(value: Any, field_name: str) -> int:
    text = str(value).strip().replace(",", "")
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput({field_name: _("Enter a whole number, 0 or more.")})
    return int(text)


async def set_target(
    principal: Principal, year: int, metric: str, value: Any, scope_key: str = ALLIANCE_SCOPE
) -> Target:
    """Create or change one yearly target; the old and new value go to TargetChange."""
    require(principal, Action.EDIT_TARGETS)
    return await _write_target(principal, year, metric, value, scope_key)


async def set_region_target(
    principal: Principal, year: int, metric: str, value: Any, region_code: str
) -> Target:
    """A coordinator's yearly target for a region of their subtree (an admin's for any region)."""
    require(principal, Action.EDIT_REGION_TARGETS)
    region = await get_visible(principal, Action.EDIT_REGION_TARGETS, region_code)
    return await _write_target(principal, year, metric, value, f"region:{region.code}")


async def _write_target(principal: Principal, year: int, metric: str, value: Any, scope_key: str) -> Target:
    if metric not in {item.value for item in TargetMetric}:
        raise InvalidInput({"metric": _("Unknown target.")})
    if not 2000 <= int(year) <= 2100:
        raise InvalidInput({"year": _("Choose a year between 2000 and 2100.")})
    number = whole_number(value, "value")
    project_id, region_code = await _scope_key_checked(scope_key)
    async with in_transaction():
        target = await Target.get_or_none(year=year, metric=metric, scope_key=scope_key)
        old = target.value if target else None
        if target is None:
            target = await Target.create(
                year=year,
                metric=metric,
                scope_key=scope_key,
                project_id=project_id,
                region_id=region_code,
                value=number,
            )
        elif target.value != number:
            target.value = number
            await target.save(update_fields=["value", "updated_at"])
        else:
            return target
        await TargetChange.create(
            target=target, old_value=old, new_value=number, changed_by_id=principal.user_id
        )
        await record(
            principal, "target.set", "target", target.id, {"scope": scope_key, "old": old, "new": number}
        )
    return target


async def set_monthly_curve(principal: Principal, year: int, shares: Sequence[Any]) -> list[int]:
    """Twelve monthly shares of the year in per mille (summing to 1000), or all 0 for pro-rata."""
    require(principal, Action.EDIT_TARGETS)
    if len(shares) != 12:
        raise InvalidInput({"curve": _("Give a share for each of the twelve months.")})
    values = [whole_number(share, "curve") for share in shares]
    if sum(values) not in (0, PER_MILLE):
        raise InvalidInput(
            {
                "curve": _(
                    "The monthly shares add up to {total}‰; they must add up to 1000‰ (or all be 0)."
                ).format(total=sum(values))
            }
        )
    async with in_transaction():
        for month, value in enumerate(values, start=1):
            scope_key = CURVE_SCOPE.format(month=month)
            if value == 0 and not await Target.exists(
                year=year, metric=TargetMetric.PERSON_TIMES, scope_key=scope_key
            ):
                continue
            await set_target(principal, year, TargetMetric.PERSON_TIMES, value, scope_key)
    return values


async def _targets_of(year: int, scope: Scope) -> dict[str, int]:
    """The scope's own targets ("region:CODE"), else the alliance's when the scope is the root."""
    wanted = [f"region:{scope.region_code}"] if scope.region_code else []
    if scope.is_root:
        wanted.append(ALLIANCE_SCOPE)
    found: dict[str, int] = {}
    for scope_key in reversed(wanted):  # the region's own target wins over the alliance's
        for metric, value in await Target.filter(year=year, scope_key=scope_key).values_list(
            "metric", "value"
        ):
            found[str(metric)] = value
    return found


async def monthly_curve(year: int) -> list[int] | None:
    rows = dict(
        await Target.filter(
            year=year, metric=TargetMetric.PERSON_TIMES, scope_key__startswith="curve:"
        ).values_list("scope_key", "value")
    )
    curve = [int(rows.get(CURVE_SCOPE.format(month=month), 0)) for month in range(1, 13)]
    return curve if sum(curve) else None


@dataclass
class RegionTargets:
    region: Region
    values: dict[str, int | None]  # metric -> the region's own target (None: not set)


async def region_targets(principal: Principal, year: int) -> list[RegionTargets]:
    """The targets a coordinator sets: their own region's and each of its direct sub-regions' (an
    admin: the city's districts), the region's own values per metric."""
    require(principal, Action.EDIT_REGION_TARGETS)
    if principal.region_code:
        own = await Region.get(code=principal.region_code)
        regions = [own, *await Region.filter(parent_id=own.code).order_by("code")]
    else:
        roots = await Region.filter(parent_id=None).order_by("code")
        regions = [*roots, *await Region.filter(parent_id__in=[root.code for root in roots]).order_by("code")]
    keys = {f"region:{region.code}": region for region in regions}
    found: dict[str, dict[str, int]] = {}
    for scope_key, metric, value in await Target.filter(year=year, scope_key__in=list(keys)).values_list(
        "scope_key", "metric", "value"
    ):
        found.setdefault(scope_key, {})[str(metric)] = value
    return [
        RegionTargets(region, {metric.value: found.get(key, {}).get(metric.value) for metric in METRICS})
        for key, region in keys.items()
    ]
