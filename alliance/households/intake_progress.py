"""A batch's progress, written with each chunk: counts per region slice and the refused rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from alliance.households.bulk_statements import _as_columns, _insert, _select_in
from alliance.households.intake_format import FieldError
from alliance.households.intake_planning import PROGRESS_KINDS, _ChunkOutcome, _Context
from alliance.households.models import IntakeBatchRegion, IntakeRejectedRow


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
