"""The cockpit's slow figures (the operational figures and the ranked unserved list) per scope, year and
unserved-days, computed by an arq job into `CockpitSnapshot` rows so no request waits for them: at a
province's size they scan every request and flag of the subtree (seconds to a minute). The cron keeps
the scopes people look at (each coordinator's region and the whole alliance, this year, the default
days); any other scope is computed when first viewed, and again when viewed after it went stale."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from alliance.core import db
from alliance.core.codes import Role
from alliance.core.errors import NotFound
from alliance.core.i18n import LANGUAGES, current_language, language
from alliance.core.models import User
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.targets.cockpit_pass import Pass, common_path, operational_of, read_pass, unserved_of
from alliance.targets.models import CockpitSnapshot
from alliance.targets.operational import Operational
from alliance.targets.progress import read_tallies, tallies_as_json, tallies_from_json
from alliance.targets.scopes import Scope, scope_of_region
from alliance.targets.unserved import (
    DEFAULT_UNSERVED_DAYS,
    RankedHousehold,
    UnservedList,
    unserved_list,
)

# The cron runs every REFRESH_MINUTES (workers/settings.py); a snapshot older than STALE_AFTER is
# shown with its age and computed again in the background; one nobody viewed for a day goes.
REFRESH_MINUTES = 5
STALE_AFTER = timedelta(minutes=3 * REFRESH_MINUTES)
UNUSED_AFTER = timedelta(days=1)
# The longest unserved list a page shows (/cockpit/unserved); the cockpit itself shows 10.
UNSERVED_KEPT = 200


def this_year(now: datetime | None = None) -> int:
    return (now or utc_now()).astimezone(LOCAL_TZ).year


async def compute_figures(
    scope: Scope, year: int, days: int, now: datetime, found: Pass | None = None
) -> dict:
    """What a snapshot keeps, as JSON (read from the replica when there is one); the targets and
    breakdowns too, in each language, for a web process that has not read its own yet. With `found`
    (a pass over a subtree holding the scope) the slow figures come from it instead of a scan."""
    with db.reading_replica():
        if found is None or not found.covers(scope):
            found = await read_pass(scope.region_path, year, now)
        operational = operational_of(found, scope)
        total, ranked = unserved_of(found, scope, days, now, UNSERVED_KEPT)
        tallies = {}
        for code in LANGUAGES:
            with language(code):
                tallies[code] = tallies_as_json(await read_tallies(scope, year, now))
    return {
        "operational": operational.as_json(),
        "unserved_total": total,
        "unserved": [household.as_json() for household in ranked],
        "tallies": tallies,
    }


async def write_snapshot(
    scope: Scope, year: int, days: int, now: datetime | None = None, found: Pass | None = None
) -> CockpitSnapshot:
    """Compute and store one scope's snapshot; safe to run twice and side by side (the last one wins)."""
    started = time.monotonic()
    now = now or utc_now()
    figures = await compute_figures(scope, year, days, now, found)
    key = {"region_code": scope.region_code or "", "year": year, "days": days}
    fields = {"computed_at": now, "duration_ms": int((time.monotonic() - started) * 1000), "figures": figures}
    if not await CockpitSnapshot.filter(**key).update(**fields):
        try:
            await CockpitSnapshot.create(**key, **fields)
        except IntegrityError:  # another worker wrote the first one meanwhile
            await CockpitSnapshot.filter(**key).update(**fields)
    return await CockpitSnapshot.get(**key)


def snapshot_job_id(region_code: str | None, year: int, days: int, now: datetime | None = None) -> str:
    # One job per scope and ten minutes: viewers of a scope with no (or a stale) snapshot share it.
    moment = now or utc_now()
    return f"cockpit:{region_code or 'alliance'}:{year}:{days}:{moment:%Y%m%d%H}{moment.minute // 10}"


async def viewed_scopes() -> list[str]:
    """The regions people look at: each active coordinator's, and "" for the whole alliance."""
    codes = {""} | {
        str(code)
        for code in await User.filter(
            role=Role.COORDINATOR, is_active=True, region_id__isnull=False
        ).values_list("region_id", flat=True)
    }
    return sorted(codes)


async def refresh_snapshots(
    region_code: str | None = None,
    year: int | None = None,
    days: int | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """The cron's part (no region given): every viewed scope for this year and the default days, and
    snapshots nobody looked at for a day go. With a region ("" for the whole alliance): that one."""
    now = now or utc_now()
    year = year or this_year(now)
    days = DEFAULT_UNSERVED_DAYS if days is None else days
    codes = await viewed_scopes() if region_code is None else [region_code]
    scopes: list[Scope] = []
    for code in codes:
        try:
            scopes.append(await scope_of_region(code or None))
        except NotFound:  # a region removed since: its snapshots go
            await CockpitSnapshot.filter(region_code=code).delete()
    # One pass for all of them (cockpit_pass.py): each snapshot's duration_ms is then only its own part.
    found = None
    if scopes:
        with db.reading_replica():
            found = await read_pass(common_path(scopes), year, now)
    written = 0
    for scope in scopes:
        await write_snapshot(scope, year, days, now, found)
        written += 1
    removed = 0
    if region_code is None:
        removed = await CockpitSnapshot.filter(computed_at__lt=now - UNUSED_AFTER).delete()
    return {"snapshots": written, "removed": removed}


async def snapshot_for(scope: Scope, year: int, days: int) -> CockpitSnapshot | None:
    return await CockpitSnapshot.get_or_none(region_code=scope.region_code or "", year=year, days=days)


# Decoded snapshots of this process, by key: a page reads the snapshot's time (one indexed row, two
# columns) and its figures only when they changed (a province's breakdowns are thousands of rows).
_DECODED: dict[tuple[str, int, int], tuple[datetime, dict[str, Any]]] = {}
_DECODED_KEPT = 512


async def _newest(scope: Scope, year: int, days: int) -> tuple[datetime, dict[str, Any]] | None:
    key = (scope.region_code or "", year, days)
    found = await CockpitSnapshot.filter(region_code=key[0], year=year, days=days).values_list(
        "id", "computed_at"
    )
    if not found:
        return None
    snapshot_id, computed_at = found[0]
    hit = _DECODED.get(key)
    if hit is not None and hit[0] == computed_at:
        return hit
    snapshot = await CockpitSnapshot.get_or_none(id=snapshot_id)
    if snapshot is None:  # removed this instant
        return None
    if len(_DECODED) >= _DECODED_KEPT:
        _DECODED.clear()
    _DECODED[key] = (snapshot.computed_at, snapshot.figures)
    return _DECODED[key]


@dataclass
class SnapshotFigures:
    """A snapshot as the pages show it; the unserved rows' names and requests are read now."""

    computed_at: datetime
    operational: Operational
    unserved: UnservedList
    stale: bool
    kept_tallies: dict[str, Any] | None  # as JSON, in every language

    def tallies(self) -> dict[str, Any] | None:
        """The targets and breakdowns as of the snapshot, in the viewer's language."""
        kept = (self.kept_tallies or {}).get(current_language())
        return tallies_from_json(kept) if kept else None


async def snapshot_figures(
    scope: Scope, year: int, days: int, limit: int | None, now: datetime | None = None
) -> SnapshotFigures | None:
    """The newest snapshot's figures with the first `limit` unserved households, or None when no
    snapshot exists yet (the caller queues one: refresh_due)."""
    now = now or utc_now()
    newest = await _newest(scope, year, days)
    if newest is None:
        return None
    computed_at, figures = newest
    kept = figures["unserved"] if limit is None else figures["unserved"][:limit]
    ranked = [RankedHousehold.from_json(row) for row in kept]
    return SnapshotFigures(
        computed_at=computed_at,
        operational=Operational.from_json(figures["operational"]),
        unserved=await unserved_list(days, int(figures["unserved_total"]), ranked, now),
        stale=now - computed_at > STALE_AFTER,
        kept_tallies=figures.get("tallies"),
    )
