"""Tasks: work for one person, in their inbox, about one object and due at a time ("verify new
household", "consent expires", "call household X: no phone, visit tomorrow 9:00").

A task stores its kind and parameters and is written in the reader's language when shown, so a
worker who switches language reads every task anew. `open_task` is idempotent per (owner, kind,
subject) while the task is open: the unique `open_key` refuses a second open row on any database,
and closing the task clears it, so the same work can come back later as a new task."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from alliance.core.codes import TaskKind, TaskState
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import to_local, utc_now
from alliance.notifications.models import Task


@dataclass(frozen=True)
class Subject:
    """What a task is about: an object's type ("household", "visit") and id."""

    type: str
    id: int | str

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"


def open_key(owner_id: int, kind: TaskKind | str, subject: Subject) -> str:
    return f"{owner_id}:{kind}:{subject.key}"[:128]


def task_state(task: Task, now: datetime | None = None) -> TaskState:
    """The state as the reader should see it: an open task past its due time is overdue even before
    the cron marked it."""
    state = TaskState(task.state)
    if state == TaskState.OPEN and task.due_at is not None and task.due_at <= (now or utc_now()):
        return TaskState.OVERDUE
    return state


async def open_task(
    owner_id: int,
    kind: TaskKind | str,
    subject: Subject,
    *,
    due_at: datetime | None = None,
    params: dict | None = None,
) -> Task:
    """Open the task, or return the one already open for (owner, kind, subject); an open task's due
    time and parameters follow the latest call (a moved visit moves the call's deadline)."""
    key = open_key(owner_id, kind, subject)
    existing = await Task.get_or_none(open_key=key)
    if existing is None:
        try:
            return await Task.create(
                owner_id=owner_id,
                kind=TaskKind(kind),
                subject_type=subject.type,
                subject_id=str(subject.id),
                params=params or {},
                due_at=due_at,
                state=TaskState.OPEN,
                open_key=key,
            )
        except IntegrityError:
            existing = await Task.get(open_key=key)  # opened meanwhile by a concurrent call
    changes: dict = {}
    if params is not None and params != existing.params:
        changes["params"] = params
    if due_at != existing.due_at:
        changes["due_at"] = due_at
        if existing.state == TaskState.OVERDUE and (due_at is None or due_at > utc_now()):
            changes["state"] = TaskState.OPEN
    if changes:
        await Task.filter(id=existing.id).update(**changes)
        await existing.refresh_from_db()
    return existing


async def open_tasks(
    owner_ids: Iterable[int],
    kind: TaskKind | str,
    subject: Subject,
    *,
    due_at: datetime | None = None,
    params: dict | None = None,
) -> list[Task]:
    return [await open_task(owner, kind, subject, due_at=due_at, params=params) for owner in owner_ids]


async def close_tasks(
    kind: TaskKind | str,
    subject: Subject,
    *,
    closed_by_id: int | None = None,
    note: str = "",
    owner_id: int | None = None,
) -> int:
    """Close every open task of this kind about this subject (the work was done, by whoever did it);
    how many were closed."""
    query = Task.filter(
        kind=TaskKind(kind),
        subject_type=subject.type,
        subject_id=str(subject.id),
        state__in=[TaskState.OPEN, TaskState.OVERDUE],
    )
    if owner_id is not None:
        query = query.filter(owner_id=owner_id)
    return await query.update(
        state=TaskState.DONE,
        open_key=None,
        closed_at=utc_now(),
        closed_by_id=closed_by_id,
        close_note=note[:64],
    )


async def complete_task(task: Task, closed_by_id: int) -> bool:
    """Its owner marks the task done; False when it was closed already."""
    return bool(
        await Task.filter(id=task.id, state__in=[TaskState.OPEN, TaskState.OVERDUE]).update(
            state=TaskState.DONE,
            open_key=None,
            closed_at=utc_now(),
            closed_by_id=closed_by_id,
            close_note="done",
        )
    )


async def mark_overdue_tasks(now: datetime | None = None) -> int:
    """The cron: open tasks past their due time become overdue. How many changed."""
    return await Task.filter(state=TaskState.OPEN, due_at__lte=now or utc_now()).update(
        state=TaskState.OVERDUE
    )


def open_states() -> Sequence[TaskState]:
    return (TaskState.OPEN, TaskState.OVERDUE)


def is_open() -> Q:
    return Q(state__in=list(open_states()))


# --- the text of a task, in the reader's language ---------------------------------------------------


def _when(value: str | None) -> str:
    if not value:
        return ""
    local = to_local(datetime.fromisoformat(value))
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


def task_title(task: Task) -> str:
    """The task's one-line title, written now in the active language."""
    params = task.params or {}
    name = params.get("name", "")
    if task.kind == TaskKind.VERIFY_HOUSEHOLD:
        return _("Verify new household {name}").format(name=name)
    if task.kind == TaskKind.CONSENT_EXPIRES:
        return _("Consent of {name} expires on {date}: renew or let it lapse").format(
            name=name, date=_when(params.get("expires_at"))[:10]
        )
    if task.kind == TaskKind.CALL_HOUSEHOLD:
        if not params.get("starts_at"):
            return _("Call household {name} (no phone) and pass on a message").format(name=name)
        return _("Call household {name} (no phone): visit {when}").format(
            name=name, when=_when(params.get("starts_at"))
        )
    return str(task.kind)


def task_body(task: Task) -> str:
    """What to do, in a sentence or two."""
    params = task.params or {}
    if task.kind == TaskKind.VERIFY_HOUSEHOLD:
        return _(
            "{name} ({address}) arrived unverified from the assistance system. Confirm the household "
            "by a home visit, a phone call or its documents, and record its consent."
        ).format(name=params.get("name", ""), address=params.get("address", "") or "—")
    if task.kind == TaskKind.CONSENT_EXPIRES:
        return _(
            "When consent expires the household leaves every claim board and its future visits are "
            "cancelled. Ask the household and record its consent again if it agrees."
        )
    if task.kind == TaskKind.CALL_HOUSEHOLD:
        return _("{name} ({address}) is reached through you. Tell them: {message}").format(
            name=params.get("name", ""),
            address=params.get("address", "") or "—",
            message=params.get("message", ""),
        )
    return ""
