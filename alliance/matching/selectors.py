"""Reads of stored matches: a match's reasons in the reader's words, and the gaps to recruit for."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Subquery

from alliance.core.access import Action, Principal, visible
from alliance.core.codes import RequestStatus
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region
from alliance.core.privacy import distance_band
from alliance.matching.candidates import _region_codes
from alliance.matching.models import Match, StoredReasons


def _join(items: list[str]) -> str:
    return ("、" if current_language() == "zh_CN" else ", ").join(items)


def reason_texts(
    match: Match | dict[str, Any] | list[dict[str, Any]] | str,
    region_names: Mapping[str, tuple[str, str]] | None = None,
) -> list[str]:
    """The match's reasons in the reader's language, e.g. ["distance: 1-3 km", "4 of 10 places left",
    "eligible: 低保"]. Accepts a Match, a dict with "reasons", the reasons list itself or their stored
    text (`models.StoredReasons`). A region reason names its region from `region_names` (code -> (name,
    name_en): `region_names_of` reads them), or from the reason itself in rows from before."""
    if isinstance(match, Match):
        reasons: Any = match.reasons
    elif isinstance(match, dict):
        reasons = match.get("reasons", [])
    else:
        reasons = match
    if isinstance(reasons, (str, bytes)):
        reasons = StoredReasons.decode(reasons)
    chinese = current_language() == "zh_CN"
    texts: list[str] = []
    for reason in reasons or []:
        code = reason.get("code")
        if code == "distance":
            # A band, never kilometres: partners read these reasons before a claim (rows from
            # before bands carry "km", shown as its band).
            band = reason.get("band") or distance_band(float(reason["km"]))
            texts.append(_("distance: {band}").format(band=label(band)))
        elif code == "region":
            region = str(reason.get("region", ""))
            name, name_en = (region_names or {}).get(region) or (reason.get("name"), reason.get("name_en"))
            name = name if chinese else name_en or name
            texts.append(_("serves {region}").format(region=name or region))
        elif code == "capacity":
            texts.append(
                _("{left} of {capacity} places left").format(left=reason["left"], capacity=reason["capacity"])
            )
        elif code == "eligible":
            texts.append(
                _("eligible: {flags}").format(flags=_join([label(flag) for flag in reason["flags"]]))
            )
    return texts


def region_codes_of(reasons: Iterable[Any]) -> set[str]:
    """The regions named by region reasons (stored texts or structured lists), for `region_names_of`."""
    codes: set[str] = set()
    for found in reasons:
        if isinstance(found, (str, bytes)):
            found = StoredReasons.decode(found)
        codes.update(str(reason["region"]) for reason in found or () if reason.get("code") == "region")
    return codes


async def region_names_of(codes: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Region code -> (name, name_en), for `reason_texts` (one query; none when no codes)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return {
        code: (name, name_en)
        for code, name, name_en in await Region.filter(code__in=wanted).values_list("code", "name", "name_en")
    }


@dataclass
class GapRow:
    need: str
    region_code: str
    region_name: str
    requests: int


@dataclass
class GapList:
    rows: list[GapRow]
    total: int
    never_matched: int


async def gaps_for(principal: Principal) -> GapList:
    """Open requests in the viewer's region with NO candidate offering, grouped by need and by the
    region one level below the viewer's ("no partner covers HOME_CARE in 文成县"): the list
    coordinators recruit partners for. `never_matched` counts open requests not matched yet."""
    scoped = visible(principal, Action.VIEW_GAPS).filter(status=RequestStatus.OPEN)
    matched_ids = Match.all().values("request_id")
    rows = (
        await scoped.filter(matched_at__isnull=False)
        .exclude(id__in=Subquery(matched_ids))
        .values_list("need_id", "household__region__path")
    )
    never = await scoped.filter(matched_at__isnull=True).count()
    depth = len(_region_codes(principal.region_path or "")) if principal.region_path else 1
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for need, path in rows:
        codes = _region_codes(path)
        code = codes[depth] if len(codes) > depth else codes[-1]
        counts[(str(need), code)] += 1
    names = {
        code: (name, name_en)
        for code, name, name_en in await Region.filter(
            code__in=sorted({code for _need, code in counts})
        ).values_list("code", "name", "name_en")
    }
    chinese = current_language() == "zh_CN"

    def region_name(code: str) -> str:
        name, name_en = names.get(code, (code, ""))
        return name if chinese else name_en or name

    gap_rows = [
        GapRow(need=need, region_code=code, region_name=region_name(code), requests=count)
        for (need, code), count in counts.items()
    ]
    gap_rows.sort(key=lambda row: (-row.requests, row.need, row.region_code))
    return GapList(rows=gap_rows, total=sum(counts.values()), never_matched=never)
