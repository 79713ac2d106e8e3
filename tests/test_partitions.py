"""The audit trail and the notifications by year on PostgreSQL (migrations 0038 and 0042,
alliance/core/partitions.py): rows land in their year's partition, a year made late takes its rows out
of the default partition, the oldest past year can be taken off, the hash chain of what stays still
verifies, and a keyed message is written once across the years."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from alliance.core import audit, partitions
from alliance.core.codes import NotificationChannel, NotificationStatus
from alliance.core.errors import InvalidInput
from alliance.core.models import AuditArchive, AuditEntry
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.notifications.delivery import claim_batch
from alliance.notifications.models import Notification, NotificationKey
from alliance.notifications.notifications import KeyedNotice, Outgoing, write_keyed_notices
from tests.conftest import BACKEND

THIS_YEAR = utc_now().astimezone(LOCAL_TZ).year
OLD, OLDER = THIS_YEAR - 1, THIS_YEAR - 2


async def _sql(statement: str) -> list[dict]:
    _count, rows = await Tortoise.get_connection("default").execute_query(statement)
    return [dict(row) for row in rows]


@pytest.fixture
async def no_year_tables():
    """Year tables outlive the suite's wipe (it deletes rows): every test starts with none."""

    async def drop() -> None:
        for row in await _sql(
            "SELECT tablename FROM pg_tables WHERE tablename ~ '^(audit_entry|notification)_y[0-9]{4}$'"
        ):
            await _sql(f'DROP TABLE "{row["tablename"]}"')

    await drop()
    yield
    await drop()


async def _entry(action: str, at: datetime) -> AuditEntry:
    return await audit._append(audit.Draft(action=action, object_type="test", object_id=action, at=at))


@pytest.mark.skipif(BACKEND != "postgres", reason="partitions are PostgreSQL's")
async def test_years_get_their_partitions_and_the_oldest_comes_off_with_the_chain_intact(no_year_tables):
    await _entry("older", datetime(OLDER, 3, 1, 12, tzinfo=LOCAL_TZ))
    await _entry("old.1", datetime(OLD, 12, 31, 23, 30, tzinfo=LOCAL_TZ))
    await _entry("old.2", datetime(OLD, 6, 1, tzinfo=LOCAL_TZ))
    await _entry("now", utc_now())
    # Nothing made any year yet: all four wait in the default partition.
    assert [(p.name, p.rows) for p in await partitions.partitions()] == [("audit_entry_default", 4)]

    # Years made late take their rows out of the default partition (local years: 23:30 on 31
    # December Shanghai time is still that year, although it is 15:30 UTC).
    assert await partitions.ensure(OLDER) is True
    assert await partitions.ensure(OLD) is True
    assert await partitions.ensure(OLD) is False
    assert await partitions.ensure_ahead() == [THIS_YEAR, THIS_YEAR + 1]
    assert [(p.year, p.rows) for p in await partitions.partitions()] == [
        (OLDER, 1),
        (OLD, 2),
        (THIS_YEAR, 1),
        (THIS_YEAR + 1, 0),
        (None, 0),
    ]
    # A new entry goes straight to its year; the trail stays append-only on every partition.
    await _entry("later", utc_now())
    assert (await _sql(f"SELECT count(*) AS n FROM audit_entry_y{THIS_YEAR}"))[0]["n"] == 2
    for statement in ("UPDATE audit_entry SET action = 'x'", f"DELETE FROM audit_entry_y{OLD}"):
        with pytest.raises(Exception, match="append-only"):
            await _sql(statement)
    assert (await audit.verify()).ok

    # Only the oldest past year comes off, and never the current one.
    with pytest.raises(InvalidInput, match="older rows are still attached"):
        await partitions.detach(OLD, by="test")
    with pytest.raises(InvalidInput, match="only a past year"):
        await partitions.detach(THIS_YEAR, by="test")
    archive = await partitions.detach(OLDER, by="test")
    assert (archive.year, archive.entries, archive.table_name) == (OLDER, 1, f"audit_entry_y{OLDER}")
    # The year is a plain table now, kept for the operator to dump; the trail no longer holds it.
    assert (await _sql(f"SELECT action FROM audit_entry_y{OLDER}")) == [{"action": "older"}]
    assert await AuditEntry.filter(action="older").count() == 0
    # The chain of what stays verifies from where the detached year ended, new entries included.
    await _entry("after.detach", utc_now())
    report = await audit.verify()
    assert report.ok, report
    assert report.checked == 5
    # Making the detached year again is refused until its table is dumped and dropped.
    with pytest.raises(InvalidInput, match="detached year's table"):
        await partitions.ensure(OLDER)

    # Removing an entry of a still attached year is caught as before.
    await _sql(f"ALTER TABLE audit_entry_y{OLD} DISABLE TRIGGER audit_entry_append_only")
    await _sql(f"DELETE FROM audit_entry_y{OLD} WHERE action = 'old.1'")
    await _sql(f"ALTER TABLE audit_entry_y{OLD} ENABLE TRIGGER audit_entry_append_only")
    assert not (await audit.verify()).ok
    assert await AuditArchive.filter(year=OLDER).count() == 1


@pytest.mark.skipif(BACKEND != "sqlite", reason="the SQLite answer")
async def test_sqlite_keeps_one_table_and_says_so():
    with pytest.raises(partitions.NotPartitioned, match="PostgreSQL only"):
        await partitions.partitions()
    with pytest.raises(partitions.NotPartitioned):
        await partitions.ensure(THIS_YEAR)


def _keyed(key: str, body: str) -> KeyedNotice:
    outgoing = Outgoing(NotificationChannel.SMS, "zh_CN", body, "13800000000", key="sms")
    return KeyedNotice(outgoing, "reminder_24h", key)


@pytest.mark.skipif(BACKEND != "postgres", reason="partitions are PostgreSQL's")
async def test_notifications_go_by_year_a_keyed_message_is_written_once_across_years_and_old_years_come_off(
    no_year_tables,
):
    old_key = (await write_keyed_notices([_keyed("visit:1:24h", "old reminder")]))["visit:1:24h"]
    # Written on 31 December last year, 23:30 Shanghai time (15:30 UTC): last year's message.
    await Notification.filter(id=old_key).update(created_at=datetime(OLD, 12, 31, 23, 30, tzinfo=LOCAL_TZ))
    await Notification.create(channel=NotificationChannel.IN_APP, body="this year's", kind="transfer")
    tables = partitions.NOTIFICATIONS
    assert [(p.name, p.rows) for p in await partitions.partitions(tables)] == [("notification_default", 2)]

    assert await partitions.ensure(OLD, tables) is True
    made = await partitions.ensure_all_ahead()
    assert {f"notification_y{THIS_YEAR}", f"notification_y{THIS_YEAR + 1}"} <= set(made)
    assert [(p.year, p.rows) for p in await partitions.partitions(tables)] == [
        (OLD, 1),
        (THIS_YEAR, 1),
        (THIS_YEAR + 1, 0),
        (None, 0),
    ]

    # The same reminder written again this year (a job run twice) is not written a second time: the
    # key holds across the partitions. A new key is written, into this year's partition.
    again = await write_keyed_notices([_keyed("visit:1:24h", "again"), _keyed("visit:2:24h", "new")])
    assert again["visit:1:24h"] == old_key
    assert await Notification.filter(dedupe_key="visit:1:24h").count() == 1
    assert (await _sql(f"SELECT count(*) AS n FROM notification_y{THIS_YEAR}"))[0]["n"] == 2
    # Delivery claims and updates rows of any year as before.
    [claimed] = await claim_batch(10, ids=[old_key])
    assert claimed.status == NotificationStatus.SENDING

    # A year whose messages still wait to be sent stays; once sent, it comes off with its keys.
    with pytest.raises(InvalidInput, match="1 messages of that year still wait to be sent"):
        await partitions.detach_notifications(OLD)
    with pytest.raises(InvalidInput, match="only a past year"):
        await partitions.detach_notifications(THIS_YEAR)
    await Notification.filter(id=old_key).update(status=NotificationStatus.SENT)
    gone = await partitions.detach_notifications(OLD)
    assert (gone.table_name, gone.rows, gone.keys_forgotten) == (f"notification_y{OLD}", 1, 1)
    assert await Notification.filter(id=old_key).count() == 0
    assert (await _sql(f"SELECT body FROM notification_y{OLD}")) == [{"body": "old reminder"}]
    assert set(await NotificationKey.all().values_list("key", flat=True)) == {"visit:2:24h"}


async def test_two_runs_writing_the_same_keyed_messages_at_once_write_each_once():
    """Two jobs (or two workers) writing the same reminders side by side, each in its transaction:
    every key ends with one message, and both runs get the same ids."""
    notices = [_keyed(f"visit:{number}:2h", f"reminder {number}") for number in range(40)]

    async def run() -> dict[str, int]:
        async with in_transaction():
            return await write_keyed_notices(notices)

    first, second = await asyncio.gather(run(), run())
    assert first == second and len(first) == 40
    assert await Notification.filter(kind="reminder_24h").count() == 40
    assert await NotificationKey.all().count() == 40


@pytest.mark.skipif(BACKEND != "sqlite", reason="the SQLite answer")
async def test_sqlite_keeps_the_notifications_whole_and_says_so():
    with pytest.raises(partitions.NotPartitioned, match="PostgreSQL only"):
        await partitions.detach_notifications(THIS_YEAR - 1)
