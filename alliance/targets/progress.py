"""Delivered against the targets, from the tallies: the four yearly figures and the breakdowns."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from alliance.core import db
from alliance.core.codes import TargetMetric
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.partners.models import Partner, Project
from alliance.targets.growth import growth_by_project, growth_in
from alliance.targets.models import Target
from alliance.targets.pace import expected_by, forecast_year_end, month_end_share, year_share
from alliance.targets.scopes import Scope, _codes, _region_name
from alliance.targets.targets import METRICS, _targets_of, monthly_curve


@dataclass(frozen=True)
class TargetFigure:
    metric: str
    target: int | None
    actual: int
    expected_by_today: int | None
    forecast: int

    @property
    def status(self) -> str:
        """ "on_track" when the actual reaches what the pace expects by today, else "behind"."""
        if self.target is None or self.expected_by_today is None:
            return "no_target"
        return "on_track" if self.actual >= self.expected_by_today else "behind"

    @property
    def percent_of_target(self) -> int | None:
        if not self.target:
            return None
        return math.floor(100 * self.actual / self.target)

    def as_json(self) -> dict[str, int | None]:
        return {
            "target": self.target,
            "actual": self.actual,
            "expected_by_today": self.expected_by_today,
            "forecast": self.forecast,
        }


def _connection() -> BaseDBAsyncClient:
    # Inside the cockpit (db.reading_replica) the read replica, when one is configured.
    return db.read_connection()


def _holes(connection: BaseDBAsyncClient, count: int) -> list[str]:
    if connection.capabilities.dialect == "postgres":
        return [f"${position}" for position in range(1, count + 1)]
    return ["?"] * count


async def _rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    connection = _connection()
    holes = iter(_holes(connection, len(params)))
    return await connection.execute_query_dict(sql.format_map(_Holes(holes)), params)


class _Holes(dict):
    # "{}" in the SQL text below is the next parameter's placeholder ($n or ?).
    def __init__(self, holes: Any) -> None:
        super().__init__()
        self.holes = holes

    def __missing__(self, key: str) -> str:
        return next(self.holes)


async def _tally_sums(
    scope: Scope, year: int, group: str | None, month: int | None = None
) -> list[dict[str, Any]]:
    column = {
        None: "",
        "project": '"project_id"',
        "partner": '"partner_id"',
        "region": '"region_path"',
        "month": '"month"',
    }[group]
    select = f'{column} AS "key", ' if column else ""
    grouping = f" GROUP BY {column}" if column else ""
    in_month = ' AND "month" = {p3}' if month else ""
    return await _rows(
        f'SELECT {select}COALESCE(SUM("person_times"), 0) AS "person_times", '
        f'COALESCE(SUM("deliveries"), 0) AS "deliveries" FROM "delivery_tally" '
        f'WHERE "year" = {{p1}} AND "region_path" LIKE {{p2}}{in_month}{grouping}',
        [year, scope.region_path + "%"] + ([month] if month else []),
    )


async def _participants(scope: Scope, year: int, kind: str) -> int:
    extra = {
        "project": "",
        "partner": ' AND "ref_id" IN (SELECT "id" FROM "partner" WHERE "status" = \'approved\')',
        "volunteer": ' AND "ref_id" IN (SELECT "id" FROM "volunteer" WHERE "active")',
    }[kind]
    rows = await _rows(
        'SELECT COUNT(DISTINCT "ref_id") AS "n" FROM "delivery_participant" '
        f'WHERE "year" = {{p1}} AND "kind" = {{p2}} AND "region_path" LIKE {{p3}}{extra}',
        [year, kind, scope.region_path + "%"],
    )
    return int(rows[0]["n"] or 0)


async def target_figures(scope: Scope, year: int, now: datetime | None = None) -> list[TargetFigure]:
    """Actual, target, expected by today and forecast of the four yearly targets."""
    now = now or utc_now()
    targets = await _targets_of(year, scope)
    share = year_share(year, now, await monthly_curve(year))
    person_times = int((await _tally_sums(scope, year, None))[0]["person_times"] or 0)
    # Organisations and volunteers count the alliance's growth: joined (first approved) and recruited
    # (active with an approved partner) in the year (alliance/targets/growth.py).
    growth = await growth_in(scope, year)
    actual = {
        TargetMetric.PROJECTS: await _participants(scope, year, "project"),
        TargetMetric.ORGANISATIONS: growth.organisations,
        TargetMetric.VOLUNTEERS: growth.volunteers,
        TargetMetric.PERSON_TIMES: person_times,
    }
    ceilings = {
        TargetMetric.PROJECTS: await Project.filter(year=year).count(),
        TargetMetric.ORGANISATIONS: None,
        TargetMetric.VOLUNTEERS: None,
        TargetMetric.PERSON_TIMES: None,
    }
    figures = []
    for metric in METRICS:
        target = targets.get(metric.value)
        figures.append(
            TargetFigure(
                metric=metric.value,
                target=target,
                actual=actual[metric],
                expected_by_today=expected_by(target, share),
                forecast=forecast_year_end(actual[metric], share, ceilings[metric]),
            )
        )
    return figures


@dataclass(frozen=True)
class BreakdownRow:
    key: str  # project id, partner id, region code or month number, as text ("" = none)
    name: str
    person_times: int
    deliveries: int
    target: int | None = None
    drillable: bool = False
    # Projects only: organisations joined and volunteers recruited for the project this year.
    organisations_joined: int = 0
    volunteers_joined: int = 0


async def by_project(scope: Scope, year: int, month: int | None = None) -> list[BreakdownRow]:
    sums = await _tally_sums(scope, year, "project", month)
    names = {
        project_id: _region_name(name, name_en)
        for project_id, name, name_en in await Project.all().values_list("id", "name", "name_en")
    }
    targets: dict[int, int] = {}
    if scope.is_root and not month:
        targets = {
            project_id: value
            for project_id, value in await Project.filter(year=year).values_list("id", "target_person_times")
            if value
        }
        for project_id, value in await Target.filter(
            year=year, metric=TargetMetric.PERSON_TIMES, scope_key__startswith="project:"
        ).values_list("project_id", "value"):
            targets[project_id] = value
    rows = [
        BreakdownRow(
            key=str(row["key"] or ""),
            name=names.get(row["key"], _("No project")) if row["key"] else _("No project"),
            person_times=int(row["person_times"]),
            deliveries=int(row["deliveries"]),
            target=targets.get(row["key"]) if row["key"] else None,
        )
        for row in sums
    ]
    # Projects of the year with a target, or that grew, but nothing delivered yet are shown too.
    grown = await growth_by_project(scope, year) if not month else {}
    seen = {row.key for row in rows}
    rows += [
        BreakdownRow(str(project_id), names.get(project_id, ""), 0, 0, targets.get(project_id))
        for project_id in sorted(set(targets) | set(grown))
        if str(project_id) not in seen
    ]
    rows = [
        replace(
            row,
            organisations_joined=grown[int(row.key)].organisations
            if row.key and int(row.key) in grown
            else 0,
            volunteers_joined=grown[int(row.key)].volunteers if row.key and int(row.key) in grown else 0,
        )
        for row in rows
    ]
    return sorted(rows, key=lambda row: (-row.person_times, row.name))


async def by_partner(scope: Scope, year: int, month: int | None = None) -> list[BreakdownRow]:
    sums = await _tally_sums(scope, year, "partner", month)
    names = dict(
        await Partner.filter(id__in=[row["key"] for row in sums if row["key"]]).values_list("id", "name")
    )
    # No partner: the community workers' regular visits (docs/regular-visits.md).
    rows = [
        BreakdownRow(
            str(row["key"] or ""),
            names.get(row["key"], "") if row["key"] else _("Community workers"),
            int(row["person_times"]),
            int(row["deliveries"]),
        )
        for row in sums
    ]
    return sorted(rows, key=lambda row: (-row.person_times, row.name))


async def by_region(scope: Scope, year: int, month: int | None = None) -> list[BreakdownRow]:
    """One level below the scope (city → districts → towns → communities), each a drill-down step."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in await _tally_sums(scope, year, "region", month):
        codes = _codes(str(row["key"]))
        if len(codes) <= scope.depth:
            continue  # delivered in the scope's own region, not below it
        child = totals[codes[scope.depth]]
        child[0] += int(row["person_times"])
        child[1] += int(row["deliveries"])
    children = (
        await Region.filter(parent_id=scope.region_code)
        if scope.region_code
        else await Region.filter(parent_id=None)
    )
    with_children = set(
        await Region.filter(parent_id__in=[child.code for child in children]).values_list(
            "parent_id", flat=True
        )
    )
    rows = [
        BreakdownRow(
            child.code,
            _region_name(child.name, child.name_en),
            totals.get(child.code, [0, 0])[0],
            totals.get(child.code, [0, 0])[1],
            drillable=child.code in with_children,
        )
        for child in children
    ]
    return sorted(rows, key=lambda row: (-row.person_times, row.key))


@dataclass(frozen=True)
class MonthRow:
    month: int
    person_times: int
    deliveries: int
    cumulative: int | None  # None for months still to come
    expected_cumulative: int | None


async def by_month(scope: Scope, year: int, now: datetime | None = None) -> list[MonthRow]:
    now = (now or utc_now()).astimezone(LOCAL_TZ)
    sums = {int(row["key"]): row for row in await _tally_sums(scope, year, "month")}
    target = (await _targets_of(year, scope)).get(TargetMetric.PERSON_TIMES.value)
    curve = await monthly_curve(year)
    last_month = 12 if now.year > year else (now.month if now.year == year else 0)
    rows: list[MonthRow] = []
    cumulative = 0
    for month in range(1, 13):
        found = sums.get(month, {"person_times": 0, "deliveries": 0})
        cumulative += int(found["person_times"])
        rows.append(
            MonthRow(
                month,
                int(found["person_times"]),
                int(found["deliveries"]),
                cumulative if month <= last_month else None,
                expected_by(target, month_end_share(year, month, curve)),
            )
        )
    return rows


async def read_tallies(scope: Scope, year: int, now: datetime) -> dict[str, Any]:
    """The cockpit's targets and breakdowns (what `Cockpit` takes besides scope, year and now): sums
    over the tallies kept in each delivery's transaction. Names are in the current language."""
    curve = await monthly_curve(year)
    return {
        "share_of_year": year_share(year, now, curve),
        "curve": curve,
        "figures": await target_figures(scope, year, now),
        "projects": await by_project(scope, year),
        "partners": await by_partner(scope, year),
        "regions": await by_region(scope, year),
        "months": await by_month(scope, year, now),
    }


def tallies_as_json(tallies: dict[str, Any]) -> dict[str, Any]:
    """For the cockpit's snapshot: a fresh web process shows these until it has read its own."""
    return {
        "share_of_year": tallies["share_of_year"],
        "curve": tallies["curve"],
        **{
            name: [asdict(row) for row in tallies[name]]
            for name in ("figures", "projects", "partners", "regions", "months")
        },
    }


def tallies_from_json(kept: dict[str, Any]) -> dict[str, Any]:
    return {
        "share_of_year": kept["share_of_year"],
        "curve": kept["curve"],
        "figures": [TargetFigure(**row) for row in kept["figures"]],
        **{name: [BreakdownRow(**row) for row in kept[name]] for name in ("projects", "partners", "regions")},
        "months": [MonthRow(**row) for row in kept["months"]],
    }
