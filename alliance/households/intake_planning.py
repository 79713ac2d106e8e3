"""Planning an import chunk: the import's context, what each row changes, and the chunk's counts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from alliance.core.audit import Draft
from alliance.core.codes import LocationPrecision, RequestStatus
from alliance.core.crypto import id_number_index, phone_index
from alliance.core.models import Region
from alliance.core.timeutil import LOCAL_TZ, to_local
from alliance.households.bulk_statements import _Insert, _select_in
from alliance.households.consent import NewHousehold
from alliance.households.duplicates import IdentityRow, WrittenKeys
from alliance.households.intake_format import HouseholdRow
from alliance.households.models import Flag, Household, HouseholdMerge, IntakeRecord, IntakeSource
from alliance.households.needs import needs_for_flags, priority_with_waiting, request_priority
from alliance.households.reference import rules_by_flag
from alliance.matching.models import ServiceRequest

FILE_SOURCE_NAME = "file"
# Records checked between two looks at the chunk being written (PostgreSQL).
YIELD_EVERY = 10


@dataclass
class RegionInfo:
    code: str
    path: str
    depth: int
    # The region's own point, else its nearest ancestor's: where a household without coordinates sits.
    centre: tuple[float, float] | None


@dataclass
class _Context:
    batch_id: int
    source_id: int | None
    source_name: str
    now: datetime
    today: date
    regions: dict[str, RegionInfo]
    rules: dict[str, set[str]]
    merged: dict[str, str]
    # A registered source may update only the households it sent first; its rows for others' are
    # held as conflicts. Off for an operator's file without a source and for a coordinator's accept.
    owner_check: bool = True
    slices: dict[str | None, int] = field(default_factory=dict)
    needs: dict[tuple[frozenset[str], tuple[str, ...]], list[str]] = field(default_factory=dict)
    # Region code -> who gets its "verify new household" tasks (looked up once per import).
    task_owners: dict[str, list[int]] = field(default_factory=dict)


PROGRESS_KINDS = ("created", "updated", "unchanged", "rejected", "requests")
_KIND_POSITION = {kind: position for position, kind in enumerate(PROGRESS_KINDS)}


@dataclass
class _ChunkOutcome:
    # Per region code (None: unknown), the count of each of PROGRESS_KINDS.
    counts: dict[str | None, list[int]] = field(default_factory=dict)
    geocoding_pending: int = 0
    # (row, external id) of the rows held as conflicts (another source's household).
    conflicts: list[tuple[int, str]] = field(default_factory=list)

    def count(self, region: str | None, kind: str, number: int = 1) -> None:
        counts = self.counts.get(region)
        if counts is None:
            counts = self.counts[region] = [0] * len(PROGRESS_KINDS)
        counts[_KIND_POSITION[kind]] += number

    def add(self, other: _ChunkOutcome) -> None:
        for region, counts in other.counts.items():
            for kind, number in zip(PROGRESS_KINDS, counts, strict=True):
                self.count(region, kind, number)
        self.geocoding_pending += other.geocoding_pending
        self.conflicts.extend(other.conflicts)

    def total(self, kind: str) -> int:
        position = _KIND_POSITION[kind]
        return sum(counts[position] for counts in self.counts.values())


async def _load_context(
    batch_id: int, source: IntakeSource | None, now: datetime, *, owner_check: bool = True
) -> _Context:
    rows = await Region.all().values("code", "path", "depth", "lat", "lon")
    points = {row["code"]: (row["lat"], row["lon"]) for row in rows if row["lat"] is not None}
    regions = {}
    for row in rows:
        trail = [code for code in row["path"].strip("/").split("/") if code]
        centre = next((points[code] for code in reversed(trail) if code in points), None)
        regions[row["code"]] = RegionInfo(row["code"], row["path"], row["depth"], centre)
    merged = dict(await HouseholdMerge.all().values_list("external_id", "kept__external_id"))
    return _Context(
        batch_id=batch_id,
        source_id=source.id if source else None,
        source_name=source.name if source else FILE_SOURCE_NAME,
        now=now,
        today=to_local(now).date(),  # type: ignore[union-attr]
        regions=regions,
        rules=await rules_by_flag(),
        merged=merged,
        owner_check=owner_check and source is not None,
    )


HOUSEHOLD_COLUMNS = (
    "head_name",
    # Database columns: the ID number and phone go in as plaintext and are encrypted when the rows
    # are encoded (bulk_statements), beside their blind indexes.
    "id_number_enc",
    "id_number_index",
    "phone_enc",
    "phone_index",
    "address",
    "region_id",
    "lat",
    "lon",
    "location_precision",
    "member_count",
    "accessibility",
    "contact_preference",
)
NO_FLAGS: dict[str, dict[str, Any]] = {}
NO_REQUESTS: dict[str, dict[str, Any]] = {}


@dataclass(slots=True)
class _Plan:
    """What one row changes, worked out before anything is written. Tuples rather than lists: a
    chunk's plans live until it is written, and the garbage collector skips tuples of plain values."""

    row: HouseholdRow
    household_id: int | None
    values: dict[str, Any]
    geocode_pending: bool
    new: bool = False
    household_changed: bool = True
    record_exists: bool = False
    flags_before: frozenset[str] = frozenset()
    needs_before: tuple[str, ...] = ()
    # Flags: (code, detected at) to add; (detected at, flag id) to reactivate or to re-date; flag ids
    # to deactivate; (action, code) audit entries in the order they happen.
    new_flags: tuple[tuple[str, datetime], ...] = ()
    reactivated_flags: tuple[tuple[datetime, int], ...] = ()
    redated_flags: tuple[tuple[datetime, int], ...] = ()
    deactivated_flags: tuple[int, ...] = ()
    flag_audit: tuple[tuple[str, str], ...] = ()
    # Requests: needs that get a new one, at this priority; open request ids to re-prioritise or cancel.
    new_needs: tuple[str, ...] = ()
    priority: int = 0
    reprioritised: tuple[int, ...] = ()
    cancelled: tuple[int, ...] = ()


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=LOCAL_TZ)


def _household_values(
    row: HouseholdRow, existing: dict[str, Any] | None, context: _Context
) -> tuple[dict[str, Any], bool]:
    """The household's columns as this row sets them, and whether the address waits for the geocoder."""
    values: dict[str, Any] = {
        "head_name": row.head_name,
        "id_number_enc": row.id_number,
        "id_number_index": id_number_index(row.id_number),
        "phone_enc": row.phone,
        "phone_index": phone_index(row.phone),
        "address": row.address,
        "region_id": row.region_code,
        "member_count": row.member_count,
        "accessibility": list(row.accessibility),
        "contact_preference": row.contact_preference,
    }
    if row.lat is not None:
        # Feed coordinates win.
        values.update(lat=row.lat, lon=row.lon, location_precision=LocationPrecision.EXACT.value)
        return values, False
    same_place = (
        existing is not None
        and str(existing["location_precision"]) != LocationPrecision.EXACT
        and existing["region_id"] == row.region_code
        and existing["address"] == row.address
        and existing["lat"] is not None
    )
    if same_place:
        # Already placed (by the geocoder, or at the region centre while it waits): keep it.
        assert existing is not None
        values.update(
            lat=existing["lat"], lon=existing["lon"], location_precision=str(existing["location_precision"])
        )
        return values, False
    centre = context.regions[row.region_code].centre
    values.update(
        lat=centre[0] if centre else None,
        lon=centre[1] if centre else None,
        location_precision=LocationPrecision.REGION.value,
    )
    return values, bool(row.address)


def _same_household(values: dict[str, Any], existing: dict[str, Any]) -> bool:
    for column in HOUSEHOLD_COLUMNS:
        before = existing[column]
        after = values[column]
        if column == "accessibility":
            if sorted(before or []) != sorted(after):
                return False
        elif column in ("location_precision", "contact_preference"):
            if str(before) != str(after):
                return False
        elif before != after:
            return False
    return True


@dataclass
class _ChunkPlan:
    plans: list[_Plan]
    # The households already known, by external id, as they were read.
    existing: dict[str, dict[str, Any]]
    # The statements' rows, built once every household has its id.
    rows: _ChunkRows | None = None
    # (household id, row): rows for a household another source sent first, held for a coordinator.
    conflicts: list[tuple[int, HouseholdRow]] = field(default_factory=list)


@dataclass
class _ChunkRows:
    """Every statement of one chunk, its rows ready to send."""

    households: _Insert
    household_updates: list[tuple[Any, ...]]
    flags: _Insert
    flags_reactivated: list[tuple[Any, ...]]
    flags_redated: list[tuple[Any, ...]]
    flags_deactivated: list[tuple[Any, ...]]
    # Chained (alliance/core/audit.py) when written: the chain head is locked only then.
    audit: list[Draft]
    records: _Insert
    record_updates: list[tuple[Any, ...]]
    requests: _Insert
    request_priorities: list[tuple[Any, ...]]
    requests_cancelled: list[tuple[Any, ...]]
    transitions: _Insert
    identities: list[IdentityRow]
    # Every household the chunk writes, with its identity's keys (duplicates.holders_after).
    written: list[WrittenKeys] = field(default_factory=list)
    # The households it creates, each to get its "verify" task.
    created: list[NewHousehold] = field(default_factory=list)


async def _plan_households(
    connection: BaseDBAsyncClient, rows: list[HouseholdRow], context: _Context, outcome: _ChunkOutcome
) -> _ChunkPlan:
    """Read what the chunk's households hold now and work out every change, writing nothing."""
    existing_rows = await _select_in(
        connection,
        Household,
        ("id", "external_id", "possible_duplicate_of_id", *HOUSEHOLD_COLUMNS),
        "external_id",
        [row.external_id for row in rows],
    )
    existing = {item["external_id"]: item for item in existing_rows}
    existing_ids = [item["id"] for item in existing_rows]
    flags_by_household: dict[int, dict[str, dict[str, Any]]] = {}
    records_by_household: dict[int, dict[str, Any]] = {}
    active_requests: dict[int, dict[str, dict[str, Any]]] = {}
    if existing_ids:
        for flag in await _select_in(
            connection,
            Flag,
            ("id", "household_id", "code", "detected_at", "active"),
            "household_id",
            existing_ids,
        ):
            flags_by_household.setdefault(flag["household_id"], {})[str(flag["code"])] = flag
        for record in await _select_in(
            connection,
            IntakeRecord,
            ("household_id", "explicit_needs", "source_id"),
            "household_id",
            existing_ids,
        ):
            records_by_household[record["household_id"]] = record
        # Active requests: those holding their "household:need" active_key.
        for request in await _select_in(
            connection,
            ServiceRequest,
            ("id", "household_id", "need_id", "status", "priority"),
            "household_id",
            existing_ids,
            where='"active_key" IS NOT NULL',
        ):
            active_requests.setdefault(request["household_id"], {})[str(request["need_id"])] = request

    plans: list[_Plan] = []
    conflicts: list[tuple[int, HouseholdRow]] = []
    for position, row in enumerate(rows, start=1):
        if position % YIELD_EVERY == 0:
            # Planning is pure Python: let the chunk being written send its next statement.
            await asyncio.sleep(0)
        before = existing.get(row.external_id)
        values, pending = _household_values(row, before, context)
        if before is None:
            plan = _Plan(row, None, values, pending, new=True)
            _plan_flags(plan, NO_FLAGS, context)
            _plan_requests(plan, NO_FLAGS, NO_REQUESTS, context)
            plans.append(plan)
            continue
        household_id = before["id"]
        flags = flags_by_household.get(household_id, NO_FLAGS)
        active_before = frozenset(code for code, flag in flags.items() if flag["active"])
        record = records_by_household.get(household_id)
        needs_before = tuple(sorted(record["explicit_needs"])) if record else ()
        dates_same = all(
            day is None or to_local(flags[code]["detected_at"]).date() == day  # type: ignore[union-attr]
            for code, day in row.flags.items()
            if code in active_before
        )
        unchanged = (
            _same_household(values, before)
            and active_before == set(row.flags)
            and dates_same
            and needs_before == row.needs
            and record is not None
        )
        if unchanged:
            outcome.count(row.region_code, "unchanged")
            continue
        if context.owner_check and (record is None or record["source_id"] != context.source_id):
            conflicts.append((household_id, row))
            continue
        plan = _Plan(
            row,
            household_id,
            values,
            pending,
            household_changed=not _same_household(values, before),
            record_exists=record is not None,
            flags_before=active_before,
            needs_before=needs_before,
        )
        _plan_flags(plan, flags, context)
        _plan_requests(plan, flags, active_requests.get(household_id, NO_REQUESTS), context)
        plans.append(plan)
    # Counted now, kept only if the chunk's transaction commits.
    for plan in plans:
        region = plan.row.region_code
        outcome.count(region, "created" if plan.new else "updated")
        if plan.new_needs:
            outcome.count(region, "requests", len(plan.new_needs))
        outcome.geocoding_pending += plan.geocode_pending
    outcome.conflicts.extend((row.row, row.external_id) for _household_id, row in conflicts)
    return _ChunkPlan(plans, existing, conflicts=conflicts)


def _plan_flags(plan: _Plan, known: dict[str, dict[str, Any]], context: _Context) -> None:
    """New flags are added, returning ones reactivated, flags no longer sent deactivated (never deleted)."""
    now = context.now
    if not known:
        plan.new_flags = tuple(
            (code, _local_midnight(day) if day else now) for code, day in plan.row.flags.items()
        )
        return
    new_flags, reactivated, redated, deactivated, audit = [], [], [], [], []
    for code, day in plan.row.flags.items():
        detected = _local_midnight(day) if day else now
        flag = known.get(code)
        if flag is None:
            new_flags.append((code, detected))
        elif not flag["active"]:
            reactivated.append((detected, flag["id"]))
            audit.append(("flag.reactivated", code))
        elif day is not None and to_local(flag["detected_at"]).date() != day:  # type: ignore[union-attr]
            redated.append((detected, flag["id"]))
    for code, flag in known.items():
        if flag["active"] and code not in plan.row.flags:
            deactivated.append(flag["id"])
            audit.append(("flag.deactivated", code))
    plan.new_flags, plan.reactivated_flags, plan.redated_flags = (
        tuple(new_flags),
        tuple(reactivated),
        tuple(redated),
    )
    plan.deactivated_flags, plan.flag_audit = tuple(deactivated), tuple(audit)


def _plan_requests(
    plan: _Plan,
    known: dict[str, dict[str, Any]],
    current: dict[str, dict[str, Any]],
    context: _Context,
) -> None:
    """One request per newly derived need; an open request whose need is no longer derived is cancelled.

    Only needs that this row derives and the previous data did not get a new request: a completed
    request is not reopened because the household's phone changed."""
    row = plan.row
    needs_now = _needs(row.flags, row.needs, context)
    needs_then = (
        _needs(plan.flags_before, plan.needs_before, context)
        if plan.flags_before or plan.needs_before
        else ()
    )
    detected_days = [
        day
        if day
        else (
            to_local(known[code]["detected_at"]).date()
            if code in known and known[code]["active"]
            else context.today
        )  # type: ignore[union-attr]
        for code, day in row.flags.items()
    ]
    waiting_days = (context.today - min(detected_days)).days if detected_days else 0
    plan.priority = priority = priority_with_waiting(
        request_priority(row.flags, row.accessibility, row.member_count), waiting_days
    )
    if not current:
        plan.new_needs = tuple(need for need in needs_now if need not in needs_then)
        return
    new_needs, reprioritised = [], []
    for need in needs_now:
        if need in current:
            if str(current[need]["status"]) == RequestStatus.OPEN and current[need]["priority"] != priority:
                reprioritised.append(current[need]["id"])
        elif need not in needs_then:
            new_needs.append(need)
    plan.new_needs, plan.reprioritised = tuple(new_needs), tuple(reprioritised)
    plan.cancelled = tuple(
        request["id"]
        for need, request in current.items()
        if need in needs_then and need not in needs_now and str(request["status"]) == RequestStatus.OPEN
    )


def _needs(flag_codes: Iterable[str], explicit_needs: tuple[str, ...], context: _Context) -> list[str]:
    """needs_for_flags, remembered per combination: a file repeats the same few combinations."""
    key = (frozenset(flag_codes), explicit_needs)
    needs = context.needs.get(key)
    if needs is None:
        needs = context.needs[key] = needs_for_flags(key[0], context.rules, explicit_needs)
    return needs
