"""Household intake from the assistance system: the one import service behind the CLI and the API,
the intake history selectors and the read-back of a household's status.

How an import runs (docs/intake.md tells integrators the same from the outside):
- a first pass over the records finds external ids sent twice: both rows are refused, named;
- every record is checked (alliance.intake_format); bad rows are refused with field-level errors,
  good rows next to them go on;
- good rows are written in chunks, each chunk one transaction, with bulk reads of the households
  already known and bulk writes (executemany), never a round trip per row. If a chunk fails in the
  database (a concurrent import of the same household, say), its rows are retried one transaction
  each, so one bad row costs only itself. A crash leaves the committed chunks in place and a re-run
  finds them unchanged: the upsert by external id never duplicates.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import Enum
from typing import Any

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import F, Subquery
from tortoise.functions import Sum
from tortoise.models import Model
from tortoise.transactions import in_transaction

from alliance.access import Action, Principal, visible
from alliance.codes import (
    BatchStatus,
    CloseReason,
    IntakeChannel,
    LocationPrecision,
    NeedCode,
    RequestStatus,
    VisitStatus,
)
from alliance.duplicates import mark_possible_duplicates, phone_address_key
from alliance.errors import NotFound
from alliance.i18n import gettext as _
from alliance.intake_format import FIELDS, FieldError, HouseholdRow, RawRecord, RecordSet, check_record
from alliance.models import (
    AuditEntry,
    Flag,
    Household,
    HouseholdMerge,
    IntakeBatch,
    IntakeBatchRegion,
    IntakeRecord,
    IntakeRejectedRow,
    IntakeSource,
    Region,
    RequestTransition,
    ServiceRecord,
    ServiceRequest,
    Visit,
)
from alliance.needs import active_key, needs_for_flags, priority_with_waiting, request_priority
from alliance.reference import rules_by_flag
from alliance.timeutil import LOCAL_TZ, to_local, utc_now

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000
HISTORY_PAGE_SIZE = 20
REJECTED_PAGE_SIZE = 50
FILE_SOURCE_NAME = "file"

ProgressCallback = Callable[[int, int], Awaitable[None] | None]


@dataclass
class RegionInfo:
    code: str
    path: str
    depth: int
    # The region's own point, else its nearest ancestor's: where a household without coordinates sits.
    centre: tuple[float, float] | None


@dataclass
class RejectedRow:
    row: int
    external_id: str
    errors: list[FieldError]
    record: dict[str, str]
    region_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "external_id": self.external_id,
            "errors": [error.as_dict() for error in self.errors],
        }


@dataclass
class ImportResult:
    batch: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    requests_created: int = 0
    geocoding_pending: int = 0

    def as_json(self) -> dict[str, Any]:
        """The shape the CLI's --json and the API answer with (docs/intake.md)."""
        return {
            "batch": self.batch,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [row.as_dict() for row in self.rejected],
            "requests_created": self.requests_created,
        }


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
    slices: dict[str | None, int] = field(default_factory=dict)


@dataclass
class _ChunkOutcome:
    counts: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    geocoding_pending: int = 0


# --- the import ------------------------------------------------------------------------------


async def import_households(
    records: RecordSet,
    *,
    source: IntakeSource | None = None,
    channel: IntakeChannel = IntakeChannel.FILE,
    filename: str = "",
    chunk_size: int = CHUNK_SIZE,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Upsert every good record by external id; refuse the others with field-level errors."""
    now = utc_now()
    batch = await IntakeBatch.create(
        source_id=source.id if source else None,
        channel=channel,
        filename=filename[-255:],
        status=BatchStatus.RUNNING,
        started_at=now,
    )
    context = await _load_context(batch.id, source, now)
    result = ImportResult(batch=batch.id)
    try:
        repeated, total = _repeated_external_ids(records)
        await IntakeBatch.filter(id=batch.id).update(total_rows=total)
        done = 0
        chunk: list[HouseholdRow] = []
        refused: list[RejectedRow] = []
        for record in records:
            checked = _check(record, context, repeated)
            if isinstance(checked, RejectedRow):
                refused.append(checked)
            else:
                chunk.append(checked)
            if len(chunk) + len(refused) >= chunk_size:
                done += len(chunk) + len(refused)
                await _flush(chunk, refused, context, result)
                chunk, refused = [], []
                await _report(on_progress, done, total)
        if chunk or refused:
            done += len(chunk) + len(refused)
            await _flush(chunk, refused, context, result)
            await _report(on_progress, done, total)
    except BaseException as error:
        await IntakeBatch.filter(id=batch.id).update(
            status=BatchStatus.FAILED, finished_at=utc_now(), error=repr(error)[:2000]
        )
        raise
    await IntakeBatch.filter(id=batch.id).update(status=BatchStatus.FINISHED, finished_at=utc_now())
    await AuditEntry.create(
        action="intake.batch",
        object_type="intake_batch",
        object_id=str(batch.id),
        details={**result.as_json(), "rejected": len(result.rejected), "source": context.source_name},
    )
    return result


async def _report(on_progress: ProgressCallback | None, done: int, total: int) -> None:
    if on_progress is not None:
        outcome = on_progress(done, total)
        if inspect.isawaitable(outcome):
            await outcome


async def _load_context(batch_id: int, source: IntakeSource | None, now: datetime) -> _Context:
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
    )


def _repeated_external_ids(records: RecordSet) -> tuple[dict[str, list[int]], int]:
    """External ids sent more than once, with their rows; and how many records there are."""
    rows_by_id: dict[str, list[int]] = {}
    total = 0
    for record in records:
        total += 1
        if record.problem is None and (external_id := record.external_id):
            rows_by_id.setdefault(external_id, []).append(record.row)
    return {external_id: rows for external_id, rows in rows_by_id.items() if len(rows) > 1}, total


def _check(
    record: RawRecord, context: _Context, repeated: dict[str, list[int]]
) -> HouseholdRow | RejectedRow:
    checked = check_record(record, context.regions, context.today)
    errors = list(checked) if isinstance(checked, list) else []
    external_id = record.external_id
    if external_id in repeated:
        others = [str(row) for row in repeated[external_id] if row != record.row]
        errors.append(
            FieldError(
                "external_id",
                _("{external_id} is sent more than once in this batch: also in row(s) {rows}.").format(
                    external_id=external_id, rows=", ".join(others)
                ),
            )
        )
    elif external_id in context.merged:
        errors.append(
            FieldError(
                "external_id",
                _(
                    "A coordinator merged {external_id} into {kept}: this id is retired, send the household as {kept}."
                ).format(external_id=external_id, kept=context.merged[external_id]),
            )
        )
    if errors:
        region_code = str(record.values.get("region_code") or "").strip()
        return RejectedRow(
            row=record.row,
            external_id=external_id,
            errors=errors,
            record=record.as_text(),
            region_code=region_code if region_code in context.regions else None,
        )
    assert isinstance(checked, HouseholdRow)
    return checked


async def _flush(
    rows: list[HouseholdRow], refused: list[RejectedRow], context: _Context, result: ImportResult
) -> None:
    """Write one chunk: all of it in one transaction, or, if the database refuses, row by row."""
    outcome = _ChunkOutcome()
    if rows:
        try:
            async with in_transaction() as connection:
                await _save_households(connection, rows, context, outcome)
        except (IntegrityError, OperationalError):
            logger.info("intake batch %s: a chunk failed, retrying its rows one by one", context.batch_id)
            outcome = _ChunkOutcome()
            for row in rows:
                single = _ChunkOutcome()
                try:
                    async with in_transaction() as connection:
                        await _save_households(connection, [row], context, single)
                    outcome.counts.update(single.counts)
                    outcome.geocoding_pending += single.geocoding_pending
                except (IntegrityError, OperationalError) as error:
                    logger.warning("intake batch %s row %s not saved: %r", context.batch_id, row.row, error)
                    refused.append(
                        RejectedRow(
                            row=row.row,
                            external_id=row.external_id,
                            errors=[
                                FieldError(
                                    "record",
                                    _(
                                        "The database refused this household ({reason}); send it again."
                                    ).format(reason=type(error).__name__),
                                )
                            ],
                            record=row.raw.as_text() if row.raw else {},
                            region_code=row.region_code,
                        )
                    )
    for rejected in refused:
        outcome.counts[(rejected.region_code, "rejected")] += 1
    refused.sort(key=lambda rejected: rejected.row)
    async with in_transaction() as connection:
        await _record_progress(connection, refused, context, outcome)
    result.created += sum(n for (_region, kind), n in outcome.counts.items() if kind == "created")
    result.updated += sum(n for (_region, kind), n in outcome.counts.items() if kind == "updated")
    result.unchanged += sum(n for (_region, kind), n in outcome.counts.items() if kind == "unchanged")
    result.requests_created += sum(n for (_region, kind), n in outcome.counts.items() if kind == "requests")
    result.geocoding_pending += outcome.geocoding_pending
    result.rejected.extend(refused)


async def _record_progress(
    connection: BaseDBAsyncClient, refused: list[RejectedRow], context: _Context, outcome: _ChunkOutcome
) -> None:
    """Counts per region slice and the refused rows, so the history page is right even mid-file."""
    regions = {region for region, _kind in outcome.counts}
    for region in regions:
        if region not in context.slices:
            created = await IntakeBatchRegion.create(
                batch_id=context.batch_id, region_id=region, using_db=connection
            )
            context.slices[region] = created.id
    kinds = ("created", "updated", "unchanged", "rejected", "requests")
    updates = [
        (*[outcome.counts[(region, kind)] for kind in kinds], context.slices[region]) for region in regions
    ]
    if updates:
        params = _params(connection, 6)
        await connection.execute_many(
            f'UPDATE "intake_batch_region" SET "created" = "created" + {params[0]}, '
            f'"updated" = "updated" + {params[1]}, "unchanged" = "unchanged" + {params[2]}, '
            f'"rejected" = "rejected" + {params[3]}, "requests_created" = "requests_created" + {params[4]} '
            f'WHERE "id" = {params[5]}',
            [list(row) for row in updates],
        )
        totals = {kind: sum(outcome.counts[(region, kind)] for region in regions) for kind in kinds}
        await (
            IntakeBatch.filter(id=context.batch_id)
            .using_db(connection)
            .update(
                created=F("created") + totals["created"],
                updated=F("updated") + totals["updated"],
                unchanged=F("unchanged") + totals["unchanged"],
                rejected=F("rejected") + totals["rejected"],
                requests_created=F("requests_created") + totals["requests"],
            )
        )
    await _insert(
        connection,
        IntakeRejectedRow,
        ("batch_id", "slice_id", "row", "external_id", "errors", "record"),
        [
            (
                context.batch_id,
                context.slices[rejected.region_code],
                rejected.row,
                rejected.external_id[:64],
                [error.as_dict() for error in rejected.errors],
                rejected.record,
            )
            for rejected in refused
        ],
    )


# --- writing one chunk -------------------------------------------------------------------------

HOUSEHOLD_COLUMNS = (
    "head_name",
    "id_number",
    "phone",
    "address",
    "region_id",
    "lat",
    "lon",
    "location_precision",
    "member_count",
    "accessibility",
    "contact_preference",
)


@dataclass
class _Plan:
    """What one row changes, worked out before anything is written."""

    row: HouseholdRow
    household_id: int | None
    values: dict[str, Any]
    geocode_pending: bool
    household_changed: bool = True
    record_exists: bool = False
    flags_before: set[str] = field(default_factory=set)
    needs_before: tuple[str, ...] = ()


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=LOCAL_TZ)


def _household_values(
    row: HouseholdRow, existing: dict[str, Any] | None, context: _Context
) -> tuple[dict[str, Any], bool]:
    """The household's columns as this row sets them, and whether the address waits for the geocoder."""
    values: dict[str, Any] = {
        "head_name": row.head_name,
        "id_number": row.id_number,
        "phone": row.phone,
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


async def _save_households(
    connection: BaseDBAsyncClient, rows: list[HouseholdRow], context: _Context, outcome: _ChunkOutcome
) -> None:
    """Upsert the rows of one chunk inside the caller's transaction."""
    now = context.now
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
            connection, IntakeRecord, ("household_id", "explicit_needs"), "household_id", existing_ids
        ):
            records_by_household[record["household_id"]] = record
        # Through the unique active_key ("household:need") index: every key these households could hold.
        for request in await _select_in(
            connection,
            ServiceRequest,
            ("id", "household_id", "need_id", "status", "priority"),
            "active_key",
            [active_key(household_id, need) for household_id in existing_ids for need in NeedCode],
        ):
            active_requests.setdefault(request["household_id"], {})[str(request["need_id"])] = request

    plans: list[_Plan] = []
    for row in rows:
        before = existing.get(row.external_id)
        values, pending = _household_values(row, before, context)
        if before is None:
            plans.append(_Plan(row, None, values, pending))
            continue
        household_id = before["id"]
        flags = flags_by_household.get(household_id, {})
        active_before = {code for code, flag in flags.items() if flag["active"]}
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
            outcome.counts[(row.region_code, "unchanged")] += 1
            continue
        plans.append(
            _Plan(
                row,
                household_id,
                values,
                pending,
                household_changed=not _same_household(values, before),
                record_exists=record is not None,
                flags_before=active_before,
                needs_before=needs_before,
            )
        )

    new_plans = [plan for plan in plans if plan.household_id is None]
    if new_plans:
        returned = await _insert(
            connection,
            Household,
            ("external_id", *HOUSEHOLD_COLUMNS, "created_at", "updated_at"),
            [
                (plan.row.external_id, *[plan.values[column] for column in HOUSEHOLD_COLUMNS], now, now)
                for plan in new_plans
            ],
            returning=("external_id", "id"),
        )
        if returned is None:
            returned = await _select_in(
                connection,
                Household,
                ("external_id", "id"),
                "external_id",
                [plan.row.external_id for plan in new_plans],
            )
        ids = {item["external_id"]: item["id"] for item in returned}
        for plan in new_plans:
            plan.household_id = ids[plan.row.external_id]
            outcome.counts[(plan.row.region_code, "created")] += 1
    changed_plans = [plan for plan in plans if plan.row.external_id in existing]
    for plan in changed_plans:
        outcome.counts[(plan.row.region_code, "updated")] += 1
    await _update(
        connection,
        Household,
        (*HOUSEHOLD_COLUMNS, "updated_at"),
        [
            (*[plan.values[column] for column in HOUSEHOLD_COLUMNS], now, plan.household_id)
            for plan in changed_plans
            if plan.household_changed
        ],
    )

    await _save_flags(connection, plans, flags_by_household, context)
    await _save_records(connection, plans, context)
    await _save_requests(connection, plans, flags_by_household, active_requests, context, outcome)
    outcome.geocoding_pending += sum(1 for plan in plans if plan.geocode_pending)

    identity_changed = [
        plan
        for plan in plans
        if plan.household_id is not None
        and (
            plan.row.external_id not in existing
            or (
                existing[plan.row.external_id]["id_number"],
                existing[plan.row.external_id]["phone"],
                existing[plan.row.external_id]["address"],
            )
            != (plan.row.id_number, plan.row.phone, plan.row.address)
        )
    ]
    if identity_changed:
        await mark_possible_duplicates(
            connection,
            [
                (
                    plan.household_id,  # type: ignore[misc]
                    plan.row.id_number,
                    plan.row.phone,
                    plan.row.address,
                    existing[plan.row.external_id]["possible_duplicate_of_id"]
                    if plan.row.external_id in existing
                    else None,
                )
                for plan in identity_changed
            ],
        )


async def _save_flags(
    connection: BaseDBAsyncClient,
    plans: list[_Plan],
    flags_by_household: dict[int, dict[str, dict[str, Any]]],
    context: _Context,
) -> None:
    """New flags are added, returning ones reactivated, flags no longer sent deactivated (never deleted)."""
    now = context.now
    inserts: list[tuple[Any, ...]] = []
    reactivate: list[tuple[Any, ...]] = []
    redate: list[tuple[Any, ...]] = []
    deactivate: list[tuple[Any, ...]] = []
    audit: list[tuple[Any, ...]] = []
    for plan in plans:
        household_id = plan.household_id
        known = flags_by_household.get(household_id or 0, {})
        for code, day in plan.row.flags.items():
            detected = _local_midnight(day) if day else now
            flag = known.get(code)
            if flag is None:
                inserts.append((household_id, code, context.source_name, detected, True))
            elif not flag["active"]:
                reactivate.append((detected, flag["id"]))
                audit.append(_audit_row("flag.reactivated", household_id, {"code": code}, context))
            elif day is not None and to_local(flag["detected_at"]).date() != day:  # type: ignore[union-attr]
                redate.append((detected, flag["id"]))
        for code, flag in known.items():
            if flag["active"] and code not in plan.row.flags:
                deactivate.append((now, flag["id"]))
                audit.append(_audit_row("flag.deactivated", household_id, {"code": code}, context))
    await _insert(connection, Flag, ("household_id", "code", "source", "detected_at", "active"), inserts)
    await _update(
        connection,
        Flag,
        ("detected_at", "active", "deactivated_at"),
        [(at, True, None, pk) for at, pk in reactivate],
    )
    await _update(connection, Flag, ("detected_at",), redate)
    await _update(connection, Flag, ("active", "deactivated_at"), [(False, at, pk) for at, pk in deactivate])
    await _insert(
        connection, AuditEntry, ("action", "object_type", "object_id", "details", "address", "at"), audit
    )


def _audit_row(
    action: str, household_id: int | None, details: dict[str, Any], context: _Context
) -> tuple[Any, ...]:
    return (
        action,
        "household",
        str(household_id),
        {**details, "batch": context.batch_id, "source": context.source_name},
        "",
        context.now,
    )


async def _save_records(connection: BaseDBAsyncClient, plans: list[_Plan], context: _Context) -> None:
    inserts = [plan for plan in plans if not plan.record_exists]
    updates = [plan for plan in plans if plan.record_exists]
    await _insert(
        connection,
        IntakeRecord,
        (
            "household_id",
            "source_id",
            "last_batch_id",
            "explicit_needs",
            "geocode_pending",
            "phone_address",
            "updated_at",
        ),
        [
            (
                plan.household_id,
                context.source_id,
                context.batch_id,
                list(plan.row.needs),
                plan.geocode_pending,
                phone_address_key(plan.row.phone, plan.row.address),
                context.now,
            )
            for plan in inserts
        ],
    )
    params = _params(connection, 7)
    if updates:
        # A household whose place is unchanged keeps a pending geocode it already had.
        await connection.execute_many(
            f'UPDATE "intake_record" SET "source_id" = {params[0]}, "last_batch_id" = {params[1]}, '
            f'"explicit_needs" = {params[2]}, "geocode_pending" = ("geocode_pending" OR {params[3]}), '
            f'"phone_address" = {params[4]}, "updated_at" = {params[5]} WHERE "household_id" = {params[6]}',
            _encode_rows(
                IntakeRecord,
                (
                    "source_id",
                    "last_batch_id",
                    "explicit_needs",
                    "geocode_pending",
                    "phone_address",
                    "updated_at",
                    "household_id",
                ),
                [
                    (
                        context.source_id,
                        context.batch_id,
                        list(plan.row.needs),
                        plan.geocode_pending,
                        phone_address_key(plan.row.phone, plan.row.address),
                        context.now,
                        plan.household_id,
                    )
                    for plan in updates
                ],
            ),
        )


async def _save_requests(
    connection: BaseDBAsyncClient,
    plans: list[_Plan],
    flags_by_household: dict[int, dict[str, dict[str, Any]]],
    active_requests: dict[int, dict[str, dict[str, Any]]],
    context: _Context,
    outcome: _ChunkOutcome,
) -> None:
    """One request per newly derived need; an open request whose need is no longer derived is cancelled.

    Only needs that this row derives and the previous data did not get a new request: a completed
    request is not reopened because the household's phone changed."""
    inserts: list[tuple[Any, ...]] = []
    priorities: list[tuple[int, int]] = []
    cancelled: list[dict[str, Any]] = []
    for plan in plans:
        household_id = plan.household_id
        assert household_id is not None
        row = plan.row
        needs_now = needs_for_flags(row.flags, context.rules, row.needs)
        needs_then = set(needs_for_flags(plan.flags_before, context.rules, plan.needs_before))
        known = flags_by_household.get(household_id, {})
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
        priority = priority_with_waiting(
            request_priority(row.flags, row.accessibility, row.member_count), waiting_days
        )
        current = active_requests.get(household_id, {})
        for need in needs_now:
            if need in current:
                if (
                    str(current[need]["status"]) == RequestStatus.OPEN
                    and current[need]["priority"] != priority
                ):
                    priorities.append((priority, current[need]["id"]))
            elif need not in needs_then:
                inserts.append(
                    (
                        household_id,
                        need,
                        RequestStatus.OPEN.value,
                        active_key(household_id, need),
                        priority,
                        context.now,
                        context.now,
                    )
                )
                outcome.counts[(row.region_code, "requests")] += 1
        for need, request in current.items():
            if need in needs_then and need not in needs_now and str(request["status"]) == RequestStatus.OPEN:
                cancelled.append(request)
    await _insert(
        connection,
        ServiceRequest,
        ("household_id", "need_id", "status", "active_key", "priority", "created_at", "updated_at"),
        inserts,
    )
    await _update(connection, ServiceRequest, ("priority",), priorities)
    await _update(
        connection,
        ServiceRequest,
        ("status", "active_key", "close_reason", "updated_at"),
        [
            (RequestStatus.CANCELLED.value, None, CloseReason.OUT_OF_SCOPE.value, context.now, request["id"])
            for request in cancelled
        ],
    )
    await _insert(
        connection,
        RequestTransition,
        ("request_id", "from_status", "to_status", "reason", "at"),
        [
            (
                request["id"],
                RequestStatus.OPEN.value,
                RequestStatus.CANCELLED.value,
                "intake: need no longer flagged",
                context.now,
            )
            for request in cancelled
        ],
    )


# --- bulk statements -------------------------------------------------------------------------


def _params(connection: BaseDBAsyncClient, count: int) -> list[str]:
    if connection.capabilities.dialect == "postgres":
        return [f"${position}" for position in range(1, count + 1)]
    return ["?"] * count


def _json_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return (
        json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if value
        else "[]"
        if isinstance(value, list)
        else "{}"
    )


def _encoders(model: type[Model], columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    """Per column, how a value is sent: JSON fields as text; None where the value goes as it is.
    Callers pass codes as plain strings (an enum's .value), so nothing else needs converting."""
    meta = model._meta
    return [
        _json_text
        if isinstance(
            meta.fields_map[meta.fields_db_projection_reverse.get(column, column)], fields.JSONField
        )
        else None
        for column in columns
    ]


def _encode_rows(model: type[Model], columns: Sequence[str], rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    encoders = _encoders(model, columns)
    if not any(encoders):
        return [list(row) for row in rows]
    return [
        [value if encode is None else encode(value) for encode, value in zip(encoders, row, strict=True)]
        for row in rows
    ]


def _column_defaults(model: type[Model], columns: Sequence[str]) -> dict[str, Any]:
    """The model's Python-side defaults for the columns an INSERT leaves out (the database has none)."""
    meta = model._meta
    defaults: dict[str, Any] = {}
    for name, column in meta.fields_db_projection.items():
        field_object = meta.fields_map[name]
        if column in columns or field_object.generated:
            continue
        if getattr(field_object, "auto_now_add", False) or getattr(field_object, "auto_now", False):
            defaults[column] = utc_now()
        elif field_object.default is not None:
            default = field_object.default
            default = default() if callable(default) else default
            defaults[column] = default.value if isinstance(default, Enum) else default
    return defaults


async def _select_in(
    connection: BaseDBAsyncClient, model: type[Model], columns: Sequence[str], key: str, values: list[Any]
) -> list[dict[str, Any]]:
    """SELECT columns WHERE key is one of values, in plain SQL: the ORM's query builder costs more than
    the query for a thousand keys. PostgreSQL gets one array parameter (= ANY), SQLite an IN list.
    JSON and datetime columns come back decoded, as the ORM would give them."""
    if not values:
        return []
    meta = model._meta
    names = ", ".join(f'"{column}"' for column in columns)
    table = meta.db_table
    if connection.capabilities.dialect == "postgres":
        (key_type,) = _postgres_array_types(model, (key,))
        rows = await connection.execute_query_dict(
            f'SELECT {names} FROM "{table}" WHERE "{key}" = ANY($1::{key_type}[])', [list(values)]
        )
    else:
        placeholders = ", ".join("?" * len(values))
        rows = await connection.execute_query_dict(
            f'SELECT {names} FROM "{table}" WHERE "{key}" IN ({placeholders})', list(values)
        )
    decoders = {}
    for column in columns:
        field_object = meta.fields_map[meta.fields_db_projection_reverse.get(column, column)]
        if isinstance(field_object, fields.JSONField | fields.DatetimeField):
            decoders[column] = field_object.to_python_value
    rows = [dict(row) for row in rows]
    for row in rows:
        for column, decode in decoders.items():
            if isinstance(row[column], str | bytes):
                row[column] = decode(row[column])
    return rows


def _postgres_array_types(model: type[Model], columns: Sequence[str]) -> list[str]:
    meta = model._meta
    return [
        meta.fields_map[meta.fields_db_projection_reverse.get(column, column)].get_for_dialect(
            "postgres", "SQL_TYPE"
        )
        for column in columns
    ]


def _as_columns(rows: list[list[Any]], width: int) -> list[list[Any]]:
    return [[row[position] for row in rows] for position in range(width)]


async def _insert(
    connection: BaseDBAsyncClient,
    model: type[Model],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    returning: Sequence[str] = (),
) -> list[dict[str, Any]] | None:
    """A bulk INSERT without model instances. PostgreSQL: one statement over arrays (unnest), several
    times faster than executemany, giving back the `returning` columns; SQLite: executemany, which
    runs in-process anyway and returns nothing (None: the caller reads the rows back)."""
    if not rows:
        return []
    defaults = _column_defaults(model, columns)
    if defaults:
        columns = (*columns, *defaults)
        rows = [(*row, *defaults.values()) for row in rows]
    names = ", ".join(f'"{column}"' for column in columns)
    table = model._meta.db_table
    values = _encode_rows(model, columns, rows)
    if connection.capabilities.dialect == "postgres":
        arrays = ", ".join(
            f"${position}::{sql_type}[]"
            for position, sql_type in enumerate(_postgres_array_types(model, columns), start=1)
        )
        sql = f'INSERT INTO "{table}" ({names}) SELECT * FROM unnest({arrays})'
        if returning:
            sql += " RETURNING " + ", ".join(f'"{column}"' for column in returning)
            return [
                dict(row)
                for row in await connection.execute_query_dict(sql, _as_columns(values, len(columns)))
            ]
        await connection.execute_query(sql, _as_columns(values, len(columns)))
        return []
    await connection.execute_many(
        f'INSERT INTO "{table}" ({names}) VALUES ({", ".join(_params(connection, len(columns)))})', values
    )
    return None


async def _update(
    connection: BaseDBAsyncClient, model: type[Model], columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """A bulk UPDATE ... WHERE pk: each row is the new values followed by the primary key."""
    if not rows:
        return
    pk = model._meta.db_pk_column
    table = model._meta.db_table
    values = _encode_rows(model, (*columns, pk), rows)
    if connection.capabilities.dialect == "postgres":
        types = _postgres_array_types(model, (*columns, pk))
        aliases = [f"c{position}" for position in range(len(columns) + 1)]
        arrays = ", ".join(f"${position}::{sql_type}[]" for position, sql_type in enumerate(types, start=1))
        assignments = ", ".join(
            f'"{column}" = u.{alias}' for column, alias in zip(columns, aliases, strict=False)
        )
        await connection.execute_query(
            f'UPDATE "{table}" SET {assignments} FROM unnest({arrays}) AS u({", ".join(aliases)}) '
            f'WHERE "{table}"."{pk}" = u.{aliases[-1]}',
            _as_columns(values, len(columns) + 1),
        )
        return
    params = _params(connection, len(columns) + 1)
    assignments = ", ".join(f'"{column}" = {param}' for column, param in zip(columns, params, strict=False))
    await connection.execute_many(f'UPDATE "{table}" SET {assignments} WHERE "{pk}" = {params[-1]}', values)


# --- the intake history (selectors) ----------------------------------------------------------


@dataclass
class BatchRow:
    id: int
    source: str
    channel: str
    filename: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    created: int
    updated: int
    unchanged: int
    rejected: int
    requests_created: int


@dataclass
class BatchPage:
    rows: list[BatchRow]
    total: int
    page: int
    pages: int


async def _batch_rows(principal: Principal, batch_ids: list[int]) -> dict[int, BatchRow]:
    """The batches with the counts of the slices the principal may see (their region's rows only)."""
    slices = visible(principal, Action.VIEW_INTAKE).filter(batch_id__in=batch_ids)
    sums = (
        await slices.group_by("batch_id")
        .annotate(
            sum_created=Sum("created"),
            sum_updated=Sum("updated"),
            sum_unchanged=Sum("unchanged"),
            sum_rejected=Sum("rejected"),
            sum_requests=Sum("requests_created"),
        )
        .values("batch_id", "sum_created", "sum_updated", "sum_unchanged", "sum_rejected", "sum_requests")
    )
    counts = {item["batch_id"]: item for item in sums}
    rows = {}
    for batch in await IntakeBatch.filter(id__in=batch_ids).prefetch_related("source"):
        found = counts.get(batch.id, {})
        rows[batch.id] = BatchRow(
            id=batch.id,
            source=batch.source.name if batch.source else FILE_SOURCE_NAME,
            channel=str(batch.channel),
            filename=batch.filename,
            status=str(batch.status),
            started_at=batch.started_at,
            finished_at=batch.finished_at,
            created=int(found.get("sum_created") or 0),
            updated=int(found.get("sum_updated") or 0),
            unchanged=int(found.get("sum_unchanged") or 0),
            rejected=int(found.get("sum_rejected") or 0),
            requests_created=int(found.get("sum_requests") or 0),
        )
    return rows


def _visible_batches(principal: Principal):  # type: ignore[no-untyped-def]
    return IntakeBatch.filter(id__in=Subquery(visible(principal, Action.VIEW_INTAKE).values("batch_id")))


async def intake_history(principal: Principal, page: int = 1) -> BatchPage:
    """Batches that touched the principal's region, newest first, HISTORY_PAGE_SIZE a page."""
    query = _visible_batches(principal)
    total = await query.count()
    pages = max(1, (total + HISTORY_PAGE_SIZE - 1) // HISTORY_PAGE_SIZE)
    page = min(max(1, page), pages)
    ids = (
        await query.order_by("-started_at", "-id")
        .offset((page - 1) * HISTORY_PAGE_SIZE)
        .limit(HISTORY_PAGE_SIZE)
        .values_list("id", flat=True)
    )
    rows = await _batch_rows(principal, list(ids))  # type: ignore[arg-type]
    return BatchPage(rows=[rows[batch_id] for batch_id in ids], total=total, page=page, pages=pages)  # type: ignore[index]


@dataclass
class RejectedView:
    row: int
    external_id: str
    errors: list[dict[str, str]]
    record: dict[str, str]


@dataclass
class BatchDetail:
    batch: BatchRow
    rejected: list[RejectedView]
    rejected_total: int
    page: int
    pages: int


def _visible_rejected(principal: Principal, batch_id: int):  # type: ignore[no-untyped-def]
    slices = visible(principal, Action.VIEW_INTAKE).filter(batch_id=batch_id).values("id")
    return IntakeRejectedRow.filter(batch_id=batch_id, slice_id__in=Subquery(slices))


async def batch_detail(principal: Principal, batch_id: int, page: int = 1) -> BatchDetail:
    if not await _visible_batches(principal).filter(id=batch_id).exists():
        raise NotFound(f"intake batch {batch_id}")
    batch = (await _batch_rows(principal, [batch_id]))[batch_id]
    query = _visible_rejected(principal, batch_id)
    total = await query.count()
    pages = max(1, (total + REJECTED_PAGE_SIZE - 1) // REJECTED_PAGE_SIZE)
    page = min(max(1, page), pages)
    rows = await query.order_by("row").offset((page - 1) * REJECTED_PAGE_SIZE).limit(REJECTED_PAGE_SIZE)
    return BatchDetail(
        batch=batch,
        rejected=[RejectedView(item.row, item.external_id, item.errors, item.record) for item in rows],
        rejected_total=total,
        page=page,
        pages=pages,
    )


async def rejected_rows_csv(principal: Principal, batch_id: int) -> Iterable[list[str]]:
    """The refused rows the principal may see, as CSV rows: the format's columns, then the errors,
    so the file can be fixed and sent again."""
    if not await _visible_batches(principal).filter(id=batch_id).exists():
        raise NotFound(f"intake batch {batch_id}")
    rows: list[list[str]] = [["row", *FIELDS, "errors"]]
    for item in await _visible_rejected(principal, batch_id).order_by("row"):
        errors = "; ".join(f"{error['field']}: {error['message']}" for error in item.errors)
        rows.append([str(item.row), *[item.record.get(name, "") for name in FIELDS], errors])
    return rows


# --- read-back for the assistance system -----------------------------------------------------


async def household_status(external_id: str) -> dict[str, Any]:
    """What became of a flagged household: needs, each request's status and partner, visits done and
    person-times delivered. A merged-away id answers with the household it was merged into."""
    household = await Household.get_or_none(external_id=external_id)
    merged_into = None
    if household is None:
        merge = await HouseholdMerge.get_or_none(external_id=external_id).prefetch_related("kept")
        if merge is None:
            raise NotFound(external_id)
        household, merged_into = merge.kept, merge.kept.external_id
    flags = await Flag.filter(household_id=household.id).order_by("code")
    requests = (
        await ServiceRequest.filter(household_id=household.id).order_by("id").prefetch_related("claimed_by")
    )
    request_ids = [request.id for request in requests]
    visits_done: Counter[int] = Counter()
    person_times: Counter[int] = Counter()
    last_service: datetime | None = None
    if request_ids:
        for request_id in await Visit.filter(
            request_id__in=request_ids, status=VisitStatus.COMPLETED
        ).values_list("request_id", flat=True):
            visits_done[request_id] += 1  # type: ignore[index]
        for request_id, served, completed_at in await ServiceRecord.filter(
            visit__request_id__in=request_ids, visit__status=VisitStatus.COMPLETED
        ).values_list("visit__request_id", "persons_served", "completed_at"):
            person_times[request_id] += served  # type: ignore[index]
            last_service = max(filter(None, (last_service, completed_at)), default=None)  # type: ignore[type-var]
    return {
        "external_id": external_id,
        "merged_into": merged_into,
        "region_code": household.region_id,  # type: ignore[attr-defined]
        "location_precision": str(household.location_precision),
        "possible_duplicate": household.possible_duplicate_of_id is not None,  # type: ignore[attr-defined]
        "flags": [
            {
                "code": str(flag.code),
                "active": flag.active,
                "detected_at": _iso(flag.detected_at),
                "deactivated_at": _iso(flag.deactivated_at),
            }
            for flag in flags
        ],
        "needs": sorted({str(request.need_id) for request in requests if request.active_key}),  # type: ignore[attr-defined]
        "requests": [
            {
                "need": str(request.need_id),  # type: ignore[attr-defined]
                "status": str(request.status),
                "priority": request.priority,
                "partner": request.claimed_by.name if request.claimed_by else None,
                "created_at": _iso(request.created_at),
                "claimed_at": _iso(request.claimed_at),
                "close_reason": str(request.close_reason) if request.close_reason else None,
                "visits_done": visits_done[request.id],
                "person_times": person_times[request.id],
            }
            for request in requests
        ],
        "visits_done": sum(visits_done.values()),
        "person_times": sum(person_times.values()),
        "last_service_at": _iso(last_service),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def batch_for(principal: Principal, batch_id: int) -> IntakeBatch:
    """One batch the principal may see (through a slice of their region), else NotFound."""
    if not await _visible_batches(principal).filter(id=batch_id).exists():
        raise NotFound(f"intake batch {batch_id}")
    return await IntakeBatch.get(id=batch_id)
