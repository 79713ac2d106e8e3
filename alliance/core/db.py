"""Tortoise configuration and lifecycle: one place that turns DATABASE_URL into a connected ORM."""

from __future__ import annotations

import contextvars
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url

# One tortoise app ("models", the label the migrations name), its models kept beside each area's rules.
MODEL_MODULES = [
    "alliance.core.models",
    "alliance.households.models",
    "alliance.partners.models",
    "alliance.matching.models",
    "alliance.visits.models",
    "alliance.events.models",
    "alliance.targets.models",
    "alliance.notifications.models",
    "alliance.cases.models",
]
MIGRATIONS_MODULE = "alliance.migrations"
# SQLite on a laptop: how long a statement waits for another process's write lock (the worker's)
# before "database is locked". Pages wait rather than fail; no write of ours holds it this long.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_database_url(url: str) -> str:
    # libpq spells it postgresql://; tortoise wants postgres://.
    if url.startswith("postgresql://"):
        return "postgres://" + url[len("postgresql://") :]
    return url


def with_database(url: str, database: str) -> str:
    """The same PostgreSQL server, another database: only the URL's path changes. Cutting at the
    last `/` would land in the query string of a socket URL (`postgresql://postgres:@/name?host=/tmp/…`)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


# A streaming read replica (DATABASE_READ_URL), optional: the tortoise connection "replica" beside
# "default". Only what a page *shows* from a large scan reads there (the cockpit's figures, the
# claim board), and only inside `reading_replica()`; everything that decides (claims, bookings,
# check-ins, any write and the reads of its transaction) uses "default", the primary.
REPLICA = "replica"
_replica_reads: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads", default=False)


def read_url_from_environment() -> str:
    return os.environ.get("DATABASE_READ_URL", "").strip()


_replica = {"connected": False}


def replica_configured() -> bool:
    """Whether the ORM was connected with a read replica (DATABASE_READ_URL)."""
    return _replica["connected"]


@contextmanager
def reading_replica() -> Iterator[None]:
    """ORM reads (and `read_connection()`) inside go to the read replica when one is configured.
    For what a page shows, never for what decides: a replica may be a moment behind."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def reads_replica(function: Any) -> Any:
    """A selector whose ORM reads go to the replica when one is configured (`reading_replica`)."""
    import functools

    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reading_replica():
            return await function(*args, **kwargs)

    return wrapper


def read_connection() -> Any:
    """The connection for a raw read: the replica inside `reading_replica()` when configured, else
    the primary (and its transaction, when one is open)."""
    if _replica_reads.get() and replica_configured():
        return Tortoise.get_connection(REPLICA)
    return Tortoise.get_connection("default")


def _transactions_on_the_primary() -> None:
    """`in_transaction()` and `atomic()` without a connection name refuse to choose once a second
    connection (the replica) is configured: every transaction of ours is on the primary, "default"."""
    import tortoise.transactions as transactions

    if getattr(transactions._get_connection, "_alliance_default", False):
        return
    choose = transactions._get_connection

    def on_default(connection_name: str | None) -> Any:
        return choose(connection_name or "default")

    on_default._alliance_default = True  # type: ignore[attr-defined]
    transactions._get_connection = on_default


_transactions_on_the_primary()


class ReplicaRouter:
    """Tortoise's router: reads inside `reading_replica()` to the replica; writes always primary."""

    def db_for_read(self, _model: Any) -> str | None:
        return REPLICA if _replica_reads.get() and replica_configured() else None

    def db_for_write(self, _model: Any) -> str | None:
        return None


def _connection_config(database_url: str) -> dict[str, Any]:
    url = normalise_database_url(database_url)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if path and path != ":memory:":
            _prepare_sqlite_file(Path(path))
    connection = expand_db_url(url)
    if connection["engine"] == "tortoise.backends.sqlite":
        # WAL (tortoise's default), a busy timeout and BEGIN IMMEDIATE: alliance/core/sqlite.py.
        # The busy timeout first: switching a file to WAL itself waits for the lock.
        connection["engine"] = "alliance.core.sqlite"
        connection["credentials"] = {
            "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
            "journal_mode": "WAL",
            "synchronous": "NORMAL",
            **connection["credentials"],
        }
    if connection["engine"].endswith("asyncpg"):
        connection["credentials"].setdefault("minsize", 1)
        connection["credentials"].setdefault("maxsize", 10)
        connection["credentials"].setdefault("reset", _reset_released_connection)
    return connection


async def _reset_released_connection(connection: Any) -> None:
    """asyncpg's default reset sends "pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL" on
    every release: a round trip per query outside a transaction, half of a page's. Alliance keeps no
    session state (no advisory locks, LISTEN, cursors WITH HOLD, or SET other than SET LOCAL). A
    transaction a cancelled request left open is still rolled back: asyncpg does that before this."""


def tortoise_config(database_url: str, read_url: str | None = None) -> dict[str, Any]:
    """The ORM's configuration; with `read_url` (DATABASE_READ_URL) also the "replica" connection
    and the router that sends `reading_replica()` reads there."""
    connections = {"default": _connection_config(database_url)}
    if read_url:
        connections[REPLICA] = _connection_config(read_url)
    config: dict[str, Any] = {
        "connections": connections,
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }
    if read_url:
        config["routers"] = [ReplicaRouter]
    return config


def _prepare_sqlite_file(path: Path) -> None:
    """The SQLite file holds every household's personal data: create it owner-only (0600) before
    SQLite does (SQLite would follow the umask), and tighten one made by an older release."""
    from alliance.core.config import restrict_to_owner

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        restrict_to_owner(path)
    except OSError:
        return
    else:
        os.close(descriptor)


def is_postgres(database_url: str) -> bool:
    return normalise_database_url(database_url).startswith("postgres://")


async def connect(database_url: str, read_url: str | None = None) -> None:
    """Connect the ORM; the read replica from `read_url`, else DATABASE_READ_URL (when set)."""
    read_url = read_url if read_url is not None else read_url_from_environment()
    # Global fallback: the ASGI lifespan and arq's startup run in other tasks than the requests and
    # jobs that use the ORM; without it tortoise 1.x's context would not reach them.
    await Tortoise.init(config=tortoise_config(database_url, read_url or None), _enable_global_fallback=True)
    _replica["connected"] = bool(read_url)


async def disconnect() -> None:
    _replica["connected"] = False
    await Tortoise.close_connections()


# --- an empty database: the schema in one script -----------------------------------------------------
# Replaying the migration chain costs tortoise about 40 s of CPU on a fresh database (it re-renders
# every model for every operation), and a fresh database is what a new laptop, a new server and every
# test run starts from. So an empty database is loaded from the chain's own result instead (what Rails
# calls loading `structure.sql`): STRUCTURE_DIR holds it per backend, dumped by `make structure`
# (tools/structure.py) from a database the chain migrated: tables, indexes, triggers and functions,
# and the rows the migrations write (tortoise_migrations among them). Migrations added after it are
# then applied the usual way; tests/test_structure.py fails until the script is made again.
STRUCTURE_DIR = Path(__file__).with_name("structure")


def structure_file(database_url: str) -> Path:
    return STRUCTURE_DIR / ("postgres.sql" if is_postgres(database_url) else "sqlite.sql")


def _sqlite_file(database_url: str) -> str:
    return normalise_database_url(database_url)[len("sqlite://") :]


def libpq_url(database_url: str) -> str:
    # libpq and asyncpg spell the scheme postgresql://; the query (?host=/socket/dir) passes through.
    return "postgresql://" + normalise_database_url(database_url)[len("postgres://") :]


async def structure_is_empty(database_url: str) -> bool:
    """No table at all: a database nothing has been written to yet."""
    if is_postgres(database_url):
        import asyncpg

        connection = await asyncpg.connect(libpq_url(database_url))
        try:
            return not await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public')"
            )
        finally:
            await connection.close()
    path = _sqlite_file(database_url)
    if path == ":memory:" or not Path(path).exists():
        return True
    connection = sqlite3.connect(path)
    try:
        return (
            connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] == 0
        )
    finally:
        connection.close()


async def load_structure(database_url: str) -> None:
    """Run the backend's script on an empty database, all of it or nothing."""
    script = structure_file(database_url).read_text(encoding="utf-8")
    if is_postgres(database_url):
        import asyncpg

        connection = await asyncpg.connect(libpq_url(database_url))
        try:
            async with connection.transaction():
                await connection.execute(script)
        finally:
            await connection.close()
        return
    path = _sqlite_file(database_url)
    if path != ":memory:":
        _prepare_sqlite_file(Path(path))
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # The script is BEGIN … COMMIT (sqlite3's iterdump): one transaction.
        connection.executescript(script)
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


async def migrate(database_url: str, *, from_structure: bool = True) -> None:
    """Apply the checked-in migrations (tortoise's built-in migration system). An empty database
    first gets the schema the chain builds in one script (load_structure above), unless
    `from_structure` is false (the test that the script is the chain's own result)."""
    from tortoise.migrations.api.migrate import migrate as run_migrations

    if from_structure and await structure_is_empty(database_url):
        await load_structure(database_url)
    try:
        await run_migrations(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()
