"""The region subtree a cockpit figure covers (a Scope), how a viewer gets one, and its drill-down trail."""

from __future__ import annotations

from dataclasses import dataclass

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.codes import Role
from alliance.core.errors import NotFound, PermissionDenied
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.models import Region


@dataclass(frozen=True)
class Scope:
    """A region subtree (or the whole alliance when `region_code` is None)."""

    region_code: str | None
    region_path: str  # "" for the whole alliance: every path starts with it
    region_name: str
    is_root: bool  # the alliance's own targets apply (no parent region, or everything)
    depth: int  # number of codes in region_path


async def scope_for(principal: Principal, region_code: str | None = None) -> Scope:
    """The principal's scope, or a region inside it (404 outside: drill-down never leaves it)."""
    require(principal, Action.VIEW_TARGETS)
    code = region_code or principal.region_code
    if not code:
        if principal.role != Role.ADMIN:
            # A coordinator without a region sees nothing rather than everything.
            raise PermissionDenied(Action.VIEW_TARGETS, "no region")
        return Scope(None, "", _("The whole alliance"), True, 0)
    return _scope_of(await get_visible(principal, Action.VIEW_TARGETS, code))


async def scope_of_region(region_code: str | None) -> Scope:
    """For the command line (an operator with the database): any region, or the whole alliance."""
    if not region_code:
        return Scope(None, "", _("The whole alliance"), True, 0)
    region = await Region.get_or_none(code=region_code)
    if region is None:
        raise NotFound(f"region {region_code}")
    return _scope_of(region)


def _scope_of(region: Region) -> Scope:
    return Scope(
        region.code,
        region.path,
        _region_name(region.name, region.name_en),
        region.parent_id is None,  # type: ignore[attr-defined]
        len(_codes(region.path)),
    )


def _codes(path: str) -> list[str]:
    return [code for code in path.split("/") if code]


def _region_name(name: str, name_en: str) -> str:
    return name if current_language() == "zh_CN" else (name_en or name)


async def region_breadcrumb(principal: Principal, scope: Scope) -> list[tuple[str, str]]:
    """(code, name) from the principal's own region down to the scope: the drill-down trail."""
    codes = _codes(scope.region_path)
    own = principal.region_path or "/"
    trail = [code for position, code in enumerate(codes) if _path_of(codes[: position + 1]).startswith(own)]
    if trail == [scope.region_code]:  # the viewer's own region (or the whole alliance): names known
        return [(scope.region_code, scope.region_name)]
    if not trail:
        return []
    names = {
        code: _region_name(name, name_en)
        for code, name, name_en in await Region.filter(code__in=trail).values_list("code", "name", "name_en")
    }
    return [(code, names.get(code, code)) for code in trail]


def _path_of(codes: list[str]) -> str:
    return "/" + "/".join(codes) + "/"
