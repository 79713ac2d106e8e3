"""The supervision page's figures (issue 18): open risks by aspect and age, overdue regular visits and
follow-ups, the requests not served per NEED (a household helped with one need and not another is
still unserved for the other), breakdowns by flag and accessibility need, and a symbol map of the
region's communities. An arq cron computes them per scope into `SupervisionSnapshot` rows (set-based
SQL, SQLite and PostgreSQL), so no page waits for them; the lists of names are read per page, paged."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alliance.core import exports
from alliance.core.access import Action, Principal
from alliance.core.codes import (
    ACTIVE_REQUEST_STATUSES,
    Accessibility,
    ContactPreference,
    FlagCode,
    RegionLevel,
    RequestStatus,
    RiskAspect,
    RiskLevel,
    Role,
)
from alliance.core.errors import NotFound
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.models import Region, User
from alliance.core.timeutil import LOCAL_TZ, aware, utc_now
from alliance.households.models import NeedCategory
from alliance.targets.models import SupervisionSnapshot
from alliance.targets.progress import _rows
from alliance.targets.scopes import Scope, _region_name, scope_for, scope_of_region
from alliance.targets.unserved import DEFAULT_UNSERVED_DAYS

# Open risks are grouped by how long ago they were found.
RISK_AGE_BUCKETS = ("0-7", "8-30", "31-90", "90+")
_BUCKET_EDGES = (8, 31, 91)  # a risk found fewer than 8 days ago is 0-7 days old, and so on
NO_SMARTPHONE = "NO_SMARTPHONE"
ACCESSIBILITY_CODES = (*(code.value for code in Accessibility), NO_SMARTPHONE)
# Reached by a voice call or through the community worker: no smartphone to read a link on.
_NO_SMARTPHONE_PREFERENCES = (ContactPreference.VOICE.value, ContactPreference.COMMUNITY_WORKER.value)
MONTHS_KEPT = 12
PAGE_SIZE = 50

_ACTIVE = ", ".join(f"'{status.value}'" for status in sorted(ACTIVE_REQUEST_STATUSES))
_OPEN_LEVELS = f"'{RiskLevel.MEDIUM.value}', '{RiskLevel.HIGH.value}'"
_IN_SCOPE = "h.region_id IN (SELECT code FROM region WHERE path LIKE {path})"
_UNSERVED = f"sr.status IN ({_ACTIVE}) AND sr.created_at <= {{cutoff}}"


def _path(scope: Scope) -> str:
    return scope.region_path + "%"


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=LOCAL_TZ)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=LOCAL_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_key(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return f"{local.year:04d}-{local.month:02d}"


def _previous_months(now: datetime, count: int = MONTHS_KEPT) -> list[str]:
    local = now.astimezone(LOCAL_TZ)
    year, month = local.year, local.month
    keys = []
    for _i in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return keys


# --- the figures (the cron's part) ------------------------------------------------------------------


async def _risks(scope: Scope, now: datetime) -> dict[str, dict[str, int]]:
    """Open risks (medium or high, not resolved) of regular visits and volunteers' risk checks, by
    aspect and by the age bucket of when they were found."""
    edges = [now - timedelta(days=days) for days in _BUCKET_EDGES]
    bucket = (
        "CASE WHEN {found} > {e0} THEN 0 WHEN {found} > {e1} THEN 1 WHEN {found} > {e2} THEN 2 ELSE 3 END"
    )
    regular = bucket.replace("{found}", "v.checked_in_at")
    checks = bucket.replace("{found}", "rec.completed_at")
    sql = (
        'SELECT x.aspect AS "aspect", x.bucket AS "bucket", COUNT(*) AS "n" FROM ('
        f"SELECT r.aspect AS aspect, {regular} AS bucket FROM regular_risk r "
        "JOIN regular_visit v ON v.id = r.visit_id JOIN household h ON h.id = r.household_id "
        f"WHERE r.resolved_at IS NULL AND r.level IN ({_OPEN_LEVELS}) AND {_IN_SCOPE} "
        "UNION ALL "
        f"SELECT c.aspect AS aspect, {checks} AS bucket FROM risk_check c "
        "JOIN service_record rec ON rec.id = c.record_id JOIN household h ON h.id = c.household_id "
        f"WHERE c.resolved_at IS NULL AND c.level IN ({_OPEN_LEVELS}) AND {_IN_SCOPE}"
        ") x GROUP BY x.aspect, x.bucket"
    )
    found: dict[str, dict[str, int]] = {
        aspect.value: dict.fromkeys((*RISK_AGE_BUCKETS, "total"), 0) for aspect in RiskAspect
    }
    for row in await _rows(sql, [*edges, _path(scope), *edges, _path(scope)]):
        aspect = found.setdefault(str(row["aspect"]), dict.fromkeys((*RISK_AGE_BUCKETS, "total"), 0))
        aspect[RISK_AGE_BUCKETS[int(row["bucket"])]] += int(row["n"])
        aspect["total"] += int(row["n"])
    return found


async def _overdue(scope: Scope, today: date) -> dict[str, Any]:
    """Regular visits past their due day (the stored worklists), by community and by worker; and the
    regular visits' follow-ups past their due day, by aspect."""
    rows = await _rows(
        'SELECT h.region_id AS "code", d.worker_id AS "worker", COUNT(*) AS "n", MIN(d.due_on) AS "oldest" '
        f"FROM regular_due d JOIN household h ON h.id = d.household_id WHERE d.due_on < {{today}} AND {_IN_SCOPE} "
        "GROUP BY h.region_id, d.worker_id",
        [today, _path(scope)],
    )
    by_community: dict[str, int] = defaultdict(int)
    by_worker: dict[int, int] = defaultdict(int)
    for row in rows:
        by_community[str(row["code"])] += int(row["n"])
        by_worker[int(row["worker"])] += int(row["n"])
    regions = {
        code: (name, name_en)
        for code, name, name_en in await Region.filter(code__in=list(by_community)).values_list(
            "code", "name", "name_en"
        )
    }
    workers = {
        user_id: display or username
        for user_id, display, username in await User.filter(id__in=list(by_worker)).values_list(
            "id", "display_name", "username"
        )
    }
    follow_ups = await _rows(
        'SELECT r.aspect AS "aspect", COUNT(*) AS "n", '
        'SUM(CASE WHEN r.escalated_at IS NULL THEN 0 ELSE 1 END) AS "escalated" FROM regular_risk r '
        "JOIN household h ON h.id = r.household_id WHERE r.resolved_at IS NULL "
        f"AND r.level IN ({_OPEN_LEVELS}) AND r.due_on < {{today}} AND {_IN_SCOPE} GROUP BY r.aspect",
        [today, _path(scope)],
    )
    return {
        "visits_total": sum(by_community.values()),
        "by_community": sorted(
            (
                {
                    "code": code,
                    "name": regions.get(code, (code, ""))[0],
                    "name_en": regions.get(code, (code, ""))[1],
                    "count": count,
                }
                for code, count in by_community.items()
            ),
            key=lambda row: (-row["count"], row["code"]),
        ),
        "by_worker": sorted(
            (
                {"id": user_id, "name": workers.get(user_id, str(user_id)), "count": count}
                for user_id, count in by_worker.items()
            ),
            key=lambda row: (-row["count"], row["name"]),
        ),
        "follow_ups_total": sum(int(row["n"]) for row in follow_ups),
        "follow_ups_escalated": sum(int(row["escalated"] or 0) for row in follow_ups),
        "follow_ups_by_aspect": {str(row["aspect"]): int(row["n"]) for row in follow_ups},
    }


async def _unserved(scope: Scope, cutoff: datetime) -> dict[str, Any]:
    """Requests active (not completed nor cancelled) for `days` or more, per need: one household
    counts once per need it still waits for."""
    by_need = await _rows(
        'SELECT sr.need_id AS "need", COUNT(*) AS "n" FROM service_request sr '
        f"JOIN household h ON h.id = sr.household_id WHERE {_UNSERVED} AND {_IN_SCOPE} GROUP BY sr.need_id",
        [cutoff, _path(scope)],
    )
    households = await _rows(
        'SELECT COUNT(DISTINCT sr.household_id) AS "n" FROM service_request sr '
        f"JOIN household h ON h.id = sr.household_id WHERE {_UNSERVED} AND {_IN_SCOPE}",
        [cutoff, _path(scope)],
    )
    counts = {str(row["need"]): int(row["n"]) for row in by_need}
    return {
        "needs_total": sum(counts.values()),
        "households": int(households[0]["n"] or 0) if households else 0,
        "by_need": dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
    }


async def _flags(scope: Scope, cutoff: datetime) -> dict[str, dict[str, int]]:
    households = await _rows(
        'SELECT f.code AS "code", COUNT(DISTINCT f.household_id) AS "n" FROM flag f '
        f"JOIN household h ON h.id = f.household_id WHERE f.active AND {_IN_SCOPE} GROUP BY f.code",
        [_path(scope)],
    )
    unserved = await _rows(
        'SELECT f.code AS "code", COUNT(DISTINCT sr.household_id) AS "households", '
        'COUNT(DISTINCT sr.id) AS "needs" FROM flag f JOIN household h ON h.id = f.household_id '
        f"JOIN service_request sr ON sr.household_id = h.id WHERE f.active AND {_UNSERVED} AND {_IN_SCOPE} "
        "GROUP BY f.code",
        [cutoff, _path(scope)],
    )
    found = {
        code.value: {"households": 0, "unserved_households": 0, "unserved_needs": 0} for code in FlagCode
    }
    for row in households:
        found[str(row["code"])]["households"] = int(row["n"])
    for row in unserved:
        found[str(row["code"])].update(
            unserved_households=int(row["households"]), unserved_needs=int(row["needs"])
        )
    return found


def _has(code: str) -> str:
    if code == NO_SMARTPHONE:
        return "h.contact_preference IN (" + ", ".join(f"'{p}'" for p in _NO_SMARTPHONE_PREFERENCES) + ")"
    # JSON list as text on both databases (SQLite text, PostgreSQL jsonb cast): the quoted code.
    return f"CAST(h.accessibility AS TEXT) LIKE '%\"{code}\"%'"


async def _accessibility(scope: Scope, cutoff: datetime) -> dict[str, dict[str, int]]:
    columns = ", ".join(
        f'SUM(CASE WHEN {_has(code)} THEN 1 ELSE 0 END) AS "h_{code}", '
        f'SUM(CASE WHEN {_has(code)} AND u.needs IS NOT NULL THEN 1 ELSE 0 END) AS "u_{code}", '
        f'SUM(CASE WHEN {_has(code)} THEN COALESCE(u.needs, 0) ELSE 0 END) AS "n_{code}"'
        for code in ACCESSIBILITY_CODES
    )
    rows = await _rows(
        f'SELECT COUNT(*) AS "households", {columns} FROM household h LEFT JOIN ('
        "SELECT sr.household_id AS household_id, COUNT(*) AS needs FROM service_request sr "
        f"WHERE {_UNSERVED} GROUP BY sr.household_id) u ON u.household_id = h.id WHERE {_IN_SCOPE}",
        [cutoff, _path(scope)],
    )
    row = rows[0] if rows else {}
    return {
        code: {
            "households": int(row.get(f"h_{code}") or 0),
            "unserved_households": int(row.get(f"u_{code}") or 0),
            "unserved_needs": int(row.get(f"n_{code}") or 0),
        }
        for code in ACCESSIBILITY_CODES
    }


async def _communities(scope: Scope, cutoff: datetime) -> list[dict[str, Any]]:
    """The scope's communities with their centroid, households and households waiting (the map)."""
    regions = await Region.filter(
        path__startswith=scope.region_path, level=RegionLevel.COMMUNITY
    ).values_list("code", "name", "name_en", "lat", "lon")
    totals = {
        str(row["code"]): int(row["n"])
        for row in await _rows(
            f'SELECT h.region_id AS "code", COUNT(*) AS "n" FROM household h WHERE {_IN_SCOPE} GROUP BY h.region_id',
            [_path(scope)],
        )
    }
    waiting = {
        str(row["code"]): int(row["n"])
        for row in await _rows(
            'SELECT h.region_id AS "code", COUNT(DISTINCT sr.household_id) AS "n" FROM service_request sr '
            f"JOIN household h ON h.id = sr.household_id WHERE {_UNSERVED} AND {_IN_SCOPE} GROUP BY h.region_id",
            [cutoff, _path(scope)],
        )
    }
    return sorted(
        (
            {
                "code": code,
                "name": name,
                "name_en": name_en,
                "lat": lat,
                "lon": lon,
                "households": totals.get(code, 0),
                "unserved_households": waiting.get(code, 0),
            }
            for code, name, name_en, lat, lon in regions
        ),
        key=lambda row: (-row["unserved_households"], row["code"]),
    )


async def _month(scope: Scope, month: str) -> dict[str, int]:
    """What happened in one month: regular visits done, risks found and resolved, requests opened
    and completed, in the scope."""
    start, end = _month_bounds(month)

    async def count(sql: str) -> int:
        rows = await _rows('SELECT COUNT(*) AS "n" ' + sql, [start, end, _path(scope)])
        return int(rows[0]["n"] or 0) if rows else 0

    within = ">= {start} AND {at} < {end}"
    return {
        "regular_visits": await count(
            "FROM regular_visit v JOIN household h ON h.id = v.household_id "
            f"WHERE v.checked_out_at {within.replace('{at}', 'v.checked_out_at')} AND {_IN_SCOPE}"
        ),
        "risks_found": await count(
            "FROM regular_risk r JOIN regular_visit v ON v.id = r.visit_id JOIN household h ON h.id = r.household_id "
            f"WHERE r.level IN ({_OPEN_LEVELS}) AND v.checked_in_at {within.replace('{at}', 'v.checked_in_at')} "
            f"AND {_IN_SCOPE}"
        ),
        "risks_resolved": await count(
            "FROM regular_risk r JOIN household h ON h.id = r.household_id "
            f"WHERE r.resolved_at {within.replace('{at}', 'r.resolved_at')} AND {_IN_SCOPE}"
        ),
        "requests_opened": await count(
            "FROM service_request sr JOIN household h ON h.id = sr.household_id "
            f"WHERE sr.created_at {within.replace('{at}', 'sr.created_at')} AND {_IN_SCOPE}"
        ),
        "requests_completed": await count(
            "FROM request_transition t JOIN service_request sr ON sr.id = t.request_id "
            "JOIN household h ON h.id = sr.household_id "
            f"WHERE t.to_status = '{RequestStatus.COMPLETED.value}' "
            f"AND t.at {within.replace('{at}', 't.at')} AND {_IN_SCOPE}"
        ),
    }


async def compute_figures(
    scope: Scope, now: datetime | None = None, days: int = DEFAULT_UNSERVED_DAYS
) -> dict:
    """Every figure of the supervision page for a scope, as JSON (what the snapshot keeps)."""
    now = now or utc_now()
    today = now.astimezone(LOCAL_TZ).date()
    cutoff = now - timedelta(days=days)
    households = await _rows(f'SELECT COUNT(*) AS "n" FROM household h WHERE {_IN_SCOPE}', [_path(scope)])
    return {
        "days": days,
        "today": today.isoformat(),
        "households": int(households[0]["n"] or 0) if households else 0,
        "risks": await _risks(scope, now),
        "overdue": await _overdue(scope, today),
        "unserved": await _unserved(scope, cutoff),
        "flags": await _flags(scope, cutoff),
        "accessibility": await _accessibility(scope, cutoff),
        "communities": await _communities(scope, cutoff),
        "months": {month: await _month(scope, month) for month in _previous_months(now)},
    }


async def write_snapshot(scope: Scope, now: datetime | None = None) -> SupervisionSnapshot:
    started = time.monotonic()
    now = now or utc_now()
    figures = await compute_figures(scope, now)
    fields = {
        "computed_at": now,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "figures": figures,
    }
    key = scope.region_code or ""
    if not await SupervisionSnapshot.filter(region_code=key).update(**fields):
        await SupervisionSnapshot.create(region_code=key, **fields)
    return await SupervisionSnapshot.get(region_code=key)


def snapshot_job_id(region_code: str | None, now: datetime | None = None) -> str:
    # One job per scope and hour: viewers of a scope with no snapshot yet share it.
    return f"supervision:{region_code or 'alliance'}:{(now or utc_now()):%Y%m%d%H}"


async def refresh_snapshots(region_code: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """The cron's part: the snapshot of every scope someone looks at (each coordinator's region, the
    whole alliance, and any scope already drilled into), or of one region when given."""
    if region_code is not None:
        codes = {region_code}
    else:
        codes = {""} | set(await SupervisionSnapshot.all().values_list("region_code", flat=True))
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
        except NotFound:  # a region removed since: its snapshot goes
            await SupervisionSnapshot.filter(region_code=code).delete()
            continue
        await write_snapshot(scope, now)
        written += 1
    return {"snapshots": written}


async def snapshot_for(scope: Scope) -> SupervisionSnapshot | None:
    return await SupervisionSnapshot.get_or_none(region_code=scope.region_code or "")


# --- the page's lists (paged, names only here) -------------------------------------------------------


@dataclass(frozen=True)
class UnservedNeed:
    request_id: int
    household_id: int
    head_name: str
    external_id: str
    region_name: str
    need: str
    status: str
    created_at: datetime
    days_waiting: int
    escalated: bool


_LIST_SQL = (
    'SELECT sr.id AS "id", sr.household_id AS "household_id", sr.need_id AS "need", sr.status AS "status", '
    'sr.created_at AS "created_at", sr.escalated AS "escalated", h.head_name AS "head_name", '
    'h.external_id AS "external_id", g.name AS "region", g.name_en AS "region_en" '
    "FROM service_request sr JOIN household h ON h.id = sr.household_id JOIN region g ON g.code = h.region_id "
    f"WHERE {_UNSERVED} AND {_IN_SCOPE}"
)


async def unserved_needs(
    scope: Scope,
    need: str = "",
    page: int = 1,
    *,
    days: int = DEFAULT_UNSERVED_DAYS,
    now: datetime | None = None,
    page_size: int = PAGE_SIZE,
    after_id: int | None = None,
) -> tuple[list[UnservedNeed], bool]:
    """One page of the requests waiting `days` or more (oldest first), for one need or all; and
    whether there is a next page. `after_id` walks the whole list by id (the export)."""
    now = now or utc_now()
    sql = _LIST_SQL
    params: list[Any] = [now - timedelta(days=days), _path(scope)]
    if need:
        sql += " AND sr.need_id = {need}"
        params.append(need)
    if after_id is not None:
        sql += " AND sr.id > {after}"
        params.append(after_id)
        sql += f" ORDER BY sr.id LIMIT {int(page_size) + 1}"
    else:
        sql += f" ORDER BY sr.created_at, sr.id LIMIT {int(page_size) + 1} OFFSET {(max(1, page) - 1) * page_size}"
    rows = await _rows(sql, params)
    more = len(rows) > page_size
    result = []
    for row in rows[:page_size]:
        created = (
            aware(row["created_at"]) if isinstance(row["created_at"], datetime) else _parse(row["created_at"])
        )
        result.append(
            UnservedNeed(
                request_id=int(row["id"]),
                household_id=int(row["household_id"]),
                head_name=str(row["head_name"]),
                external_id=str(row["external_id"]),
                region_name=_region_name(str(row["region"]), str(row["region_en"] or "")),
                need=str(row["need"]),
                status=str(row["status"]),
                created_at=created,
                days_waiting=(now - created).days,
                escalated=bool(row["escalated"]),
            )
        )
    return result, more


def _parse(value: Any) -> datetime:
    return aware(datetime.fromisoformat(str(value)))


async def need_names() -> dict[str, str]:
    chinese = current_language() == "zh_CN"
    return {
        str(code): (zh if chinese else en or zh)
        for code, zh, en in await NeedCategory.all().values_list("code", "name_zh", "name_en")
    }


# --- the export of the unserved-per-need list (alliance/core/exports.py) -----------------------------

UNSERVED_NEEDS_HEADER = [
    "request_id",
    "household_id",
    "external_id",
    "head_name",
    "region",
    "need",
    "status",
    "created_at",
    "days_waiting",
    "escalated",
]


async def _export_scope(principal: Principal, params: dict[str, Any]) -> Scope:
    return await scope_for(principal, params.get("region") or None)


async def _export_check(principal: Principal, params: dict[str, Any]) -> None:
    await _export_scope(principal, params)


async def _export_count(principal: Principal, params: dict[str, Any]) -> int:
    scope = await _export_scope(principal, params)
    snapshot = await snapshot_for(scope)
    if snapshot is None:
        return 0
    by_need = snapshot.figures.get("unserved", {}).get("by_need", {})
    return by_need.get(params.get("need") or "", 0) if params.get("need") else sum(by_need.values())


async def _export_rows(principal: Principal, params: dict[str, Any]) -> AsyncIterator[list[list[Any]]]:
    scope = await _export_scope(principal, params)
    names = await need_names()
    after = 0
    while True:
        rows, more = await unserved_needs(
            scope, str(params.get("need") or ""), page_size=exports.BATCH_ROWS, after_id=after
        )
        if rows:
            yield [
                [
                    row.request_id,
                    row.household_id,
                    row.external_id,
                    row.head_name,
                    row.region_name,
                    names.get(row.need, row.need),
                    row.status,
                    row.created_at.astimezone(LOCAL_TZ).isoformat(timespec="minutes"),
                    row.days_waiting,
                    "yes" if row.escalated else "",
                ]
                for row in rows
            ]
            after = rows[-1].request_id
        if not more:
            return


async def _export_xlsx_rows(principal: Principal, params: dict[str, Any]) -> AsyncIterator[list[Any]]:
    async for batch in _export_rows(principal, params):
        yield [("unserved", cells) for cells in batch]


def _export_name(params: dict[str, Any], suffix: str) -> str:
    need = f"-{params['need']}" if params.get("need") else ""
    return f"unserved-needs-{params.get('region') or 'alliance'}{need}.{suffix}"


def _export_sheets(params: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (
            "unserved",
            _("Not served, per need"),
            [
                _("Request"),
                _("Household"),
                _("Household number"),
                _("Head of household"),
                _("Community"),
                _("Need"),
                _("Status"),
                _("Asked on"),
                _("Days waiting"),
                _("Escalated"),
            ],
        )
    ]


UNSERVED_NEEDS_CSV_EXPORT = exports.register(
    exports.ExportKind(
        name="unserved_needs_csv",
        format="csv",
        action=Action.VIEW_TARGETS,
        check=_export_check,
        count=_export_count,
        batches=_export_rows,
        file_name=lambda params: _export_name(params, "csv"),
        header=lambda params: list(UNSERVED_NEEDS_HEADER),
    )
)
UNSERVED_NEEDS_XLSX_EXPORT = exports.register(
    exports.ExportKind(
        name="unserved_needs_xlsx",
        format="xlsx",
        action=Action.VIEW_TARGETS,
        check=_export_check,
        count=_export_count,
        batches=_export_xlsx_rows,
        file_name=lambda params: _export_name(params, "xlsx"),
        sheets=_export_sheets,
    )
)
