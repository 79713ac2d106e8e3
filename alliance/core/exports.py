"""Exports and reports as worker jobs: one mechanism for every CSV or XLSX file a user downloads.

Asking writes an `ExportJob` row (who, what, the filters, the asker's scope) and its worker job in
one transaction (the outbox); the worker writes the rows batch by batch straight into a temporary
file (CSV through the csv module, XLSX through openpyxl's write-only mode), so memory stays flat
whatever the size, and renames it into place at the end: a worker killed mid-export leaves no half
file, and the retry writes a complete one. Files are 0600 under the data folder, downloadable by the
asker only, while their powers and scope are what they were, until they expire (the retention job
deletes them). Each kind of export registers an `ExportKind` here from its own area."""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, allows, principal_for, require
from alliance.core.audit import CSV_HEADER, AuditFilter, _rows, filtered, record
from alliance.core.codes import ExportState
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import DEFAULT_LANGUAGE, language
from alliance.core.logs import current_request_id
from alliance.core.models import ExportJob
from alliance.core.timeutil import utc_now
from alliance.notifications.models import OutboxJob

# A cell a spreadsheet program would read as a formula (= + - @, a tab or a carriage return) gets a
# leading apostrophe, so a name typed by anyone cannot run in the reader's Excel (formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

BATCH_ROWS = 2000
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


def retain_days() -> int:
    return max(1, int(os.environ.get("ALLIANCE_RETAIN_EXPORT_DAYS") or 7))


Params = dict[str, Any]
# CSV kinds yield rows; XLSX kinds yield (sheet key, cells).
Batches = AsyncIterator[list[Sequence[Any]]]


@dataclass(frozen=True)
class ExportKind:
    name: str
    format: str  # "csv" or "xlsx"
    action: Action
    # Raises NotFound / PermissionDenied / InvalidInput when the principal may not have this export.
    check: Callable[[Principal, Params], Awaitable[None]]
    count: Callable[[Principal, Params], Awaitable[int]]
    batches: Callable[[Principal, Params], Batches]
    file_name: Callable[[Params], str]
    header: Callable[[Params], list[str]] | None = None
    # XLSX: the sheets in order, (key, title, header row).
    sheets: Callable[[Params], list[tuple[str, str, list[str]]]] | None = None


KINDS: dict[str, ExportKind] = {}


def register(kind: ExportKind) -> ExportKind:
    KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> ExportKind:
    if name not in KINDS:
        raise NotFound(f"export kind {name}")
    return KINDS[name]


def scope_key(principal: Principal) -> str:
    return f"{principal.role}|{principal.region_path or ''}|{principal.partner_id or ''}"


def export_job_id(export_id: int) -> str:
    return f"export:{export_id}"


async def request_export(
    principal: Principal, kind_name: str, params: Params, directory: Path, lang: str = ""
) -> ExportJob:
    """Ask for an export: checked now, written later by a worker (the row and its job in one transaction)."""
    kind = kind_of(kind_name)
    require(principal, kind.action)
    await kind.check(principal, params)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    async with in_transaction():
        job = await ExportJob.create(
            requested_by_id=principal.user_id,
            kind=kind.name,
            params=params,
            scope=scope_key(principal),
            language=lang,
            file_name=kind.file_name(params),
        )
        # An unguessable name besides the id: the folder is private anyway, this keeps names unique.
        suffix = ".xlsx" if kind.format == "xlsx" else ".csv"
        job.file_path = str(directory / f"export-{job.id}-{secrets.token_hex(8)}{suffix}")
        await job.save(update_fields=["file_path"])
        # The job outbox (alliance/notifications/outbox.py, add_job), written from core's models.
        await OutboxJob.get_or_create(
            job_id=export_job_id(job.id),
            defaults={
                "job_name": "run_export_job",
                "args": [job.id],
                "request_id": current_request_id() or "",
            },
        )
    return job


async def _asker(job: ExportJob) -> Principal:
    """The asker's principal now, refused when deactivated, without the powers, or moved."""
    user = job.requested_by
    if user is None or not user.is_active:
        raise PermissionDenied(Action.VIEW_TARGETS, reason="deactivated")
    principal = await principal_for(user)
    kind = kind_of(job.kind)
    require(principal, kind.action)
    if scope_key(principal) != job.scope:
        raise PermissionDenied(kind.action, reason="scope changed")
    await kind.check(principal, job.params)
    return principal


def _remove_parts(path: Path) -> None:
    for part in path.parent.glob(path.name + ".part*"):
        part.unlink(missing_ok=True)


def _private_file(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


async def _progress(job_id: int, written: int, total: int) -> None:
    percent = min(99, 100 * written // total) if total else 50
    await ExportJob.filter(id=job_id, state=ExportState.RUNNING).update(progress=percent, row_count=written)


async def _write_csv(job: ExportJob, kind: ExportKind, principal: Principal, part: Path, total: int) -> int:
    written = 0
    with open(part, "w", encoding="utf-8", newline="") as stream:
        # A BOM, so spreadsheet programs read the Chinese text as UTF-8.
        stream.write("\ufeff")
        writer = csv.writer(stream)
        if kind.header:
            writer.writerow(safe_row(kind.header(job.params)))
        async for batch in kind.batches(principal, job.params):
            writer.writerows(safe_row(row) for row in batch)
            written += len(batch)
            await _progress(job.id, written, total)
    return written


async def _write_xlsx(job: ExportJob, kind: ExportKind, principal: Principal, part: Path, total: int) -> int:
    import asyncio

    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheets = {}
    for key, title, header in kind.sheets(job.params) if kind.sheets else []:
        sheet = workbook.create_sheet(title=title[:31])
        sheet.column_dimensions["B"].width = 28
        sheet.append(header)
        sheets[key] = sheet
    written = 0
    async for batch in kind.batches(principal, job.params):
        for key, cells in batch:
            sheets[key].append(safe_row(cells))
        written += len(batch)
        await _progress(job.id, written, total)
    # Zipping the sheets' temporary files takes a while for a big file: off the event loop.
    await asyncio.to_thread(workbook.save, str(part))
    return written


async def run_export(export_id: int) -> ExportJob | None:
    """The worker's part. Safe to run twice: a finished export is left alone, one whose worker died
    mid-file is written again from the start into a fresh temporary file."""
    job = await ExportJob.get_or_none(id=export_id).prefetch_related("requested_by")
    if job is None or job.state in (ExportState.READY, ExportState.FAILED, ExportState.EXPIRED):
        return None
    try:
        principal = await _asker(job)
    except (PermissionDenied, NotFound, InvalidInput):
        await fail_export(export_id, "no_longer_allowed")
        return None
    kind = kind_of(job.kind)
    await ExportJob.filter(id=job.id).update(state=ExportState.RUNNING, progress=0, row_count=0)
    path = Path(job.file_path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _remove_parts(path)
    part = path.with_name(f"{path.name}.part{os.getpid()}")
    _private_file(part)
    try:
        total = await kind.count(principal, job.params)
        with language(job.language or DEFAULT_LANGUAGE):
            if kind.format == "xlsx":
                written = await _write_xlsx(job, kind, principal, part, total)
            else:
                written = await _write_csv(job, kind, principal, part, total)
        os.chmod(part, 0o600)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    now = utc_now()
    async with in_transaction():
        done = await ExportJob.filter(id=job.id, state=ExportState.RUNNING).update(
            state=ExportState.READY,
            progress=100,
            row_count=written,
            finished_at=now,
            expires_at=now + timedelta(days=retain_days()),
        )
        if done:
            await record(
                principal, "export.prepare", "export_job", job.id, {"kind": job.kind, "rows": written}
            )
    await job.refresh_from_db()
    return job


async def fail_export(export_id: int, reason: str = "error") -> None:
    await (
        ExportJob.filter(id=export_id)
        .exclude(state__in=[ExportState.READY, ExportState.EXPIRED])
        .update(state=ExportState.FAILED, error=reason[:255], finished_at=utc_now())
    )


# --- for the pages ----------------------------------------------------------------------------------


def require_exporter(principal: Principal) -> None:
    """The exports pages are for those who may ask for some export (coordinators, administrators)."""
    actions = {kind.action for kind in KINDS.values()}
    if not any(allows(principal, action) for action in actions):
        require(principal, min(actions))


async def export_of(principal: Principal, export_id: int) -> ExportJob:
    """One of the principal's own exports (anyone else's reads as not found)."""
    require_exporter(principal)
    job = await ExportJob.get_or_none(id=export_id, requested_by_id=principal.user_id)
    if job is None:
        raise NotFound(f"export {export_id}")
    return job


async def exports_for(principal: Principal, limit: int = 50) -> list[ExportJob]:
    require_exporter(principal)
    return await ExportJob.filter(requested_by_id=principal.user_id).order_by("-id").limit(limit)


async def file_to_download(principal: Principal, export_id: int) -> tuple[ExportJob, Path]:
    """The file of a ready export, for its asker only, checked again through access: a user whose
    powers or scope changed since asking cannot download it. The route audits the download."""
    job = await export_of(principal, export_id)
    kind = kind_of(job.kind)
    require(principal, kind.action)
    if scope_key(principal) != job.scope:
        raise PermissionDenied(kind.action, reason="scope changed")
    await kind.check(principal, job.params)
    path = Path(job.file_path)
    if (
        job.state != ExportState.READY
        or (job.expires_at and job.expires_at <= utc_now())
        or not path.exists()
    ):
        raise NotFound(f"export file {export_id}")
    return job, path


def media_type(job: ExportJob) -> str:
    return XLSX_MEDIA_TYPE if job.file_name.endswith(".xlsx") else CSV_MEDIA_TYPE


async def expire_exports(now: datetime | None = None) -> int:
    """The retention job's part: files past their date are deleted, their rows say expired."""
    now = now or utc_now()
    expired = await ExportJob.filter(expires_at__lte=now, state=ExportState.READY)
    for job in expired:
        if job.file_path:
            path = Path(job.file_path)
            path.unlink(missing_ok=True)
            _remove_parts(path)
    # Abandoned ones (failed, or never finished in a day) leave no temporary file behind either.
    stale = await ExportJob.filter(
        created_at__lt=now - timedelta(days=retain_days()),
        state__in=[ExportState.FAILED, ExportState.QUEUED, ExportState.RUNNING],
    )
    for job in stale:
        if job.file_path:
            _remove_parts(Path(job.file_path))
            Path(job.file_path).unlink(missing_ok=True)
    if stale:
        await ExportJob.filter(id__in=[job.id for job in stale]).update(
            state=ExportState.EXPIRED, error="abandoned"
        )
    if expired:
        await ExportJob.filter(id__in=[job.id for job in expired]).update(state=ExportState.EXPIRED)
    return len(expired)


# --- the audit trail as CSV (alliance/core/audit.py) ------------------------------------------------


def audit_filter(params: Params) -> AuditFilter:
    def when(name: str) -> datetime | None:
        return datetime.fromisoformat(params[name]) if params.get(name) else None

    return AuditFilter(
        actor=str(params.get("actor", "")),
        household_id=params.get("household_id"),
        action=str(params.get("action", "")),
        since=when("since"),
        until=when("until"),
    )


async def _audit_check(principal: Principal, params: Params) -> None:
    require(principal, Action.VIEW_AUDIT)


async def _audit_count(principal: Principal, params: Params) -> int:
    return await filtered(principal, audit_filter(params)).count()


async def _audit_batches(principal: Principal, params: Params) -> Batches:
    query = filtered(principal, audit_filter(params))
    last = 0
    while True:
        entries = await query.filter(id__gt=last).order_by("id").limit(BATCH_ROWS)
        if not entries:
            return
        last = entries[-1].id
        yield [row.csv() for row in await _rows(entries)]


register(
    ExportKind(
        name="audit_csv",
        format="csv",
        action=Action.VIEW_AUDIT,
        check=_audit_check,
        count=_audit_count,
        batches=_audit_batches,
        file_name=lambda params: "audit.csv",
        header=lambda params: list(CSV_HEADER),
    )
)
