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
from alliance.matching.area_candidates import GOOD_MATCH_SCORE, AreaSearch, TilePairs
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
from alliance.matching.match_copy import COLUMN_TYPES, COLUMNS, HEADER, TRAILER, CopyEncoder

STORE_CHUNK = 5000
# From this many requests on, candidates are searched area by area as arrays (area_candidates.py);
# below it one by one (one new request: no arrays to build).
AREA_SEARCH_FROM = 200
# A full re-match's COPY data goes out in batches of about this many rows (match_copy.py).
COPY_BATCH = 50_000


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
        self.stored = 0  # rows handed to COPY by copy_chunks

    def rows(self, request: RequestCase) -> list[tuple[Any, ...]]:
        return self._rows_of(request, self.index.candidates(request, self.now))

    def rows_of_many(self, requests: Sequence[RequestCase]) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of many requests (a request's rows together; requests in area order, not as given)."""
        if len(requests) < AREA_SEARCH_FROM:
            for request in requests:
                yield self.rows(request)
            return
        for request, rows, good_partners, restamp in self.area_search().rows_of(requests, self.now):
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

    def copy_chunks(self, requests: Sequence[RequestCase], encoder: CopyEncoder) -> Iterator[bytes]:
        """The rows of many requests as PostgreSQL binary COPY data (no header), a batch of tiles at
        a time (match_copy.py); `stored` counts them."""
        waiting: list[TilePairs] = []
        pairs = 0
        for found in self.area_search().tiles_of(requests, self.now):
            if isinstance(found, RequestCase):
                rows = self.rows(found)
                self.stored += len(rows)
                yield encoder.encode_rows(rows)
                continue
            self.run.requests_without_candidate += int((found.counts == 0).sum())
            for number, partner in zip(
                found.request_row[found.good].tolist(), found.partners[found.good].tolist(), strict=True
            ):
                self.good_new[partner].add(found.requests[number].id)
            self.to_stamp.extend(
                request.id
                for request, restamp in zip(found.requests, found.restamp.tolist(), strict=True)
                if restamp
            )
            waiting.append(found)
            pairs += len(found.request_ids)
            if pairs >= COPY_BATCH:
                self.stored += pairs
                yield encoder.encode(waiting)
                waiting, pairs = [], 0
        if waiting:
            self.stored += pairs
            yield encoder.encode(waiting)

    def area_search(self) -> AreaSearch:
        if self.area is None:
            self.area = AreaSearch(self.index)
        return self.area

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
                candidate.reasons_text,
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
# pg_advisory_lock key: one full re-match at a time (they build the same side table).
_FULL_REMATCH_LOCK = 20_261_205


async def _swap_everything(requests: list[RequestCase], matcher: _Matcher) -> int:
    """PostgreSQL: build the new match table beside the old one and swap them in.

    The new rows go into a side table with no index: the search hands out binary COPY data
    (match_copy.py) to two connections at once, so the server parses and writes on both cores while
    this process computes the next tiles. Its indexes are then built one by one, each in one
    sorted pass (maintaining four indexes row by row over a million rows took several times as
    long), and one short transaction renames it into place with the old table's index and constraint
    names. Readers see the old matches until that commit; the rename waits for them and holds its
    lock for milliseconds. A run killed before the swap leaves the old matches as they were and a
    side table the next run drops.
    """
    client = _connection()
    async with client.acquire_connection() as first, client.acquire_connection() as second:
        await first.execute("SELECT pg_advisory_lock($1)", _FULL_REMATCH_LOCK)
        try:
            return await _swap_with(first, second, requests, matcher)
        finally:
            await first.execute(f'DROP TABLE IF EXISTS "{_NEXT_TABLE}"')
            await first.execute("SELECT pg_advisory_unlock($1)", _FULL_REMATCH_LOCK)


async def _swap_with(first: Any, second: Any, requests: list[RequestCase], matcher: _Matcher) -> int:
    await first.execute(f'DROP TABLE IF EXISTS "{_NEXT_TABLE}"')  # a killed run's
    indexes = await first.fetch(
        "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, "
        "k.contype::text AS kind FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid "
        "WHERE i.indrelid = 'request_match'::regclass"
    )
    types = await first.fetch(
        "SELECT a.attname AS name, t.typname AS type FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = 'request_match'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
    )
    found_types = {row["name"]: row["type"] for row in types}
    if any(found_types.get(name) != kind for name, kind in zip(COLUMNS, COLUMN_TYPES, strict=True)):
        raise RuntimeError(f"request_match's columns are not those match_copy.py writes: {found_types}")
    sequence = await first.fetchval("SELECT pg_get_serial_sequence('request_match', 'id')")
    if sequence is None:  # pragma: no cover - the migrations make the id a serial
        raise RuntimeError("request_match.id has no sequence")
    # The new rows' ids: numbered here from the sequence's next value, which is moved past them at
    # the swap (a run for some requests meanwhile numbers rows of the old table, dropped then).
    first_id = await first.fetchval(f"SELECT nextval('{sequence}')")
    # computed_at, the same for every row, comes from the column's default for the COPY. The table's
    # own default goes back after the swap.
    old_default = await first.fetchval(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        "WHERE d.adrelid = 'request_match'::regclass AND a.attname = 'computed_at'"
    )
    await first.execute(f'CREATE TABLE "{_NEXT_TABLE}" (LIKE "request_match" INCLUDING DEFAULTS)')
    await first.execute(
        f'ALTER TABLE "{_NEXT_TABLE}" ALTER COLUMN "computed_at" SET DEFAULT '
        f"'{matcher.now.isoformat()}'::timestamptz"
    )
    started = time.perf_counter()
    chunks = matcher.copy_chunks(requests, CopyEncoder(matcher.area_search(), first_id))

    async def source() -> Any:
        # Both COPYs draw from the one search: whichever the server has caught up with takes the
        # next batch (the event loop runs one at a time, so the generator is never entered twice).
        yield HEADER
        for chunk in chunks:
            yield chunk
            await asyncio.sleep(0)
        yield TRAILER

    await asyncio.gather(
        *(
            connection.copy_to_table(_NEXT_TABLE, source=source(), columns=list(COLUMNS), format="binary")
            for connection in (first, second)
        )
    )
    matcher.run.stages["search and copy"] = time.perf_counter() - started
    started = time.perf_counter()
    definitions = []
    for index in indexes:
        found = _INDEX_DEFINITION.match(index["definition"])
        if found is None:  # pragma: no cover - pg_get_indexdef's form is stable
            raise RuntimeError(f"unexpected index definition: {index['definition']}")
        temporary = f"{index['name'][:50]}_next"
        definitions.append(
            (
                index["name"],
                temporary,
                index["kind"],
                f'{found.group(1)} "{temporary}" ON "{_NEXT_TABLE}" {found.group(2)}',
            )
        )

    # One after the other: PostgreSQL builds each with parallel workers on every core already (two
    # at a time measured no faster at 20 million rows).
    for *_names, statement in definitions:
        await first.execute(statement)
    await first.execute(f'ANALYZE "{_NEXT_TABLE}"')
    matcher.run.stages["indexes"] = time.perf_counter() - started
    started = time.perf_counter()
    async with first.transaction():
        await first.execute("SET LOCAL lock_timeout = '60s'")
        await first.execute('ALTER TABLE "request_match" RENAME TO "request_match_old"')
        await first.execute(f'ALTER TABLE "{_NEXT_TABLE}" RENAME TO "request_match"')
        await first.execute(f'ALTER SEQUENCE {sequence} OWNED BY "request_match"."id"')
        await first.execute(
            f"SELECT setval('{sequence}', GREATEST((SELECT last_value FROM {sequence}), $1::bigint))",
            first_id + matcher.stored,
        )
        await first.execute('DROP TABLE "request_match_old"')
        if old_default is None:
            await first.execute('ALTER TABLE "request_match" ALTER COLUMN "computed_at" DROP DEFAULT')
        else:
            await first.execute(
                f'ALTER TABLE "request_match" ALTER COLUMN "computed_at" SET DEFAULT {old_default}'
            )
        for name, temporary, kind, _statement in definitions:
            if kind == "p":
                await first.execute(
                    f'ALTER TABLE "request_match" ADD CONSTRAINT "{name}" PRIMARY KEY USING INDEX "{temporary}"'
                )
            elif kind == "u":
                await first.execute(
                    f'ALTER TABLE "request_match" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{temporary}"'
                )
            else:
                await first.execute(f'ALTER INDEX "{temporary}" RENAME TO "{name}"')
        await first.execute('INSERT INTO "board_change" ("partner_id", "at") VALUES (NULL, $1)', matcher.now)
    matcher.run.stages["swap"] = time.perf_counter() - started
    started = time.perf_counter()
    # Stamped after the swap, in short transactions: a claim waits for one chunk at most. Only
    # requests this run matched (one raised meanwhile is matched by its own job), and of those only
    # the ones never matched or matched to an offering changed since their stamp (`_Matcher.to_stamp`).
    for part in _chunks(sorted(matcher.to_stamp), 20_000):
        await first.execute(
            'UPDATE "service_request" SET "matched_at" = $1 WHERE "status" = $2 AND "id" = ANY($3::int[])',
            matcher.now,
            str(RequestStatus.OPEN),
            list(part),
        )
    matcher.run.stages["stamp requests"] = time.perf_counter() - started
    return matcher.stored
