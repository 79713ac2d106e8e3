"""The intake history (selectors): batches, their counts and refused rows in the viewer's region."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Sum

from alliance.core import exports
from alliance.core.access import Action, Principal, visible
from alliance.core.codes import BatchStatus
from alliance.core.errors import NotFound
from alliance.households.intake_format import FIELDS
from alliance.households.intake_planning import FILE_SOURCE_NAME
from alliance.households.models import IntakeBatch, IntakeConflict, IntakeRejectedRow

HISTORY_PAGE_SIZE = 20
REJECTED_PAGE_SIZE = 50


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
class BatchProgress:
    """How far a batch has come through its file, all regions together: rows done of the file's rows."""

    batch_id: int
    status: str
    total_rows: int
    rows_done: int

    @property
    def running(self) -> bool:
        return self.status == BatchStatus.RUNNING

    @property
    def percent(self) -> int:
        return min(100, self.rows_done * 100 // self.total_rows) if self.total_rows else 0


async def batch_progress(principal: Principal, batch_id: int) -> BatchProgress:
    """A batch's progress, for one who may see it: written with each chunk (alliance/households/
    intake_progress.py), so the page polling it sees the import advance a chunk at a time."""
    if not await _visible_batches(principal).filter(id=batch_id).exists():
        raise NotFound(f"intake batch {batch_id}")
    batch = await IntakeBatch.get(id=batch_id)
    held = await IntakeConflict.filter(batch_id=batch_id).count()
    return BatchProgress(
        batch_id=batch.id,
        status=str(batch.status),
        total_rows=batch.total_rows,
        rows_done=batch.created + batch.updated + batch.unchanged + batch.rejected + held,
    )


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
    progress: BatchProgress | None = None


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
        progress=await batch_progress(principal, batch_id) if batch.status == BatchStatus.RUNNING else None,
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


async def batch_for(principal: Principal, batch_id: int) -> IntakeBatch:
    """One batch the principal may see (through a slice of their region), else NotFound."""
    if not await _visible_batches(principal).filter(id=batch_id).exists():
        raise NotFound(f"intake batch {batch_id}")
    return await IntakeBatch.get(id=batch_id)


# --- the refused rows as an export job (alliance/core/exports.py) ------------------------------------


async def _rejected_check(principal: Principal, params: dict[str, Any]) -> None:
    if not await _visible_batches(principal).filter(id=int(params["batch_id"])).exists():
        raise NotFound(f"intake batch {params['batch_id']}")


async def _rejected_count(principal: Principal, params: dict[str, Any]) -> int:
    return await _visible_rejected(principal, int(params["batch_id"])).count()


async def _rejected_batches(principal: Principal, params: dict[str, Any]) -> AsyncIterator[list[list[str]]]:
    """The same rows as `rejected_rows_csv`, a batch at a time (by row number, then id)."""
    query = _visible_rejected(principal, int(params["batch_id"]))
    last_row, last_id = -1, 0
    while True:
        items = await (
            query.filter(Q(row__gt=last_row) | Q(row=last_row, id__gt=last_id))
            .order_by("row", "id")
            .limit(exports.BATCH_ROWS)
        )
        if not items:
            return
        last_row, last_id = items[-1].row, items[-1].id
        yield [
            [
                str(item.row),
                *[item.record.get(name, "") for name in FIELDS],
                "; ".join(f"{error['field']}: {error['message']}" for error in item.errors),
            ]
            for item in items
        ]


REJECTED_ROWS_EXPORT = exports.register(
    exports.ExportKind(
        name="intake_rejected_csv",
        format="csv",
        action=Action.VIEW_INTAKE,
        check=_rejected_check,
        count=_rejected_count,
        batches=_rejected_batches,
        file_name=lambda params: f"intake-batch-{params['batch_id']}-rejected.csv",
        header=lambda params: ["row", *FIELDS, "errors"],
    )
)


# --- a whole batch, for the command that imported it (not scoped: the operator sees every row) -----


async def rejected_pages_of_batch(batch_id: int, size: int = 1000) -> AsyncIterator[list[dict[str, Any]]]:
    """Every refused row of a batch as the --json answer lists them (row, external id, errors), a
    page at a time in row order: a file may refuse more rows than an ImportResult keeps."""
    last_row, last_id = -1, 0
    while True:
        items = (
            await IntakeRejectedRow.filter(batch_id=batch_id)
            .filter(Q(row__gt=last_row) | Q(row=last_row, id__gt=last_id))
            .order_by("row", "id")
            .limit(size)
            .values("id", "row", "external_id", "errors")
        )
        if not items:
            return
        last_row, last_id = items[-1]["row"], items[-1]["id"]
        yield [
            {"row": item["row"], "external_id": item["external_id"], "errors": item["errors"]}
            for item in items
        ]


async def conflict_pages_of_batch(batch_id: int, size: int = 1000) -> AsyncIterator[list[tuple[int, str]]]:
    """(row, external id) of every row of a batch held as a conflict, a page at a time in row order."""
    last_row, last_id = -1, 0
    while True:
        items = (
            await IntakeConflict.filter(batch_id=batch_id)
            .filter(Q(row__gt=last_row) | Q(row=last_row, id__gt=last_id))
            .order_by("row", "id")
            .limit(size)
            .values_list("id", "row", "external_id")
        )
        if not items:
            return
        last_row, last_id = items[-1][1], items[-1][0]
        yield [(row, external_id) for _id, row, external_id in items]
