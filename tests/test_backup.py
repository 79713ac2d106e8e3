"""`alliance backup` and `alliance restore` (alliance/core/backup.py): a copy made while the
database is in use restores every row, into a fresh database or over a changed one, on SQLite and
on PostgreSQL; the file is private; a backup of one kind is refused by the other."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from alliance.core import partitions
from alliance.core.backup import make_backup, restore_backup
from alliance.core.db import with_database
from alliance.core.errors import InvalidInput
from alliance.core.models import AuditEntry
from tests.conftest import _admin_execute
from tests.factories import build_two_sides

ROOT = Path(__file__).resolve().parent.parent


async def _counts(url: str) -> dict[str, int]:
    tables = (
        "household",
        "app_user",
        "partner",
        "service_request",
        "region",
        "audit_entry",
        "tortoise_migrations",
    )
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite://"))
        try:
            return {t: connection.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        finally:
            connection.close()
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        counts = {t: await connection.fetchval(f'SELECT COUNT(*) FROM "{t}"') for t in tables}
        counts["audit partitions"] = await connection.fetchval(
            "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'audit_entry'::regclass"
        )
        return counts
    finally:
        await connection.close()


async def _execute(url: str, statement: str) -> None:
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite://"))
        try:
            connection.execute("PRAGMA foreign_keys = OFF")
            connection.execute(statement)
            connection.commit()
        finally:
            connection.close()
        return
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def spare_database(servers, tmp_path):
    """An empty database of the suite's kind, beside the test database."""
    if servers.database_url.startswith("sqlite"):
        yield f"sqlite://{tmp_path / 'restored.sqlite3'}"
        return
    name = f"alliance_restore_{os.getpid()}"
    await _admin_execute(
        servers.database_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'
    )
    yield with_database(servers.database_url, name)
    await _admin_execute(servers.database_url, f'DROP DATABASE IF EXISTS "{name}"')


async def test_backup_restores_every_row_into_a_fresh_database_and_over_a_changed_one(
    servers, tmp_path, spare_database
):
    await build_two_sides()
    if not servers.database_url.startswith("sqlite"):
        # The year partitions go and come back with their tables (migrations 0038, 0042).
        await partitions.ensure_all_ahead()
    original = await _counts(servers.database_url)
    assert original["household"] == 2 and original["app_user"] == 13

    made = make_backup(servers.database_url, tmp_path / "backups" / "copy")
    assert made.size > 0
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600, "a backup holds personal data: owner only"

    restore_backup(spare_database, made.path)
    assert await _counts(spare_database) == original

    await _execute(spare_database, "DELETE FROM household")
    assert (await _counts(spare_database))["household"] == 0
    if not spare_database.startswith("sqlite"):
        # A damaged archive (its last data blocks overwritten) is refused and changes nothing, not
        # even the tables its script drops first: pg_restore stops part way through the data, and
        # psql must not commit what it got.
        changed = await _counts(spare_database)
        damaged = tmp_path / "damaged"
        damaged.write_bytes(made.path.read_bytes()[:-500] + b"\xff" * 500)
        with pytest.raises(RuntimeError, match="nothing changed"):
            restore_backup(spare_database, damaged)
        assert await _counts(spare_database) == changed
    restore_backup(spare_database, made.path)
    assert await _counts(spare_database) == original


async def test_a_backup_never_overwrites_a_file_and_restore_refuses_the_wrong_kind(servers, tmp_path):
    existing = tmp_path / "taken"
    existing.write_text("keep me")
    with pytest.raises(InvalidInput):
        make_backup(servers.database_url, existing)
    assert existing.read_text() == "keep me"

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    with pytest.raises(InvalidInput):
        restore_backup(servers.database_url, not_a_backup)

    other_kind = tmp_path / "other"
    if servers.database_url.startswith("sqlite"):
        other_kind.write_bytes(b"PGDMP" + b"\0" * 64)
    else:
        sqlite3.connect(other_kind).close()
        other_kind.write_bytes(b"SQLite format 3\0" + b"\0" * 84)
    with pytest.raises(InvalidInput):
        restore_backup(servers.database_url, other_kind)


async def test_backup_and_restore_commands_are_audited(servers, tmp_path, spare_database):
    await build_two_sides()
    environment = {**os.environ, "DATABASE_URL": servers.database_url, "ALLIANCE_DATA_DIR": str(tmp_path)}
    made = subprocess.run(
        [sys.executable, "-m", "web.cli", "backup"], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    files = list((tmp_path / "backups").iterdir())
    assert len(files) == 1 and str(files[0]) in made.stdout
    assert await AuditEntry.filter(action="database.backup").count() == 1

    environment["DATABASE_URL"] = spare_database
    refused = subprocess.run(
        [sys.executable, "-m", "web.cli", "restore", str(files[0])],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--yes" in refused.stdout
    restored = subprocess.run(
        [sys.executable, "-m", "web.cli", "restore", str(files[0]), "--yes"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert restored.returncode == 0, restored.stderr
    assert (await _counts(spare_database))["household"] == 2
