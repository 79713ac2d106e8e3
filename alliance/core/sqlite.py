"""tortoise's SQLite client for a laptop where the web process and a worker share one file.

Tortoise already opens SQLite in WAL mode (readers never wait for a writer). Two more things keep a
page from answering 500 "database is locked" while the worker writes:
- a busy timeout (db.SQLITE_BUSY_TIMEOUT_MS): a write waits for the other process's lock;
- transactions take the write lock at BEGIN (BEGIN IMMEDIATE). A deferred BEGIN reads first and asks
  for the lock at its first write; if the other process committed meanwhile, SQLite refuses at once
  (the transaction's snapshot is stale) without waiting. Taking the lock first, the wait covers it.
Engine "alliance.core.sqlite" in the tortoise config (alliance/core/db.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


def _utc_text(value: datetime) -> str:
    """SQLite compares timestamps as text: every aware one is written in UTC, as PostgreSQL keeps
    them. tortoise writes it with its own offset, so the end of a day in Shanghai (23:59+08:00) would
    sort after 16:05+00:00 on the same date, eight hours after it had passed."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ")


# After tortoise's own adapter (tortoise.backends.sqlite.executor, imported above), replacing it.
sqlite3.register_adapter(datetime, _utc_text)


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise TransactionManagementError(error) from error


class ImmediateTransactionSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateTransactionSqliteClient
