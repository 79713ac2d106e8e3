"""The coordinator's cockpit: all its figures for a scope and year, cached per process, and exports."""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from alliance.core import db, exports
from alliance.core.access import Action, Principal
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.targets.cockpit_snapshots import snapshot_figures
from alliance.targets.operational import Operational, operational_figures
from alliance.targets.progress import (
    BreakdownRow,
    MonthRow,
    TargetFigure,
    by_month,
    by_partner,
    by_project,
    by_region,
    read_tallies,
)
from alliance.targets.scopes import Scope, scope_for
from alliance.targets.unserved import DEFAULT_UNSERVED_DAYS, UnservedList, unserved_households

# The cheap part of the page (targets and breakdowns, read from the tallies) is kept per scope and
# web process for this long (FigureCache). The slow part (operational figures, unserved list) comes
# from the snapshots an arq job writes (alliance/targets/cockpit_snapshots.py).
TALLIES_TTL_SECONDS = 30.0

T = TypeVar("T")


class FigureCache:
    """Cockpit figures of a scope, one per web app (process). A value younger than `ttl_seconds` is
    served as is; an older one is still served while one background task recomputes it (so only
    the very first viewer of a scope waits for the computation); concurrent misses share one."""

    def __init__(self, ttl_seconds: float = TALLIES_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._values: dict[tuple, tuple[float, Any]] = {}
        self._locks: dict[tuple, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._refreshing: dict[tuple, asyncio.Task] = {}

    async def _compute(self, key: tuple, compute: Callable[[], Awaitable[T]]) -> T:
        async with self._locks[key]:
            hit = self._values.get(key)
            if hit and time.monotonic() - hit[0] < self.ttl_seconds:
                return hit[1]
            value = await compute()
            self._values[key] = (time.monotonic(), value)
            return value

    async def get(
        self, key: tuple, compute: Callable[[], Awaitable[T]], seed: Callable[[], T | None] | None = None
    ) -> T:
        """With a `seed` (a value computed elsewhere, e.g. by a worker), a miss serves the seed at
        once and computes the value in the background, as for a stale one."""
        hit = self._values.get(key)
        seeded = seed() if hit is None and seed is not None else None
        if seeded is not None:
            hit = self._values[key] = (-math.inf, seeded)
        if hit is None:
            return await self._compute(key, compute)
        if time.monotonic() - hit[0] >= self.ttl_seconds and key not in self._refreshing:
            task = asyncio.create_task(self._compute(key, compute))
            self._refreshing[key] = task
            task.add_done_callback(lambda _done: self._refreshing.pop(key, None))
        return hit[1]

    def clear(self) -> None:
        """After a write the viewer expects to see at once (an escalation)."""
        self._values.clear()


@dataclass
class Cockpit:
    scope: Scope
    year: int
    now: datetime
    share_of_year: float
    curve: list[int] | None
    figures: list[TargetFigure]
    projects: list[BreakdownRow]
    partners: list[BreakdownRow]
    regions: list[BreakdownRow]
    months: list[MonthRow]
    # None on a page whose scope has no snapshot yet: "being prepared" (the route queues one).
    operational: Operational | None
    unserved: UnservedList | None
    figures_as_of: datetime | None  # when the operational figures and the unserved list were computed
    refresh_due: bool = False  # no snapshot, or a stale one: the route asks a worker for a new one

    def figure(self, metric: str) -> TargetFigure:
        return next(figure for figure in self.figures if figure.metric == metric)


async def cockpit(
    scope: Scope,
    year: int,
    now: datetime | None = None,
    *,
    unserved_days: int = DEFAULT_UNSERVED_DAYS,
    unserved_limit: int | None = 20,
    cache: FigureCache | None = None,
) -> Cockpit:
    """Everything the cockpit shows for a scope and year. With a `cache` (the web app's) the targets
    and breakdowns are recomputed in the background every 30 s per scope, year and language, and the
    operational figures and the unserved list come from the newest snapshot (never computed here);
    without one (the command line, tests) everything is read now."""
    now = now or utc_now()
    known = {"scope": scope, "year": year, "now": now}
    if cache is None:
        with db.reading_replica():
            tallies = await read_tallies(scope, year, now)
            operational = await operational_figures(scope, year, now)
            unserved = await unserved_households(scope, unserved_days, now, unserved_limit)
        return Cockpit(**known, **tallies, operational=operational, unserved=unserved, figures_as_of=now)
    kept = await snapshot_figures(scope, year, unserved_days, unserved_limit, now)
    key = ("cockpit", scope.region_path, year, current_language())
    # A fresh web process shows the snapshot's tallies at once and reads its own behind.
    tallies = await cache.get(
        key,
        lambda: _tallies_from_replica(scope, year, now),
        seed=kept.tallies if kept is not None else None,
    )
    if kept is None:
        return Cockpit(
            **known, **tallies, operational=None, unserved=None, figures_as_of=None, refresh_due=True
        )
    return Cockpit(
        **known,
        **tallies,
        operational=kept.operational,
        unserved=kept.unserved,
        figures_as_of=kept.computed_at,
        refresh_due=kept.stale,
    )


async def _tallies_from_replica(scope: Scope, year: int, now: datetime) -> dict[str, Any]:
    with db.reading_replica():
        return await read_tallies(scope, year, now)


def report_json(report: Cockpit) -> dict[str, Any]:
    """The `alliance report targets --json` shape (issue 7)."""
    return {
        "year": report.year,
        "region": report.scope.region_code,
        "targets": {figure.metric: figure.as_json() for figure in report.figures},
        "by_project": [
            {
                "project_id": int(row.key) if row.key else None,
                "name": row.name,
                "person_times": row.person_times,
                "deliveries": row.deliveries,
                "target": row.target,
                "organisations_joined": row.organisations_joined,
                "volunteers_joined": row.volunteers_joined,
            }
            for row in report.projects
        ],
        "by_region": [
            {
                "code": row.key,
                "name": row.name,
                "person_times": row.person_times,
                "deliveries": row.deliveries,
            }
            for row in report.regions
        ],
        "unserved": report.unserved.total if report.unserved is not None else None,
    }


async def export_rows(scope: Scope, year: int) -> list[tuple[str, str, str, int, int]]:
    """Person-times by project, partner, region and month: (breakdown, key, name, person-times,
    deliveries), what the CSV and XLSX exports hold."""
    rows: list[tuple[str, str, str, int, int]] = []
    for breakdown, found in (
        ("project", await by_project(scope, year)),
        ("partner", await by_partner(scope, year)),
        ("region", await by_region(scope, year)),
    ):
        rows += [(breakdown, row.key, row.name, row.person_times, row.deliveries) for row in found]
    rows += [
        ("month", f"{year}-{row.month:02d}", f"{year}-{row.month:02d}", row.person_times, row.deliveries)
        for row in await by_month(scope, year)
    ]
    return rows


# --- the exports as worker jobs (alliance/core/exports.py) -------------------------------------------

EXPORT_HEADER = ["breakdown", "key", "name", "person_times", "deliveries"]


async def _export_scope(principal: Principal, params: dict[str, Any]) -> Scope:
    return await scope_for(principal, params.get("region") or None)


async def _export_check(principal: Principal, params: dict[str, Any]) -> None:
    await _export_scope(principal, params)


async def _export_count(principal: Principal, params: dict[str, Any]) -> int:
    return 0  # a few thousand rows at most, known once computed


async def _export_csv_batches(principal: Principal, params: dict[str, Any]) -> AsyncIterator[list[Any]]:
    rows = await export_rows(await _export_scope(principal, params), int(params["year"]))
    for start in range(0, len(rows), exports.BATCH_ROWS):
        yield rows[start : start + exports.BATCH_ROWS]


async def _export_xlsx_batches(principal: Principal, params: dict[str, Any]) -> AsyncIterator[list[Any]]:
    async for batch in _export_csv_batches(principal, params):
        yield [
            (kind, [key, name, person_times, deliveries])
            for kind, key, name, person_times, deliveries in batch
        ]


def _export_sheets(params: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    header = [_("Code"), _("Name"), _("Person-times"), _("Deliveries")]
    return [
        ("project", _("By project"), header),
        ("partner", _("By partner"), header),
        ("region", _("By region"), header),
        ("month", _("By month"), header),
    ]


def _export_name(params: dict[str, Any], suffix: str) -> str:
    return f"person-times-{params['year']}-{params.get('region') or 'alliance'}.{suffix}"


COCKPIT_CSV_EXPORT = exports.register(
    exports.ExportKind(
        name="cockpit_csv",
        format="csv",
        action=Action.VIEW_TARGETS,
        check=_export_check,
        count=_export_count,
        batches=_export_csv_batches,
        file_name=lambda params: _export_name(params, "csv"),
        header=lambda params: list(EXPORT_HEADER),
    )
)
COCKPIT_XLSX_EXPORT = exports.register(
    exports.ExportKind(
        name="cockpit_xlsx",
        format="xlsx",
        action=Action.VIEW_TARGETS,
        check=_export_check,
        count=_export_count,
        batches=_export_xlsx_batches,
        file_name=lambda params: _export_name(params, "xlsx"),
        sheets=_export_sheets,
    )
)
