"""Regions: the administrative tree that scopes everything (city > district > town > community)."""

from __future__ import annotations

from collections.abc import Iterable

from alliance.core.codes import RegionLevel
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region

LEVEL_DEPTH = {RegionLevel.CITY: 0, RegionLevel.DISTRICT: 1, RegionLevel.TOWN: 2, RegionLevel.COMMUNITY: 3}


def path_for(parent_path: str | None, code: str) -> str:
    return f"{parent_path or '/'}{code}/"


async def add_region(
    code: str,
    name: str,
    level: RegionLevel,
    parent_code: str | None = None,
    *,
    name_en: str = "",
    lat: float | None = None,
    lon: float | None = None,
) -> Region:
    """Add one region under its parent; the path is derived so subtree queries stay one prefix match."""
    parent = await Region.get_or_none(code=parent_code) if parent_code else None
    if parent_code and parent is None:
        raise InvalidInput({"parent_code": _("Unknown region code: {code}").format(code=parent_code)})
    if parent is not None and LEVEL_DEPTH[RegionLevel(parent.level)] + 1 != LEVEL_DEPTH[level]:
        raise InvalidInput(
            {
                "level": _(
                    "A region of level “{level}” cannot be placed under one of level “{parent}”."
                ).format(level=label(level), parent=label(parent.level))
            }
        )
    return await Region.create(
        code=code,
        name=name,
        name_en=name_en,
        level=level,
        parent=parent,
        path=path_for(parent.path if parent else None, code),
        depth=LEVEL_DEPTH[level],
        lat=lat,
        lon=lon,
    )


async def subtree(region_code: str) -> list[Region]:
    region = await Region.get(code=region_code)
    return await Region.filter(path__startswith=region.path).order_by("path")


async def inherited_setting(region_paths: Iterable[str], setting: str, default: int) -> dict[str, int]:
    """A per-region policy (a Region column such as `escalate_unclaimed_after_days`) for each region
    path: the region's own value, else its nearest ancestor's, else `default`. One query for any
    number of paths."""
    paths = set(region_paths)
    codes = {code for path in paths for code in path.strip("/").split("/") if code}
    values = dict(
        await Region.filter(code__in=list(codes), **{f"{setting}__isnull": False}).values_list(
            "code", setting
        )
    )
    found = {}
    for path in paths:
        chain = [code for code in path.strip("/").split("/") if code]
        value = next((values[code] for code in reversed(chain) if code in values), None)
        found[path] = int(value) if value is not None else default
    return found
