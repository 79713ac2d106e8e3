"""Write alliance/core/structure/{sqlite,postgres}.sql: the schema and rows the migration chain builds,
which `alliance.core.db.migrate` loads (load_structure) into an empty database instead of replaying the chain.

Run it after adding a migration (`make structure`); tests/test_structure.py fails until you do.
SQLite: a temporary file. PostgreSQL: the server TEST_DATABASE_URL names (a scratch database is made
and dropped) or else an embedded one; dumped with pg_dump --inserts, without the lines an older server
would refuse, so the one script loads on PostgreSQL 15 to 18.

Usage: python tools/structure.py [sqlite|postgres]...
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alliance.core import db  # noqa: E402

# pg_dump lines an older server refuses or that change at every dump.
_PG_DROPPED = re.compile(r"^(\\restrict|\\unrestrict|SET transaction_timeout|--|$)")
_APPLIED = re.compile(r"'\d{4}-\d\d-\d\d[ T][0-9:.+-]+'")


def dump(database_url: str) -> str:
    """The database's schema and rows as one script, in the form the structure files keep."""
    if db.is_postgres(database_url):
        from alliance.core.backup import postgres_tool, server_major_version

        printed = subprocess.run(
            [
                postgres_tool("pg_dump", server_major_version(database_url)),
                "--inserts",
                "--no-owner",
                "--no-privileges",
                "--no-comments",
                f"--dbname={db.libpq_url(database_url)}",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return "\n".join(line for line in printed.splitlines() if not _PG_DROPPED.match(line)) + "\n"
    connection = sqlite3.connect(database_url.removeprefix("sqlite://"))
    try:
        return "\n".join(connection.iterdump()) + "\n"
    finally:
        connection.close()


def comparable(script: str) -> str:
    """A dump without what differs between two equal databases: when each migration was applied."""
    return "\n".join(
        _APPLIED.sub("'…'", line) if "tortoise_migrations" in line else line for line in script.splitlines()
    )


async def _chain(url: str) -> str:
    await db.migrate(url, from_structure=False)
    return dump(url)


async def _admin(admin_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def write(kind: str) -> Path:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            script = asyncio.run(_chain(f"sqlite://{folder}/chain.sqlite3"))
        target = db.STRUCTURE_DIR / "sqlite.sql"
    else:
        admin_url = os.environ.get("TEST_DATABASE_URL")
        server = None
        if not admin_url:
            from alliance.core.embedded import start_private_postgres

            server = start_private_postgres(database="postgres", prefix="alliance-structure-")
            admin_url = server.url
        name = f"alliance_structure_{os.getpid()}"
        try:
            asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
            try:
                script = asyncio.run(_chain(db.with_database(admin_url, name)))
            finally:
                asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"'))
        finally:
            if server is not None:
                server.stop()
        target = db.STRUCTURE_DIR / "postgres.sql"
    target.parent.mkdir(exist_ok=True)
    target.write_text(script, encoding="utf-8")
    return target


if __name__ == "__main__":
    for kind in sys.argv[1:] or ["sqlite", "postgres"]:
        written = write(kind)
        print(f"{written.relative_to(ROOT)}: {written.stat().st_size:,} bytes")
