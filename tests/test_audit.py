"""The audit trail: hash chain and its verification, the append-only guard on PostgreSQL, the
token as actor, refusals, and who may read which entries."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.exceptions import OperationalError, TransactionManagementError

from alliance.core import audit, db
from alliance.core.access import principal_for
from alliance.core.models import AuditEntry, AuditHousehold
from tests.factories import build_two_sides

ROOT = Path(__file__).resolve().parent.parent


def _connection():
    return Tortoise.get_connection("default")


def _postgres() -> bool:
    return _connection().capabilities.dialect == "postgres"


async def _edit_as_superuser(sql: str) -> None:
    """The edit an intruder with the owner's rights would make: on PostgreSQL past the triggers,
    switched off and on again in the same transaction (one script: one pooled connection)."""
    if _postgres():
        await _connection().execute_script(
            'BEGIN; ALTER TABLE "audit_entry" DISABLE TRIGGER USER; '
            'ALTER TABLE "audit_household" DISABLE TRIGGER USER; '
            f"{sql}; "
            'ALTER TABLE "audit_entry" ENABLE TRIGGER USER; '
            'ALTER TABLE "audit_household" ENABLE TRIGGER USER; COMMIT'
        )
    else:
        await _connection().execute_script(sql)


async def _some_entries() -> list[AuditEntry]:
    left, right, _admin = await build_two_sides()
    coordinator = await principal_for(left.users["coordinator"])
    await audit.viewed(coordinator, "household.view", households=[left.household.id], address="10.0.0.1")
    await audit.viewed(coordinator, "households.list", households=[left.household.id, right.household.id])
    await audit.record(coordinator, "need_rules.changed", "need_rules", "all", {"n": 1.5, "text": "改了"})
    await audit.record(None, "intake.batch", "intake_batch", 7)
    return await AuditEntry.all().order_by("id")


async def test_chain_verifies_then_an_edited_row_is_named():
    entries = await _some_entries()
    report = await audit.verify()
    assert report.ok and report.checked == len(entries) == 4
    target = entries[1]
    await _edit_as_superuser(f'UPDATE "audit_entry" SET "address" = \'6.6.6.6\' WHERE "id" = {target.id}')
    broken = await audit.verify()
    assert not broken.ok and broken.broken_at == target.id
    assert "edited" in broken.reason


async def test_a_removed_entry_is_detected_in_the_middle_and_at_the_end():
    entries = await _some_entries()
    await _edit_as_superuser(f'DELETE FROM "audit_entry" WHERE "id" = {entries[1].id}')
    broken = await audit.verify()
    # The entry after the gap no longer follows its predecessor.
    assert broken.broken_at == entries[2].id
    await _edit_as_superuser(f'DELETE FROM "audit_entry" WHERE "id" >= {entries[1].id}')
    tail = await audit.verify()
    assert not tail.ok and "removed" in tail.reason


async def test_concurrent_writers_keep_one_chain():
    left, _right, _admin = await build_two_sides()
    coordinator = await principal_for(left.users["coordinator"])
    await asyncio.gather(
        *[audit.viewed(coordinator, "household.view", households=[left.household.id]) for _ in range(25)]
    )
    report = await audit.verify()
    assert report.ok and report.checked == 25
    hashes = await AuditEntry.all().order_by("id").values_list("prev_hash", "entry_hash")
    assert [previous for previous, _ in hashes[1:]] == [current for _, current in hashes[:-1]]


async def test_postgres_refuses_update_delete_and_truncate_of_the_audit_trail():
    if not _postgres():
        pytest.skip("the append-only triggers are PostgreSQL's (ALLIANCE_TEST_BACKEND=postgres)")
    entries = await _some_entries()
    for statement in (
        f'UPDATE "audit_entry" SET "action" = \'x\' WHERE "id" = {entries[0].id}',
        f'DELETE FROM "audit_entry" WHERE "id" = {entries[0].id}',
        'TRUNCATE "audit_entry" CASCADE',
        'DELETE FROM "audit_household"',
    ):
        with pytest.raises((OperationalError, TransactionManagementError)) as refused:
            await _connection().execute_script(statement)
        assert "append-only" in str(refused.value)
    # Through the ORM as well.
    with pytest.raises(OperationalError):
        await AuditEntry.filter(id=entries[0].id).update(address="x")
    assert await AuditEntry.all().count() == 4 and await AuditHousehold.all().count() == 2
    assert (await audit.verify()).ok


async def test_entries_carry_households_and_region_for_the_coordinator_filter():
    left, right, _admin = await build_two_sides()
    coordinator = await principal_for(left.users["coordinator"])
    one = await audit.viewed(coordinator, "household.view", households=[left.household.id])
    both = await audit.viewed(coordinator, "households.list", households=[left.household, right.household])
    assert (
        one.household_id == left.household.id and one.region_path == "/330300/330302/330302001/330302001001/"
    )
    # Two districts: the entry belongs to their common ancestor, the city.
    assert both.household_id is None and both.region_path == "/330300/"
    assert sorted(
        await AuditHousehold.filter(entry_id=both.id).values_list("household_id", flat=True)
    ) == sorted([left.household.id, right.household.id])
    found = await audit.filtered(
        await principal_for(_admin), audit.AuditFilter(household_id=right.household.id)
    )
    assert [entry.id for entry in found] == [both.id]


@pytest.mark.sqlite_only
def test_audit_verify_command_exits_1_at_a_broken_chain(tmp_path):
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{tmp_path / 'cli.sqlite3'}",
        "ALLIANCE_DATA_DIR": str(tmp_path),
    }
    script = (
        "import asyncio\n"
        "from alliance.core import audit, db\n"
        "async def main(url):\n"
        "    await db.migrate(url); await db.connect(url)\n"
        "    for n in range(3): await audit.record(None, 'test', 'thing', n)\n"
        "    from tortoise import Tortoise\n"
        "    await Tortoise.get_connection('default').execute_query("
        "'UPDATE audit_entry SET object_id = \\'9\\' WHERE id = 2')\n"
        "    await db.disconnect()\n"
        "import os; asyncio.run(main(os.environ['DATABASE_URL']))\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "audit", "verify"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "broken at entry 2" in done.stderr
    assert db  # the module the script drives
