"""The inbox: a user's in-app notifications and tasks on one page, for every role (selectors and the
few writes a reader makes: mark read, mark all read, mark a task done)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tortoise import connections

from alliance.core.access import Action, Principal, get_visible, visible
from alliance.core.audit import record
from alliance.core.codes import NotificationChannel, Role, TaskKind, TaskState
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.i18n import lazy_gettext as _l
from alliance.core.timeutil import utc_now
from alliance.notifications.models import Notification, Task
from alliance.notifications.notifications import notice_label
from alliance.notifications.tasks import complete_task, task_body, task_state, task_title

PAGE_SIZE = 50

# What an in-app notice without a kind of its own is about (older rows, and areas that write none).
_KIND_LABELS = {
    "new_matches": _l("New matches"),
    "transfer": _l("Transfer"),
    "unscheduled_claim": _l("Claim not yet scheduled"),
    "partner_status": _l("Organisation status"),
    "request_served_by_event": _l("Request served by an event"),
    "service_confirmation": _l("Service to confirm"),
    TaskKind.VERIFY_HOUSEHOLD: _l("Verify new household"),
    TaskKind.CONSENT_EXPIRES: _l("Consent expires"),
    TaskKind.CALL_HOUSEHOLD: _l("Call a household"),
}


def kind_label(kind: str) -> str:
    found = _KIND_LABELS.get(kind)
    if found is not None:
        return str(found)
    return notice_label(kind) if kind else _("Notice")


@dataclass(frozen=True)
class InboxFilters:
    # "notices", "tasks" or "" (both)
    show: str = ""
    kind: str = ""
    # "unread", "read" or "" (notices)
    read: str = ""
    # "open" (open or overdue), "overdue", "done" or "" (tasks)
    state: str = ""


@dataclass(frozen=True)
class InboxItem:
    type: str  # "notice" or "task"
    id: int
    at: datetime
    kind: str
    kind_label: str
    title: str
    body: str
    link: str
    # notices
    read: bool = False
    # tasks
    state: str = ""
    due_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass
class Inbox:
    items: list[InboxItem]
    filters: InboxFilters
    unread: int
    open_tasks: int
    overdue_tasks: int
    kinds: list[tuple[str, str]] = field(default_factory=list)
    household_ids: list[int] = field(default_factory=list)


def _link_for(principal: Principal, *, household_id: int | None, visit_id: int | None, kind: str) -> str:
    """Where the reader acts on what the item is about, by role."""
    role = principal.role
    if role == Role.HOUSEHOLD:
        return "/my-household"
    if role == Role.VOLUNTEER:
        return "/volunteer"
    if role in (Role.PARTNER_ADMIN, Role.DISPATCHER):
        if visit_id:
            return f"/visits/{visit_id}"
        if kind == "partner_status":
            return "/partner"
        return "/board"
    if household_id:
        if visit_id and role == Role.COMMUNITY_WORKER:
            return f"/households/{household_id}/visits"
        return f"/households/{household_id}"
    if kind in ("request_escalated", "daily_digest"):
        return "/requests" if kind == "request_escalated" else "/cockpit"
    return ""


def _task_link(principal: Principal, task: Task) -> str:
    params = task.params or {}
    household_id = params.get("household_id")
    if task.subject_type == "household":
        household_id = int(task.subject_id)
    return _link_for(
        principal,
        household_id=household_id,
        visit_id=int(task.subject_id) if task.subject_type == "visit" else None,
        kind=str(task.kind),
    )


async def unread_count(principal: Principal) -> int:
    """Unread in-app notices plus open tasks, for the header: one query over two indexes."""
    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    holes = ("$1", "$2", "$3", "$4") if dialect == "postgres" else ("?", "?", "?", "?")
    sql = (
        'SELECT (SELECT COUNT(*) FROM "notification" WHERE "user_id" = {} AND "channel" = {} '
        'AND "read_at" IS NULL) + (SELECT COUNT(*) FROM "task" WHERE "owner_id" = {} AND "state" IN ({}, \'overdue\'))'
    ).format(*holes)
    _count, rows = await connection.execute_query(
        sql, [principal.user_id, str(NotificationChannel.IN_APP), principal.user_id, str(TaskState.OPEN)]
    )
    return int(rows[0][0]) if rows else 0


async def inbox_page(principal: Principal, filters: InboxFilters, limit: int = PAGE_SIZE) -> Inbox:
    """The principal's notices and tasks, open tasks first (soonest due), then newest notices."""
    notices_query = visible(principal, Action.USE_INBOX)
    tasks_query = visible(principal, Action.WORK_TASKS)
    unread = await notices_query.filter(read_at__isnull=True).count()
    now = utc_now()
    open_tasks = await tasks_query.filter(state__in=[TaskState.OPEN, TaskState.OVERDUE]).count()
    overdue = await tasks_query.filter(state__in=[TaskState.OPEN, TaskState.OVERDUE], due_at__lte=now).count()
    items: list[InboxItem] = []
    if filters.show in ("", "tasks") and not filters.read:
        query = tasks_query
        if filters.kind:
            query = (
                query.filter(kind=filters.kind)
                if filters.kind in TaskKind.__members__.values()
                else query.filter(id=0)
            )
        if filters.state == "open":
            query = query.filter(state__in=[TaskState.OPEN, TaskState.OVERDUE])
        elif filters.state == "overdue":
            query = query.filter(state__in=[TaskState.OPEN, TaskState.OVERDUE], due_at__lte=now)
        elif filters.state == "done":
            query = query.filter(state=TaskState.DONE)
        for task in await query.order_by("closed_at", "due_at", "-id").limit(limit):
            items.append(
                InboxItem(
                    type="task",
                    id=task.id,
                    at=task.created_at,
                    kind=str(task.kind),
                    kind_label=kind_label(str(task.kind)),
                    title=task_title(task),
                    body=task_body(task),
                    link=_task_link(principal, task),
                    state=str(task_state(task, now)),
                    due_at=task.due_at,
                    closed_at=task.closed_at,
                )
            )
    if filters.show in ("", "notices") and not filters.state:
        query = notices_query
        if filters.kind:
            query = query.filter(kind=filters.kind)
        if filters.read == "unread":
            query = query.filter(read_at__isnull=True)
        elif filters.read == "read":
            query = query.filter(read_at__isnull=False)
        for notice in await query.order_by("-id").limit(limit):
            items.append(
                InboxItem(
                    type="notice",
                    id=notice.id,
                    at=notice.created_at,
                    kind=notice.kind,
                    kind_label=kind_label(notice.kind),
                    title=notice.subject or kind_label(notice.kind),
                    body=notice.body,
                    link=_link_for(
                        principal,
                        household_id=notice.household_id,  # type: ignore[attr-defined]
                        visit_id=notice.visit_id,  # type: ignore[attr-defined]
                        kind=notice.kind,
                    ),
                    read=notice.read_at is not None,
                )
            )
    kinds = sorted(
        set(await notices_query.distinct().values_list("kind", flat=True))
        | set(str(kind) for kind in await tasks_query.distinct().values_list("kind", flat=True))
    )
    household_ids = sorted(
        {
            int(found)
            for found in await notices_query.filter(id__in=[i.id for i in items if i.type == "notice"])
            .filter(household_id__isnull=False)
            .values_list("household_id", flat=True)
        }
    )
    return Inbox(
        items=items,
        filters=filters,
        unread=unread + open_tasks,
        open_tasks=open_tasks,
        overdue_tasks=overdue,
        kinds=[(kind, kind_label(kind)) for kind in kinds],
        household_ids=household_ids,
    )


async def mark_read(principal: Principal, notification_id: int) -> None:
    notice = await get_visible(principal, Action.USE_INBOX, notification_id)
    await Notification.filter(id=notice.id, read_at__isnull=True).update(read_at=utc_now())


async def mark_all_read(principal: Principal) -> int:
    return await visible(principal, Action.USE_INBOX).filter(read_at__isnull=True).update(read_at=utc_now())


async def mark_task_done(principal: Principal, task_id: int) -> Task:
    """The owner closes a task by hand; recorded in the audit trail."""
    task = await get_visible(principal, Action.WORK_TASKS, task_id)
    if not await complete_task(task, principal.user_id):
        raise InvalidInput({"task": _("This task is already done.")})
    await record(
        principal,
        "task.done",
        "task",
        task.id,
        {"kind": str(task.kind), "subject": f"{task.subject_type}:{task.subject_id}"},
    )
    await task.refresh_from_db()
    return task
