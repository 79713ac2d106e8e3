"""Household intake from the assistance system: `import_households`, the one import service behind
the CLI and the API.

How an import runs (docs/intake.md tells integrators the same from the outside):
- a first pass over the records finds external ids sent twice: both rows are refused, named;
- every record is checked (alliance.households.intake_format); bad rows are refused with
  field-level errors, good rows next to them go on;
- a registered source may update only the households it sent first: its row for a household
  another source (or none) sent is not applied but held as an IntakeConflict, written in the
  chunk's transaction, until a coordinator accepts or rejects it (alliance.households.intake_conflicts);
- good rows are written in chunks, each chunk one transaction (its counts and refused rows with
  it: alliance.households.intake_progress), with bulk reads of the households already known
  (alliance.households.intake_planning) and bulk writes (alliance.households.intake_writing,
  alliance.households.bulk_statements; PostgreSQL: binary COPY; SQLite: executemany), never a round
  trip per row. If a chunk fails in the database (a concurrent import of the same household, say),
  its rows are retried one transaction each, so one bad row costs only itself. A crash leaves the
  committed chunks in place and a re-run finds them unchanged: the upsert by external id never
  duplicates.
- on PostgreSQL the work overlaps (see _ChunkWriter): while a chunk is written, the next one is
  read, planned and built and the one after is checked, so Python and the database each keep a
  core busy; chunks still commit one after the other, in file order.

The intake history is in alliance.households.intake_history, the read-back of a household's
status in alliance.households.household_status.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from array import array
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from alliance.core import audit
from alliance.core.codes import BatchStatus, IntakeChannel
from alliance.core.crypto import keyring_held
from alliance.core.i18n import gettext as _
from alliance.core.metrics import intake_rows_counted
from alliance.core.timeutil import utc_now
from alliance.households import consent
from alliance.households.bulk_statements import _next_ids
from alliance.households.intake_format import (
    MAX_API_RECORDS,
    FieldError,
    HouseholdRow,
    RawRecord,
    RecordSet,
    check_record,
)
from alliance.households.intake_planning import (
    YIELD_EVERY,
    _ChunkOutcome,
    _ChunkPlan,
    _Context,
    _load_context,
    _Plan,
    _plan_households,
)
from alliance.households.intake_progress import RejectedRow, _count_refused, _record_progress
from alliance.households.intake_writing import _chunk_rows, _write_households
from alliance.households.models import Household, IntakeBatch, IntakeConflict, IntakeSource

logger = logging.getLogger(__name__)

# Rows a chunk (one transaction) writes. Measured on PostgreSQL, 100,000 households on 2 cores, the
# same hour: at 1,000 the server spent 21.5-23.5 s of CPU on the import, at 2,500, 5,000 or 10,000
# 18.2-19.0 s (fewer COPY statements and commits, each with its own foreign-key bookkeeping); the
# import's peak was 116 MiB (2,500), 145 MiB (5,000) and 198 MiB (10,000) (docs/scale.md).
CHUNK_SIZE = 5000
# The tables an import grows, analysed after ANALYZE_FROM rows and at each doubling (PostgreSQL).
ANALYZE_FROM = 10_000
GROWN_TABLES = ("household", "intake_record", "flag", "service_request")

ProgressCallback = Callable[[int, int], Awaitable[None] | None]


# Refused rows and conflicts an ImportResult holds: all of an API call's (MAX_API_RECORDS), the
# first ones of a file. Every one is in the database (IntakeRejectedRow, IntakeConflict) anyway.
KEPT_ROWS = MAX_API_RECORDS


@dataclass
class ImportResult:
    batch: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # The first KEPT_ROWS refused rows (without the record as sent); rejected_count counts them all.
    rejected: list[RejectedRow] = field(default_factory=list)
    requests_created: int = 0
    geocoding_pending: int = 0
    # (row, external id) of the first KEPT_ROWS rows held for a coordinator: the household is another
    # source's; conflict_count counts them all.
    conflicts: list[tuple[int, str]] = field(default_factory=list)
    rejected_count: int = 0
    conflict_count: int = 0

    @property
    def complete(self) -> bool:
        """Whether `rejected` and `conflicts` hold every such row of the batch."""
        return self.rejected_count == len(self.rejected) and self.conflict_count == len(self.conflicts)

    def as_json(self) -> dict[str, Any]:
        """The shape the CLI's --json and the API answer with (docs/intake.md)."""
        return {
            "batch": self.batch,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [row.as_dict() for row in self.rejected],
            "conflicts": [
                {"row": row, "external_id": external_id} for row, external_id in sorted(self.conflicts)
            ],
            "requests_created": self.requests_created,
        }


async def import_households(
    records: RecordSet,
    *,
    source: IntakeSource | None = None,
    channel: IntakeChannel = IntakeChannel.FILE,
    filename: str = "",
    chunk_size: int = CHUNK_SIZE,
    on_progress: ProgressCallback | None = None,
    resolving_conflict: bool = False,
) -> ImportResult:
    """Upsert every good record by external id; refuse the others with field-level errors; hold a
    source's rows for households another source sent as conflicts. `resolving_conflict`: a
    coordinator accepted such a row, so it is applied (the first source stays the owner)."""
    now = utc_now()
    batch = await IntakeBatch.create(
        source_id=source.id if source else None,
        channel=channel,
        filename=filename[-255:],
        status=BatchStatus.RUNNING,
        started_at=now,
    )
    context = await _load_context(batch.id, source, now, owner_check=not resolving_conflict)
    result = ImportResult(batch=batch.id)
    writer = _ChunkWriter(context, result, on_progress)
    try:
        with _collector_between_chunks():
            await _import_records(records, context, writer, chunk_size)
    except BaseException as error:
        await writer.settle()
        await IntakeBatch.filter(id=batch.id).update(
            status=BatchStatus.FAILED, finished_at=utc_now(), error=repr(error)[:2000]
        )
        raise
    await IntakeBatch.filter(id=batch.id).update(status=BatchStatus.FINISHED, finished_at=utc_now())
    # Verification and consent (alliance/households/consent.py): the batch's households follow their
    # region's policy for matching, and each new one is a "verify" task for its community worker.
    # (The verification tasks of the households it created were opened with each chunk.)
    await consent.refresh_matchable(of_batch=batch.id)
    await audit.record(
        None,
        "intake.batch",
        "intake_batch",
        batch.id,
        {
            **result.as_json(),
            "rejected": result.rejected_count,
            "conflicts": result.conflict_count,
            "source": context.source_name,
        },
    )
    intake_rows_counted(channel, result.created + result.updated + result.unchanged, result.rejected_count)
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
        self.analysed_at = 0
        self.analysing: asyncio.Task[None] | None = None
        # The chunks written since the last collector pass, freed by it (`_collect_chunk`).
        self.written: list[Any] = []

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
            pool=IntakeBatch._meta.db,
        )
        self.drawn = turn.drawn
        self.in_flight.append(asyncio.create_task(self._write(rows, refused, self.done, turn)))
        if len(self.in_flight) > 1:
            await self.in_flight.pop(0)

    async def finish(self) -> None:
        while self.in_flight:
            await self.in_flight.pop(0)
        if self.analysing is not None:
            await self.analysing

    async def settle(self) -> None:
        """After a failure: let the chunks in flight end (committed, or rolled back when the one
        before them failed) and the statistics being gathered, before the batch is marked failed."""
        tasks, self.in_flight = self.in_flight, []
        if self.analysing is not None:
            tasks.append(self.analysing)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(
        self, rows: list[HouseholdRow], refused: list[RejectedRow], done: int, turn: _Turn | None
    ) -> None:
        await _flush(rows, refused, self.context, self.result, turn, self.written)
        await self._refresh_statistics(done)
        await _report(self.on_progress, done, self.total)

    async def _refresh_statistics(self, done: int) -> None:
        """PostgreSQL: ANALYZE the tables the import grows after its first ANALYZE_FROM rows and each
        time it has doubled them. Without fresh statistics the planner takes the grown tables for
        empty, and from some 50,000 rows on reads all of `household` for each chunk's lookups by
        ID number (measured: 5,000 rows/s falling to 260 at 100,000) wherever autovacuum is off or
        behind. It runs on a connection of its own while the next chunks are written (an ANALYZE
        only reads, and takes no lock that a writer waits for), one after the other. Inside a caller's
        transaction it runs there, in turn."""
        connection = IntakeBatch._meta.db
        if connection.capabilities.dialect != "postgres" or done < max(ANALYZE_FROM, 2 * self.analysed_at):
            return
        self.analysed_at = done
        if self.overlap:
            self.analysing = asyncio.create_task(self._analyse(after=self.analysing))
        else:
            await self._analyse()

    async def _analyse(self, after: asyncio.Task[None] | None = None) -> None:
        if after is not None:
            await asyncio.gather(after, return_exceptions=True)
        try:
            await IntakeBatch._meta.db.execute_script(f"ANALYZE {', '.join(GROWN_TABLES)}")
        except OperationalError:
            logger.warning("intake batch %s: could not analyze the tables it grows", self.context.batch_id)


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
        if position % chunk_size == chunk_size // 2:
            _collect_chunk(writer)
        if len(chunk) + len(refused) >= chunk_size:
            await writer.submit(chunk, refused)
            chunk, refused = [], []
        elif position % YIELD_EVERY == 0 and writer.writing:
            # Checking is pure Python: let the chunk being written send its next statement.
            await asyncio.sleep(0)
    if chunk or refused:
        await writer.submit(chunk, refused)
    await writer.finish()


# Imports running in this process, and whether the cyclic collector was on before the first began.
_collector = {"imports": 0, "was_enabled": False}


@contextmanager
def _collector_between_chunks() -> Iterator[None]:
    """The cyclic garbage collector off while imports run, with a pass over the young objects once a
    chunk instead (`_collect_chunk`). Left on, it cost a quarter of the import's CPU (at 100,000
    rows, 2.7 s of 11: 5,900 young passes and 48 full ones, each walking both chunks in flight, a
    hundred thousand objects) and found nothing: a chunk's rows and plans are freed by reference
    counting, and the peak stays the same without it. What else the process does meanwhile (another
    import, a web request) has its cycles collected at the next chunk's pass. Counted, so two imports
    in one process (two jobs) switch it back on only when both are done."""
    if _collector["imports"] == 0:
        _collector["was_enabled"] = gc.isenabled()
        gc.disable()
    _collector["imports"] += 1
    try:
        yield
    finally:
        _collector["imports"] -= 1
        if _collector["imports"] == 0 and _collector["was_enabled"]:
            gc.enable()


def _collect_chunk(writer: _ChunkWriter) -> None:
    """Once a chunk: the chunks written since the last pass freed, and the objects made since then
    collected, not the process's older ones. Called halfway through checking a chunk's records,
    when the chunk being written is most likely in the middle of a COPY with data waiting in the
    socket: between two of its statements, the pass (20 to 30 ms) would hold the writing connection
    idle."""
    writer.written.clear()
    if _collector["imports"]:
        gc.collect(1)


async def _report(on_progress: ProgressCallback | None, done: int, total: int) -> None:
    if on_progress is not None:
        outcome = on_progress(done, total)
        if inspect.isawaitable(outcome):
            await outcome


def _repeated_external_ids(records: RecordSet) -> tuple[dict[str, list[int]], int]:
    """External ids sent more than once, with their rows; and how many records there are.

    Memory stays small whatever the file: the first pass keeps one 8-byte hash per row, sorted to
    find the hashes seen twice; only when there are some does a second pass collect the rows of
    those ids (comparing the ids themselves, so a collision of two hashes costs nothing)."""
    hashes = array("q")
    total = 0
    for _row, external_id in records.external_ids():
        total += 1
        if external_id:
            hashes.append(hash(external_id))
    ordered = numpy.sort(numpy.frombuffer(hashes, dtype=numpy.int64))
    twice = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
    del hashes, ordered
    if not twice:
        return {}, total
    rows_of: dict[str, list[int]] = {}
    for row, external_id in records.external_ids():
        if external_id and hash(external_id) in twice:
            rows_of.setdefault(external_id, []).append(row)
    return {external_id: rows for external_id, rows in rows_of.items() if len(rows) > 1}, total


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
    written: list[Any] | None = None,
) -> None:
    """Write one chunk: all of it in one transaction, or, if the database refuses, row by row.
    The chunk's counts and refused rows are written in the same transaction as its households.
    `turn`: where the chunk before stands, when it is still being written. `written`: where the
    chunk's rows and plans are left once it has committed, to be freed by the next collector pass
    (`_collect_chunk`) rather than now: freeing a chunk's 200,000 objects takes 10 ms, which the
    next chunk, waiting for this one, would spend idle."""
    turn = turn or _Turn()
    try:
        # One look at the keyring for the chunk's encrypted values and blind indexes (thousands).
        with keyring_held():
            await _flush_in_turn(rows, refused, context, result, turn, written)
    finally:
        _done(turn.drawn)


async def _flush_in_turn(
    rows: list[HouseholdRow],
    refused: list[RejectedRow],
    context: _Context,
    result: ImportResult,
    turn: _Turn,
    written: list[Any] | None,
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
                await _write_households(connection, chunk, context, outcome, lookup=turn.pool)
                await _hold_conflicts(connection, chunk, context)
                await _open_verification_tasks(connection, chunk, context)
                _count_refused(refused, outcome)
                slices = await _record_progress(connection, refused, context, outcome)
            context.slices.update(slices)
            saved = True
            if written is not None:
                written.append((rows, chunk))
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
                        await _hold_conflicts(connection, chunk, context)
                        await _open_verification_tasks(connection, chunk, context)
                    outcome.add(single)
                except (IntegrityError, OperationalError) as error:
                    # The error's type only: a database's message quotes the row's values (personal data).
                    logger.warning(
                        "intake batch %s row %s not saved: %s",
                        context.batch_id,
                        row.row,
                        type(error).__name__,
                    )
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
    result.conflict_count += len(outcome.conflicts)
    result.conflicts.extend(outcome.conflicts[: max(0, KEPT_ROWS - len(result.conflicts))])
    result.rejected_count += len(refused)
    result.rejected.extend(
        replace(rejected, record={}) for rejected in refused[: max(0, KEPT_ROWS - len(result.rejected))]
    )


async def _open_verification_tasks(
    connection: BaseDBAsyncClient, chunk: _ChunkPlan, context: _Context
) -> None:
    """A "verify" task for each household the chunk created (alliance/households/consent.py), in the
    chunk's transaction: a crash never leaves a new household without its task."""
    created = chunk.rows.created if chunk.rows is not None else []
    if created:
        await consent.open_tasks_for_new(created, owners=context.task_owners, connection=connection)


async def _hold_conflicts(connection: BaseDBAsyncClient, chunk: _ChunkPlan, context: _Context) -> None:
    """The chunk's rows for other sources' households, kept for a coordinator (same transaction)."""
    if not chunk.conflicts:
        return
    await IntakeConflict.bulk_create(
        [
            IntakeConflict(
                household_id=household_id,
                batch_id=context.batch_id,
                source_id=context.source_id,
                row=row.row,
                external_id=row.external_id,
                record=row.raw.as_text() if row.raw else {},
            )
            for household_id, row in chunk.conflicts
        ],
        using_db=connection,
    )


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
    # The connections outside any transaction, for lookups beside the chunk's own (duplicate marking).
    pool: BaseDBAsyncClient | None = None


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
