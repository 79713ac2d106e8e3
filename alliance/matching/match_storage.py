"""Storing a run's matches: chunk by chunk for some requests, the whole table swapped for all."""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from alliance.core.codes import RequestStatus
from alliance.matching import board_changes
from alliance.matching.area_candidates import GOOD_MATCH_SCORE, AreaSearch
from alliance.matching.candidates import (
    _IN_CHUNK,
    Candidate,
    OfferingIndex,
    RequestCase,
    _chunks,
    _connection,
    _is_postgres,
    _placeholders,
)

STORE_CHUNK = 5000
# From this many requests on, candidates are searched area by area as arrays (area_candidates.py);
# below it one by one (one new request: no arrays to build).
AREA_SEARCH_FROM = 200


@dataclass
class MatchRun:
    """What one matching run did (the CLI prints it; jobs return it as a dict)."""

    requests_matched: int = 0
    requests_without_candidate: int = 0
    matches_stored: int = 0
    seconds: float = 0.0
    notification_ids: list[int] = field(default_factory=list)
    # Where a full re-match's time went (seconds by stage; the bench prints them).
    stages: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests_matched": self.requests_matched,
            "requests_without_candidate": self.requests_without_candidate,
            "matches_stored": self.matches_stored,
            "seconds": round(self.seconds, 3),
        }


_MATCH_COLUMNS = (
    "request_id",
    "offering_id",
    "partner_id",
    "score",
    "distance_km",
    "reasons",
    "partner_best",
    "computed_at",
)
_PARTNER_COLUMN = _MATCH_COLUMNS.index("partner_id")


class _Matcher:
    """One run's candidate search: counts what it found and which partners have good new matches."""

    def __init__(self, index: OfferingIndex, now: datetime, run: MatchRun) -> None:
        self.index, self.now, self.run = index, now, run
        self.good_new: dict[int, set[int]] = defaultdict(set)
        # computed_at, added to the rows as they are written (a full re-match on PostgreSQL leaves it to
        # the column's default): SQLite keeps datetimes as text in str(datetime)'s form; binding the
        # text skips a million adaptations. asyncpg's COPY takes the datetime.
        self.stamp: Any = now if _is_postgres(_connection()) else str(now)
        self.area: AreaSearch | None = None
        # The requests a full re-match stamps (matched_at): never matched, or matched to an offering
        # changed since their stamp. The others keep theirs; rewriting a million rows' stamp cost
        # more than storing their matches.
        self.to_stamp: list[int] = []

    def rows(self, request: RequestCase) -> list[tuple[Any, ...]]:
        return self._rows_of(request, self.index.candidates(request, self.now))

    def rows_of_many(self, requests: Sequence[RequestCase]) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of many requests (a request's rows together; requests in area order, not as given)."""
        if len(requests) < AREA_SEARCH_FROM:
            for request in requests:
                yield self.rows(request)
            return
        if self.area is None:
            self.area = AreaSearch(self.index)
        for request, rows, good_partners, restamp in self.area.rows_of(requests, self.now):
            if rows is None:
                yield self.rows(request)
                continue
            if not rows:
                self.run.requests_without_candidate += 1
            for partner in good_partners:
                self.good_new[partner].add(request.id)
            if restamp:
                self.to_stamp.append(request.id)
            yield rows

    def _rows_of(self, request: RequestCase, found: list[Candidate]) -> list[tuple[Any, ...]]:
        if not found:
            self.run.requests_without_candidate += 1
        restamp = request.matched_at is None
        for candidate in found:
            # New to the partner: a request never matched before, or an offering changed since.
            updated = candidate.offering.updated_at
            is_new = request.matched_at is None or (updated is not None and updated > request.matched_at)
            restamp = restamp or is_new
            if is_new and candidate.score >= GOOD_MATCH_SCORE:
                self.good_new[candidate.offering.partner_id].add(request.id)
        if restamp:
            self.to_stamp.append(request.id)
        return [
            (
                request.id,
                candidate.offering.id,
                candidate.offering.partner_id,
                candidate.score,
                candidate.distance_km,
                candidate.reasons_json,
                candidate.partner_best,
            )
            for candidate in found
        ]


async def _insert_matches(connection: BaseDBAsyncClient, rows: list[tuple[Any, ...]], stamp: Any) -> None:
    """Rows (without computed_at: `stamp`) into request_match: COPY on PostgreSQL."""
    rows = [(*row, stamp) for row in rows]
    if _is_postgres(connection):
        async with connection.acquire_connection() as raw:
            await raw.copy_records_to_table("request_match", records=rows, columns=list(_MATCH_COLUMNS))
        return
    if rows:
        names = ", ".join(f'"{column}"' for column in _MATCH_COLUMNS)
        await connection.execute_many(
            f'INSERT INTO "request_match" ({names}) VALUES ({_placeholders(connection, len(_MATCH_COLUMNS))})',
            rows,
        )


async def _stamp_and_prune(
    connection: BaseDBAsyncClient, now: datetime, ids: Sequence[int] | None, to_stamp: Sequence[int] = ()
) -> None:
    """Stamp matched_at on the open requests matched (`to_stamp` of them when `ids` is None: a full
    re-match), and drop the matches of requests claimed or closed while we computed: they are no
    longer open."""
    stamp, status = _placeholders(connection, 2).split(", ")
    hole = _placeholders(connection, 1)
    closed = f'SELECT "id" FROM "service_request" WHERE "status" <> {hole}'
    if ids is None:
        for part in _chunks(sorted(to_stamp), _IN_CHUNK):
            holes = _placeholders(connection, len(part), start=3)
            await connection.execute_query(
                f'UPDATE "service_request" SET "matched_at" = {stamp} '
                f'WHERE "status" = {status} AND "id" IN ({holes})',
                [now, str(RequestStatus.OPEN), *part],
            )
        await connection.execute_query(
            f'DELETE FROM "request_match" WHERE "request_id" IN ({closed})', [str(RequestStatus.OPEN)]
        )
        return
    for part in _chunks(ids, _IN_CHUNK):
        holes = _placeholders(connection, len(part), start=3)
        await connection.execute_query(
            f'UPDATE "service_request" SET "matched_at" = {stamp} '
            f'WHERE "status" = {status} AND "id" IN ({holes})',
            [now, str(RequestStatus.OPEN), *part],
        )
        holes = _placeholders(connection, len(part), start=2)
        await connection.execute_query(
            f'DELETE FROM "request_match" WHERE "request_id" IN ({closed} AND "id" IN ({holes}))',
            [str(RequestStatus.OPEN), *part],
        )


async def _store_some(requests: list[RequestCase], matcher: _Matcher) -> int:
    """Replace the matches of `requests`, one transaction per chunk."""
    stored = 0
    for chunk in _chunks(requests, STORE_CHUNK):
        rows = [row for found in matcher.rows_of_many(chunk) for row in found]
        ids = [request.id for request in chunk]
        async with in_transaction() as connection:
            # The boards that listed these requests (the partners of the matches removed) and those
            # that will: only they change.
            touched = {row[_PARTNER_COLUMN] for row in rows}
            for part in _chunks(ids, _IN_CHUNK):
                # (execute_query_dict: tortoise's execute_query drops the rows of a DELETE on asyncpg)
                removed = await connection.execute_query_dict(
                    f'DELETE FROM "request_match" WHERE "request_id" IN ({_placeholders(connection, len(part))}) '
                    'RETURNING "partner_id"',
                    list(part),
                )
                touched.update(row["partner_id"] for row in removed)
            await _insert_matches(connection, rows, matcher.stamp)
            await _stamp_and_prune(connection, matcher.now, ids)
            await board_changes.touch_partners(touched, connection=connection, now=matcher.now)
        stored += len(rows)
    return stored


async def _store_everything(requests: list[RequestCase], matcher: _Matcher) -> int:
    """Replace every match in one transaction (readers see the old set until it commits)."""
    if _is_postgres(_connection()):
        return await _swap_everything(requests, matcher)
    stored = 0
    async with in_transaction() as connection:
        # SQLite: the secondary indexes are dropped and built again after the rows, in one sorted
        # pass each, instead of being updated a million times; readers see the old set until commit.
        _count, indexes = await connection.execute_query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_match' "
            "AND sql IS NOT NULL"
        )
        # (execute_query, not execute_script: sqlite3's executescript commits what is pending first.)
        for name, _sql in indexes:
            await connection.execute_query(f'DROP INDEX "{name}"')
        await connection.execute_query('DELETE FROM "request_match"')
        # One chunk is inserted by the database's thread while the next is computed here.
        writing: asyncio.Future | None = None
        for chunk in _chunks(requests, STORE_CHUNK * 4):
            rows = [row for found in matcher.rows_of_many(chunk) for row in found]
            stored += len(rows)
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(_insert_matches(connection, rows, matcher.stamp))
            await asyncio.sleep(0)  # let it hand the rows to the database thread
        if writing is not None:
            await writing
        for _name, sql in indexes:
            await connection.execute_query(sql)
        await _stamp_and_prune(connection, matcher.now, None, matcher.to_stamp)
        await board_changes.touch_every_board(connection=connection, now=matcher.now)
    return stored


_NEXT_TABLE = "request_match_next"
_INDEX_DEFINITION = re.compile(r"^(CREATE (?:UNIQUE )?INDEX) \S+ ON \S+ (USING .*)$")


async def _swap_everything(requests: list[RequestCase], matcher: _Matcher) -> int:
    """PostgreSQL: build the new match table beside the old one and swap them, in one transaction.

    Rows stream into a COPY as they are computed (the server writes while we compute the next
    requests: both cores work), into a table with no index yet; its indexes are then built in one
    sorted pass each, and it is renamed into place with the old table's index and constraint names.
    Maintaining four indexes row by row over a million rows took several times as long. Readers see
    the old matches until the commit; the rename waits for them, and holds its lock for milliseconds.
    """
    stored = 0

    def stream() -> Iterator[tuple[Any, ...]]:
        # A plain generator: asyncpg's COPY pauses it while the server catches up, and spares the
        # per-row cost of an async one.
        nonlocal stored
        for found in matcher.rows_of_many(requests):
            stored += len(found)
            yield from found

    async with in_transaction() as connection, connection.acquire_connection() as raw:
        indexes = await raw.fetch(
            "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, "
            "k.contype::text AS kind FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid "
            "WHERE i.indrelid = 'request_match'::regclass"
        )
        sequence = await raw.fetchval("SELECT pg_get_serial_sequence('request_match', 'id')")
        await raw.execute(f'CREATE TABLE "{_NEXT_TABLE}" (LIKE "request_match" INCLUDING DEFAULTS)')
        # computed_at, the same for every row, comes from the column's default for the COPY: encoding a
        # timestamp per row cost a third of the rows' time in the client. The default goes after.
        old_default = await raw.fetchval(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = 'request_match'::regclass AND a.attname = 'computed_at'"
        )
        await raw.execute(
            f'ALTER TABLE "{_NEXT_TABLE}" ALTER COLUMN "computed_at" SET DEFAULT '
            f"'{matcher.now.isoformat()}'::timestamptz"
        )
        started = time.perf_counter()
        await raw.copy_records_to_table(_NEXT_TABLE, records=stream(), columns=list(_MATCH_COLUMNS[:-1]))
        matcher.run.stages["search and copy"] = time.perf_counter() - started
        started = time.perf_counter()
        built = []
        for index in indexes:
            found = _INDEX_DEFINITION.match(index["definition"])
            if found is None:  # pragma: no cover - pg_get_indexdef's form is stable
                raise RuntimeError(f"unexpected index definition: {index['definition']}")
            temporary = f"{index['name'][:50]}_next"
            await raw.execute(f'{found.group(1)} "{temporary}" ON "{_NEXT_TABLE}" {found.group(2)}')
            built.append((index["name"], temporary, index["kind"]))
        await raw.execute(f'ANALYZE "{_NEXT_TABLE}"')
        matcher.run.stages["indexes"] = time.perf_counter() - started
        started = time.perf_counter()
        await raw.execute("SET LOCAL lock_timeout = '60s'")
        await raw.execute('ALTER TABLE "request_match" RENAME TO "request_match_old"')
        await raw.execute(f'ALTER TABLE "{_NEXT_TABLE}" RENAME TO "request_match"')
        if sequence:
            await raw.execute(f'ALTER SEQUENCE {sequence} OWNED BY "request_match"."id"')
        await raw.execute('DROP TABLE "request_match_old"')
        if old_default is None:
            await raw.execute('ALTER TABLE "request_match" ALTER COLUMN "computed_at" DROP DEFAULT')
        else:
            await raw.execute(
                f'ALTER TABLE "request_match" ALTER COLUMN "computed_at" SET DEFAULT {old_default}'
            )
        for name, temporary, kind in built:
            if kind == "p":
                await raw.execute(
                    f'ALTER TABLE "request_match" ADD CONSTRAINT "{name}" PRIMARY KEY USING INDEX "{temporary}"'
                )
            elif kind == "u":
                await raw.execute(
                    f'ALTER TABLE "request_match" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{temporary}"'
                )
            else:
                await raw.execute(f'ALTER INDEX "{temporary}" RENAME TO "{name}"')
        # (on `raw`: the transaction's wrapper is held by this block)
        await raw.execute('INSERT INTO "board_change" ("partner_id", "at") VALUES (NULL, $1)', matcher.now)
    matcher.run.stages["swap"] = time.perf_counter() - started
    started = time.perf_counter()
    # Stamped after the swap, in short transactions: a claim waits for one chunk at most. Only
    # requests this run matched (one raised meanwhile is matched by its own job), and of those only
    # the ones never matched or matched to an offering changed since their stamp (`_Matcher.to_stamp`).
    for part in _chunks(sorted(matcher.to_stamp), 20_000):
        await _connection().execute_query(
            'UPDATE "service_request" SET "matched_at" = $1 WHERE "status" = $2 AND "id" = ANY($3::int[])',
            [matcher.now, str(RequestStatus.OPEN), list(part)],
        )
    matcher.run.stages["stamp requests"] = time.perf_counter() - started
    return stored
