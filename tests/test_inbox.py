"""The inbox of every role: every in-app notice the platform writes reaches someone's /inbox, tasks
have an owner, a due time and a state, the header counts what is unread, and a reader marks notices
read and tasks done."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from markupsafe import escape

from alliance.core.access import principal_for
from alliance.core.codes import ContactPreference, TaskKind
from alliance.core.i18n import language
from alliance.core.models import AuditEntry, User
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.notifications.inbox import kind_label, unread_count
from alliance.notifications.models import Notification, Task
from alliance.notifications.notifications import NotificationChannel, to_users, write_notices
from alliance.notifications.tasks import Subject, close_tasks, mark_overdue_tasks, open_task
from alliance.partners.review import set_partner_status
from alliance.visits.notices import ReminderKind
from alliance.visits.scheduling import reschedule_visit, schedule_visit
from tests.factories import build_two_sides, login, session_csrf
from tests.visits_support import add_volunteer, build_visit_world, window

ALLIANCE = Path(__file__).resolve().parent.parent / "alliance"
WRITERS = re.compile(r"write_notices|Notification\.create|_notify\(")


def notice_kinds_in_the_code() -> set[str]:
    """Every notification kind the code can write: the `kind="..."` of the modules that write
    notices, the events' kind constants, the household answers and the reminder kinds."""
    kinds: set[str] = set()
    for path in ALLIANCE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if not WRITERS.search(text):
            continue
        kinds |= set(re.findall(r'\bkind="([a-z0-9_]+)"', text))
        kinds |= set(re.findall(r'^[A-Z_]+ = "(event_[a-z_]+)"', text, flags=re.MULTILINE))
        kinds |= set(re.findall(r'VisitChange\.[A-Z_]+: "([a-z_]+)"', text))
    kinds |= {f"reminder_{kind}" for kind in ReminderKind} | {
        f"event_reminder_{kind}" for kind in ReminderKind
    }
    return kinds


def _recipient_role(kind: str) -> str:
    # Who reads a kind in the app (alliance/*/notices.py): staff of the partner, its volunteers,
    # coordinators, or the community worker relaying to a household without a phone.
    if kind in ("visit_booked", "visit_unbooked") or kind.startswith("reminder_"):
        return "volunteer"
    if kind.startswith("household_") or kind in (
        "new_matches",
        "transfer",
        "unscheduled_claim",
        "partner_status",
        "claim_churn",
        "claims_resumed",
        "consent_withdrawn",
        "request_served_by_event",
    ):
        return "dispatcher"
    if kind in ("request_escalated", "daily_digest", "low_rating", "visit_missed"):
        return "coordinator"
    return "community_worker"


def test_the_enumeration_finds_the_kinds_we_know():
    kinds = notice_kinds_in_the_code()
    assert {"visit_scheduled", "claim_churn", "partner_status", "new_matches", "consent_withdrawn"} <= kinds
    assert {"event_invitation", "household_declined", "reminder_24h", "event_reminder_2h"} <= kinds
    assert "redis" not in kinds


async def test_every_in_app_kind_reaches_an_inbox_with_its_label(app, client):
    left, _right, _admin = await build_two_sides()
    kinds = sorted(notice_kinds_in_the_code())
    unlabelled = [kind for kind in kinds if kind_label(kind) == kind]
    assert unlabelled == [], f"give these notice kinds a label (notifications._NOTICE_LABELS): {unlabelled}"
    for kind in kinds:
        reader = left.users[_recipient_role(kind)]
        await write_notices(to_users([reader], lambda _channel, kind=kind: f"message-{kind}"), kind=kind)
    for role in ("volunteer", "dispatcher", "coordinator", "community_worker"):
        async with _client(app) as reader:
            await login(reader, left.users[role].username)
            page = await reader.get("/inbox?show=notices")
            assert page.status_code == 200
            for kind in kinds:
                if _recipient_role(kind) == role:
                    assert f"message-{kind}" in page.text, (role, kind)
                    with language("en"):
                        assert str(escape(kind_label(kind))) in page.text, (role, kind)


def _client(app):
    import httpx

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_a_household_without_a_phone_is_a_call_task_for_its_worker(app, client):
    world = await build_visit_world()
    left = world.claims.left
    await Household.filter(id=left.household.id).update(
        phone=None, contact_preference=ContactPreference.COMMUNITY_WORKER
    )
    volunteer = await add_volunteer(world.partner, "钱志愿")
    start, end = window(2, 9)
    visit = (await schedule_visit(world.dispatcher, world.request.id, start, end, [volunteer.id])).visit
    worker = left.users["community_worker"]
    relay = await Notification.get(user_id=worker.id, kind="visit_scheduled")
    assert relay.channel == NotificationChannel.IN_APP and left.household.head_name in relay.body
    task = await Task.get(owner_id=worker.id, kind=TaskKind.CALL_HOUSEHOLD)
    assert (task.subject_type, task.subject_id) == ("visit", str(visit.id))
    assert task.due_at < start and task.due_at > utc_now()
    # Moving the visit moves the same task's deadline (no second task).
    later_start, later_end = window(3, 14)
    await reschedule_visit(world.dispatcher, visit.id, later_start, later_end)
    assert await Task.filter(owner_id=worker.id, kind=TaskKind.CALL_HOUSEHOLD).count() == 1
    moved = await Task.get(id=task.id)
    assert start < moved.due_at < later_start
    await login(client, worker.username)
    page = await client.get("/inbox")
    assert left.household.head_name in page.text
    assert f'href="/households/{left.household.id}/visits"' in page.text


async def test_header_counts_unread_notices_and_open_tasks(app, client):
    left, _right, _admin = await build_two_sides()
    worker = left.users["community_worker"]
    principal = await principal_for(worker)
    await write_notices(to_users([worker], lambda _c: "第一条"), kind="visit_scheduled")
    await write_notices(to_users([worker], lambda _c: "第二条"), kind="visit_moved")
    await open_task(
        worker.id, TaskKind.VERIFY_HOUSEHOLD, Subject("household", left.household.id), params={"name": "张"}
    )
    # Someone else's notice is not counted.
    await write_notices(to_users([left.users["coordinator"]], lambda _c: "别人的"), kind="daily_digest")
    assert await unread_count(principal) == 3
    await login(client, worker.username)
    page = await client.get("/households")
    assert 'class="badge"' in page.text and ">3</span>" in page.text
    inbox = await client.get("/inbox")
    assert "第一条" in inbox.text and "别人的" not in inbox.text
    notice = await Notification.get(user_id=worker.id, kind="visit_scheduled")
    response = await client.post(
        f"/inbox/notices/{notice.id}/read", headers={"X-CSRF-Token": session_csrf(client)}
    )
    assert response.status_code == 303
    assert await unread_count(principal) == 2
    unread = await client.get("/inbox?read=unread&show=notices")
    assert "第二条" in unread.text and "第一条" not in unread.text
    await client.post("/inbox/read-all", headers={"X-CSRF-Token": session_csrf(client)})
    assert await unread_count(principal) == 1  # the open task
    assert await Notification.filter(user_id=left.users["coordinator"].id, read_at__isnull=True).count() == 1


async def test_tasks_are_idempotent_while_open_and_closed_by_their_work(client):
    left, _right, _admin = await build_two_sides()
    worker = left.users["community_worker"]
    subject = Subject("household", left.household.id)
    first = await open_task(worker.id, TaskKind.VERIFY_HOUSEHOLD, subject, params={"name": "张"})
    again = await open_task(worker.id, TaskKind.VERIFY_HOUSEHOLD, subject, params={"name": "张"})
    assert first.id == again.id and await Task.all().count() == 1
    assert await close_tasks(TaskKind.VERIFY_HOUSEHOLD, subject, note="verified") == 1
    closed = await Task.get(id=first.id)
    assert (closed.state, closed.open_key, closed.close_note) == ("done", None, "verified")
    # The same work later is a new task.
    later = await open_task(worker.id, TaskKind.VERIFY_HOUSEHOLD, subject)
    assert later.id != first.id


async def test_overdue_is_shown_before_the_cron_and_set_by_it(app, client):
    left, _right, _admin = await build_two_sides()
    worker = left.users["community_worker"]
    task = await open_task(
        worker.id,
        TaskKind.VERIFY_HOUSEHOLD,
        Subject("household", left.household.id),
        due_at=utc_now() - timedelta(hours=1),
        params={"name": left.household.head_name},
    )
    await login(client, worker.username)
    page = await client.get("/inbox?state=overdue")
    assert left.household.head_name in page.text and 'class="inbox-item task overdue' in page.text
    assert (await Task.get(id=task.id)).state == "open"
    assert await mark_overdue_tasks() == 1
    assert (await Task.get(id=task.id)).state == "overdue"
    response = await client.post(
        f"/inbox/tasks/{task.id}/done?state=overdue", headers={"X-CSRF-Token": session_csrf(client)}
    )
    assert response.status_code == 303 and response.headers["location"] == "/inbox?state=overdue"
    done = await Task.get(id=task.id)
    assert (done.state, done.closed_by_id) == ("done", worker.id) and done.closed_at is not None
    assert await AuditEntry.filter(action="task.done", object_id=str(task.id)).exists()
    assert left.household.head_name not in (await client.get("/inbox?state=open")).text
    assert left.household.head_name in (await client.get("/inbox?state=done")).text
    # Done twice: a clear refusal, nothing changes.
    again = await client.post(f"/inbox/tasks/{task.id}/done", headers={"X-CSRF-Token": session_csrf(client)})
    assert again.status_code == 422


async def test_a_suspended_partner_reads_why_in_its_inbox(app, client):
    left, _right, admin = await build_two_sides()
    await set_partner_status(await principal_for(admin), left.partner.id, "suspended", "投诉核查")
    await login(client, left.users["partner_admin"].username)
    page = await client.get("/inbox")
    assert page.status_code == 200 and "投诉核查" in page.text
    assert 'href="/partner"' in page.text


async def test_a_household_reads_the_messages_sent_to_it(app, client):
    left, _right, _admin = await build_two_sides()
    await Notification.create(
        household_id=left.household.id,
        channel="sms",
        kind="visit_scheduled",
        recipient="139",
        body="明天上午来访",
    )
    await login(client, left.users["household"].username)
    page = await client.get("/inbox")
    assert "明天上午来访" in page.text
    other: User = left.users["community_worker"]
    await Notification.create(
        user_id=other.id,
        household_id=left.household.id,
        channel="in_app",
        kind="visit_scheduled",
        body="请转告",
    )
    assert "请转告" not in (await client.get("/inbox")).text


@pytest.mark.parametrize("role", ["coordinator", "community_worker", "dispatcher", "volunteer", "household"])
async def test_every_role_opens_its_inbox(app, client, role):
    left, _right, _admin = await build_two_sides()
    await login(client, left.users[role].username)
    page = await client.get("/inbox")
    assert page.status_code == 200 and 'href="/inbox"' in page.text
