"""What a partner's claim board depends on, marked per partner so that a change drops only the boards
it touches.

A claim, release or close of an open request changes the boards of the partners matched to it (about
twenty of two thousand in a city), not every board; a matching run changes the boards of the partners
whose matches it replaced (every board for a full re-match). Each change writes one `board_change`
row per partner touched, in the change's own transaction, so a board kept by a web process is dropped
by the next view after the commit, never later.

A kept page carries its partner's generation: (the smallest id, the largest id, the row count) of
the rows for the partner, and the same for the rows for every board. The triple changes with every
commit — a row written by a transaction that started earlier but committed later raises the count
even when it does not raise the largest id, and pruning raises the smallest — so no committed change
is missed. Reading it is two index range scans over the rows of the last hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from alliance.core import db
from alliance.core.timeutil import utc_now

# Rows older than this are pruned (a kept page lives a minute at most anyway).
KEEP_ROWS_FOR = timedelta(hours=1)
_IN_CHUNK = 500


def _connection(connection: BaseDBAsyncClient | None) -> BaseDBAsyncClient:
    # Outside a transaction, inside a board read (db.reading_replica): the replica the page is built
    # from, so a page is never kept under a newer generation than the rows it was built from.
    return connection or db.read_connection()


def _holes(connection: BaseDBAsyncClient, count: int, start: int = 1) -> str:
    if connection.capabilities.dialect == "postgres":
        return ", ".join(f"${number}" for number in range(start, start + count))
    return ", ".join("?" for _ in range(count))


async def touch_partners(
    partner_ids: Iterable[int], *, connection: BaseDBAsyncClient | None = None, now: datetime | None = None
) -> None:
    """Mark the boards of these partners changed (call inside the change's transaction)."""
    ids = sorted(set(partner_ids))
    if not ids:
        return
    connection = _connection(connection)
    now = now or utc_now()
    await connection.execute_many(
        f'INSERT INTO "board_change" ("partner_id", "at") VALUES ({_holes(connection, 2)})',
        [[partner_id, now] for partner_id in ids],
    )


async def touch_every_board(
    *, connection: BaseDBAsyncClient | None = None, now: datetime | None = None
) -> None:
    """Mark every board changed (a full re-match)."""
    connection = _connection(connection)
    await connection.execute_query(
        f'INSERT INTO "board_change" ("partner_id", "at") VALUES (NULL, {_holes(connection, 1)})',
        [now or utc_now()],
    )


async def matched_partners(
    request_ids: Sequence[int], *, connection: BaseDBAsyncClient | None = None
) -> set[int]:
    """The partners with a stored match for any of these requests (their boards list them)."""
    connection = _connection(connection)
    found: set[int] = set()
    for start in range(0, len(request_ids), _IN_CHUNK):
        part = list(request_ids[start : start + _IN_CHUNK])
        _count, rows = await connection.execute_query(
            f'SELECT DISTINCT "partner_id" FROM "request_match" WHERE "request_id" IN ({_holes(connection, len(part))})',
            part,
        )
        found.update(row[0] for row in rows)
    return found


async def touch_boards_of_requests(
    request_ids: Sequence[int], *, connection: BaseDBAsyncClient | None = None, now: datetime | None = None
) -> None:
    """Mark changed the boards that list these requests (a request opened or left the open pool)."""
    connection = _connection(connection)
    await touch_partners(
        await matched_partners(request_ids, connection=connection), connection=connection, now=now
    )


async def generation(partner_id: int) -> tuple:
    """The partner's board generation (see the module's docstring)."""
    connection = _connection(None)
    hole = _holes(connection, 1)
    _count, rows = await connection.execute_query(
        'SELECT MIN("id"), MAX("id"), COUNT(*) FROM "board_change" WHERE "partner_id" = ' + hole, [partner_id]
    )
    _count, every = await connection.execute_query(
        'SELECT MIN("id"), MAX("id"), COUNT(*) FROM "board_change" WHERE "partner_id" IS NULL'
    )
    return (*rows[0], *every[0])


async def prune(*, now: datetime | None = None) -> int:
    """Drop the rows older than KEEP_ROWS_FOR; returns how many went."""
    connection = _connection(None)
    before = (now or utc_now()) - KEEP_ROWS_FOR
    count, _rows = await connection.execute_query(
        f'DELETE FROM "board_change" WHERE "at" < {_holes(connection, 1)}', [before]
    )
    return count
