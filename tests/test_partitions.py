"""The audit trail by year on PostgreSQL (migration 0038, alliance/core/partitions.py): entries land in
their year's partition, a year made late takes its rows out of the default partition, the oldest past
year can be taken off, and the hash chain of what stays still verifies."""

from __future__ import annotations

from datetime import datetime

import pytest
from tortoise import Tortoise

from alliance.core import audit, partitions
from alliance.core.errors import InvalidInput
from alliance.core.models import AuditArchive, AuditEntry
from alliance.core.timeutil import LOCAL_TZ, utc_now
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
        for row in await _sql("SELECT tablename FROM pg_tables WHERE tablename ~ '^audit_entry_y[0-9]{4}$'"):
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
    with pytest.raises(InvalidInput, match="older entries are still attached"):
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
