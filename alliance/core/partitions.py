"""The yearly partitions on PostgreSQL of the tables that grow without end: the audit trail
(`audit_entry`, migration 0038) and the notifications (`notification`, migration 0042). List them,
add the years to come, take an old year off.

Each table is partitioned by the local year of its time column, with a default partition for any row
no year partition takes. `ensure` adds a year's partition (moving that year's rows out of the default
one if some landed there); `alliance migrate` and the worker's nightly job run it for the current and
the next year of every table, so rows never wait in the default partition. `detach` takes the oldest
attached year off a table — it stays in the database as a plain table, to be dumped and dropped by
the operator. For the audit trail it records where the hash chain resumes (AuditArchive), so
`alliance audit verify` still checks every entry left; for the notifications it refuses while a
message of that year still waits to be sent, and forgets that year's dedupe keys
(`notification_key`: a message of a year gone is never written again). All of it needs the tables'
owner (the role that migrates); SQLite has one table each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from alliance.core.errors import AllianceError, InvalidInput
from alliance.core.models import AuditArchive
from alliance.core.timeutil import LOCAL_TZ, utc_now


@dataclass(frozen=True)
class Table:
    """A table partitioned by year: its name, its time column and, for the audit trail, the
    append-only trigger every partition carries."""

    name: str
    column: str
    # The row trigger refusing UPDATE/DELETE (the audit trail's); also refuses TRUNCATE per table.
    append_only: str | None = None

    @property
    def default_partition(self) -> str:
        return f"{self.name}_default"

    def partition_name(self, year: int) -> str:
        return f"{self.name}_y{year}"


AUDIT = Table("audit_entry", "at", append_only="audit_entry_append_only")
NOTIFICATIONS = Table("notification", "created_at")
# By the names the command line takes.
TABLES = {"audit": AUDIT, "notifications": NOTIFICATIONS}

TABLE = AUDIT.name
DEFAULT_PARTITION = AUDIT.default_partition


class NotPartitioned(AllianceError):
    """The database keeps these tables whole (SQLite)."""


@dataclass(frozen=True)
class Partition:
    name: str
    year: int | None  # None: the default partition
    rows: int


@dataclass(frozen=True)
class DetachedNotifications:
    table_name: str
    year: int
    rows: int
    keys_forgotten: int


def partition_name(year: int, table: Table = AUDIT) -> str:
    return table.partition_name(year)


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
        raise NotPartitioned("partitions are PostgreSQL only: SQLite keeps each table whole")


async def partitions(table: Table = AUDIT) -> list[Partition]:
    """The attached partitions, oldest year first, the default one last, with their row counts."""
    async with in_transaction() as connection:
        _require_postgres(connection)
        _count, rows = await connection.execute_query(
            "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = $1::regclass",
            [table.name],
        )
        found = []
        for row in rows:
            name = row["name"]
            _count, counted = await connection.execute_query(f'SELECT count(*) AS n FROM "{name}"')
            year = int(name.rsplit("_y", 1)[1]) if name != table.default_partition else None
            found.append(Partition(name, year, counted[0]["n"]))
    return sorted(found, key=lambda partition: (partition.year is None, partition.year or 0))


async def _attached(connection: BaseDBAsyncClient, name: str, table: Table) -> dict:
    _count, exists = await connection.execute_query(
        "SELECT to_regclass($1) IS NOT NULL AS found, EXISTS (SELECT 1 FROM pg_inherits "
        "WHERE inhrelid = to_regclass($1) AND inhparent = $2::regclass) AS attached",
        [name, table.name],
    )
    return dict(exists[0])


async def ensure(year: int, table: Table = AUDIT) -> bool:
    """Give `year` its partition of `table`; True when it was made now. Rows of that year already
    in the default partition move into it, in the same transaction (the table is locked meanwhile)."""
    _check_year(year)
    name = table.partition_name(year)
    low, high = _bounds(year)
    column, default = table.column, table.default_partition
    async with in_transaction() as connection:
        _require_postgres(connection)
        exists = await _attached(connection, name, table)
        if exists["attached"]:
            return False
        if exists["found"]:
            raise InvalidInput(
                {"year": f"{year}: {name} is a detached year's table; dump it and drop it first"}
            )
        await connection.execute_script(f"LOCK TABLE {table.name} IN ACCESS EXCLUSIVE MODE")
        _count, waiting = await connection.execute_query(
            f"SELECT count(*) AS n FROM {default} WHERE {column} >= $1 AND {column} < $2",
            [_start(year), _start(year + 1)],
        )
        bounds = f"FROM ('{low}') TO ('{high}')"
        if not waiting[0]["n"]:
            await connection.execute_script(
                f"CREATE TABLE {name} PARTITION OF {table.name} FOR VALUES {bounds}"
            )
        else:
            # The default partition holds rows of this year: they move to the new table, which is
            # then attached (a partition cannot be made over rows the default one still holds).
            where = f"{column} >= '{low}' AND {column} < '{high}'"
            delete = [f"DELETE FROM {default} WHERE {where}"]
            if table.append_only:
                trigger = table.append_only
                delete = [
                    f"ALTER TABLE {default} DISABLE TRIGGER {trigger}",
                    *delete,
                    f"ALTER TABLE {default} ENABLE TRIGGER {trigger}",
                ]
            await connection.execute_script(
                ";\n".join(
                    [
                        f"CREATE TABLE {name} (LIKE {table.name} INCLUDING DEFAULTS)",
                        f"INSERT INTO {name} SELECT * FROM {default} WHERE {where} ORDER BY id",
                        *delete,
                        f"ALTER TABLE {table.name} ATTACH PARTITION {name} FOR VALUES {bounds}",
                    ]
                )
            )
        if table.append_only:
            await connection.execute_script(
                f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
                "FOR EACH STATEMENT EXECUTE FUNCTION alliance_audit_append_only()"
            )
    return True


async def ensure_ahead(now: datetime | None = None, table: Table = AUDIT) -> list[int]:
    """The current and the next local year's partitions of `table`; the years made now."""
    year = (now or utc_now()).astimezone(LOCAL_TZ).year
    return [candidate for candidate in (year, year + 1) if await ensure(candidate, table)]


async def ensure_all_ahead(now: datetime | None = None) -> list[str]:
    """The current and the next year's partitions of every partitioned table; the ones made now."""
    made = []
    for table in TABLES.values():
        made += [table.partition_name(year) for year in await ensure_ahead(now, table)]
    return made


async def _oldest_attached(connection: BaseDBAsyncClient, year: int, table: Table) -> str:
    """The partition of `year`, checked to be attached, past, and the oldest with rows."""
    _check_year(year)
    name = table.partition_name(year)
    current = utc_now().astimezone(LOCAL_TZ).year
    if year >= current:
        raise InvalidInput({"year": f"{year}: only a past year can be detached (this is {current})"})
    if not (await _attached(connection, name, table))["attached"]:
        raise InvalidInput({"year": f"{year}: no attached partition {name}"})
    await connection.execute_script(f"LOCK TABLE {table.name} IN ACCESS EXCLUSIVE MODE")
    _count, older = await connection.execute_query(
        f"SELECT count(*) AS n FROM {table.name} WHERE {table.column} < $1", [_start(year)]
    )
    if older[0]["n"]:
        count = older[0]["n"]
        raise InvalidInput({"year": f"{year}: {count} older rows are still attached; detach those first"})
    return name


async def detach(year: int, by: str) -> AuditArchive:
    """Take `year` off the audit trail: its partition becomes a plain table (dump it, then drop it),
    and the chain's resume point is recorded. Only the oldest year with entries, and never the
    current one: the chain must stay whole from its first attached entry to its head."""
    async with in_transaction() as connection:
        _require_postgres(connection)
        name = await _oldest_attached(connection, year, AUDIT)
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


async def detach_notifications(year: int) -> DetachedNotifications:
    """Take `year` off the notifications: its partition becomes a plain table (dump it, then drop
    it) and that year's dedupe keys are forgotten. Refused while one of its messages still waits to
    be sent (pending or being sent): those must go out or fail first."""
    async with in_transaction() as connection:
        _require_postgres(connection)
        name = await _oldest_attached(connection, year, NOTIFICATIONS)
        _count, rows = await connection.execute_query(
            f"SELECT count(*) AS n, count(*) FILTER (WHERE status IN ('pending', 'sending')) AS waiting "
            f"FROM {name}"
        )
        if rows[0]["waiting"]:
            raise InvalidInput(
                {"year": f"{year}: {rows[0]['waiting']} messages of that year still wait to be sent"}
            )
        await connection.execute_script(f"ALTER TABLE {NOTIFICATIONS.name} DETACH PARTITION {name}")
        forgotten, _rows = await connection.execute_query(
            f"DELETE FROM notification_key WHERE key IN "
            f"(SELECT dedupe_key FROM {name} WHERE dedupe_key IS NOT NULL)"
        )
        return DetachedNotifications(name, year, rows[0]["n"], forgotten)


async def resume_point() -> tuple[str, int, int] | None:
    """Where verification starts when years were detached: (last hash, last id, chained entries
    taken off), or None when nothing was."""
    archives = await AuditArchive.all().order_by("last_id")
    if not archives:
        return None
    return archives[-1].last_hash, archives[-1].last_id, sum(archive.chained for archive in archives)
