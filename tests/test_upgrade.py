"""A database made by the previous release (the last one before the areas moved into packages) is
upgraded by this release's migrations and keeps every row, and this release's models read them.

The snapshots in tests/snapshots/previous_release/ were made by release c1864d3: its migrations, then
its demo city (`build_demo_city(households=120, seed=7)`), saved as the SQLite file and, for
PostgreSQL, as `pg_dump --inserts --no-owner --no-privileges` (psql's `\\restrict` lines removed)."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg

from alliance.core.db import with_database
from tests.conftest import _admin_execute

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "tests" / "snapshots" / "previous_release"

# In another process: this test's own ORM stays connected to the test database meanwhile.
_UPGRADE = r"""
import asyncio, json, sys
from tortoise import Tortoise
from alliance.core import db

async def table_counts(connection, postgres):
    if postgres:
        rows = await connection.execute_query_dict(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    else:
        rows = await connection.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    counts = {}
    for row in rows:
        found = await connection.execute_query_dict(f'SELECT COUNT(*) AS n FROM "{row["name"]}"')
        counts[row["name"]] = found[0]["n"]
    return counts

async def main(url):
    try:
        await upgrade(url)
    finally:
        await Tortoise.close_connections()

async def upgrade(url):
    postgres = db.is_postgres(url)
    await db.connect(url)
    before = await table_counts(Tortoise.get_connection("default"), postgres)
    await db.disconnect()
    await db.migrate(url)
    await db.connect(url)
    connection = Tortoise.get_connection("default")
    after = await table_counts(connection, postgres)
    read = {}
    for model in Tortoise.apps["models"].values():
        # Every column of every model, read through this release's models.
        rows = await model.all().order_by(model._meta.pk_attr).limit(50)
        read[model._meta.db_table] = [model.__module__, len(rows), await model.all().count()]
    from alliance.core.models import User
    from alliance.matching.models import ServiceRequest
    claimed = await ServiceRequest.filter(claimed_by_id__not_isnull=True).prefetch_related(
        "claimed_by", "household__region").first()
    demo_logins = sorted(await User.all().values_list("username", flat=True))
    await db.disconnect()
    print(json.dumps({"before": before, "after": after, "read": read, "demo_logins": demo_logins,
        "claimed": [claimed.claimed_by.name, claimed.household.region.code] if claimed else None}))

asyncio.run(main(sys.argv[1]))
"""


async def _previous_release_database(servers, tmp_path: Path) -> tuple[str, callable]:
    if servers.database_url.startswith("sqlite"):
        path = tmp_path / "previous.sqlite3"
        with gzip.open(SNAPSHOTS / "sqlite3.gz") as packed, path.open("wb") as unpacked:
            shutil.copyfileobj(packed, unpacked)
        return f"sqlite://{path}", lambda: None
    name = f"alliance_previous_{os.getpid()}"
    await _admin_execute(
        servers.database_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'
    )
    url = with_database(servers.database_url, name)
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(gzip.decompress((SNAPSHOTS / "postgres.sql.gz").read_bytes()).decode())
    finally:
        await connection.close()

    async def drop() -> None:
        await _admin_execute(servers.database_url, f'DROP DATABASE IF EXISTS "{name}"')

    return url, drop


async def test_upgrade_of_a_previous_release_database_keeps_every_row(servers, tmp_path):
    url, drop = await _previous_release_database(servers, tmp_path)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _UPGRADE, url], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    finally:
        dropped = drop()
        if dropped is not None:
            await dropped
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])

    before, after = report["before"], report["after"]
    # Later migrations may add tables (empty) and record themselves; every row there before stays.
    assert {table: after.get(table) for table in before if table != "tortoise_migrations"} == {
        table: count for table, count in before.items() if table != "tortoise_migrations"
    }, "the upgrade changed row counts"
    assert after["tortoise_migrations"] >= before["tortoise_migrations"]
    # (The audit trail's year partitions on PostgreSQL hold its rows, counted in audit_entry too.)
    partitions = {table for table in after if re.fullmatch(r"audit_entry_(y\d{4}|default)", table)}
    assert not partitions or sum(after[table] for table in partitions) == after["audit_entry"]
    notices = {table for table in after if re.fullmatch(r"notification_(y\d{4}|default)", table)}
    assert not notices or sum(after[table] for table in notices) == after["notification"]
    # The notifications' dedupe keys move to a table of their own (migration 0042): one per keyed row.
    derived = {"notification_key"}
    assert after.get("notification_key", 0) <= after["notification"]
    assert all(after[table] == 0 for table in set(after) - set(before) - partitions - notices - derived), (
        "new tables start empty"
    )
    assert before["household"] == 120 and before["service_request"] > 300 and before["region"] == 1042

    # Every table the models name is there (those of later migrations new and empty), and every
    # model reads all of its rows' columns.
    read = report["read"]
    assert set(read) <= set(after), sorted(set(read) - set(after))
    for table, (module, fetched, counted) in read.items():
        assert counted == after[table], (table, counted, after[table])
        assert fetched == min(50, counted), table
        assert module.startswith("alliance.") and module.endswith(".models"), (table, module)
    assert {read["household"][0], read["visit"][0], read["app_user"][0]} == {
        "alliance.households.models",
        "alliance.visits.models",
        "alliance.core.models",
    }
    assert "volunteer.demo" in report["demo_logins"]
    assert report["claimed"] is not None and report["claimed"][1].startswith("3303")
