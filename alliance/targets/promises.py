"""Response promises (issue 18, item 4): per need, a first contact and a service within so many working
days (Monday–Friday, less the public holidays, plus the adjusted working days of
alliance/targets/holidays.py) of the request, set per region and inherited down the region tree; and the share
of requests that kept them, per region, partner and need, with the late ones listed.

"First contact" is the request's first claim or assignment (its first transition out of open);
"service" is its first service record, else its closing as completed. Every figure is one set-based
SQL statement (SQLite and PostgreSQL), never a loop over requests in Python.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from alliance.core import exports
from alliance.core.access import Action, Principal, require, visible
from alliance.core.audit import record
from alliance.core.codes import NeedCode, Role
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region, User
from alliance.core.timeutil import LOCAL_TZ, aware, utc_now
from alliance.partners.models import Partner
from alliance.targets.holidays import WorkingCalendar, working_calendar
from alliance.targets.models import PromiseSnapshot, ResponsePromise
from alliance.targets.progress import _connection, _rows
from alliance.targets.scopes import Scope, _codes, _region_name, scope_for, scope_of_region

DEFAULT_FIRST_CONTACT_DAYS = 3
DEFAULT_SERVICE_DAYS = 15
MAX_PROMISE_DAYS = 120
MAX_LATE_SHOWN = 200
# Working days are counted from this Monday: a day's number is the working days since it, a Saturday
# and Sunday keeping the Friday's number. Days between two moments = the difference of their numbers.
_EPOCH = date(2000, 1, 3)

ON_TIME = "on_time"
MET_LATE = "met_late"
OPEN_LATE = "open_late"
PENDING = "pending"  # not met yet, still within the promise
VOID = "void"  # cancelled before it was met: no promise to keep


def working_day_number(day: date, calendar: WorkingCalendar | None = None) -> int:
    """The working days from the epoch Monday to `day` (weekend days and holidays count as the working
    day before), after the working calendar's holidays and adjusted working days."""
    days = (day - _EPOCH).days
    shift = calendar.shift_until(day) if calendar is not None else 0
    return days // 7 * 5 + min(days % 7, 4) + shift


def working_days_between(start: date, end: date, calendar: WorkingCalendar | None = None) -> int:
    """Working days after `start` up to and including `end`: Friday → next Wednesday is 3."""
    return working_day_number(end, calendar) - working_day_number(start, calendar)


def _day_number_sql(column: str, dialect: str) -> str:
    """The same number as working_day_number, of a stored UTC moment's day in Asia/Shanghai (UTC+8,
    no summer time), in SQL."""
    if dialect == "postgres":
        local_day = f"CAST(({column} AT TIME ZONE 'Asia/Shanghai') AS DATE)"
        days = f"({local_day} - DATE '{_EPOCH.isoformat()}')"
    else:
        local_day = f"date({column}, '+8 hours')"
        days = f"CAST(julianday({local_day}) - julianday('{_EPOCH.isoformat()}') AS INTEGER)"
    # The holidays and adjusted working days up to that day (alliance/targets/holidays.py).
    shift = f'(SELECT COALESCE(SUM(hd."shift"), 0) FROM "calendar_day" hd WHERE hd."day" <= {local_day})'
    return f"(({days}) / 7 * 5 + CASE WHEN ({days}) % 7 > 4 THEN 4 ELSE ({days}) % 7 END + {shift})"


# --- the promises of a region ---------------------------------------------------------------------------

NEEDS = tuple(NeedCode)


@dataclass(frozen=True)
class Promise:
    first_contact_days: int
    service_days: int


async def promises_for(region_paths: list[str]) -> dict[str, dict[str, Promise]]:
    """Each region path's promise per need: its own value, else its nearest ancestor's, else the
    default; the two durations are inherited each on its own. One query."""
    codes = {code for path in region_paths for code in _codes(path)}
    rows = await ResponsePromise.filter(region_id__in=list(codes)).values_list(
        "region_id", "need", "first_contact_days", "service_days"
    )
    own = {(str(code), need): (contact, service) for code, need, contact, service in rows}
    found: dict[str, dict[str, Promise]] = {}
    for path in set(region_paths):
        chain = list(reversed(_codes(path)))

        def nearest(need: str, position: int, default: int, chain: list[str] = chain) -> int:
            for code in chain:
                value = own.get((code, need), (None, None))[position]
                if value is not None:
                    return int(value)
            return default

        found[path] = {
            need.value: Promise(
                nearest(need.value, 0, DEFAULT_FIRST_CONTACT_DAYS),
                nearest(need.value, 1, DEFAULT_SERVICE_DAYS),
            )
            for need in NEEDS
        }
    return found


async def region_promises(principal: Principal) -> tuple[Region, dict[str, Promise], dict[str, tuple]]:
    """The coordinator's region, its effective promises and the values it sets itself."""
    require(principal, Action.SET_RESPONSE_PROMISES)
    region = (
        await visible(principal, Action.SET_RESPONSE_PROMISES)
        .filter(code=principal.region_code or "")
        .first()
    )
    if region is None:
        raise NotFound("region")
    effective = (await promises_for([region.path]))[region.path]
    own = {
        str(need): (contact, service)
        for need, contact, service in await ResponsePromise.filter(region_id=region.code).values_list(
            "need", "first_contact_days", "service_days"
        )
    }
    return region, effective, own


def _days(text: str, need: str, errors: dict[str, str], key: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_PROMISE_DAYS:
        errors[key] = _("{need}: a promise is a whole number of working days from 1 to 120.").format(
            need=label(need)
        )
    return days


async def set_region_promises(principal: Principal, values: Mapping[str, str]) -> dict[str, tuple]:
    """Set (a number) or clear (empty: inherit) the region's first-contact and service days of each
    need (form fields `NEED_contact`, `NEED_service`); all or nothing, audited."""
    region, _effective, own = await region_promises(principal)
    errors: dict[str, str] = {}
    wanted: dict[str, tuple[int | None, int | None]] = {}
    for need in NEEDS:
        contact = _days(
            str(values.get(f"{need.value}_contact", "")), need.value, errors, f"{need.value}_contact"
        )
        service = _days(
            str(values.get(f"{need.value}_service", "")), need.value, errors, f"{need.value}_service"
        )
        if contact and service and service < contact and f"{need.value}_service" not in errors:
            errors[f"{need.value}_service"] = _(
                "{need}: service cannot be promised before first contact."
            ).format(need=label(need.value))
        wanted[need.value] = (contact, service)
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        for need, (contact, service) in wanted.items():
            if contact is None and service is None:
                await ResponsePromise.filter(region_id=region.code, need=need).delete()
            elif not await ResponsePromise.filter(region_id=region.code, need=need).update(
                first_contact_days=contact, service_days=service, updated_by_id=principal.user_id
            ):
                await ResponsePromise.create(
                    region_id=region.code,
                    need=need,
                    first_contact_days=contact,
                    service_days=service,
                    updated_by_id=principal.user_id,
                )
        after = {need: list(pair) for need, pair in wanted.items() if pair != (None, None)}
        await record(
            principal,
            "response_promise.set",
            "region",
            region.code,
            {"before": {need: list(pair) for need, pair in own.items()}, "after": after},
        )
    return after


# --- kept or late ---------------------------------------------------------------------------------------


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    # In UTC: SQLite compares the stored text, which is UTC.
    return (
        datetime(year, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC),
        datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC),
    )


def _promise_sql(column: str, default: int) -> str:
    # The nearest region up the household's path with its own value for the need (a tiny table).
    return (
        f'COALESCE((SELECT p."{column}" FROM "response_promise" p JOIN "region" pr ON pr."code" = p."region_id" '
        f'WHERE p."need" = r."need_id" AND p."{column}" IS NOT NULL AND rg."path" LIKE pr."path" || \'%\' '
        f'ORDER BY LENGTH(pr."path") DESC LIMIT 1), {default})'
    )


def _classified_sql(dialect: str) -> str:
    """Each request of the scope created in the period with its two promise states. Parameters: the
    scope's path prefix, the period's start and end, today's working-day number (twice)."""
    created = _day_number_sql('r."created_at"', dialect)
    reached = ("claimed", "scheduled", "in_service", "completed")
    reached_sql = ", ".join(f"'{status}'" for status in reached)
    base = (
        'SELECT r."id", r."need_id" AS "need", r."status", r."claimed_by_id" AS "partner_id", '
        'r."household_id", rg."path" AS "region_path", r."created_at", '
        f"{created} AS created_day, "
        '(SELECT MIN(t."at") FROM "request_transition" t WHERE t."request_id" = r."id" '
        f'AND t."to_status" IN ({reached_sql})) AS "contacted_at", '
        'COALESCE((SELECT MIN(s."completed_at") FROM "service_record" s JOIN "visit" v ON v."id" = s."visit_id" '
        'WHERE v."request_id" = r."id"), (SELECT MIN(t."at") FROM "request_transition" t '
        'WHERE t."request_id" = r."id" AND t."to_status" = \'completed\')) AS "served_at", '
        f"{_promise_sql('first_contact_days', DEFAULT_FIRST_CONTACT_DAYS)} AS contact_days, "
        f"{_promise_sql('service_days', DEFAULT_SERVICE_DAYS)} AS service_days "
        'FROM "service_request" r JOIN "household" h ON h."id" = r."household_id" '
        'JOIN "region" rg ON rg."code" = h."region_id" '
        'WHERE rg."path" LIKE {p1} AND r."created_at" >= {p2} AND r."created_at" < {p3}'
    )

    def state(moment: str, days: str) -> str:
        column = 'b."' + moment + '"'
        return (
            f"CASE WHEN {column} IS NOT NULL THEN (CASE WHEN "
            f"{_day_number_sql(column, dialect)} - b.created_day <= b.{days} "
            f"THEN '{ON_TIME}' ELSE '{MET_LATE}' END) "
            f"WHEN b.\"status\" = 'cancelled' THEN '{VOID}' "
            f"WHEN {{p4}} - b.created_day > b.{days} THEN '{OPEN_LATE}' ELSE '{PENDING}' END"
        )

    return (
        f"WITH b AS MATERIALIZED ({base}), c AS (SELECT b.*, {state('contacted_at', 'contact_days')} AS contact, "
        f"{state('served_at', 'service_days')} AS service FROM b) "
    )


async def _params(scope: Scope, year: int, now: datetime) -> list[Any]:
    start, end = _year_bounds(year)
    today = working_day_number(now.astimezone(LOCAL_TZ).date(), await working_calendar())
    # Today's number twice: once for each promise's state.
    return [scope.region_path + "%", start, end, today, today]


@dataclass
class Kept:
    """How many requests kept a promise: met on time, met late, still open and late (pending ones —
    not met, still within the promise — are not counted yet)."""

    on_time: int = 0
    met_late: int = 0
    open_late: int = 0
    pending: int = 0

    @property
    def due(self) -> int:
        return self.on_time + self.met_late + self.open_late

    @property
    def percent(self) -> int | None:
        return round(100 * self.on_time / self.due) if self.due else None


@dataclass
class PromiseRow:
    key: str
    name: str
    contact: Kept = field(default_factory=Kept)
    service: Kept = field(default_factory=Kept)
    drillable: bool = False


_STATE_SUMS = ", ".join(
    f"SUM(CASE WHEN c.{kind} = '{state}' THEN 1 ELSE 0 END) AS {kind}_{state}"
    for kind in ("contact", "service")
    for state in (ON_TIME, MET_LATE, OPEN_LATE, PENDING)
)


async def _grouped(scope: Scope, year: int, now: datetime, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    dialect = _connection().capabilities.dialect
    keys = ", ".join(f'c."{column}"' for column in columns)
    select = "".join(f'c."{column}" AS "{column}", ' for column in columns)
    grouping = f" GROUP BY {keys}" if columns else ""
    return await _rows(
        _classified_sql(dialect) + f"SELECT {select}{_STATE_SUMS} FROM c{grouping}",
        await _params(scope, year, now),
    )


def _kept(row: Mapping[str, Any], kind: str) -> Kept:
    return Kept(*(int(row[f"{kind}_{state}"] or 0) for state in (ON_TIME, MET_LATE, OPEN_LATE, PENDING)))


def _add(into: Kept, more: Kept) -> None:
    into.on_time += more.on_time
    into.met_late += more.met_late
    into.open_late += more.open_late
    into.pending += more.pending


@dataclass(frozen=True)
class LateRow:
    request_id: int
    household_id: int
    need: str
    region_name: str
    partner_name: str
    created_at: datetime
    promise: str  # "contact" or "service"
    state: str  # MET_LATE or OPEN_LATE
    working_days: int  # taken so far (open) or taken (met)
    promised_days: int


@dataclass
class PromiseReport:
    scope: Scope
    year: int
    total: PromiseRow
    by_region: list[PromiseRow]
    by_partner: list[PromiseRow]
    by_need: list[PromiseRow]
    late: list[LateRow]
    more_late: bool


@dataclass
class PromiseBreakdowns:
    total: PromiseRow
    by_region: list[PromiseRow]
    by_partner: list[PromiseRow]
    by_need: list[PromiseRow]


async def _grouped_rows(scope: Scope, year: int, now: datetime) -> list[dict[str, Any]]:
    """The classification of the scope's requests, grouped by community, partner and need: plain
    values (what the snapshot keeps)."""
    return [
        {
            "region_path": str(row["region_path"]),
            "partner_id": int(row["partner_id"]) if row["partner_id"] else None,
            "need": str(row["need"]),
            **{
                f"{kind}_{state}": int(row[f"{kind}_{state}"] or 0)
                for kind in ("contact", "service")
                for state in (ON_TIME, MET_LATE, OPEN_LATE, PENDING)
            },
        }
        for row in await _grouped(scope, year, now, ("region_path", "partner_id", "need"))
    ]


async def promise_breakdowns(scope: Scope, year: int, now: datetime | None = None) -> PromiseBreakdowns:
    """The total and the breakdowns by region, partner and need: one classification of the scope's
    requests, grouped by community, partner and need and added up here (the counts are additive;
    classifying once per breakdown took four times as long)."""
    return await _assemble(scope, await _grouped_rows(scope, year, now or utc_now()))


async def _assemble(scope: Scope, grouped: list[dict[str, Any]]) -> PromiseBreakdowns:
    """The breakdowns from the grouped rows, with the names in the reader's language."""
    # Regions: one level below the scope, rolled up from the communities' rows.
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
    regions = {
        child.code: PromiseRow(
            child.code, _region_name(child.name, child.name_en), drillable=child.code in with_children
        )
        for child in children
    }
    total = PromiseRow("", scope.region_name)
    partners: dict[Any, PromiseRow] = {}
    needs: dict[str, PromiseRow] = {}
    for row in grouped:
        contact, service = _kept(row, "contact"), _kept(row, "service")
        into = [total, partners.setdefault(row["partner_id"], PromiseRow(str(row["partner_id"] or ""), ""))]
        into.append(needs.setdefault(str(row["need"]), PromiseRow(str(row["need"]), label(str(row["need"])))))
        codes = _codes(str(row["region_path"]))
        if len(codes) > scope.depth and codes[scope.depth] in regions:
            into.append(regions[codes[scope.depth]])
        for target in into:
            _add(target.contact, contact)
            _add(target.service, service)
    partner_names = dict(
        await Partner.filter(id__in=[key for key in partners if key]).values_list("id", "name")
    )
    for key, row in partners.items():
        row.name = partner_names.get(key, "") if key else _("Not claimed")
    return PromiseBreakdowns(
        total=total,
        by_region=sorted(regions.values(), key=lambda row: row.key),
        by_partner=sorted(partners.values(), key=lambda row: (row.key == "", row.name)),
        by_need=sorted(needs.values(), key=lambda row: row.key),
    )


async def promise_report(
    scope: Scope, year: int, now: datetime | None = None, late_limit: int = MAX_LATE_SHOWN
) -> PromiseReport:
    """Promises kept in the scope, for the requests created in the year."""
    now = now or utc_now()
    found = await promise_breakdowns(scope, year, now)
    late, more = await late_requests(scope, year, now, late_limit)
    return PromiseReport(
        scope=scope,
        year=year,
        total=found.total,
        by_region=found.by_region,
        by_partner=found.by_partner,
        by_need=found.by_need,
        late=late,
        more_late=more,
    )


async def late_requests(
    scope: Scope, year: int, now: datetime | None = None, limit: int = MAX_LATE_SHOWN
) -> tuple[list[LateRow], bool]:
    """The requests that broke a promise (open and late, or met late), oldest first; one row per
    promise broken. The second value says whether more than `limit` were found."""
    rows, more, today = await _late_rows(scope, year, now or utc_now(), limit)
    return await _late_assemble(rows, today), more


async def _late_rows(
    scope: Scope, year: int, now: datetime, limit: int
) -> tuple[list[dict[str, Any]], bool, int]:
    """The late requests as plain values (what the snapshot keeps), whether there are more, and
    today's working-day number they were counted against."""
    dialect = _connection().capabilities.dialect
    today = working_day_number(now.astimezone(LOCAL_TZ).date(), await working_calendar())
    late_states = f"('{MET_LATE}', '{OPEN_LATE}')"
    contacted = _day_number_sql('c."contacted_at"', dialect)
    served = _day_number_sql('c."served_at"', dialect)
    rows = await _rows(
        _classified_sql(dialect)
        + 'SELECT c."id", c."household_id", c."need", c."partner_id", c."region_path", c."created_at", '
        "c.created_day, c.contact, c.service, c.contact_days, c.service_days, "
        f"{contacted} AS contacted_day, {served} AS served_day "
        f"FROM c WHERE c.contact IN {late_states} OR c.service IN {late_states} "
        f'ORDER BY c."created_at", c."id" LIMIT {int(limit) + 1}',
        await _params(scope, year, now),
    )
    plain = [
        {
            **{key: row[key] for key in ("contact", "service", "need", "region_path")},
            **{
                key: int(row[key]) if row[key] is not None else None
                for key in (
                    "id",
                    "household_id",
                    "partner_id",
                    "created_day",
                    "contact_days",
                    "service_days",
                    "contacted_day",
                    "served_day",
                )
            },
            "created_at": _moment(row["created_at"]).isoformat(),
        }
        for row in rows[:limit]
    ]
    return plain, len(rows) > limit, today


async def _late_assemble(rows: list[dict[str, Any]], today: int) -> list[LateRow]:
    """One row per promise broken, with the community's and the partner's names."""
    paths = {str(row["region_path"]) for row in rows}
    community = {path: _codes(path)[-1] for path in paths if _codes(path)}
    names = {
        code: _region_name(name, name_en)
        for code, name, name_en in await Region.filter(code__in=list(community.values())).values_list(
            "code", "name", "name_en"
        )
    }
    partners = dict(
        await Partner.filter(id__in=[row["partner_id"] for row in rows if row["partner_id"]]).values_list(
            "id", "name"
        )
    )
    found: list[LateRow] = []
    for row in rows:
        for promise, day_column, days_column in (
            ("contact", "contacted_day", "contact_days"),
            ("service", "served_day", "service_days"),
        ):
            state = row[promise]
            if state not in (MET_LATE, OPEN_LATE):
                continue
            reached = row[day_column] if state == MET_LATE else today
            found.append(
                LateRow(
                    request_id=int(row["id"]),
                    household_id=int(row["household_id"]),
                    need=str(row["need"]),
                    region_name=names.get(community.get(str(row["region_path"]), ""), ""),
                    partner_name=partners.get(row["partner_id"], "") if row["partner_id"] else "",
                    created_at=_moment(row["created_at"]),
                    promise=promise,
                    state=state,
                    working_days=int(reached) - int(row["created_day"]),
                    promised_days=int(row[days_column]),
                )
            )
    return found


# --- the snapshot the page and the exports read (a worker writes it) ---------------------------------

# A snapshot older than this is shown with its time and computed again; the cron renews the viewed
# scopes' current year every half hour.
SNAPSHOT_STALE = timedelta(minutes=45)


async def write_snapshot(scope: Scope, year: int, now: datetime | None = None) -> PromiseSnapshot:
    """Classify the scope's requests of the year and keep the grouped counts and the oldest late
    requests (the worker's part: minutes for a city at ten million visits)."""
    started = time.monotonic()
    now = now or utc_now()
    grouped = await _grouped_rows(scope, year, now)
    late, more, today = await _late_rows(scope, year, now, MAX_LATE_SHOWN)
    fields = {
        "computed_at": now,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "figures": {"grouped": grouped, "late": late, "more_late": more, "today": today},
    }
    key = scope.region_code or ""
    if not await PromiseSnapshot.filter(region_code=key, year=year).update(**fields):
        await PromiseSnapshot.create(region_code=key, year=year, **fields)
    return await PromiseSnapshot.get(region_code=key, year=year)


async def snapshot_of(scope: Scope, year: int) -> PromiseSnapshot | None:
    return await PromiseSnapshot.get_or_none(region_code=scope.region_code or "", year=year)


async def report_from_snapshot(scope: Scope, year: int, snapshot: PromiseSnapshot) -> PromiseReport:
    """The page's report from a snapshot, the names in the reader's language."""
    figures = snapshot.figures
    found = await _assemble(scope, figures["grouped"])
    return PromiseReport(
        scope=scope,
        year=year,
        total=found.total,
        by_region=found.by_region,
        by_partner=found.by_partner,
        by_need=found.by_need,
        late=await _late_assemble(figures["late"], int(figures["today"])),
        more_late=bool(figures["more_late"]),
    )


def is_stale(snapshot: PromiseSnapshot, now: datetime | None = None) -> bool:
    return (now or utc_now()) - aware(snapshot.computed_at) > SNAPSHOT_STALE


def snapshot_job_id(region_code: str | None, year: int, now: datetime | None = None) -> str:
    # One job per scope, year and ten minutes: viewers of a scope without a fresh snapshot share it.
    moment = now or utc_now()
    return f"promises:{region_code or 'alliance'}:{year}:{moment:%Y%m%d%H}{moment.minute // 10}"


async def refresh_snapshots(
    region_code: str | None = None, year: int | None = None, now: datetime | None = None
) -> dict[str, int]:
    """The cron's part: this year's snapshot of every scope someone looks at (each coordinator's
    region, the whole alliance, any scope with a snapshot this year), or of one scope and year when
    a viewer found it missing or stale."""
    now = now or utc_now()
    year = year or now.astimezone(LOCAL_TZ).year
    if region_code is not None:
        codes = {region_code}
    else:
        codes = {""} | set(await PromiseSnapshot.filter(year=year).values_list("region_code", flat=True))
        codes |= {
            str(code)
            for code in await User.filter(
                role=Role.COORDINATOR, is_active=True, region_id__isnull=False
            ).values_list("region_id", flat=True)
        }
    written = 0
    for code in sorted(codes):
        try:
            scope = await scope_of_region(code or None)
        except NotFound:  # a region removed since: its snapshots go
            await PromiseSnapshot.filter(region_code=code).delete()
            continue
        await write_snapshot(scope, year, now)
        written += 1
    return {"snapshots": written}


def _moment(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def promise_export_rows(report: PromiseReport | PromiseBreakdowns) -> list[list[object]]:
    """The report as one table (breakdown, key, name, then on time / met late / open late / pending /
    percent of each promise) for the CSV export."""
    table: list[list[object]] = []
    for breakdown, rows in (
        ("total", [report.total]),
        ("region", report.by_region),
        ("partner", report.by_partner),
        ("need", report.by_need),
    ):
        for row in rows:
            table.append(
                [
                    breakdown,
                    row.key,
                    row.name,
                    *(
                        value
                        for kept in (row.contact, row.service)
                        for value in (kept.on_time, kept.met_late, kept.open_late, kept.pending, kept.percent)
                    ),
                ]
            )
    return table


def working_days_label(days: int) -> str:
    return _("{days} working days").format(days=days)


# --- the CSV and XLSX exports (a worker job, alliance/core/exports.py) ---------------------------------------------

EXPORT_HEADER = [
    "breakdown",
    "key",
    "name",
    *(
        f"{kind}_{state}"
        for kind in ("contact", "service")
        for state in (ON_TIME, MET_LATE, OPEN_LATE, PENDING, "percent")
    ),
]


async def _export_scope(principal: Principal, params: dict[str, Any]) -> Scope:
    return await scope_for(principal, params.get("region") or None)


async def _export_check(principal: Principal, params: dict[str, Any]) -> None:
    await _export_scope(principal, params)


async def _export_count(principal: Principal, params: dict[str, Any]) -> int:
    return 0  # a few hundred rows, known once computed


async def _export_batches(principal: Principal, params: dict[str, Any]) -> AsyncIterator[list[Any]]:
    # The breakdowns only, not the page's list of late requests: from the scope's snapshot when a
    # fresh one is there (what the page shows), else one classification of the requests.
    scope, year = await _export_scope(principal, params), int(params["year"])
    snapshot = await snapshot_of(scope, year)
    if snapshot is not None and not is_stale(snapshot):
        found: PromiseBreakdowns = await _assemble(scope, snapshot.figures["grouped"])
    else:
        found = await promise_breakdowns(scope, year)
    rows = promise_export_rows(found)
    for start in range(0, len(rows), exports.BATCH_ROWS):
        yield rows[start : start + exports.BATCH_ROWS]


async def _export_xlsx_rows(principal: Principal, params: dict[str, Any]) -> AsyncIterator[list[Any]]:
    # One sheet per breakdown; the first cell (the breakdown) names the sheet.
    async for batch in _export_batches(principal, params):
        yield [(cells[0], cells[1:]) for cells in batch]


def _export_sheets(params: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    header = [
        _("Key"),
        _("Name"),
        *(
            f"{promise}: {state}"
            for promise in (_("First contact"), _("Service"))
            for state in (
                _("on time"),
                _("met late"),
                _("open and late"),
                _("not due yet"),
                _("Share on time (%)"),
            )
        ),
    ]
    return [
        ("total", _("Total"), header),
        ("region", _("By region"), header),
        ("partner", _("By partner"), header),
        ("need", _("By need"), header),
    ]


def _export_name(params: dict[str, Any], suffix: str) -> str:
    return f"promises-{params['year']}-{params.get('region') or 'alliance'}.{suffix}"


PROMISES_CSV_EXPORT = exports.register(
    exports.ExportKind(
        name="promises_csv",
        format="csv",
        action=Action.VIEW_TARGETS,
        check=_export_check,
        count=_export_count,
        batches=_export_batches,
        file_name=lambda params: _export_name(params, "csv"),
        header=lambda params: list(EXPORT_HEADER),
    )
)
PROMISES_XLSX_EXPORT = exports.register(
    exports.ExportKind(
        name="promises_xlsx",
        format="xlsx",
        action=Action.VIEW_TARGETS,
        check=_export_check,
        count=_export_count,
        batches=_export_xlsx_rows,
        file_name=lambda params: _export_name(params, "xlsx"),
        sheets=_export_sheets,
    )
)
