"""Tortoise configuration and lifecycle: one place that turns DATABASE_URL into a connected ORM."""

from __future__ import annotations

import os
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


def tortoise_config(database_url: str) -> dict[str, Any]:
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
    return {
        "connections": {"default": connection},
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


async def connect(database_url: str) -> None:
    # Global fallback: the ASGI lifespan and arq's startup run in other tasks than the requests and
    # jobs that use the ORM; without it tortoise 1.x's context would not reach them.
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def disconnect() -> None:
    await Tortoise.close_connections()


async def migrate(database_url: str) -> None:
    """Apply the checked-in migrations (tortoise's built-in migration system)."""
    from tortoise.migrations.api.migrate import migrate as run_migrations

    try:
        await run_migrations(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()
