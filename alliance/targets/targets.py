"""Yearly targets and the coordinator's cockpit: what was delivered against what was planned.

Services: `set_target` and `set_monthly_curve` (admins; every change kept in TargetChange) and
`escalate_household` (a coordinator's one click on the unserved list). Selectors take a `Scope` (a
region subtree the principal may see) and a year and return plain data; every delivery figure is a
sum over the running totals of alliance/targets/tallies.py, never a count of service records. Definitions,
pace and forecast: docs/targets.md.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Subquery
from tortoise.functions import Min
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import ACTIVE_REQUEST_STATUSES, RequestStatus, Role, TargetMetric, VisitStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.core.timeutil import LOCAL_TZ, aware, utc_now
from alliance.households.models import Flag, Household
from alliance.households.needs import request_priority
from alliance.matching.claims import TransitionKind, transition_reason
from alliance.matching.models import Match, RequestTransition, ServiceRequest
from alliance.partners.models import Partner, Project, Volunteer
from alliance.targets.models import Target, TargetChange
from alliance.visits.models import ServiceRecord, Visit

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
# Before a week of the year has passed the pace says nothing: the forecast is then the actual.
MIN_FORECAST_SHARE = 7 / 365
DEFAULT_UNSERVED_DAYS = 30
# Open requests by age, in days: [0, 7), [7, 30), [30, 90), [90, ...).
AGE_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 7), (7, 30), (30, 90), (90, None))
# The cockpit page is recomputed in the background when its figures are older than this, per scope
# and web process (FigureCache): the operational figures scan requests and records, and distinct
# participants of a large subtree are many rows. The command line always reads everything now.
OPERATIONAL_TTL_SECONDS = 30.0


# --- scope ------------------------------------------------------------------------------------


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


# --- services ---------------------------------------------------------------------------------


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


def _whole_number(value: Any, field_name: str) -> int:
    text = str(value).strip().replace(",", "")
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput({field_name: _("Enter a whole number, 0 or more.")})
    return int(text)


async def set_target(
    principal: Principal, year: int, metric: str, value: Any, scope_key: str = ALLIANCE_SCOPE
) -> Target:
    """Create or change one yearly target; the old and new value go to TargetChange."""
    require(principal, Action.EDIT_TARGETS)
    if metric not in {item.value for item in TargetMetric}:
        raise InvalidInput({"metric": _("Unknown target.")})
    if not 2000 <= int(year) <= 2100:
        raise InvalidInput({"year": _("Choose a year between 2000 and 2100.")})
    number = _whole_number(value, "value")
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
    values = [_whole_number(share, "curve") for share in shares]
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


async def escalate_household(principal: Principal, household_id: int, note: str = "") -> int:
    """Escalate the household's active requests that are not escalated yet (from the unserved list).
    The history gets an "escalate" transition per request; returns how many were escalated."""
    require(principal, Action.ASSIGN_REQUESTS)
    await get_visible(principal, Action.VIEW_HOUSEHOLDS, household_id)
    now = utc_now()
    escalated = 0
    async with in_transaction():
        requests = await visible(principal, Action.ASSIGN_REQUESTS).filter(
            household_id=household_id, status__in=list(ACTIVE_REQUEST_STATUSES), escalated=False
        )
        for request in requests:
            changed = await ServiceRequest.filter(id=request.id, escalated=False).update(
                escalated=True, escalated_at=now, updated_at=now
            )
            if not changed:
                continue
            escalated += 1
            await RequestTransition.create(
                request_id=request.id,
                from_status=request.status,
                to_status=request.status,
                actor_id=principal.user_id,
                reason=transition_reason(TransitionKind.ESCALATE, note or "unserved list"),
            )
            await record(principal, "request.escalated", "service_request", request.id, {"from": "cockpit"})
    return escalated


# --- pace and forecast ------------------------------------------------------------------------


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=LOCAL_TZ), datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)


def year_share(year: int, now: datetime, curve: Sequence[int] | None = None) -> float:
    """The share (0..1) of the year's target due by `now`: the elapsed part of the year (pro-rata of
    time), or with a monthly curve the shares of the months gone plus the elapsed part of this one."""
    start, end = _year_bounds(year)
    local = now.astimezone(LOCAL_TZ)
    if local <= start:
        return 0.0
    if local >= end:
        return 1.0
    if not curve or sum(curve) == 0:
        return (local - start) / (end - start)
    month_start = datetime(year, local.month, 1, tzinfo=LOCAL_TZ)
    month_end = datetime(year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=LOCAL_TZ)
    done = sum(curve[: local.month - 1])
    this_month = curve[local.month - 1] * ((local - month_start) / (month_end - month_start))
    return (done + this_month) / sum(curve)


def month_end_share(year: int, month: int, curve: Sequence[int] | None = None) -> float:
    """The share due by the end of `month` (1..12)."""
    if month >= 12:
        return 1.0
    return year_share(year, datetime(year, month + 1, 1, tzinfo=LOCAL_TZ), curve)


def expected_by(target: int | None, share: float) -> int | None:
    return None if target is None else round(target * share)


def forecast_year_end(actual: int, share: float, ceiling: int | None = None) -> int:
    """Year-end forecast: the actual extended at the pace so far along the same curve, i.e.
    actual / share-due-by-today (pro-rata: the daily run-rate times the days of the year). After the
    year it is the actual; in the first week, too early to tell, also the actual. Distinct counts
    (projects, organisations, volunteers) are capped by how many exist (`ceiling`)."""
    if share >= 1.0 or share < MIN_FORECAST_SHARE:
        return actual
    projected = math.floor(actual / share + 0.5)
    if ceiling is not None:
        projected = min(projected, max(ceiling, actual))
    return max(projected, actual)


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


# --- reading the tallies ----------------------------------------------------------------------


def _connection() -> BaseDBAsyncClient:
    return Tortoise.get_connection("default")


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


async def target_figures(scope: Scope, year: int, now: datetime | None = None) -> list[TargetFigure]:
    """Actual, target, expected by today and forecast of the four yearly targets."""
    now = now or utc_now()
    targets = await _targets_of(year, scope)
    share = year_share(year, now, await monthly_curve(year))
    person_times = int((await _tally_sums(scope, year, None))[0]["person_times"] or 0)
    actual = {
        TargetMetric.PROJECTS: await _participants(scope, year, "project"),
        TargetMetric.ORGANISATIONS: await _participants(scope, year, "partner"),
        TargetMetric.VOLUNTEERS: await _participants(scope, year, "volunteer"),
        TargetMetric.PERSON_TIMES: person_times,
    }
    ceilings = {
        TargetMetric.PROJECTS: await Project.filter(year=year).count(),
        TargetMetric.ORGANISATIONS: await Partner.filter(status="approved").count(),
        TargetMetric.VOLUNTEERS: await Volunteer.filter(active=True).count(),
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
    # Projects of the year with a target but nothing delivered yet are shown too.
    seen = {row.key for row in rows}
    rows += [
        BreakdownRow(str(project_id), names.get(project_id, ""), 0, 0, target)
        for project_id, target in targets.items()
        if str(project_id) not in seen
    ]
    return sorted(rows, key=lambda row: (-row.person_times, row.name))


async def by_partner(scope: Scope, year: int, month: int | None = None) -> list[BreakdownRow]:
    sums = await _tally_sums(scope, year, "partner", month)
    names = dict(await Partner.filter(id__in=[row["key"] for row in sums]).values_list("id", "name"))
    rows = [
        BreakdownRow(
            str(row["key"]), names.get(row["key"], ""), int(row["person_times"]), int(row["deliveries"])
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


# --- operational figures (requests, visits, flags) ---------------------------------------------


@dataclass(frozen=True)
class Operational:
    open_by_age: list[tuple[str, int]]  # (bucket label, open requests)
    open_total: int
    without_candidate: int
    median_days_to_first_service: float | None
    households_served: int
    claims_waiting: int
    visits_missed: int


def age_bucket_label(low: int, high: int | None) -> str:
    if high is None:
        return _("{low} days or more").format(low=low)
    return _("{low}–{high} days").format(low=low, high=high - 1)


def _households_in(scope: Scope) -> Any:
    # Subqueries rather than joins: the scope is a handful of region codes, matched by index.
    regions = Region.filter(path__startswith=scope.region_path).values("code")
    return Household.filter(region_id__in=Subquery(regions)).values("id")


def _requests_in(scope: Scope) -> Any:
    if not scope.region_path:
        return ServiceRequest.all()
    return ServiceRequest.filter(household_id__in=Subquery(_households_in(scope)))


async def operational_figures(scope: Scope, year: int, now: datetime | None = None) -> Operational:
    now = now or utc_now()
    created = await _requests_in(scope).filter(status=RequestStatus.OPEN).values_list("created_at", flat=True)
    ages = [(now - aware(moment)).total_seconds() / 86400 for moment in created]
    buckets = [
        (age_bucket_label(low, high), sum(1 for age in ages if age >= low and (high is None or age < high)))
        for low, high in AGE_BUCKETS
    ]
    without_candidate = (
        await _requests_in(scope)
        .filter(status=RequestStatus.OPEN, matched_at__isnull=False)
        .exclude(id__in=Subquery(Match.all().values("request_id")))
        .count()
    )
    claims_waiting = await _requests_in(scope).filter(status=RequestStatus.CLAIMED).count()
    start, end = _year_bounds(year)
    missed = Visit.filter(status=VisitStatus.MISSED, window_start__gte=start, window_start__lt=end)
    if scope.region_path:
        missed = missed.filter(request_id__in=Subquery(_requests_in(scope).values("id")))
    median, served = await _median_days_to_first_service(scope, year)
    return Operational(
        open_by_age=buckets,
        open_total=len(ages),
        without_candidate=without_candidate,
        median_days_to_first_service=median,
        households_served=served,
        claims_waiting=claims_waiting,
        visits_missed=await missed.count(),
    )


_MEDIAN_SQL = """
WITH served AS (
    SELECT sr.household_id, MIN(rec.completed_at) AS first_done
    FROM service_record rec JOIN visit v ON v.id = rec.visit_id JOIN service_request sr ON sr.id = v.request_id
    WHERE sr.household_id IN (
        SELECT id FROM household WHERE region_id IN (SELECT code FROM region WHERE path LIKE $1))
    GROUP BY sr.household_id
), flagged AS (
    SELECT household_id, MIN(detected_at) AS first_flag FROM flag
    WHERE household_id IN (SELECT household_id FROM served) GROUP BY household_id
)
SELECT percentile_cont(0.5) WITHIN GROUP (
           ORDER BY GREATEST(0, EXTRACT(EPOCH FROM (s.first_done - f.first_flag)) / 86400.0)) AS median,
       COUNT(*) AS households
FROM served s JOIN flagged f ON f.household_id = s.household_id
WHERE s.first_done >= $2 AND s.first_done < $3
"""


async def _median_days_to_first_service(scope: Scope, year: int) -> tuple[float | None, int]:
    """Median days from a household's first flag to its first completed service, over the households
    of the scope first served in `year` (PostgreSQL computes it in one statement)."""
    start, end = _year_bounds(year)
    connection = _connection()
    if connection.capabilities.dialect == "postgres":
        row = (await connection.execute_query_dict(_MEDIAN_SQL, [scope.region_path + "%", start, end]))[0]
        median = row["median"]
        return (round(float(median), 1) if median is not None else None), int(row["households"] or 0)
    records = ServiceRecord.all()
    if scope.region_path:
        records = records.filter(visit__request__household_id__in=Subquery(_households_in(scope)))
    first_served = {
        household_id: aware(moment)
        for household_id, moment in await records.annotate(first=Min("completed_at"))
        .group_by("visit__request__household_id")
        .values_list("visit__request__household_id", "first")
        if moment is not None
    }
    first_served = {key: moment for key, moment in first_served.items() if start <= moment < end}
    first_flag: dict[int, Any] = {}
    ids = list(first_served)
    for offset in range(0, len(ids), 5000):
        first_flag.update(
            await Flag.filter(household_id__in=ids[offset : offset + 5000])
            .annotate(first=Min("detected_at"))
            .group_by("household_id")
            .values_list("household_id", "first")
        )
    days = [
        max(0.0, (first_served[household_id] - aware(flagged)).total_seconds() / 86400)
        for household_id, flagged in first_flag.items()
        if flagged is not None
    ]
    return (round(statistics.median(days), 1) if days else None), len(days)


def _json_list(value: Any) -> list[str]:
    # Raw SQL returns JSON columns as text (PostgreSQL jsonb through asyncpg, SQLite).
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return [str(item) for item in value or []]


# --- the unserved list ------------------------------------------------------------------------


@dataclass(frozen=True)
class UnservedHousehold:
    id: int
    head_name: str
    external_id: str
    region_name: str
    member_count: int
    flags: list[str]
    accessibility: list[str]
    first_flag_at: datetime
    days_waiting: int
    priority: int
    open_request_id: int | None  # the assign flow's page (alliance.claims.assign_request)
    active_requests: int
    escalated: bool


@dataclass
class UnservedList:
    days: int
    total: int
    rows: list[UnservedHousehold] = field(default_factory=list)


async def unserved_households(
    scope: Scope, days: int = DEFAULT_UNSERVED_DAYS, now: datetime | None = None, limit: int | None = 50
) -> UnservedList:
    """Households with an active flag detected `days` or more ago and no completed service since:
    the most vulnerable first (alliance.needs.request_priority of flags, accessibility and size),
    then the longest waiting."""
    now = now or utc_now()
    # One pass: every active flag of the scope's households with no completed visit, with what the
    # ranking needs (size, accessibility); names and requests are read for the rows shown only.
    first_flag: dict[int, datetime] = {}
    flags: dict[int, list[str]] = defaultdict(list)
    facts: dict[int, tuple[int, list[str]]] = {}
    for row in await _rows(
        'SELECT h.id AS "id", h.member_count AS "members", h.accessibility AS "accessibility", '
        'f.code AS "code", f.detected_at AS "detected_at" FROM household h '
        "JOIN flag f ON f.household_id = h.id "
        "WHERE f.active AND h.region_id IN (SELECT code FROM region WHERE path LIKE {p1}) "
        "AND NOT EXISTS (SELECT 1 FROM service_request sr JOIN visit v ON v.request_id = sr.id "
        "WHERE sr.household_id = h.id AND v.status = 'completed')",
        [scope.region_path + "%"],
    ):
        household_id = row["id"]
        detected = aware(row["detected_at"])
        if household_id not in first_flag or detected < first_flag[household_id]:
            first_flag[household_id] = detected
        flags[household_id].append(str(row["code"]))
        if household_id not in facts:
            facts[household_id] = (row["members"], _json_list(row["accessibility"]))
    cutoff = now - timedelta(days=days)
    waiting = {household_id: first for household_id, first in first_flag.items() if first <= cutoff}
    result = UnservedList(days=days, total=len(waiting))
    if not waiting:
        return result
    priority = {
        household_id: request_priority(flags[household_id], facts[household_id][1], facts[household_id][0])
        for household_id in waiting
    }
    ranked = sorted(
        waiting, key=lambda household_id: (-priority[household_id], waiting[household_id], household_id)
    )
    shown = ranked if limit is None else ranked[:limit]
    details = {
        row["id"]: row
        for row in await Household.filter(id__in=shown).values(
            "id", "head_name", "external_id", "region__name", "region__name_en"
        )
    }
    requests: dict[int, list[tuple[int, str, bool]]] = defaultdict(list)
    for request_id, household_id, status, escalated in (
        await ServiceRequest.filter(household_id__in=shown, status__in=list(ACTIVE_REQUEST_STATUSES))
        .order_by("id")
        .values_list("id", "household_id", "status", "escalated")
    ):
        requests[household_id].append((request_id, str(status), escalated))
    for household_id in shown:
        row = details[household_id]
        active = requests.get(household_id, [])
        open_ids = [request_id for request_id, status, _e in active if status == RequestStatus.OPEN]
        result.rows.append(
            UnservedHousehold(
                id=household_id,
                head_name=row["head_name"],
                external_id=row["external_id"],
                region_name=_region_name(row["region__name"], row["region__name_en"]),
                member_count=facts[household_id][0],
                flags=sorted(flags[household_id]),
                accessibility=facts[household_id][1],
                first_flag_at=waiting[household_id],
                days_waiting=(now - waiting[household_id]).days,
                priority=priority[household_id],
                open_request_id=open_ids[0] if open_ids else (active[0][0] if active else None),
                active_requests=len(active),
                escalated=bool(active) and all(escalated for _i, _s, escalated in active),
            )
        )
    return result


# --- the cockpit ------------------------------------------------------------------------------

T = TypeVar("T")


class FigureCache:
    """Cockpit figures of a scope, one per web app (process). A value younger than `ttl_seconds` is
    served as is; an older one is still served while one background task recomputes it (so only
    the very first viewer of a scope waits for the computation); concurrent misses share one."""

    def __init__(self, ttl_seconds: float = OPERATIONAL_TTL_SECONDS) -> None:
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

    async def get(self, key: tuple, compute: Callable[[], Awaitable[T]]) -> T:
        hit = self._values.get(key)
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
    operational: Operational
    unserved: UnservedList

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
    """Everything the cockpit shows for a scope and year. With a `cache` (the web app's) the result
    is recomputed in the background every 30 s per scope, year and language, so the page may be up
    to 30 s plus one computation behind; without one (the command line, tests) everything is read now."""
    if cache is not None:
        key = ("cockpit", scope.region_path, year, current_language(), unserved_days, unserved_limit)
        return await cache.get(
            key,
            lambda: cockpit(scope, year, now, unserved_days=unserved_days, unserved_limit=unserved_limit),
        )
    now = now or utc_now()
    curve = await monthly_curve(year)
    operational = await operational_figures(scope, year, now)
    unserved = await unserved_households(scope, unserved_days, now, unserved_limit)
    return Cockpit(
        scope=scope,
        year=year,
        now=now,
        share_of_year=year_share(year, now, curve),
        curve=curve,
        figures=await target_figures(scope, year, now),
        projects=await by_project(scope, year),
        partners=await by_partner(scope, year),
        regions=await by_region(scope, year),
        months=await by_month(scope, year, now),
        operational=operational,
        unserved=unserved,
    )


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
        "unserved": report.unserved.total,
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


async def region_breadcrumb(principal: Principal, scope: Scope) -> list[tuple[str, str]]:
    """(code, name) from the principal's own region down to the scope: the drill-down trail."""
    codes = _codes(scope.region_path)
    own = principal.region_path or "/"
    trail = [code for position, code in enumerate(codes) if _path_of(codes[: position + 1]).startswith(own)]
    names = {
        code: _region_name(name, name_en)
        for code, name, name_en in await Region.filter(code__in=trail).values_list("code", "name", "name_en")
    }
    return [(code, names.get(code, code)) for code in trail]


def _path_of(codes: list[str]) -> str:
    return "/" + "/".join(codes) + "/"
