"""Household intake from the assistance system: the one import service behind the CLI and the API,
the intake history selectors and the read-back of a household's status.

How an import runs (docs/intake.md tells integrators the same from the outside):
- a first pass over the records finds external ids sent twice: both rows are refused, named;
- every record is checked (alliance.intake_format); bad rows are refused with field-level errors,
  good rows next to them go on;
- good rows are written in chunks, each chunk one transaction (its counts and refused rows with
  it), with bulk reads of the households already known and bulk writes (PostgreSQL: binary COPY;
  SQLite: executemany), never a round trip per row. If a chunk fails in the database (a concurrent
  import of the same household, say), its rows are retried one transaction each, so one bad row
  costs only itself. A crash leaves the committed chunks in place and a re-run finds them
  unchanged: the upsert by external id never duplicates.
- on PostgreSQL the work overlaps (see _ChunkWriter): while a chunk is written, the next one is
  read, planned and built and the one after is checked, so Python and the database each keep a
  core busy; chunks still commit one after the other, in file order.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import Enum
from typing import Any

import asyncpg
from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import Subquery
from tortoise.functions import Sum
from tortoise.models import Model
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, visible
from alliance.core.codes import (
    BatchStatus,
    CloseReason,
    IntakeChannel,
    LocationPrecision,
    RequestStatus,
    VisitStatus,
)
from alliance.core.errors import NotFound
from alliance.core.i18n import gettext as _
from alliance.core.models import AuditEntry, Region
from alliance.core.timeutil import LOCAL_TZ, to_local, utc_now
from alliance.households.duplicates import IdentityRow, mark_possible_duplicates, phone_address_key
from alliance.households.intake_format import (
    FIELDS,
    FieldError,
    HouseholdRow,
    RawRecord,
    RecordSet,
    check_record,
)
from alliance.households.models import (
    Flag,
    Household,
    HouseholdMerge,
    IntakeBatch,
    IntakeBatchRegion,
    IntakeRecord,
    IntakeRejectedRow,
    IntakeSource,
)
from alliance.households.needs import active_key, needs_for_flags, priority_with_waiting, request_priority
from alliance.households.reference import rules_by_flag
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.visits.models import ServiceRecord, Visit

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000
HISTORY_PAGE_SIZE = 20
REJECTED_PAGE_SIZE = 50
FILE_SOURCE_NAME = "file"
# Records checked between two looks at the chunk being written (PostgreSQL).
YIELD_EVERY = 10

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
    needs: dict[tuple[frozenset[str], tuple[str, ...]], list[str]] = field(default_factory=dict)


PROGRESS_KINDS = ("created", "updated", "unchanged", "rejected", "requests")
_KIND_POSITION = {kind: position for position, kind in enumerate(PROGRESS_KINDS)}


@dataclass
class _ChunkOutcome:
    # Per region code (None: unknown), the count of each of PROGRESS_KINDS.
    counts: dict[str | None, list[int]] = field(default_factory=dict)
    geocoding_pending: int = 0

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

    def total(self, kind: str) -> int:
        position = _KIND_POSITION[kind]
        return sum(counts[position] for counts in self.counts.values())


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
    writer = _ChunkWriter(context, result, on_progress)
    try:
        with _collect_only_new_objects():
            await _import_records(records, context, writer, chunk_size)
    except BaseException as error:
        await writer.settle()
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


class _ChunkWriter:
    """Writes the chunks in file order, each chunk one transaction, and reports progress after each.

    On PostgreSQL two chunks are in flight: while one is written, the next is read, planned and
    built (its new households' ids drawn from the sequence, in file order), and the main loop
    checks the records of the one after. A chunk's transaction starts only once the chunk before has
    committed and been reported, so rows land, are counted and are marked as duplicates in file
    order, and a crash after a chunk leaves nothing of the later ones. SQLite (one connection), or
    an import inside a caller's transaction, writes each chunk in turn."""

    def __init__(self, context: _Context, result: ImportResult, on_progress: ProgressCallback | None) -> None:
        self.context = context
        self.result = result
        self.on_progress = on_progress
        self.total = 0
        self.done = 0
        connection = IntakeBatch._meta.db
        self.overlap = connection.capabilities.dialect == "postgres" and not isinstance(
            connection, TransactionalDBClient
        )
        self.in_flight: list[asyncio.Task[None]] = []
        self.drawn: asyncio.Future[None] | None = None

    @property
    def writing(self) -> bool:
        return bool(self.in_flight)

    async def submit(self, rows: list[HouseholdRow], refused: list[RejectedRow]) -> None:
        self.done += len(rows) + len(refused)
        if not self.overlap:
            await self._write(rows, refused, self.done, None)
            return
        turn = _Turn(
            written=self.in_flight[-1] if self.in_flight else None,
            drawn_before=self.drawn,
            drawn=asyncio.get_running_loop().create_future(),
        )
        self.drawn = turn.drawn
        self.in_flight.append(asyncio.create_task(self._write(rows, refused, self.done, turn)))
        if len(self.in_flight) > 1:
            await self.in_flight.pop(0)

    async def finish(self) -> None:
        while self.in_flight:
            await self.in_flight.pop(0)

    async def settle(self) -> None:
        """After a failure: let the chunks in flight end (committed, or rolled back when the one
        before them failed) before the batch is marked failed."""
        tasks, self.in_flight = self.in_flight, []
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(
        self, rows: list[HouseholdRow], refused: list[RejectedRow], done: int, turn: _Turn | None
    ) -> None:
        await _flush(rows, refused, self.context, self.result, turn)
        await _report(self.on_progress, done, self.total)


async def _import_records(
    records: RecordSet, context: _Context, writer: _ChunkWriter, chunk_size: int
) -> None:
    """Check every record and hand the chunks to the writer."""
    repeated, writer.total = _repeated_external_ids(records)
    await IntakeBatch.filter(id=context.batch_id).update(total_rows=writer.total)
    chunk: list[HouseholdRow] = []
    refused: list[RejectedRow] = []
    for position, record in enumerate(records, start=1):
        checked = _check(record, context, repeated)
        if isinstance(checked, RejectedRow):
            refused.append(checked)
        else:
            chunk.append(checked)
        if len(chunk) + len(refused) >= chunk_size:
            await writer.submit(chunk, refused)
            chunk, refused = [], []
        elif position % YIELD_EVERY == 0 and writer.writing:
            # Checking is pure Python: let the chunk being written send its next statement.
            await asyncio.sleep(0)
    if chunk or refused:
        await writer.submit(chunk, refused)
    await writer.finish()


@contextmanager
def _collect_only_new_objects() -> Iterator[None]:
    """Keep the garbage collector's full passes to the objects made during the import. An import
    allocates millions of objects, which sets off a full pass every half second or so; each would
    walk every object the process already held (the ORM's and the app's, ~100,000: 40 ms here)
    while the chunk being written waits. The objects frozen meanwhile are not leaked: they go back
    to the collector when the import ends (unless the process freezes objects itself)."""
    unfreeze = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if unfreeze:
            gc.unfreeze()


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
    first_rows: dict[str, int] = {}
    repeated: dict[str, list[int]] = {}
    total = 0
    for record in records:
        total += 1
        if record.problem is None and (external_id := record.external_id):
            first = first_rows.setdefault(external_id, record.row)
            if first != record.row:
                repeated.setdefault(external_id, [first]).append(record.row)
    return repeated, total


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
    rows: list[HouseholdRow],
    refused: list[RejectedRow],
    context: _Context,
    result: ImportResult,
    turn: _Turn | None = None,
) -> None:
    """Write one chunk: all of it in one transaction, or, if the database refuses, row by row.
    The chunk's counts and refused rows are written in the same transaction as its households.
    `turn`: where the chunk before stands, when it is still being written."""
    turn = turn or _Turn()
    try:
        await _flush_in_turn(rows, refused, context, result, turn)
    finally:
        _done(turn.drawn)


async def _flush_in_turn(
    rows: list[HouseholdRow], refused: list[RejectedRow], context: _Context, result: ImportResult, turn: _Turn
) -> None:
    outcome = _ChunkOutcome()
    refused.sort(key=lambda rejected: rejected.row)
    saved = False
    if rows:
        try:
            # Read and planned just before the chunk's transaction, perhaps while the chunk before
            # is still being written: waiting for its turn, a chunk holds no connection.
            chunk = await _prepare_chunk(IntakeBatch._meta.db, rows, context, outcome, turn)
            await _after(turn.written)
            async with in_transaction() as connection:
                await _write_households(connection, chunk, context, outcome)
                _count_refused(refused, outcome)
                slices = await _record_progress(connection, refused, context, outcome)
            context.slices.update(slices)
            saved = True
        except (IntegrityError, OperationalError):
            await _after(turn.written)
            logger.info("intake batch %s: a chunk failed, retrying its rows one by one", context.batch_id)
            outcome = _ChunkOutcome()
            for row in rows:
                single = _ChunkOutcome()
                try:
                    async with in_transaction() as connection:
                        chunk = await _prepare_chunk(connection, [row], context, single, _Turn(ids=turn.ids))
                        await _write_households(connection, chunk, context, single)
                    outcome.add(single)
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
            refused.sort(key=lambda rejected: rejected.row)
    if not saved:
        await _after(turn.written)
        _count_refused(refused, outcome)
        async with in_transaction() as connection:
            slices = await _record_progress(connection, refused, context, outcome)
        context.slices.update(slices)
    result.created += outcome.total("created")
    result.updated += outcome.total("updated")
    result.unchanged += outcome.total("unchanged")
    result.requests_created += outcome.total("requests")
    result.geocoding_pending += outcome.geocoding_pending
    result.rejected.extend(refused)


def _count_refused(refused: list[RejectedRow], outcome: _ChunkOutcome) -> None:
    for rejected in refused:
        outcome.count(rejected.region_code, "rejected")


async def _record_progress(
    connection: BaseDBAsyncClient, refused: list[RejectedRow], context: _Context, outcome: _ChunkOutcome
) -> dict[str | None, int]:
    """Counts per region slice and the refused rows, so the history page is right even mid-file.
    Returns the slices it created: the caller keeps them once the transaction has committed."""
    regions = outcome.counts.keys()
    new_regions = [region for region in regions if region not in context.slices]
    known_regions = [region for region in regions if region in context.slices]
    slices = dict(context.slices)
    if new_regions:
        # A region's first rows of this batch: its slice is created with their counts.
        columns = ("batch_id", "region_id", "created", "updated", "unchanged", "rejected", "requests_created")
        created = await _insert(
            connection,
            IntakeBatchRegion,
            columns,
            [(context.batch_id, region, *outcome.counts[region]) for region in new_regions],
            returning=("region_id", "id"),
        )
        if created is None:
            created = await _select_in(
                connection, IntakeBatchRegion, ("region_id", "id"), "batch_id", [context.batch_id]
            )
        slices.update({item["region_id"]: item["id"] for item in created})
    if regions:
        increments = [(*outcome.counts[region], slices[region]) for region in known_regions]
        totals = [outcome.total(kind) for kind in PROGRESS_KINDS]
        await _add_counts(connection, increments, totals, context.batch_id)
    await _insert(
        connection,
        IntakeRejectedRow,
        ("batch_id", "slice_id", "row", "external_id", "errors", "record"),
        [
            (
                context.batch_id,
                slices[rejected.region_code],
                rejected.row,
                rejected.external_id[:64],
                [error.as_dict() for error in rejected.errors],
                rejected.record,
            )
            for rejected in refused
        ],
    )
    return {region: slices[region] for region in new_regions}


async def _add_counts(
    connection: BaseDBAsyncClient, increments: list[tuple[int, ...]], totals: list[int], batch_id: int
) -> None:
    """Add a chunk's counts to its slices (each row: the PROGRESS_KINDS counts, then the slice id)
    and to the batch; on PostgreSQL in one statement."""
    counted = ", ".join(
        f'"{column}" = "{column}" + {{}}'
        for column in ("created", "updated", "unchanged", "rejected", "requests_created")
    )
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query(
            'WITH "slices" AS (UPDATE "intake_batch_region" AS s SET '
            '"created" = s."created" + n.created, "updated" = s."updated" + n.updated, '
            '"unchanged" = s."unchanged" + n.unchanged, "rejected" = s."rejected" + n.rejected, '
            '"requests_created" = s."requests_created" + n.requests '
            "FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[]) "
            'AS n(created, updated, unchanged, rejected, requests, id) WHERE s."id" = n.id) '
            f'UPDATE "intake_batch" SET {counted.format("$7", "$8", "$9", "$10", "$11")} WHERE "id" = $12',
            [*_as_columns(increments, 6), *totals, batch_id],
        )
        return
    if increments:
        await connection.execute_many(
            f'UPDATE "intake_batch_region" SET {counted.format(*"?????")} WHERE "id" = ?', increments
        )
    await connection.execute_query(
        f'UPDATE "intake_batch" SET {counted.format(*"?????")} WHERE "id" = ?', [*totals, batch_id]
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


@dataclass
class _ChunkPlan:
    plans: list[_Plan]
    # The households already known, by external id, as they were read.
    existing: dict[str, dict[str, Any]]
    # The statements' rows, built once every household has its id.
    rows: _ChunkRows | None = None


@dataclass
class _Turn:
    """A chunk's place behind the one before it (PostgreSQL, where two are in flight)."""

    # The chunk before: committed and reported.
    written: asyncio.Future[None] | None = None
    # The chunk before has drawn its new households' ids; this chunk, once it has drawn its own
    # (at the latest when it ends). Ids drawn in file order keep "the newer household has the
    # higher id", which duplicate marking relies on.
    drawn_before: asyncio.Future[None] | None = None
    drawn: asyncio.Future[None] | None = None
    # External id -> the id drawn for it: a row retried on its own after the chunk failed keeps it.
    ids: dict[str, int] = field(default_factory=dict)


async def _prepare_chunk(
    connection: BaseDBAsyncClient,
    rows: list[HouseholdRow],
    context: _Context,
    outcome: _ChunkOutcome,
    turn: _Turn,
) -> _ChunkPlan:
    """Read what the rows' households hold now and work out every change. On PostgreSQL the new
    households' ids are drawn from the sequence (after the chunk before drew its own) and every
    row is built here too, so that writing the chunk is only sending it."""
    chunk = await _plan_households(connection, rows, context, outcome)
    if connection.capabilities.dialect == "postgres":
        await _after(turn.drawn_before)
        await _draw_household_ids(connection, chunk.plans, turn.ids)
        _done(turn.drawn)
        chunk.rows = await _chunk_rows(chunk, context)
    return chunk


async def _after(turn: asyncio.Future[None] | None) -> None:
    """Wait until the chunk before this one is there; if it failed, so does this one."""
    if turn is None:
        return
    try:
        await asyncio.shield(turn)
    except asyncio.CancelledError:
        if not turn.cancelled():
            raise
        raise _EarlierChunkFailed() from None
    except Exception as error:
        raise _EarlierChunkFailed() from error


def _done(turn: asyncio.Future[None] | None) -> None:
    if turn is not None and not turn.done():
        turn.set_result(None)


class _EarlierChunkFailed(Exception):
    """The chunk before failed: this one is not written (and not retried row by row either)."""


async def _draw_household_ids(connection: BaseDBAsyncClient, plans: list[_Plan], ids: dict[str, int]) -> None:
    new_plans = [plan for plan in plans if plan.new]
    missing = [plan for plan in new_plans if plan.row.external_id not in ids]
    if missing:
        drawn = await _next_ids(connection, Household, len(missing))
        ids.update(zip([plan.row.external_id for plan in missing], drawn, strict=True))
    for plan in new_plans:
        plan.household_id = ids[plan.row.external_id]


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
            connection, IntakeRecord, ("household_id", "explicit_needs"), "household_id", existing_ids
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
    return _ChunkPlan(plans, existing)


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


HOUSEHOLD_INSERT = ("external_id", *HOUSEHOLD_COLUMNS, "created_at", "updated_at")
FLAG_INSERT = ("household_id", "code", "source", "detected_at", "active")
AUDIT_INSERT = ("action", "object_type", "object_id", "details", "address", "at")
RECORD_INSERT = (
    "household_id",
    "source_id",
    "last_batch_id",
    "explicit_needs",
    "geocode_pending",
    "phone_address",
    "updated_at",
)
RECORD_UPDATE = (
    "source_id",
    "last_batch_id",
    "explicit_needs",
    "geocode_pending",
    "phone_address",
    "updated_at",
    "household_id",
)
REQUEST_INSERT = ("household_id", "need_id", "status", "active_key", "priority", "created_at", "updated_at")
TRANSITION_INSERT = ("request_id", "from_status", "to_status", "reason", "at")


@dataclass
class _ChunkRows:
    """Every statement of one chunk, its rows ready to send."""

    households: _Insert
    household_updates: list[tuple[Any, ...]]
    flags: _Insert
    flags_reactivated: list[tuple[Any, ...]]
    flags_redated: list[tuple[Any, ...]]
    flags_deactivated: list[tuple[Any, ...]]
    audit: _Insert
    records: _Insert
    record_updates: list[tuple[Any, ...]]
    requests: _Insert
    request_priorities: list[tuple[Any, ...]]
    requests_cancelled: list[tuple[Any, ...]]
    transitions: _Insert
    identities: list[IdentityRow]


def _household_rows(plans: list[_Plan], context: _Context, with_ids: bool) -> list[tuple[Any, ...]]:
    now = context.now
    return [
        (
            *((plan.household_id,) if with_ids else ()),
            plan.row.external_id,
            *[plan.values[column] for column in HOUSEHOLD_COLUMNS],
            now,
            now,
        )
        for plan in plans
        if plan.new
    ]


async def _chunk_rows(chunk: _ChunkPlan, context: _Context) -> _ChunkRows:
    """Every row the chunk writes, once each household has its id. It yields now and then: on
    PostgreSQL this runs while the chunk before is being written."""
    now, source, opened = context.now, context.source_name, RequestStatus.OPEN.value
    plans, existing = chunk.plans, chunk.existing
    flags: list[tuple[Any, ...]] = []
    requests: list[tuple[Any, ...]] = []
    records: list[tuple[Any, ...]] = []
    record_updates: list[tuple[Any, ...]] = []
    identities: list[IdentityRow] = []
    for position, plan in enumerate(plans, start=1):
        if position % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        household_id = plan.household_id
        assert household_id is not None
        row = plan.row
        for code, detected in plan.new_flags:
            flags.append((household_id, code, source, detected, True))
        for need in plan.new_needs:
            requests.append(
                (household_id, need, opened, active_key(household_id, need), plan.priority, now, now)
            )
        record = (
            context.source_id,
            context.batch_id,
            list(row.needs),
            plan.geocode_pending,
            phone_address_key(row.phone, row.address),
            now,
        )
        if plan.record_exists:
            record_updates.append((*record, household_id))
        else:
            records.append((household_id, *record))
        before = existing.get(row.external_id)
        if before is None:
            identities.append((household_id, row.id_number, row.phone, row.address, None))
        elif (before["id_number"], before["phone"], before["address"]) != (
            row.id_number,
            row.phone,
            row.address,
        ):
            identities.append(
                (household_id, row.id_number, row.phone, row.address, before["possible_duplicate_of_id"])
            )
    cancelled = [request_id for plan in plans for request_id in plan.cancelled]
    households = _prepare_insert(Household, ("id", *HOUSEHOLD_INSERT), _household_rows(plans, context, True))
    await asyncio.sleep(0)
    flags_insert = _prepare_insert(Flag, FLAG_INSERT, flags)
    await asyncio.sleep(0)
    requests_insert = _prepare_insert(ServiceRequest, REQUEST_INSERT, requests)
    await asyncio.sleep(0)
    return _ChunkRows(
        households=households,
        household_updates=[
            (*[plan.values[column] for column in HOUSEHOLD_COLUMNS], now, plan.household_id)
            for plan in plans
            if not plan.new and plan.household_changed
        ],
        flags=flags_insert,
        flags_reactivated=[(at, True, None, pk) for plan in plans for at, pk in plan.reactivated_flags],
        flags_redated=[item for plan in plans for item in plan.redated_flags],
        flags_deactivated=[(False, now, pk) for plan in plans for pk in plan.deactivated_flags],
        audit=_prepare_insert(
            AuditEntry,
            AUDIT_INSERT,
            [
                _audit_row(action, plan.household_id, {"code": code}, context)
                for plan in plans
                for action, code in plan.flag_audit
            ],
        ),
        records=_prepare_insert(IntakeRecord, RECORD_INSERT, records),
        record_updates=record_updates,
        requests=requests_insert,
        request_priorities=[
            (plan.priority, request_id) for plan in plans for request_id in plan.reprioritised
        ],
        requests_cancelled=[
            (RequestStatus.CANCELLED.value, None, CloseReason.OUT_OF_SCOPE.value, now, request_id)
            for request_id in cancelled
        ],
        transitions=_prepare_insert(
            RequestTransition,
            TRANSITION_INSERT,
            [
                (request_id, opened, RequestStatus.CANCELLED.value, "intake: need no longer flagged", now)
                for request_id in cancelled
            ],
        ),
        identities=identities,
    )


async def _write_households(
    connection: BaseDBAsyncClient, chunk: _ChunkPlan, context: _Context, outcome: _ChunkOutcome
) -> None:
    plans = chunk.plans
    if chunk.rows is not None:
        await _run_insert(connection, chunk.rows.households)
    elif any(plan.new for plan in plans):
        # SQLite: the ids come from the insert.
        await _insert(
            connection, Household, HOUSEHOLD_INSERT, _household_rows(plans, context, with_ids=False)
        )
        returned = await _select_in(
            connection,
            Household,
            ("external_id", "id"),
            "external_id",
            [plan.row.external_id for plan in plans if plan.new],
        )
        ids = {item["external_id"]: item["id"] for item in returned}
        for plan in plans:
            if plan.new:
                plan.household_id = ids[plan.row.external_id]
    rows = chunk.rows or await _chunk_rows(chunk, context)
    await _update(connection, Household, (*HOUSEHOLD_COLUMNS, "updated_at"), rows.household_updates)
    await _save_flags(connection, rows)
    await _save_records(connection, rows)
    await _save_requests(connection, rows)
    if rows.identities:
        await mark_possible_duplicates(connection, rows.identities)


async def _save_flags(connection: BaseDBAsyncClient, rows: _ChunkRows) -> None:
    """New flags are added, returning ones reactivated, flags no longer sent deactivated (never deleted)."""
    await _run_insert(connection, rows.flags)
    await _update(connection, Flag, ("detected_at", "active", "deactivated_at"), rows.flags_reactivated)
    await _update(connection, Flag, ("detected_at",), rows.flags_redated)
    await _update(connection, Flag, ("active", "deactivated_at"), rows.flags_deactivated)
    await _run_insert(connection, rows.audit)


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


async def _save_records(connection: BaseDBAsyncClient, rows: _ChunkRows) -> None:
    await _run_insert(connection, rows.records)
    if rows.record_updates:
        params = _params(connection, 7)
        # A household whose place is unchanged keeps a pending geocode it already had.
        await connection.execute_many(
            f'UPDATE "intake_record" SET "source_id" = {params[0]}, "last_batch_id" = {params[1]}, '
            f'"explicit_needs" = {params[2]}, "geocode_pending" = ("geocode_pending" OR {params[3]}), '
            f'"phone_address" = {params[4]}, "updated_at" = {params[5]} WHERE "household_id" = {params[6]}',
            _encode_rows(IntakeRecord, RECORD_UPDATE, rows.record_updates),
        )


async def _save_requests(connection: BaseDBAsyncClient, rows: _ChunkRows) -> None:
    await _run_insert(connection, rows.requests)
    await _update(connection, ServiceRequest, ("priority",), rows.request_priorities)
    await _update(
        connection,
        ServiceRequest,
        ("status", "active_key", "close_reason", "updated_at"),
        rows.requests_cancelled,
    )
    await _run_insert(connection, rows.transitions)


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


def _encode_rows(
    model: type[Model], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> Sequence[tuple[Any, ...]]:
    encoders = _encoders(model, columns)
    encoded = [(position, encode) for position, encode in enumerate(encoders) if encode is not None]
    if not encoded:
        return rows
    values = [list(row) for row in rows]
    for row in values:
        for position, encode in encoded:
            row[position] = encode(row[position])
    return [tuple(row) for row in values]


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
    connection: BaseDBAsyncClient,
    model: type[Model],
    columns: Sequence[str],
    key: str,
    values: list[Any],
    where: str = "TRUE",
) -> list[dict[str, Any]]:
    """SELECT columns WHERE key is one of values (and `where`), in plain SQL: the ORM's query builder
    costs more than the query for a thousand keys. PostgreSQL gets one array parameter (= ANY), SQLite
    an IN list. JSON and datetime columns come back decoded, as the ORM would give them."""
    if not values:
        return []
    meta = model._meta
    names = ", ".join(f'"{column}"' for column in columns)
    table = meta.db_table
    if connection.capabilities.dialect == "postgres":
        (key_type,) = _postgres_array_types(model, (key,))
        _count, found = await connection.execute_query(
            f'SELECT {names} FROM "{table}" WHERE "{key}" = ANY($1::{key_type}[]) AND {where}', [list(values)]
        )
    else:
        placeholders = ", ".join("?" * len(values))
        _count, found = await connection.execute_query(
            f'SELECT {names} FROM "{table}" WHERE "{key}" IN ({placeholders}) AND {where}', list(values)
        )
    decoders = {}
    for column in columns:
        field_object = meta.fields_map[meta.fields_db_projection_reverse.get(column, column)]
        if isinstance(field_object, fields.JSONField | fields.DatetimeField):
            decoders[column] = field_object.to_python_value
    rows = [dict(row) for row in found]
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


def _as_columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [[row[position] for row in rows] for position in range(width)]


@dataclass
class _Insert:
    """The rows of one bulk INSERT, ready to send: the model's defaults added, JSON as text."""

    table: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]


def _prepare_insert(model: type[Model], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> _Insert:
    defaults = _column_defaults(model, columns) if rows else {}
    if defaults:
        columns = (*columns, *defaults)
        tail = tuple(defaults.values())
        rows = [(*row, *tail) for row in rows]
    return _Insert(model._meta.db_table, tuple(columns), _encode_rows(model, columns, rows))


async def _run_insert(connection: BaseDBAsyncClient, insert: _Insert) -> None:
    """PostgreSQL: binary COPY, faster than executemany or an INSERT over arrays. SQLite:
    executemany, which runs in-process anyway."""
    if not insert.rows:
        return
    if connection.capabilities.dialect == "postgres":
        await _copy(connection, insert.table, insert.columns, insert.rows)
        return
    names = ", ".join(f'"{column}"' for column in insert.columns)
    await connection.execute_many(
        f'INSERT INTO "{insert.table}" ({names}) VALUES ({", ".join(_params(connection, len(insert.columns)))})',
        insert.rows,
    )


async def _insert(
    connection: BaseDBAsyncClient,
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    returning: Sequence[str] = (),
) -> list[dict[str, Any]] | None:
    """A bulk INSERT without model instances. With `returning` on PostgreSQL, the primary keys are
    drawn from the table's sequence first and the rows come back with them; SQLite returns None
    (the caller reads the rows back)."""
    if not rows:
        return []
    if returning and connection.capabilities.dialect == "postgres":
        pk = model._meta.db_pk_column
        ids = await _next_ids(connection, model, len(rows))
        await _run_insert(
            connection,
            _prepare_insert(
                model, (pk, *columns), [(pk_value, *row) for pk_value, row in zip(ids, rows, strict=True)]
            ),
        )
        positions = {column: position for position, column in enumerate(columns)}
        return [
            {column: pk_value if column == pk else row[positions[column]] for column in returning}
            for pk_value, row in zip(ids, rows, strict=True)
        ]
    await _run_insert(connection, _prepare_insert(model, columns, rows))
    return [] if connection.capabilities.dialect == "postgres" else None


async def _next_ids(connection: BaseDBAsyncClient, model: type[Model], count: int) -> list[int]:
    """`count` primary keys from the table's sequence (PostgreSQL), ascending like the ids an INSERT
    would give rows in order."""
    table, pk = model._meta.db_table, model._meta.db_pk_column
    _count, rows = await connection.execute_query(
        f"SELECT nextval(pg_get_serial_sequence('\"{table}\"', '{pk}')) FROM generate_series(1, $1)", [count]
    )
    return sorted(row[0] for row in rows)


async def _copy(
    connection: BaseDBAsyncClient, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Binary COPY into a PostgreSQL table on the transaction's own connection; the driver's errors
    become the ORM's, as for any other statement (a refused chunk is then retried row by row)."""
    try:
        async with connection.acquire_connection() as raw:
            await raw.copy_records_to_table(table, records=rows, columns=list(columns))
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(error) from error
    except (asyncpg.SyntaxOrAccessError, asyncpg.DataError) as error:
        raise OperationalError(error) from error


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
