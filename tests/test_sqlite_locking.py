"""SQLite on a laptop: a worker (another process) writing does not turn pages into 500 "database is
locked". WAL lets pages read during the write; the busy timeout makes a page's own write wait for
the lock; transactions take the write lock at BEGIN, so none fails half-way when the other commits."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from alliance.core.db import SQLITE_BUSY_TIMEOUT_MS
from alliance.households.models import Household
from tests.conftest import BACKEND
from tests.factories import build_two_sides, login

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's locking")

# Longer than Python's default wait for a lock (5 s): a write held this long failed pages before.
HOLD_SECONDS = 7

_WRITER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN IMMEDIATE")
connection.execute("UPDATE household SET member_count = member_count + 1")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


def _database_path(servers) -> str:
    return servers.database_url.removeprefix("sqlite://")


async def test_the_database_is_in_wal_mode_with_a_busy_timeout():
    connection = Tortoise.get_connection("default")
    [mode] = await connection.execute_query_dict("PRAGMA journal_mode")
    [timeout] = await connection.execute_query_dict("PRAGMA busy_timeout")
    assert mode["journal_mode"] == "wal"
    assert timeout["timeout"] == SQLITE_BUSY_TIMEOUT_MS


async def test_pages_answer_while_another_process_holds_a_long_write_transaction(client, servers):
    left, _right, _admin = await build_two_sides()
    await login(client, "workerA")
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, _database_path(servers), str(HOLD_SECONDS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert (await asyncio.to_thread(writer.stdout.readline)).strip() == "holding"
        started = time.monotonic()
        # A page that only reads (one's own account; the household list writes its audit entry):
        # WAL serves it at once, from before the write.
        listing = await client.get("/account")
        assert listing.status_code == 200
        assert time.monotonic() - started < HOLD_SECONDS
        # A household's page writes its audit entry: it waits for the writer, then answers.
        detail = await client.get(f"/households/{left.household.id}")
        assert detail.status_code == 200
        assert "3303************34" in detail.text
    finally:
        writer.wait(timeout=30)
    assert writer.returncode == 0


async def test_a_transaction_that_read_before_another_process_committed_still_writes(servers):
    """A deferred transaction would read, then find its snapshot stale when asking for the write lock
    after the other process committed, and fail at once (no busy wait helps): BEGIN IMMEDIATE waits
    for the lock before reading."""
    left, _right, _admin = await build_two_sides()
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, _database_path(servers), "2"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert (await asyncio.to_thread(writer.stdout.readline)).strip() == "holding"
        async with in_transaction():
            household = await Household.get(id=left.household.id)
            await Household.filter(id=household.id).update(member_count=household.member_count + 10)
    finally:
        writer.wait(timeout=30)
    # The other process's +1 came first, then this transaction's +10 on top of what it read.
    assert (await Household.get(id=left.household.id)).member_count == 2 + 1 + 10
