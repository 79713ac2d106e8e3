"""Writing an import chunk: each statement's rows built from the plans and sent in bulk."""

from __future__ import annotations

import asyncio
from operator import itemgetter
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from alliance.core.audit import Draft, chain
from alliance.core.codes import CloseReason, RequestStatus
from alliance.core.crypto import blind_index, normalise_id_number, phone_address_key
from alliance.core.models import AuditEntry
from alliance.households.bulk_statements import (
    _encode_rows,
    _insert,
    _params,
    _prepare_insert,
    _prepare_insert_in_slices,
    _run_insert,
    _select_in,
    _update,
)
from alliance.households.consent import NewHousehold
from alliance.households.duplicates import (
    IdentityRow,
    WrittenKeys,
    apply_marks,
    find_holders,
    holders_after,
    mark_possible_duplicates,
    older_holders,
)
from alliance.households.intake_planning import (
    HOUSEHOLD_COLUMNS,
    YIELD_EVERY,
    _ChunkOutcome,
    _ChunkPlan,
    _ChunkRows,
    _Context,
    _Plan,
)
from alliance.households.models import Flag, Household, IntakeRecord
from alliance.households.needs import active_key
from alliance.matching.models import RequestTransition, ServiceRequest

HOUSEHOLD_INSERT = ("external_id", *HOUSEHOLD_COLUMNS, "created_at", "updated_at")
FLAG_INSERT = ("household_id", "code", "source", "detected_at", "active")
AUDIT_INSERT = tuple(Draft(action="", object_type="", object_id="").values())
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


# A plan's household columns, in HOUSEHOLD_COLUMNS' order (a tuple).
_household_columns = itemgetter(*HOUSEHOLD_COLUMNS)


def _household_rows(plans: list[_Plan], context: _Context, with_ids: bool) -> list[tuple[Any, ...]]:
    now = context.now
    if with_ids:
        return [
            (plan.household_id, plan.row.external_id, *_household_columns(plan.values), now, now)
            for plan in plans
            if plan.new
        ]
    return [(plan.row.external_id, *_household_columns(plan.values), now, now) for plan in plans if plan.new]


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
    written: list[WrittenKeys] = []
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
        # The identity's keys and blind indexes, worked out once for the rows and duplicate marking.
        id_key = normalise_id_number(row.id_number) or None
        key = phone_address_key(row.phone, row.address)
        phone_address = blind_index("phone_address", key)
        written.append((household_id, id_key, key))
        record = (
            context.source_id,
            context.batch_id,
            list(row.needs),
            plan.geocode_pending,
            phone_address,
            now,
        )
        if plan.record_exists:
            record_updates.append((*record, household_id))
        else:
            records.append((household_id, *record))
        before = existing.get(row.external_id)
        identity = (household_id, id_key, plan.values["id_number_index"], key, phone_address)
        if before is None:
            identities.append((*identity, None))
        elif (before["id_number_enc"], before["phone_enc"], before["address"]) != (
            row.id_number,
            row.phone,
            row.address,
        ):
            identities.append((*identity, before["possible_duplicate_of_id"]))
    cancelled = [request_id for plan in plans for request_id in plan.cancelled]
    households = await _prepare_insert_in_slices(
        Household, ("id", *HOUSEHOLD_INSERT), _household_rows(plans, context, True)
    )
    flags_insert = await _prepare_insert_in_slices(Flag, FLAG_INSERT, flags)
    requests_insert = await _prepare_insert_in_slices(ServiceRequest, REQUEST_INSERT, requests)
    records_insert = await _prepare_insert_in_slices(IntakeRecord, RECORD_INSERT, records)
    return _ChunkRows(
        households=households,
        household_updates=[
            (*_household_columns(plan.values), now, plan.household_id)
            for plan in plans
            if not plan.new and plan.household_changed
        ],
        flags=flags_insert,
        flags_reactivated=[(at, True, None, pk) for plan in plans for at, pk in plan.reactivated_flags],
        flags_redated=[item for plan in plans for item in plan.redated_flags],
        flags_deactivated=[(False, now, pk) for plan in plans for pk in plan.deactivated_flags],
        audit=[
            _audit_draft(action, plan, {"code": code}, context)
            for plan in plans
            for action, code in plan.flag_audit
        ],
        records=records_insert,
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
        written=written,
        created=[
            NewHousehold(
                plan.household_id,
                plan.row.head_name,
                plan.row.address,
                plan.row.region_code,
                context.regions[plan.row.region_code].path,
            )
            for plan in plans
            if plan.new and plan.household_id is not None
        ],
    )


async def _write_households(
    connection: BaseDBAsyncClient,
    chunk: _ChunkPlan,
    context: _Context,
    outcome: _ChunkOutcome,
    lookup: BaseDBAsyncClient | None = None,
) -> None:
    """Write the chunk in `connection`'s transaction. `lookup` (PostgreSQL, the chunk before
    committed): a connection outside the transaction on which the households holding the chunk's
    identities are looked up while its rows are sent, for duplicate marking."""
    found = None
    if lookup is not None and chunk.rows is not None and chunk.rows.identities:
        found = asyncio.create_task(_marks_wanted(lookup, chunk.rows))
    try:
        await _write_rows(connection, chunk, context, found)
    finally:
        # Ended before the chunk is done with it (the write failed): let it finish, quietly.
        if found is not None:
            await asyncio.gather(found, return_exceptions=True)


async def _write_rows(
    connection: BaseDBAsyncClient,
    chunk: _ChunkPlan,
    context: _Context,
    found: asyncio.Task[dict[int, list[int]]] | None,
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
    rows = chunk.rows = chunk.rows or await _chunk_rows(chunk, context)
    await _update(connection, Household, (*HOUSEHOLD_COLUMNS, "updated_at"), rows.household_updates)
    await _save_flags(connection, rows)
    await _save_records(connection, rows)
    await _save_requests(connection, rows)
    if rows.identities:
        if found is None:
            await mark_possible_duplicates(connection, rows.identities)
        else:
            await apply_marks(connection, rows.identities, await found)


async def _marks_wanted(lookup: BaseDBAsyncClient, rows: _ChunkRows) -> dict[int, list[int]]:
    """The chunk's duplicates (`older_holders`), looked up outside its transaction while its rows are
    sent and brought up to date with what they will be once written (`holders_after`): worked out
    beside the writing, not between two of its statements."""
    holders = holders_after(await find_holders(lookup, rows.identities), rows.written)
    return older_holders(rows.identities, holders)


async def _save_flags(connection: BaseDBAsyncClient, rows: _ChunkRows) -> None:
    """New flags are added, returning ones reactivated, flags no longer sent deactivated (never deleted)."""
    await _run_insert(connection, rows.flags)
    await _update(connection, Flag, ("detected_at", "active", "deactivated_at"), rows.flags_reactivated)
    await _update(connection, Flag, ("detected_at",), rows.flags_redated)
    await _update(connection, Flag, ("active", "deactivated_at"), rows.flags_deactivated)
    if rows.audit:
        await chain(connection, rows.audit)
        entries = [tuple(draft.values()[column] for column in AUDIT_INSERT) for draft in rows.audit]
        await _run_insert(connection, _prepare_insert(AuditEntry, AUDIT_INSERT, entries))


def _audit_draft(action: str, plan: _Plan, details: dict[str, Any], context: _Context) -> Draft:
    region = context.regions.get(plan.row.region_code)
    return Draft(
        action=action,
        object_type="household",
        object_id=str(plan.household_id),
        household_id=plan.household_id,
        details={**details, "batch": context.batch_id, "source": context.source_name},
        actor_name=f"intake:{context.source_name}"[:64] if context.source_name else "intake",
        region_path=region.path if region else "",
        at=context.now,
    )


async def _save_records(connection: BaseDBAsyncClient, rows: _ChunkRows) -> None:
    await _run_insert(connection, rows.records)
    if rows.record_updates:
        params = _params(connection, 7)
        # A household whose place is unchanged keeps a pending geocode it already had.
        await connection.execute_many(
            # The source that sent the household first stays its owner (alliance/households/intake.py).
            f'UPDATE "intake_record" SET "source_id" = COALESCE("source_id", {params[0]}), '
            f'"last_batch_id" = {params[1]}, '
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
