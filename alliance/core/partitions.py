"""The audit trail's yearly partitions on PostgreSQL (migration 0038): list them, add the years to
come, take an old year off.

`audit_entry` is partitioned by the local year of `at`, with a default partition for any row no
year partition takes. `ensure` adds a year's partition (moving that year's rows out of the default
one if some landed there); `alliance migrate` and the worker's nightly job run it for the current and
the next year, so rows never wait in the default partition. `detach` takes the oldest attached year
off the table — it stays in the database as a plain table, to be dumped and dropped by the operator —
and records where the hash chain resumes (AuditArchive), so `alliance audit verify` still checks
every entry left. All three need the tables' owner (the role that migrates); SQLite has one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from alliance.core.errors import AllianceError, InvalidInput
from alliance.core.models import AuditArchive
from alliance.core.timeutil import LOCAL_TZ, utc_now

TABLE = "audit_entry"
DEFAULT_PARTITION = f"{TABLE}_default"


class NotPartitioned(AllianceError):
    """The database keeps the audit trail in one table (SQLite)."""


@dataclass(frozen=True)
class Partition:
    name: str
    year: int | None  # None: the default partition
    rows: int


def partition_name(year: int) -> str:
    return f"{TABLE}_y{year}"


def _bounds(year: int) -> tuple[str, str]:
    return f"{year}-01-01 00:00:00+08", f"{year + 1}-01-01 00:00:00+08"


def _start(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=LOCAL_TZ)


def _check_year(year: int) -> int:
    if not 2000 <= year <= 2100:
        raise InvalidInput({"year": f"{year}: give a year between 2000 and 2100"})
    return year


def _require_postgres(connection: BaseDBAsyncClient) -> None:
    if connection.capabilities.dialect != "postgres":
        raise NotPartitioned("the audit trail is partitioned on PostgreSQL only: SQLite keeps one table")


async def partitions() -> list[Partition]:
    """The attached partitions, oldest year first, the default one last, with their row counts."""
    async with in_transaction() as connection:
        _require_postgres(connection)
        _count, rows = await connection.execute_query(
            "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = $1::regclass",
            [TABLE],
        )
        found = []
        for row in rows:
            name = row["name"]
            _count, counted = await connection.execute_query(f'SELECT count(*) AS n FROM "{name}"')
            year = int(name.rsplit("_y", 1)[1]) if name != DEFAULT_PARTITION else None
            found.append(Partition(name, year, counted[0]["n"]))
    return sorted(found, key=lambda partition: (partition.year is None, partition.year or 0))


async def ensure(year: int) -> bool:
    """Give `year` its partition; True when it was made now. Rows of that year already in the
    default partition move into it, in the same transaction (the table is locked meanwhile)."""
    _check_year(year)
    name = partition_name(year)
    low, high = _bounds(year)
    async with in_transaction() as connection:
        _require_postgres(connection)
        _count, exists = await connection.execute_query(
            "SELECT to_regclass($1) IS NOT NULL AS found, EXISTS (SELECT 1 FROM pg_inherits "
            "WHERE inhrelid = to_regclass($1) AND inhparent = $2::regclass) AS attached",
            [name, TABLE],
        )
        if exists[0]["attached"]:
            return False
        if exists[0]["found"]:
            raise InvalidInput(
                {"year": f"{year}: {name} is a detached year's table; dump it and drop it first"}
            )
        await connection.execute_script(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        _count, waiting = await connection.execute_query(
            f"SELECT count(*) AS n FROM {DEFAULT_PARTITION} WHERE at >= $1 AND at < $2",
            [_start(year), _start(year + 1)],
        )
        bounds = f"FROM ('{low}') TO ('{high}')"
        if not waiting[0]["n"]:
            await connection.execute_script(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES {bounds}")
        else:
            # The default partition holds rows of this year: they move to the new table, which is
            # then attached (a partition cannot be made over rows the default one still holds).
            where = f"at >= '{low}' AND at < '{high}'"
            await connection.execute_script(
                ";\n".join(
                    [
                        f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)",
                        f"INSERT INTO {name} SELECT * FROM {DEFAULT_PARTITION} WHERE {where} ORDER BY id",
                        f"ALTER TABLE {DEFAULT_PARTITION} DISABLE TRIGGER audit_entry_append_only",
                        f"DELETE FROM {DEFAULT_PARTITION} WHERE {where}",
                        f"ALTER TABLE {DEFAULT_PARTITION} ENABLE TRIGGER audit_entry_append_only",
                        f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES {bounds}",
                    ]
                )
            )
        await connection.execute_script(
            f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION alliance_audit_append_only()"
        )
    return True


async def ensure_ahead(now: datetime | None = None) -> list[int]:
    """The current and the next local year's partitions; the years made now."""
    year = (now or utc_now()).astimezone(LOCAL_TZ).year
    return [candidate for candidate in (year, year + 1) if await ensure(candidate)]


async def detach(year: int, by: str) -> AuditArchive:
    """Take `year` off the audit trail: its partition becomes a plain table (dump it, then drop it),
    and the chain's resume point is recorded. Only the oldest year with entries, and never the
    current one: the chain must stay whole from its first attached entry to its head."""
    _check_year(year)
    name = partition_name(year)
    current = utc_now().astimezone(LOCAL_TZ).year
    if year >= current:
        raise InvalidInput({"year": f"{year}: only a past year can be detached (this is {current})"})
    async with in_transaction() as connection:
        _require_postgres(connection)
        _count, exists = await connection.execute_query(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1) "
            "AND inhparent = $2::regclass) AS attached",
            [name, TABLE],
        )
        if not exists[0]["attached"]:
            raise InvalidInput({"year": f"{year}: no attached partition {name}"})
        await connection.execute_script(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        _count, older = await connection.execute_query(
            f"SELECT count(*) AS n FROM {TABLE} WHERE at < $1", [_start(year)]
        )
        if older[0]["n"]:
            count = older[0]["n"]
            raise InvalidInput(
                {"year": f"{year}: {count} older entries are still attached; detach those first"}
            )
        _count, rows = await connection.execute_query(
            f"SELECT min(id) AS first_id, max(id) AS last_id, count(*) AS entries, "
            f"count(*) FILTER (WHERE entry_hash <> '') AS chained FROM {name}"
        )
        summary = rows[0]
        if not summary["entries"]:
            raise InvalidInput({"year": f"{year}: {name} holds no entries, nothing to detach"})
        _count, last = await connection.execute_query(
            f"SELECT entry_hash FROM {name} WHERE entry_hash <> '' ORDER BY id DESC LIMIT 1"
        )
        previous = await AuditArchive.all().using_db(connection).order_by("-last_id").first()
        await connection.execute_script(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
        return await AuditArchive.create(
            using_db=connection,
            year=year,
            table_name=name,
            first_id=summary["first_id"],
            last_id=summary["last_id"],
            entries=summary["entries"],
            chained=summary["chained"],
            last_hash=last[0]["entry_hash"] if last else (previous.last_hash if previous else ""),
            detached_by=by[:64],
        )


async def resume_point() -> tuple[str, int, int] | None:
    """Where verification starts when years were detached: (last hash, last id, chained entries
    taken off), or None when nothing was."""
    archives = await AuditArchive.all().order_by("last_id")
    if not archives:
        return None
    return archives[-1].last_hash, archives[-1].last_id, sum(archive.chained for archive in archives)
